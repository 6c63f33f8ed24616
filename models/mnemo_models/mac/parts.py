"""What every MAC heads design shares: its config (saved in each heads file) and the residual MLP block."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class HeadsConfig:
    design: str = "lmspace"          # "lmspace" | "select" | "free"
    n_slots: int = 16                # T (= P, prefix tokens per layer)
    width: int = 640                 # D, the LM's
    n_head: int = 4                  # attention heads of the heads' own attention
    mlp: int = 1280
    rank: int = 64                   # lmspace: the per-layer adapter's rank
    tap_layer: int = 9
    # lmspace/select: the prefix opens with the LM's own K/V of these ids (the gold prompt up to its
    # passage, mac.cache.reader_prefix), so the slots sit where a passage would and the question
    # follows as the gold prompt's closing part (prompts "memory"); () = slots alone at 0..T-1.
    frame_ids: tuple = ()
    # lmspace/select: "lowrank" = latent + a zero-started low-rank update per layer; "fitted" = a full
    # map per layer, started at the least-squares fit from the tap layer's (normed) residual to that
    # layer's input residual on real passages (fit_adapters), so each layer's K/V start close to the
    # LM's own for the token a slot holds, not just at the tap layer.
    adapter: str = "lowrank"

    def as_dict(self) -> dict:
        return asdict(self)


class Residual(nn.Module):
    """Pre-LN MLP whose output projection starts at zero (the block starts as the identity)."""

    def __init__(self, d: int, hidden: int, zero: bool = True):
        super().__init__()
        self.ln, self.up, self.down = nn.LayerNorm(d), nn.Linear(d, hidden), nn.Linear(hidden, d)
        if zero:
            nn.init.zeros_(self.down.weight)
            nn.init.zeros_(self.down.bias)

    def forward(self, x):
        return x + self.down(F.gelu(self.up(self.ln(x))))
