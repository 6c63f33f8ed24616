"""Measure the MAC heads stored in int8 (optionally building a bundle with them).

The library behind it is mnemo_models.mac.int8_heads; `python -m mnemo_models.heads_int8 --help` lists the options.
"""
from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
from pathlib import Path

import torch

from mnemo_models.bundle import recipes, sources
from mnemo_models.bundle.format2 import build
from mnemo_models.mac.export import read_heads
from mnemo_models.mac.int8_heads import rounded_state, __doc__ as USAGE


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=USAGE.split("\n")[0])
    ap.add_argument("--heads", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="the int8-rounded heads file (stored fp16)")
    ap.add_argument("--bundle", type=Path, help="also build a bundle with them here (not the app's cache)")
    a = ap.parse_args(argv)
    config, state, payload = read_heads(a.heads)
    rounded, facts = rounded_state(state)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({**{k: v for k, v in payload.items() if k != "state"}, "config": config,
                "state": {k: v.half() if v.is_floating_point() else v for k, v in rounded.items()}}, a.out)
    print(f"{a.out}: weights {facts['bytes_fp16'] / 1e6:.1f} MB as fp16, {facts['bytes_int8'] / 1e6:.1f} MB as int8; "
          f"worst relative error of a matrix {facts['worst_relative_error']:.4f}")
    if a.bundle:
        gates = a.heads.with_name(a.heads.stem + ".gates.json")
        if gates.is_file():
            shutil.copyfile(gates, a.out.with_name(a.out.stem + ".gates.json"))
        recipe = recipes.LM_RECIPES[recipes.DEFAULT_MODEL]
        recipe = dataclasses.replace(recipe, heads=(a.out.name, sources.sha256(a.out)))
        torch.set_num_threads(2)
        build(recipe.precisions[0], a.bundle, recipe.name, recipe=recipe, heads_dir=a.out.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
