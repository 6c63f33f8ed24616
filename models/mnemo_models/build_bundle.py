"""Build a format-2 bundle from pinned pretrained sources into the cache (what `npm run setup` runs).

The library behind it is mnemo_models.bundle.format2; `python -m mnemo_models.build_bundle --help` lists the options.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from mnemo_models.bundle import sources
from mnemo_models.bundle.format2 import build, is_complete, __doc__ as USAGE
from mnemo_models.bundle.recipes import DEFAULT_MODEL, LM_RECIPES, default_out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=USAGE.split("\n")[0])
    ap.add_argument("--model", choices=sorted(LM_RECIPES), default=DEFAULT_MODEL)
    ap.add_argument("--precision", choices=["q4", "q8", "fp32"],
                    help="default: the model's measured best (gemma3-270m q8, smollm2 q4)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--force", action="store_true", help="rebuild even when the bundle is complete")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    precision = a.precision or LM_RECIPES[a.model].precisions[0]
    if precision not in LM_RECIPES[a.model].precisions:
        ap.error(f"{a.model} is built in {', '.join(LM_RECIPES[a.model].precisions)}, not {precision}")
    out = a.out or default_out(precision, a.model)
    if not a.force and is_complete(out, precision, a.model):
        print(f"bundle up to date: {out}")
        return 0
    try:
        build(precision, out, a.model)
    except sources.SourceError as e:
        print(f"setup: {e}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
