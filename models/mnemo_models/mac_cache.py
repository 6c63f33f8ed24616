"""Cache everything frozen that MAC training reads: the LM's features and the teacher's log-probs.

The library behind it is mnemo_models.mac.cache; `python -m mnemo_models.mac_cache --help` lists the options.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import torch

from mnemo_models.bundle import recipes
from mnemo_models.data.squad import load_squad
from mnemo_models.mac.cache import load_frozen, MAX_DOC, MAX_TARGET, paragraph_record, TAP_LAYER, __doc__ as USAGE


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=USAGE.split("\n")[0])
    ap.add_argument("--split", choices=["train", "valid"], required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--bundle", type=Path, help="default: the setup-built default bundle")
    ap.add_argument("--paragraphs", type=int, default=3000)
    ap.add_argument("--shard", type=int, default=50)
    ap.add_argument("--top-k", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--worker", type=int, default=0, help="this process takes shards s with s %% workers == worker")
    ap.add_argument("--workers", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    model, encode, manifest = load_frozen(a.bundle or recipes.default_out())
    paras = load_squad(a.split)
    random.Random(a.seed).shuffle(paras)
    paras = paras[: a.paragraphs]
    a.out.mkdir(parents=True, exist_ok=True)
    meta = {"bundle": manifest["id"], "split": a.split, "paragraphs": len(paras), "seed": a.seed, "top_k": a.top_k,
            "shard": a.shard, "tap_layer": TAP_LAYER, "max_doc": MAX_DOC, "max_target": MAX_TARGET}
    (a.out / "meta.json").write_text(json.dumps(meta, indent=1))
    sp = manifest["special_ids"]
    n_shards = (len(paras) + a.shard - 1) // a.shard
    t0, done = time.time(), 0
    for s in range(n_shards):
        path = a.out / f"shard-{s:05d}.pt"
        if path.exists():
            continue
        if s % a.workers != a.worker:
            continue
        recs = [paragraph_record(model, encode, manifest["prompt"], p, sp["newline"], a.top_k, TAP_LAYER)
                for p in paras[s * a.shard:(s + 1) * a.shard]]
        tmp = path.with_name(path.name + ".tmp")
        torch.save(recs, tmp)
        os.replace(tmp, path)
        done += len(recs)
        left = sum(not (a.out / f"shard-{i:05d}.pt").exists() for i in range(a.worker, n_shards, a.workers)) * a.shard
        rate = done / (time.time() - t0)
        nll = sum(q["nll"] for r in recs for q in r["questions"]) / max(1, sum(len(r["questions"]) for r in recs))
        print(f"mac.cache {a.split}: shard {s + 1}/{n_shards}, teacher NLL {nll:.3f}, {rate:.2f} paragraphs/s, "
              f"~{left / rate / 60:.0f} min left", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
