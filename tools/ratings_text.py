"""ratings_text.py — u.data read into NumPy for the Python tools.

sklearn-split.py reads it as the MovieLens file is (4 tab-separated whole
numbers a line), notebook-reference.py as the notebook does (whitespace-
separated, user, item and rating at least). Bad data is one line naming
the file, and the line where it can (BadRatings), never a traceback.
"""

import warnings

import numpy as np


class BadRatings(Exception):
    """A file that cannot be read as ratings: 'PATH[:LINE]: why'."""


def first_bad_line(path, tab):
    """'PATH:LINE: why' for the first line NumPy could not read: 4
    tab-separated whole numbers (tab), or as many whitespace-separated ones
    as the first line's; blank lines and '#' comments skipped, as NumPy
    does. None when every line reads. Looked for only after NumPy's fast
    parse failed."""
    n = 4 if tab else None
    with open(path, "rb") as f:
        for no, line in enumerate(f, 1):
            text = line.split(b"#")[0]
            if not text.strip():
                continue
            fields = text.rstrip(b"\r\n").split(b"\t") if tab else text.split()
            if n is not None and len(fields) != n:
                if tab:
                    return f"{path}:{no}: expected 4 tab-separated fields, got {len(fields)}"
                return f"{path}:{no}: {len(fields)} fields where the first line has {n}"
            n = len(fields)
            for v in fields:
                try:
                    int(v)
                except ValueError:
                    return f"{path}:{no}: {v.decode(errors='replace')!r} is not a whole number"
    return None


def read(path, tab):
    """u.data as an int64 array of shape (n, 4) (tab) or (n, 3 or more);
    raises BadRatings."""
    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": said below
            # ndmin=2 keeps a one-line file two-dimensional.
            ratings = np.loadtxt(f, dtype=np.int64, delimiter="\t" if tab else None, ndmin=2)
    except OSError as e:
        raise BadRatings(f"{path}: {e.strerror or e}") from None
    except ValueError as e:
        raise BadRatings(first_bad_line(path, tab) or f"{path}: {e}") from None
    if ratings.shape[0] == 0:
        raise BadRatings(f"{path}: no ratings")
    if tab and ratings.shape[1] != 4:
        raise BadRatings(f"{path}: expected 4 tab-separated columns, got {ratings.shape[1]}")
    if not tab and ratings.shape[1] < 3:
        raise BadRatings(f"{path}: expected user, item and rating columns, got {ratings.shape[1]}")
    return ratings
