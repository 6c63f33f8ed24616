"""The paper's MAC head design ("free") for the real frozen LM, beside mac/heads.py's lmspace/select.

Learned slot queries with self- and cross-attention over the LM-tap features, cross-attention
aggregation added to the question's slots, and L*2*P learned prefix queries projected straight to
K/V (small-initialised, so the untrained prefix is near neutral). Shapes as in mac/heads.py.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from mnemo_models.mac.parts import HeadsConfig, Residual


class MultiHead(nn.Module):
    """x (B, Q, D) attends over k, v (B|1, K, Dk|Dv) already projected; key_mask (B|1, K) True = real."""

    def __init__(self, d: int, n_head: int):
        super().__init__()
        self.n_head, self.q, self.o = n_head, nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x, k, v, key_mask=None):
        B, Q, D = x.shape
        h = self.n_head
        q = self.q(x).view(B, Q, h, -1).transpose(1, 2)                         # (B, h, Q, hs)
        k = k.view(k.shape[0], k.shape[1], h, -1).transpose(1, 2)                # (B|1, h, K, hs)
        v = v.view(v.shape[0], v.shape[1], h, -1).transpose(1, 2)
        att = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])                   # (B, h, Q, K)
        if key_mask is not None:
            att = att.masked_fill(~key_mask[:, None, None, :].bool(), -1e9)
        w = att.softmax(-1)
        return self.o((w @ v).transpose(1, 2).reshape(B, Q, D)), w


class SlotDecoder(nn.Module):
    """Learned slot queries; blocks of self-attention, cross-attention over the features, MLP."""

    def __init__(self, c: HeadsConfig, n_blocks: int = 2):
        super().__init__()
        d = c.width
        self.slots = nn.Parameter(torch.randn(c.n_slots, d) * 0.02)
        self.ln_f, self.kv_f = nn.LayerNorm(d), nn.Linear(d, 2 * d)
        self.blocks = nn.ModuleList()
        for _ in range(n_blocks):
            self.blocks.append(
                nn.ModuleDict(
                    {
                        "ln_s": nn.LayerNorm(d),
                        "kv_s": nn.Linear(d, 2 * d),
                        "self": MultiHead(d, c.n_head),
                        "ln_c": nn.LayerNorm(d),
                        "cross": MultiHead(d, c.n_head),
                        "mlp": Residual(d, c.mlp, zero=False),
                    }
                )
            )
        self.ln_out, self.out = nn.LayerNorm(d), nn.Linear(d, d)

    def forward(self, feat, mask):
        k, v = self.kv_f(self.ln_f(feat)).chunk(2, -1)
        x = self.slots[None].expand(feat.shape[0], -1, -1)
        for b in self.blocks:
            h = b["ln_s"](x)
            x = x + b["self"](h, *b["kv_s"](h).chunk(2, -1))[0]
            x = x + b["cross"](b["ln_c"](x), k, v, mask)[0]
            x = b["mlp"](x)
        return self.out(self.ln_out(x))


class AttnAggregator(nn.Module):
    """The paper's: blocks of cross-attention from the question's slots over the bank, added to them."""

    def __init__(self, c: HeadsConfig, n_blocks: int = 2):
        super().__init__()
        d = c.width
        self.null = nn.Parameter(torch.randn(c.n_slots, d) * 0.02)
        self.n_blocks = n_blocks
        self.ln_m = nn.ModuleList([nn.LayerNorm(d) for _ in range(n_blocks)])
        self.kv = nn.ModuleList([nn.Linear(d, 2 * d) for _ in range(n_blocks)])
        self.ln_q = nn.ModuleList([nn.LayerNorm(d) for _ in range(n_blocks)])
        self.cross = nn.ModuleList([MultiHead(d, c.n_head) for _ in range(n_blocks)])
        self.mlp = nn.ModuleList([Residual(d, c.mlp, zero=False) for _ in range(n_blocks)])
        self.ln_out = nn.LayerNorm(d)

    def memory_kv(self, memory):
        return torch.stack([torch.stack(self.kv[i](self.ln_m[i](memory)).chunk(2, -1)) for i in range(self.n_blocks)])

    def forward_kv(self, query, kv, key_mask=None):
        B, T, _ = query.shape
        null = self.memory_kv(self.null[None])                                   # (blocks, 2, 1, T, D)
        mask = None
        if key_mask is not None:
            mask = torch.cat([torch.ones(key_mask.shape[0], T, dtype=torch.bool), key_mask.bool()], 1)
        x, weights, n = query, 0.0, kv.shape[2]
        for i in range(self.n_blocks):
            k = torch.cat([null[i, 0].expand(n, -1, -1), kv[i, 0]], 1)
            v = torch.cat([null[i, 1].expand(n, -1, -1), kv[i, 1]], 1)
            y, w = self.cross[i](self.ln_q[i](x), k, v, mask)
            x = self.mlp[i](x + y)
            weights = weights + w.mean(dim=(1, 2))
        return self.ln_out(x), (weights / self.n_blocks)[:, T:]


class FreePrefix(nn.Module):
    """latent (B, T, D) -> (L, 2, B, 1, P, hd): L*2*P learned queries read the latent, then a
    small-initialised projection to hd (the untrained prefix is near neutral)."""

    def __init__(self, c: HeadsConfig, lm):
        super().__init__()
        d, self.L, self.P, self.hd = c.width, len(lm.blocks), c.n_slots, lm.cfg.head_dim
        self.queries = nn.Parameter(torch.randn(self.L * 2 * self.P, d) * 0.02)
        self.ln_q, self.ln_kv, self.kv = nn.LayerNorm(d), nn.LayerNorm(d), nn.Linear(d, 2 * d)
        self.cross, self.mlp = MultiHead(d, c.n_head), Residual(d, c.mlp, zero=False)
        self.out = nn.Linear(d, self.hd)
        nn.init.normal_(self.out.weight, std=0.02)
        nn.init.zeros_(self.out.bias)

    def forward(self, latent):
        B = latent.shape[0]
        x = self.queries[None].expand(B, -1, -1)
        x = x + self.cross(self.ln_q(x), *self.kv(self.ln_kv(latent)).chunk(2, -1))[0]
        x = self.out(self.mlp(x)).view(B, self.L, 2, self.P, self.hd)
        return x.permute(1, 2, 0, 3, 4)[:, :, :, None]                           # (L, 2, B, 1, P, hd)
