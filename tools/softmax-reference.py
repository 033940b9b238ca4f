#!/usr/bin/python3
"""PyTorch version of mfrec's softmax (deep retrieval) model, its reference.

The model, the examples and the optimizers of docs/SOFTMAX.md, written
independently of the C code from the documents:

- Weights, configuration and item features come from a model file that
  `mfrec train --kind softmax --epochs 0 --out FILE` writes: its softmax
  section (docs/MODEL_FORMAT.md, "Model records and the softmax section")
  holds the configuration, every item's year bucket and genre bits, and the
  initial parameter vector in the block layout of
  src/softmax/softmax_priv.h; its id maps turn the raw ids of the training
  file into mfrec's dense indices.
- The examples are drawn as docs/SOFTMAX.md documents, with mfrec's
  counter-based generator (src/core/rng.c, three SplitMix64 rounds)
  reimplemented here: each epoch e, user u with n_u >= 2 training movies
  (ascending dense index) gets label number rng(seed, 41, e << 32 | u) mod
  n_u, the others being its features (--all-pairs in the model: every
  leave-one-out pair; with --min-label-rating R only the movies the user
  rated R or more may be labels, and the drawn number picks among them);
  groups of batch_users consecutive users are visited
  in a Fisher-Yates order drawn from rng(seed, 42, e << 32 | i); one step
  per group on the mean loss of its examples.
- The network: mean-pooled embedding bags (movies; genres, one entry per
  (movie, genre) pair; release-year buckets), hidden ReLU layers with bias,
  a final linear layer, logits u V^T over every movie, cross-entropy.
- The optimizers are PyTorch's own: torch.optim.AdamW(lr, betas, eps,
  weight_decay) (Adam when --weight-decay is 0), and
  torch.optim.Adagrad(lr, initial_accumulator_value=adagrad_init, eps=0),
  which is TF1's Adagrad (mfrec's), with the decoupled decay
  p *= 1 - lr weight_decay applied before its step.
- --tie (the section's tie_tables): the movie bag reads V itself, one
  tensor, so its gradient is the sum of both uses.
- --negatives unrated (the section's negatives, 1): each example's feature
  movies get a logit of minus infinity before the cross-entropy, so its
  softmax runs over the label and the movies the user did not rate.
- feature dropout (the section's feature_dropout P, version 5): in epoch e
  (1-based), the movie at position p of the training pairs sorted by (user,
  movie) is left out of its user's features (every bag) when
  uniform(seed, 43, e << 40 | p) < P; an example's bag is the user's kept
  movies but the label (all the kept ones when the label is dropped); labels
  and the negatives mask (every rated movie but the label) are unchanged.

--dtype float64 (the default) computes in double from the float32 starting
weights: the trajectory of exact arithmetic, up to double rounding, so a
comparison measures mfrec's float32 rounding alone (tests/test_torch_
softmax.c). --dtype float32 is what a user would run and what the timing
uses (tools/bench-softmax-torch).

  softmax-reference.py --model M0 --train FILE [--steps N | --epochs N]
      [--dtype float64|float32] [--threads N] [--json FILE] [--quiet]

Writes, per optimizer step and per epoch, the JSON Lines records of
`mfrec train --kind softmax --log-json` ({"epoch","step","group",
"examples","loss"}, then {"epoch","loss","epoch_s"}). Needs Debian's
python3-torch and python3-numpy (run with /usr/bin/python3).
"""
import argparse
import json
import re
import struct
import sys
import time

import numpy as np

MASK = (1 << 64) - 1
RNG_SM_LABEL, RNG_SM_ORDER, RNG_SM_DROPOUT = 41, 42, 43
FEAT_GENRES, FEAT_YEARS = 2, 4
OPT_ADAGRAD, OPT_ADAM = 0, 1
NEG_UNRATED = 1  # mfr_softmax_config.negatives
TAG_SOFTMAX_LEN = 1001


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def rng_u64(seed, stream, index):
    """mfr_rng_u64: 64 bits for (seed, stream, index)."""
    h = mix64((seed + 0x9E3779B97F4A7C15) & MASK)
    h = mix64(h ^ ((stream * 0xD1B54A32D192ED03) & MASK))
    return mix64((h + index * 0x9E3779B97F4A7C15) & MASK)


