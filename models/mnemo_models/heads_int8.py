"""Measure the MAC heads stored in int8: round every weight matrix to int8 (one float scale per row,
symmetric), write a heads file holding the rounded values, and optionally build a bundle from it
to evaluate through the app (docs/eval.md, "int8 heads").

    python -m mnemo_models.heads_int8 --heads heads/gemma3-270m-mac.pt --out /tmp/heads8/gemma3-270m-mac.pt \
        --bundle /tmp/b-int8/gemma3-270m-q8

The committed heads are fp16 (export_mac_gemma.save_heads); this answers whether int8 would do as well
for half the bytes. Vectors (norm weights, biases) stay fp16: they are a small part of the file.
"""
from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
from pathlib import Path

import torch

from .export_mac_gemma import read_heads


def round_int8(w: torch.Tensor) -> torch.Tensor:
    """(…, K) -> the same values rounded to int8 codes times a float scale per row of K (a Linear's
    output channel; for the prefix maps (L, D, D), per layer and row)."""
    rows = w.reshape(-1, w.shape[-1])
    scale = rows.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127
    return ((rows / scale).round().clamp(-127, 127) * scale).reshape(w.shape)


def rounded_state(state: dict) -> tuple[dict, dict]:
    """-> (state with every float matrix int8-rounded, facts: bytes as fp16 and as int8, worst error)."""
    out, fp16, int8, worst = {}, 0, 0, 0.0
    for k, v in state.items():
        if not v.is_floating_point():
            out[k] = v
            continue
        fp16 += 2 * v.numel()
        if v.dim() >= 2:
            out[k] = round_int8(v)
            int8 += v.numel() + 4 * (v.numel() // v.shape[-1])                # codes + a float scale per row
            worst = max(worst, float((out[k] - v).norm() / v.norm().clamp_min(1e-12)))
        else:
            out[k] = v
            int8 += 2 * v.numel()
    return out, {"bytes_fp16": fp16, "bytes_int8": int8, "worst_relative_error": worst}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
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
        from . import build_bundle, sources
        gates = a.heads.with_name(a.heads.stem + ".gates.json")
        if gates.is_file():
            shutil.copyfile(gates, a.out.with_name(a.out.stem + ".gates.json"))
        build_bundle.HEADS_DIR = a.out.parent
        recipe = build_bundle.LM_RECIPES[build_bundle.DEFAULT_MODEL]
        build_bundle.LM_RECIPES[build_bundle.DEFAULT_MODEL] = dataclasses.replace(
            recipe, heads=(a.out.name, sources.sha256(a.out)))
        torch.set_num_threads(2)
        build_bundle.build(recipe.precisions[0], a.bundle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
