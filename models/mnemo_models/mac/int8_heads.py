"""Measure the MAC heads stored in int8: round every weight matrix to int8 (one float scale per row,
symmetric), write a heads file holding the rounded values, and optionally build a bundle from it
to evaluate through the app (docs/eval.md, "int8 heads").

    python -m mnemo_models.heads_int8 --heads heads/gemma3-270m-mac.pt --out /tmp/heads8/gemma3-270m-mac.pt \
        --bundle /tmp/b-int8/gemma3-270m-q8

The committed heads are fp16 (mac.export.save_heads); this answers whether int8 would do as well
for half the bytes. Vectors (norm weights, biases) stay fp16: they are a small part of the file.
"""
from __future__ import annotations


import torch

from mnemo_models.mac.storage import int8_rows


def round_int8(w: torch.Tensor) -> torch.Tensor:
    """(…, K) -> the same values as the app's per-row int8 codec keeps them, a scale per row of K (a
    Linear's output channel; for the prefix maps (L, D, D), per layer and row)."""
    return int8_rows(w)


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