def rng_uniform(seed, stream, index):
    """mfr_rng_uniform: the top 53 bits over 2^53 (exact in a double)."""
    return float(rng_u64(seed, stream, index) >> 11) * 2.0 ** -53


class Reader:
    def __init__(self, buf, path):
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, fmt):
        n = struct.calcsize(fmt)
        if self.pos + n > len(self.buf):
            sys.exit(f"{self.path}: truncated at byte {self.pos}")
        v = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return v if len(v) > 1 else v[0]


def read_model(path):
    """The id maps and the softmax section of a model file."""
    with open(path, "rb") as f:
        buf = f.read()
    r = Reader(buf, path)
    # versions 1 and 2 differ only in the file checksum, not checked here
    if r.take("<8s") != b"MFRECMDL" or r.take("<I") not in (1, 2):
        sys.exit(f"{path}: not an mfrec model file of version 1 or 2")
    header_size, k, n_users, n_items = r.take("<I"), r.take("<i"), r.take("<i"), r.take("<i")
    r.take("<q"), r.take("<Q")  # epochs, data fingerprint
    sm_len = 0
    for _ in range(r.take("<I")):
        tag, length = r.take("<I"), r.take("<I")
        if tag == TAG_SOFTMAX_LEN:
            sm_len = r.take("<Q")
        else:
            r.pos += length
    if sm_len == 0:
        sys.exit(f"{path}: not a softmax model (no softmax section)")
    r.pos = header_size
    user_ids = np.frombuffer(buf, "<i8", n_users, r.pos)
    item_ids = np.frombuffer(buf, "<i8", n_items, r.pos + 8 * n_users)
    # U and V (rows of k floats: softmax models have no bias lanes and no
    # optimizer state), then the section, then the 8-byte checksum.
    start = header_size + 8 * (n_users + n_items) + 4 * k * (n_users + n_items)
    if start + sm_len + 8 != len(buf):
        sys.exit(f"{path}: {len(buf)} bytes, expected {start + sm_len + 8}")
    s = Reader(buf[start:start + sm_len], path)
    version = s.take("<I")
    if version not in (1, 2, 3, 4, 5):
        sys.exit(f"{path}: softmax section version {version} is not 1, 2, 3, 4 or 5")
    # version 2 adds tie_tables (a 19th int) and weight_decay (after the
    # five doubles), version 3 label_min_rating after that, version 4 the
    # int negatives after that, version 5 the double feature_dropout after
    # that; version 1 means none is set
    iv = [s.take("<i") for _ in range(19 if version >= 2 else 18)]
    dv = [s.take("<d") for _ in range(5)]
    cfg = dict(zip(["k", "features", "dim_movie", "dim_genre", "dim_year", "n_hidden", "h0",
                    "h1", "h2", "h3", "optimizer", "batch_users", "n_shards", "all_pairs",
                    "n_genres", "n_years", "year_min", "hidden_init", "tie_tables"], iv))
    cfg.setdefault("tie_tables", 0)
    cfg.update(zip(["lr", "beta1", "beta2", "eps", "adagrad_init"], dv))
    cfg["weight_decay"] = s.take("<d") if version >= 2 else 0.0
    cfg["label_min_rating"] = s.take("<d") if version >= 3 else 0.0
    cfg["negatives"] = s.take("<i") if version >= 4 else 0
    cfg["feature_dropout"] = s.take("<d") if version >= 5 else 0.0
    cfg["hidden"] = iv[6:6 + cfg["n_hidden"]]
    cfg["seed"], cfg["epochs"], n_params = s.take("<Q"), s.take("<q"), s.take("<q")
    feat = np.frombuffer(buf, "<u4", 2 * n_items, start + s.pos).reshape(n_items, 2)
    theta = np.frombuffer(buf, "<f4", n_params, start + s.pos + 8 * n_items)
    if cfg["k"] != k:
        sys.exit(f"{path}: softmax k {cfg['k']} differs from the model's {k}")
    return cfg, user_ids, item_ids, feat[:, 0].astype(np.int64), feat[:, 1].copy(), theta


