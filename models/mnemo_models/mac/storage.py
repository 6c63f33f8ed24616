"""How the app stores a vector: int8 codes with one float scale per row (the Python side of
electron/shared's per-row int8 codec, used by modulations and embeddings alike).

A row x (…, K) is kept as scale = max|x| / 127 and codes round(x / scale) in [-127, 127]; reading
it back gives codes * scale. The gates read modulations as a vault keeps them, and heads_int8
measures the heads' weight matrices stored the same way.
"""
from __future__ import annotations

import torch


def int8_rows(x: torch.Tensor) -> torch.Tensor:
    """(…, K) -> the same shape, each row of K rounded to int8 codes times its scale max|row|/127."""
    scale = x.abs().amax(-1, keepdim=True) / 127
    return torch.round(x / scale.clamp_min(1e-30)).clamp(-127, 127) * scale


def as_stored(m: torch.Tensor) -> torch.Tensor:
    """A modulation (T, D) as a vault keeps it: per slot row, int8 codes and one scale."""
    return int8_rows(m)
