"""Export all-MiniLM-L6-v2, the sentence encoder, to ONNX from its pinned safetensors.

The library behind it is mnemo_models.lm.minilm; `python -m mnemo_models.export_encoder --help` lists the options.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

import torch

from mnemo_models.lm.minilm import export_encoder, __doc__ as USAGE


def main(argv=None):
    ap = argparse.ArgumentParser(description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, required=True, help="the sentence-transformers model folder")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--max-tokens", type=int, default=256)
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("MNEMO_THREADS", os.cpu_count() or 1)))
    spec = export_encoder(args.src, args.out, args.max_tokens)
    files = {p.name: {"bytes": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
             for p in sorted(args.out.iterdir())}
    print(json.dumps({**spec, "files": files}, indent=2))


if __name__ == "__main__":
    main()