def layout(cfg, n_items):
    """Block offsets of the flat parameter vector (softmax_priv.h): each
    block rows x cols floats, starting on a 16-float boundary."""
    off, blocks = 0, {}

    def put(name, rows, cols):
        nonlocal off
        blocks[name] = (off, rows, cols)
        off += (rows * cols + 15) // 16 * 16

    if not cfg["tie_tables"]:  # tied: the movie bag reads V, which has no block of its own
        put("movie", n_items, cfg["dim_movie"])
    d0 = cfg["dim_movie"]
    if cfg["features"] & FEAT_GENRES:
        put("genre", cfg["n_genres"], cfg["dim_genre"])
        d0 += cfg["dim_genre"]
    if cfg["features"] & FEAT_YEARS:
        put("year", cfg["n_years"], cfg["dim_year"])
        d0 += cfg["dim_year"]
    widths = [d0] + cfg["hidden"] + [cfg["k"]]
    for l in range(len(widths) - 1):
        put(f"W{l}", widths[l + 1], widths[l])
        put(f"b{l}", 1, widths[l + 1])
    put("V", n_items, cfg["k"])
    return blocks, len(widths) - 1, off


def read_train(path, user_ids, item_ids):
    """Training pairs (raw ids in the first two fields of each line, tab,
    space, comma or :: separated) as dense (user, item) arrays, and the
    ratings of the third field (NaN where a line has none)."""
    users, items, ratings = [], [], []
    with open(path) as f:
        for ln, line in enumerate(f, 1):
            fields = re.split(r"::|[\t ,]+", line.strip())
            if len(fields) < 2 or not fields[0]:
                continue
            try:
                users.append(int(fields[0]))
                items.append(int(fields[1]))
                ratings.append(float(fields[2]) if len(fields) > 2 else float("nan"))
            except ValueError:
                if ln == 1:
                    continue  # a header line
                sys.exit(f"{path}:{ln}: expected user and item ids")
    u, i = np.array(users, np.int64), np.array(items, np.int64)
    du, bad_u = dense(user_ids, u)
    di, bad_i = dense(item_ids, i)
    if (bad_u | bad_i).any():
        x = int(np.argmax(bad_u | bad_i))
        sys.exit(f"{path}: pair ({u[x]}, {i[x]}) is not in the model's id maps")
    return du, di, np.array(ratings, np.float64)


def dense(ids, raw):
    """Dense indices of the raw ids (ids: dense index -> raw id), and
    where a raw id is missing."""
    sorter = np.argsort(ids, kind="stable")
    pos = np.minimum(np.searchsorted(ids, raw, sorter=sorter), len(ids) - 1)
    return sorter[pos], ids[sorter[pos]] != raw


