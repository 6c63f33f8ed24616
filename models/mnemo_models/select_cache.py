"""Cache what the entry selector learns from, through the bundle's own ONNX graphs.

The library behind it is mnemo_models.mac.select_cache; `python -m mnemo_models.select_cache --help` lists the options.
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
from tokenizers import Tokenizer

from mnemo_models.bundle import recipes
from mnemo_models.data.squad import load_squad
from mnemo_models.mac.cache import MAX_DOC, reader_prefix
from mnemo_models.mac.select_cache import OnnxReader, paragraph_records, __doc__ as USAGE


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=USAGE.split("\n")[0])
    ap.add_argument("--split", choices=["train", "valid"], required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--bundle", type=Path, help="default: the setup-built default bundle")
    ap.add_argument("--paragraphs", type=int, default=10000)
    ap.add_argument("--shard", type=int, default=200)
    ap.add_argument("--batch", type=int, default=4, help="paragraphs per reader pass (the engine's AMORTIZE_BATCH)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)

    bundle = a.bundle or recipes.default_out()
    reader = OnnxReader(bundle, a.threads)
    tok = Tokenizer.from_file(str(bundle / reader.manifest["tokenizer"]))
    encode = lambda t: tok.encode(t, add_special_tokens=False).ids                 # noqa: E731
    if encode(reader_prefix(reader.manifest["prompt"])) != reader.prefix:
        raise ValueError("the manifest's reader prefix_ids are not the gold prompt's opening")
    paras = load_squad(a.split)
    random.Random(a.seed).shuffle(paras)
    paras = paras[: a.paragraphs]
    a.out.mkdir(parents=True, exist_ok=True)
    meta = {"bundle": reader.manifest["id"], "split": a.split, "paragraphs": len(paras), "seed": a.seed,
            "shard": a.shard, "max_doc": MAX_DOC, "graphs": ["reader", "amortizer"]}
    (a.out / "meta.json").write_text(json.dumps(meta, indent=1))
    n_shards = (len(paras) + a.shard - 1) // a.shard
    t0, done = time.time(), 0
    for s in range(n_shards):
        path = a.out / f"shard-{s:05d}.pt"
        if path.exists():
            continue
        part = paras[s * a.shard:(s + 1) * a.shard]
        recs = [r for i in range(0, len(part), a.batch) for r in paragraph_records(reader, encode, part[i:i + a.batch])]
        tmp = path.with_name(path.name + ".tmp")
        torch.save(recs, tmp)
        os.replace(tmp, path)
        done += len(recs)
        rate = done / (time.time() - t0)
        left = sum(not (a.out / f"shard-{i:05d}.pt").exists() for i in range(n_shards)) * a.shard
        print(
            f"select_cache {a.split}: shard {s + 1}/{n_shards}, {rate:.1f} paragraphs/s, "
            f"~{left / rate / 60:.0f} min left",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
