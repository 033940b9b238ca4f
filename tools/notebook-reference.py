#!/usr/bin/python3
"""PyTorch replica of the teaching notebook's experiment, used as mfrec's reference.

The notebook: MovieLens ratings with 0-based ids, a 75/25 split by
scikit-learn's train_test_split(ratings, random_state=300), user and movie
embeddings of dim 30 drawn from N(0, 1), prediction <U_i, V_j>, loss = mean
squared error over the observed training ratings, Adam (lr 1e-3), one
full-batch step per epoch, 1000 epochs, train and validation MSE printed
every 100 epochs (measured after that epoch's step).

--impl dense (the default) computes the loss as the notebook does: the full
N x M product U Vᵀ, then the observed entries gathered from it
(sparse_mean_square_error: gather_nd(matmul(U, V, transpose_b=True),
indices)). --impl gather is the notebook's "more efficient" variant: gather
the rows first and take one dot product per rating. Both compute the same
loss; timings are reported for whichever is chosen.

Used by the equivalence test (tests/test_ml100k.c, tests/test_torch_golden.c)
and by tools/bench-reference for the side-by-side timing. Needs Debian's
python3-torch, python3-numpy and python3-sklearn.

  notebook-reference.py --data DIR [--split-seed 300] [--dim 30] [--epochs 1000]
      [--lr 1e-3] [--log-every 100] [--torch-seed 0] [--init-out DIR]
      [--init-from U.npy,V.npy] [--json FILE] [--threads N]

Exit status: 0 ok, 1 bad data or a file that cannot be read (one line
naming the file, and its line where it can), 2 usage error.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in tools/
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import ratings_text  # noqa: E402 (tools/ratings_text.py)


def fail(msg):
    """A runtime error: one line, exit 1 (no traceback)."""
    sys.exit(f"notebook-reference.py: {msg}")


def read_ids(path, sep, col):
    ids = []
    if not os.path.exists(path):
        return ids
    try:
        with open(path, "rb") as f:
            for no, line in enumerate(f, 1):
                line = line.rstrip(b"\r\n")
                if line:
                    ids.append(int(line.split(sep)[col]))
    except OSError as e:
        fail(f"{path}: {e.strerror or e}")
    except (ValueError, IndexError):
        fail(f"{path}:{no}: field {col + 1} is not an id: {line[:60].decode(errors='replace')!r}")
    return ids


def read_ratings(path):
    """u.data as an (n, 3 or more) int array; bad data ends the run (fail)."""
    try:
        return ratings_text.read(path, tab=False)
    except ratings_text.BadRatings as e:
        fail(str(e))


def read_init(path, rows, name):
    """--init-from's array of `rows` rows (U: users, V: movies) as float32."""
    try:
        a = np.load(path)
    except (OSError, ValueError, EOFError) as e:
        fail(f"--init-from: {path}: {getattr(e, 'strerror', None) or e}")
    if a.ndim != 2 or a.shape[0] != rows:
        fail(f"--init-from: {path}: {name} has shape {a.shape}, expected ({rows}, K)")
    return a.astype(np.float32)


def load(data_dir):
    """u.data as an (n, 4) int array, dense ids as mfrec assigns them:
    ascending raw id over the union of u.data, u.item and u.user."""
    ratings = read_ratings(os.path.join(data_dir, "u.data"))
    users = np.unique(np.concatenate([ratings[:, 0], read_ids(os.path.join(data_dir, "u.user"), b"|", 0)]))
    items = np.unique(np.concatenate([ratings[:, 1], read_ids(os.path.join(data_dir, "u.item"), b"|", 0)]))
    ratings = ratings.copy()
    ratings[:, 0] = np.searchsorted(users, ratings[:, 0])
    ratings[:, 1] = np.searchsorted(items, ratings[:, 1])
    return ratings, len(users), len(items)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--split-seed", type=int, default=300)
    ap.add_argument("--test-size", type=float, default=0.25)
    ap.add_argument("--dim", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--torch-seed", type=int, default=0)
    ap.add_argument("--init-out", help="write the initial U.npy and V.npy here")
    ap.add_argument("--init-from", help="U.npy,V.npy to start from")
    ap.add_argument("--json", help="one JSON record per logged epoch")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--impl", choices=["dense", "gather"], default="dense")
    args = ap.parse_args()
    if args.init_from and len(args.init_from.split(",")) != 2:
        ap.error(f"--init-from must be U.npy,V.npy, got {args.init_from!r}")

    # the data before torch's import (seconds): bad data is said at once
    ratings, n_users, n_items = load(args.data)

    import torch
    from sklearn.model_selection import train_test_split

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.torch_seed)

    try:
        train, test = train_test_split(ratings, test_size=args.test_size, random_state=args.split_seed)
    except ValueError as e:  # too few ratings for the split
        fail(f"{os.path.join(args.data, 'u.data')}: {e}")

    def tensors(part):
        return (torch.from_numpy(part[:, 0].copy()), torch.from_numpy(part[:, 1].copy()),
                torch.from_numpy(part[:, 2].astype(np.float32)))

    tu, ti, tr = tensors(train)
    vu, vi, vr = tensors(test)

    if args.init_from:
        upath, vpath = args.init_from.split(",")
        U0 = torch.from_numpy(read_init(upath, n_users, "U"))
        V0 = torch.from_numpy(read_init(vpath, n_items, "V"))
        if U0.shape[1] != V0.shape[1]:
            fail(f"--init-from: {upath} has {U0.shape[1]} columns, {vpath} {V0.shape[1]}")
    else:
        U0 = torch.randn(n_users, args.dim)
        V0 = torch.randn(n_items, args.dim)
    if args.init_out:
        os.makedirs(args.init_out, exist_ok=True)
        np.save(os.path.join(args.init_out, "U.npy"), U0.numpy().astype(np.float32))
        np.save(os.path.join(args.init_out, "V.npy"), V0.numpy().astype(np.float32))
    U = U0.clone().requires_grad_(True)
    V = V0.clone().requires_grad_(True)
    opt = torch.optim.Adam([U, V], lr=args.lr)

    if args.impl == "dense":
        def mse(u, i, r):
            return ((U @ V.t())[u, i] - r).pow(2).mean()
    else:
        def mse(u, i, r):
            return ((U[u] * V[i]).sum(1) - r).pow(2).mean()

    records = []
    train_seconds = 0.0
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = mse(tu, ti, tr)
        loss.backward()
        opt.step()
        train_seconds += time.perf_counter() - t0
        if (args.log_every and epoch % args.log_every == 0) or epoch == args.epochs:
            with torch.no_grad():
                t_mse = float(mse(tu, ti, tr))
                v_mse = float(mse(vu, vi, vr))
            print(f"epoch {epoch:6d}  train MSE {t_mse:.6f}  validation MSE {v_mse:.6f}", flush=True)
            records.append({"epoch": epoch, "train_mse": t_mse, "val_mse": v_mse})
    ms = 1e3 * train_seconds / max(args.epochs, 1)
    print(f"pytorch {torch.__version__} ({args.impl}): {ms:.3f} ms/epoch over {args.epochs} epochs, "
          f"{torch.get_num_threads()} threads", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
            f.write(json.dumps({"ms_per_epoch": ms, "threads": torch.get_num_threads(),
                                "impl": args.impl}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
