"""The statistics of mfrec's performance comparisons, shared by
tools/perf-compare, tools/bench-setup and tools/sweep-compare, and the
benches' output check (tools/bench-reference, tools/bench-softmax-torch):
a module, not a script, imported from tools/ and never run.

  spread(values)       the interquartile range over the median
  min_pvalue(n)        the smallest two-sided Mann-Whitney p of n vs n runs
  mannwhitney_p(x, y)  the two-sided Mann-Whitney U test's p-value
  verdict(...)         "slower", "noisy" or "same"
  threshold(text)      a --threshold value: 0.05 or 5%
  glue_values(argv, options)  "--opt -5%" as "--opt=-5%", for argparse
  outlive_reader()     standard output that a reader's early exit does not stop
  check_output(...)    a bench's --csv/--markdown checked before its runs
"""
import argparse
import math
import os
import statistics
import sys


def spread(values):
    """The interquartile range over the median (0 for fewer than 4 values)."""
    v = sorted(values)
    if len(v) < 4 or v[len(v) // 2] <= 0:
        return 0.0
    q = statistics.quantiles(v, n=4)
    return (q[2] - q[0]) / statistics.median(v)


def min_pvalue(n):
    """The smallest p-value compare.py's U test (scipy.stats.mannwhitneyu,
    two-sided, method auto) can give for n vs n runs without ties: every run
    of one side below every run of the other. Exact below 9 runs a side:
    2 / C(2n, n); from 9 on the normal approximation with continuity
    correction, U = n^2 against its mean n^2/2."""
    if n <= 8:
        return 2.0 / math.comb(2 * n, n)
    z = (n * n / 2.0 - 0.5) / math.sqrt(n * n * (2 * n + 1) / 12.0)
    return math.erfc(z / math.sqrt(2.0))


def _exact_sf(u, n1, n2):
    """P(U >= u) for samples of n1 and n2 values without ties: the number
    of the C(n1 + n2, n1) orderings whose U is at least u, over their count.
    c[i][j] holds, for i and j values, the counts of each U (a polynomial)."""
    c = [[None] * (n2 + 1) for _ in range(n1 + 1)]
    for i in range(n1 + 1):
        for j in range(n2 + 1):
            if i == 0 or j == 0:
                c[i][j] = [1]
                continue
            # the largest value is x's (it beats all j y's) or y's
            a, b = c[i - 1][j], c[i][j - 1]
            row = [0] * (i * j + 1)
            for k, v in enumerate(a):
                row[k + j] += v
            for k, v in enumerate(b):
                row[k] += v
            c[i][j] = row
    counts = c[n1][n2]
    return sum(counts[max(0, int(u)):]) / math.comb(n1 + n2, n1)


def _midranks(values):
    """Ranks 1..n of values, ties given the mean of their ranks; and the
    sizes of the groups of ties."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    ties = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2.0 + 1.0
        ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def mannwhitney_p(x, y):
    """The two-sided Mann-Whitney U test's p-value of samples x and y, as
    scipy.stats.mannwhitneyu (scipy >= 1.7, method auto) gives it, which is
    the test compare.py and so perf-compare use: exact when a side has 8
    values or fewer and no value ties, else the normal approximation with
    continuity correction and the tie correction of the variance. None for
    an empty side."""
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        return None
    ranks, ties = _midranks(list(x) + list(y))
    u1 = sum(ranks[:n1]) - n1 * (n1 + 1) / 2.0
    u = max(u1, n1 * n2 - u1)
    if (n1 <= 8 or n2 <= 8) and all(t == 1 for t in ties):
        return min(1.0, 2.0 * _exact_sf(u, n1, n2))
    n = n1 + n2
    tie_term = sum(t ** 3 - t for t in ties)
    var = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))
    if var <= 0:  # every value the same
        return 1.0
    z = (u - n1 * n2 / 2.0 - 0.5) / math.sqrt(var)
    return min(1.0, math.erfc(z / math.sqrt(2.0)))


def rel_change(old, new):
    """new / old - 1; a tiny set's epoch may print as 0.000000: from 0 to 0
    is no change, from 0 to more an infinite one (shown +inf%, slower)."""
    return new / old - 1.0 if old > 0 else (0.0 if new == 0 else math.inf)


def verdict(change, p, noise, threshold, alpha):
    """"slower" when the median grew by more than threshold (relative) with
    a U-test p below alpha; "noisy" when not slower but the spread is above
    threshold, or the median grew past it without significance (either
    could hide a slowdown of that size); else "same"."""
    if change > threshold and p is not None and p < alpha:
        return "slower"
    if noise > threshold or change > threshold:
        return "noisy"
    return "same"


def threshold(text):
    """A --threshold value (argparse type): a fraction (0.05) or a
    percentage (5%), at least 0. A bare 1 or more is refused: "5" meant as
    5% would read as 500% and call nothing slower."""
    t = text.strip()
    pct = t.endswith("%")
    try:
        v = float(t[:-1]) / 100.0 if pct else float(t)
    except ValueError:
        v = math.nan
    if not 0.0 <= v < math.inf:
        raise argparse.ArgumentTypeError(f"must be a number of at least 0 (0.05, or 5%), not {text!r}")
    if not pct and v >= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} would be {100 * v:g}%: write {t}% (or {v / 100:g}), "
                                         f"or {100 * v:g}% if that is meant")
    return v


def glue_values(argv, options):
    """argv with each of these options' next word glued on ("--threshold",
    "-5%" as "--threshold=-5%") when that word starts with "-" and a digit
    or a dot: argparse takes "-5%" for an option and says only "expected one
    argument", while "--threshold=-5%" reaches the option's own check and
    its message. A following option (--strict) is left alone."""
    out = []
    i = 0
    while i < len(argv):
        if argv[i] in options and i + 1 < len(argv) and argv[i + 1][:2] in {f"-{c}" for c in "0123456789."}:
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


class _Outlived:
    """sys.stdout once its reader may go: a write or flush that meets a
    broken pipe sends the rest to /dev/null, silently. Any other failed
    write (a full disk, >/dev/full) is an error, named, exit `status`: it
    was a traceback and exit 1, which perf-compare reads as "slower"."""

    def __init__(self, out, status):
        self._out = out
        self._status = status

    def _gone(self):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, self._out.fileno())
        os.close(null)

    def _failed(self, e):
        # the rest to /dev/null too: the buffered text's flush at exit
        # would fail again (Python's exit status 120)
        self._gone()
        print(f"{os.path.basename(sys.argv[0])}: cannot write standard output: {e.strerror or e}",
              file=sys.stderr)
        if sys.is_finalizing():  # the flush at exit, where an exception is only printed
            sys.stderr.flush()
            os._exit(self._status)
        raise SystemExit(self._status)

    def write(self, text):
        try:
            return self._out.write(text)
        except BrokenPipeError:
            self._gone()
            return len(text)
        except OSError as e:
            self._failed(e)

    def flush(self):
        try:
            self._out.flush()
        except BrokenPipeError:
            self._gone()
        except OSError as e:
            self._failed(e)

    def __getattr__(self, name):
        return getattr(self._out, name)


def outlive_reader(failed=1):
    """A reader that stops early (| head, | true) neither ends the run nor
    decides its exit status: the comparison goes on, its output unread, and
    exits with its verdict's status (a broken pipe made sweep-compare exit
    0 with --strict, and perf-compare and bench-setup call it an internal
    error with a traceback). Any other failed write of standard output is
    exit `failed`: a runtime error, 1, as in every tools/ script; 2 in
    perf-compare, whose 1 means "slower"."""
    # started with standard output closed (>&-): sys.stdout is None, which
    # print() skips; wrapped, every print was an AttributeError (exit 120
    # and a traceback, bench-setup's before it ran anything)
    if sys.stdout is not None and not isinstance(sys.stdout, _Outlived):
        sys.stdout = _Outlived(sys.stdout, failed)


def check_output(prog, flag, path, data):
    """A bench's output file (prog's `flag`; None: not given) must not be an
    input (a file of the data directory) or something other than a regular
    file, and its directory must exist: checked before the runs, not after
    them. Refused as a runtime error (exit 1), as mfrec refuses such an
    output: the disk, not the command line, is at fault."""
    if path is None:
        return
    real = os.path.realpath(path)
    if os.path.exists(path) and not os.path.isfile(path):
        sys.exit(f"{prog}: {flag} {path} exists and is not a regular file; not replacing it")
    if os.path.commonpath([real, os.path.realpath(data)]) == os.path.realpath(data):
        sys.exit(f"{prog}: {flag} {path} is in the data directory {data}; not writing there")
    if not os.path.isdir(os.path.dirname(real)):
        sys.exit(f"{prog}: {flag} {path}: no such directory {os.path.dirname(path) or '.'}")