class Batcher:
    """The examples of a group of users, as flat index arrays for the
    embedding bags (mean mode: an empty bag gives zeros, as in mfrec)."""

    def __init__(self, cfg, n_users, du, di, rating, bucket, bits):
        order = np.lexsort((di, du))
        self.movies = di[order]
        # which movies may be labels: float32 ratings, as mfrec keeps them,
        # against the float32 threshold (every movie when there is none:
        # a pairs-only file's ratings are NaN)
        lmr = cfg["label_min_rating"]
        if lmr > 0:
            self.label_ok = rating[order].astype(np.float32) >= np.float32(lmr)
        else:
            self.label_ok = np.ones(len(order), bool)
        self.ptr = np.zeros(n_users + 1, np.int64)
        np.add.at(self.ptr, du + 1, 1)
        self.ptr = np.cumsum(self.ptr)
        self.cfg, self.n_users, self.bucket = cfg, n_users, bucket
        gl = [[g for g in range(32) if b >> g & 1] for b in bits.tolist()]
        self.gptr = np.cumsum([0] + [len(x) for x in gl]).astype(np.int64)
        self.gids = np.array([g for x in gl for g in x] or [0], np.int64)

    def examples(self, epoch, u0, u1):
        """(pooled feature movie lists, labels, other rated movies) of users
        [u0, u1) in epoch (0-based: its dropout draws are epoch + 1's)."""
        feats, labels, others = [], [], []
        drop = self.cfg["feature_dropout"]
        for u in range(u0, u1):
            row = self.movies[self.ptr[u]:self.ptr[u + 1]]
            ok = np.flatnonzero(self.label_ok[self.ptr[u]:self.ptr[u + 1]])
            if len(row) < 2 or len(ok) == 0:
                continue
            kept = np.ones(len(row), bool)
            if drop > 0:
                e = epoch + 1
                kept = np.array([not rng_uniform(self.cfg["seed"], RNG_SM_DROPOUT,
                                                 (e << 40 | int(self.ptr[u]) + x) & MASK) < drop
                                 for x in range(len(row))], bool)
            if self.cfg["all_pairs"]:
                js = ok.tolist()
            else:
                js = [int(ok[rng_u64(self.cfg["seed"], RNG_SM_LABEL,
                                     (epoch << 32 | u) & MASK) % len(ok)])]
            for j in js:
                others.append(np.concatenate([row[:j], row[j + 1:]]))
                keep = kept.copy()
                keep[j] = False  # the label is never its own feature
                feats.append(row[keep])
                labels.append(int(row[j]))
        return feats, labels, others

    def bags(self, feats):
        """Index and offset arrays of the movie, genre and year bags."""
        lens = np.array([len(f) for f in feats], np.int64)
        flat = np.concatenate(feats)
        out = {"movie": (flat, np.concatenate([[0], np.cumsum(lens)[:-1]]))}
        if self.cfg["features"] & FEAT_GENRES:
            cnt = self.gptr[flat + 1] - self.gptr[flat]
            first = np.repeat(self.gptr[flat], cnt)
            within = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            # (bincount, not reduceat: a dropout can leave a bag empty)
            per_ex = np.bincount(np.repeat(np.arange(len(feats)), lens), weights=cnt,
                                 minlength=len(feats)).astype(np.int64)
            out["genre"] = (self.gids[first + within],
                            np.concatenate([[0], np.cumsum(per_ex)[:-1]]))
        if self.cfg["features"] & FEAT_YEARS:
            out["year"] = (self.bucket[flat], out["movie"][1])
        return out


