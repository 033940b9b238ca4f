#!/usr/bin/python3
"""sklearn-split.py — the reference for mfrec's "sklearn:SEED[:FRACTION]" split.

Runs scikit-learn's real train_test_split(ratings, test_size=FRACTION,
random_state=SEED) on DIR/u.data (read with NumPy, no pandas needed) and
writes, in the order sklearn returns them:

    OUT/train.idx, OUT/test.idx    0-based u.data row indices, one per line
    OUT/train.data, OUT/test.data  those rows in u.data format
                                   (user<TAB>item<TAB>rating<TAB>timestamp)

tests/test_sklearn_split.c compares mfr_split_create(ds, "sklearn:SEED:F")
with these files row for row. Only the row count decides sklearn's split,
so splitting a NumPy array gives the same rows as splitting the pandas
DataFrame of the same file.

Usage: sklearn-split.py --data DIR --seed S [--test-size F] --out DIR
Exit status: 0 ok, 1 bad data or a file that cannot be read or written (one
line naming the file, and the line of u.data where it can), 2 usage error.
"""

import argparse
import os
import sys

import numpy as np
from sklearn.model_selection import train_test_split

sys.dont_write_bytecode = True  # no __pycache__ in tools/
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import ratings_text  # noqa: E402 (tools/ratings_text.py)


def fail(msg):
    """A runtime error: one line, exit 1 (no traceback)."""
    sys.exit(f"sklearn-split.py: {msg}")


def load_ratings(path):
    """u.data as an (n, 4) int array; bad data ends the run (fail)."""
    try:
        return ratings_text.read(path, tab=True)
    except ratings_text.BadRatings as e:
        fail(str(e))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="directory holding u.data")
    ap.add_argument("--seed", required=True, type=int, help="random_state (0..2**32-1)")
    ap.add_argument("--test-size", type=float, default=0.25, help="test fraction in (0, 1)")
    ap.add_argument("--out", required=True, help="output directory (created if missing)")
    args = ap.parse_args()
    if not 0 < args.test_size < 1:
        ap.error(f"--test-size must be in (0, 1), got {args.test_size!r}")
    if not 0 <= args.seed < 2**32:
        ap.error(f"--seed must be in 0..2**32-1, got {args.seed}")

    path = os.path.join(args.data, "u.data")
    ratings = load_ratings(path)
    rows = np.arange(ratings.shape[0], dtype=np.int64)

    try:
        train, test, train_idx, test_idx = train_test_split(
            ratings, rows, test_size=args.test_size, random_state=args.seed
        )
    except ValueError as e:  # too few ratings for the split
        fail(f"{path}: {e}")

    try:
        os.makedirs(args.out, exist_ok=True)
        for name, part, idx in (("train", train, train_idx), ("test", test, test_idx)):
            with open(os.path.join(args.out, name + ".idx"), "w", encoding="ascii") as f:
                f.writelines(f"{int(i)}\n" for i in idx)
            with open(os.path.join(args.out, name + ".data"), "w", encoding="ascii") as f:
                f.writelines("\t".join(str(int(v)) for v in row) + "\n" for row in part)
    except OSError as e:
        fail(f"{e.filename or args.out}: {e.strerror or e}")
    print(f"sklearn {args.seed} {args.test_size!r}: {len(train_idx)} train, "
          f"{len(test_idx)} test rows -> {args.out}")


if __name__ == "__main__":
    main()