def group_order(seed, epoch, n_groups):
    order = list(range(n_groups))
    for i in range(n_groups - 1, 0, -1):
        j = rng_u64(seed, RNG_SM_ORDER, (epoch << 32 | i) & MASK) % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="mfrec softmax model with the start weights")
    ap.add_argument("--train", required=True, help="the training ratings (raw ids)")
    ap.add_argument("--epochs", type=int, default=0, help="epochs to train")
    ap.add_argument("--steps", type=int, default=0, help="stop after this many optimizer steps")
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's)")
    ap.add_argument("--json", help="JSON Lines log, as mfrec train --log-json writes")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    if (args.epochs > 0) == (args.steps > 0):
        ap.error("give one of --epochs N and --steps N")  # a usage error, exit 2

    import torch
    import torch.nn.functional as F

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    cfg, user_ids, item_ids, bucket, bits, theta = read_model(args.model)
    if cfg["epochs"] != 0:
        sys.exit(f"{args.model}: trained {cfg['epochs']} epochs; the optimizer state is not in "
                 "model files, so start from an --epochs 0 model")
    n_users, n_items = len(user_ids), len(item_ids)
    blocks, n_layers, n_params = layout(cfg, n_items)
    if n_params != len(theta):
        sys.exit(f"{args.model}: {len(theta)} parameters, the layout has {n_params}")
    params = {}
    for name, (off, rows, cols) in blocks.items():
        t = torch.tensor(theta[off:off + rows * cols].reshape(rows, cols), dtype=dtype)
        params[name] = t.squeeze(0) if name[0] == "b" else t
        params[name].requires_grad_(True)
    plist = list(params.values())
    if cfg["tie_tables"]:
        params["movie"] = params["V"]  # one tensor: both uses' gradients add up in V
    wd = cfg["weight_decay"]
    if cfg["optimizer"] == OPT_ADAM:
        # AdamW's decay is decoupled (p *= 1 - lr wd before the Adam step),
        # which is what --weight-decay documents; with wd 0 it is Adam
        opt = torch.optim.AdamW(plist, lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]),
                                eps=cfg["eps"], weight_decay=wd)
        decay_by_hand = False
    else:
        # torch's Adagrad weight_decay adds wd p to the gradient (coupled),
        # not the documented decoupled decay, so that is done here
        opt = torch.optim.Adagrad(plist, lr=cfg["lr"], eps=0.0,
                                  initial_accumulator_value=cfg["adagrad_init"])
        decay_by_hand = wd > 0.0
    du, di, rating = read_train(args.train, user_ids, item_ids)
    if cfg["label_min_rating"] > 0 and np.isnan(rating).any():
        sys.exit(f"{args.train}: the model's labels need ratings (a third field on every line)")
    batcher = Batcher(cfg, n_users, du, di, rating, bucket, bits)
    bu = cfg["batch_users"]
    group_users = bu if 0 < bu < n_users else n_users
    n_groups = (n_users + group_users - 1) // group_users

    def step(feats, labels, others):
        bags = batcher.bags(feats)
        parts = [F.embedding_bag(torch.from_numpy(idx), params[name], torch.from_numpy(offs),
                                 mode="mean")
                 for name, (idx, offs) in bags.items()]
        h = torch.cat(parts, 1)
        for l in range(n_layers):
            h = F.linear(h, params[f"W{l}"], params[f"b{l}"])
            if l + 1 < n_layers:
                h = torch.relu(h)
        logits = h @ params["V"].t()
        if cfg["negatives"] == NEG_UNRATED:  # the other rated movies are out of each softmax
            rows = np.repeat(np.arange(len(others)), [len(f) for f in others])
            logits = logits.index_put((torch.from_numpy(rows), torch.from_numpy(np.concatenate(others))),
                                      torch.tensor(-np.inf, dtype=logits.dtype))
        loss = F.cross_entropy(logits, torch.tensor(labels))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if decay_by_hand:
            with torch.no_grad():
                for p in plist:
                    p.mul_(1.0 - cfg["lr"] * wd)
        opt.step()
        return loss.item()

    log = open(args.json, "w") if args.json else None
    t, epoch, t_start = 0, 0, time.perf_counter()
    while (args.epochs and epoch < args.epochs) or (args.steps and t < args.steps):
        te, total, n_ex = time.perf_counter(), 0.0, 0
        for grp in group_order(cfg["seed"], epoch, n_groups):
            if args.steps and t == args.steps:
                break
            u0 = grp * group_users
            feats, labels, others = batcher.examples(epoch, u0, min(u0 + group_users, n_users))
            if not labels:
                continue
            loss = step(feats, labels, others)
            t += 1
            total += loss * len(labels)
            n_ex += len(labels)
            if log:
                log.write(json.dumps({"epoch": epoch + 1, "step": t, "group": grp,
                                      "examples": len(labels), "loss": loss}) + "\n")
        seconds = time.perf_counter() - te
        epoch += 1
        mean = total / n_ex if n_ex else 0.0
        if log:
            log.write(json.dumps({"epoch": epoch, "loss": mean, "epoch_s": seconds}) + "\n")
        if not args.quiet:
            print(f"epoch {epoch:6d}  loss {mean:.6f}  ({1000 * seconds:.1f} ms)")
    if log:
        log.close()
    print(f"{t} steps, {epoch} epochs in {time.perf_counter() - t_start:.3f} s "
          f"({torch.get_num_threads()} threads, {args.dtype})")


if __name__ == "__main__":
    main()
