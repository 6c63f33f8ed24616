"""MAC's trainable heads for a real frozen LM (Gemma 3 270M): two designs behind one interface.

The amortizer and the question encoder read the frozen LM's own residual stream after its first K
blocks (mac.cache.TAP_LAYER), RMS-normed: features (B, S, D), mask (B, S) 1 = token. Shapes: D = LM
width (640), T slots, M memory tokens (entries x T), L LM layers, P = T prefix tokens per layer,
Hkv = 1 key/value head of hd = 256.

- "lmspace" starts inside the LM's own key/value space (mac-method.md §7): a slot is an attention-
  pooled mix of the chunk's normed residual vectors; the aggregator pools the bank's slots under
  the question (values are the slots themselves, so a latent is again such a vector and
  hierarchical aggregation stays in one space); the prefix generator maps each latent slot through
  a zero-initialised low-rank adapter per layer and then the frozen LM's own input norm, key/value
  projections, key norm and RoPE. At step 0 the prefix is therefore K/V the LM could have made
  itself from the chunk's tokens, and training refines which ones.
- "free" is the paper's (mac/free.py): learned slot queries with self- and cross-attention over the
  features, cross-attention aggregation added to the question's slots, and a prefix generator whose
  L*2*P learned queries read the latent and are projected straight to K/V (small-initialised).

Both: a learned null entry in every bank (an empty bank is the question-only control), padding
masked everywhere, aggregator K/V of the bank independent of the question (cacheable).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from mnemo_models.lm.llama import float64_reference, rope_tables, rotate
from mnemo_models.mac.cache import pad_rows
from mnemo_models.mac.free import AttnAggregator, FreePrefix, SlotDecoder
from mnemo_models.mac.parts import HeadsConfig, Residual


# ---------------------------------------------------------------- lmspace: pooling in the LM's space

class Pool(nn.Module):
    """T learned queries pool the features: slot = sum_j a_tj f_j (values are the features themselves),
    then a zero-initialised refinement. (B, S, D), mask -> (B, T, D)."""

    def __init__(self, c: HeadsConfig):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(c.n_slots, c.width) * 0.02)
        self.ln, self.key = nn.LayerNorm(c.width), nn.Linear(c.width, c.width)
        self.refine = Residual(c.width, c.mlp)

    def forward(self, feat, mask):
        k = self.key(self.ln(feat))                                              # (B, S, D)
        att = self.queries @ k.transpose(1, 2) / math.sqrt(k.shape[-1])          # (B, T, S)
        att = att.masked_fill(~mask[:, None, :].bool(), -1e9)
        return self.refine(att.softmax(-1) @ feat)


class PoolAggregator(nn.Module):
    """Question slots (B, T, D) pool the bank's slots (values are the slots) -> latent (B, T, D)."""

    def __init__(self, c: HeadsConfig):
        super().__init__()
        self.null = nn.Parameter(torch.randn(c.n_slots, c.width) * 0.02)
        self.ln_q, self.q = nn.LayerNorm(c.width), nn.Linear(c.width, c.width)
        self.ln_m, self.k = nn.LayerNorm(c.width), nn.Linear(c.width, c.width)
        self.refine = Residual(c.width, c.mlp)
        self.n_blocks = 1

    def memory_kv(self, memory):
        """(B|1, M, D) -> (1 block, 2, B|1, M, D): keys, and the memory itself as values."""
        return torch.stack([self.k(self.ln_m(memory)), memory])[None]

    def forward_kv(self, query, kv, key_mask=None):
        B, T, _ = query.shape
        null = self.memory_kv(self.null[None])[0]                                # (2, 1, T, D)
        n = kv.shape[2]
        k = torch.cat([null[0].expand(n, -1, -1), kv[0, 0]], 1)                  # (B|1, T+M, D)
        v = torch.cat([null[1].expand(n, -1, -1), kv[0, 1]], 1)
        att = self.q(self.ln_q(query)) @ k.transpose(1, 2) / math.sqrt(k.shape[-1])   # (B, T, T+M)
        if key_mask is not None:
            mask = torch.cat([torch.ones(key_mask.shape[0], T, dtype=torch.bool), key_mask.bool()], 1)
            att = att.masked_fill(~mask[:, None, :], -1e9)
        w = att.softmax(-1)
        return self.refine(w @ v), w.mean(1)[:, T:]                              # latent, (B, M)


class SharpPool(nn.Module):
    """Like Pool, but each slot starts as (almost) one token of the chunk: random unit-scale queries
    and a learned temperature (starting at 8) make the pooling near one-hot, so the modulation is
    T of the chunk's own residual vectors rather than T blurred averages of all of them."""

    def __init__(self, c: HeadsConfig):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(c.n_slots, c.width))
        self.ln, self.key = nn.LayerNorm(c.width), nn.Linear(c.width, c.width)
        self.log_temp = nn.Parameter(torch.tensor(math.log(8.0)))
        self.refine = Residual(c.width, c.mlp)

    def forward(self, feat, mask):
        k = self.key(self.ln(feat))
        q = self.queries / self.queries.norm(dim=-1, keepdim=True)               # (T, D) unit
        kn = k / (k.norm(dim=-1, keepdim=True) + 1e-6)                            # (B, S, D) unit
        att = (q @ kn.transpose(1, 2)) * self.log_temp.exp() * math.sqrt(k.shape[-1]) / 2   # cosine x temp
        att = att.masked_fill(~mask[:, None, :].bool(), -1e9)
        return self.refine(att.softmax(-1) @ feat)


class SlotAggregator(nn.Module):
    """Slot-wise: latent slot t is a question-weighted mix of slot t of every entry (and of the null
    entry, a zero vector: no content). Bank of one: each latent slot is its entry's slot, scaled,
    so through the prefix's RMS norm the chunk's own tokens reach the LM from step 0."""

    def __init__(self, c: HeadsConfig):
        super().__init__()
        self.T = c.n_slots
        self.null = nn.Parameter(torch.zeros(c.n_slots, c.width))
        self.ln_q, self.q = nn.LayerNorm(c.width), nn.Linear(c.width, c.width)
        self.ln_m, self.k = nn.LayerNorm(c.width), nn.Linear(c.width, c.width)
        self.n_blocks = 1

    def memory_kv(self, memory):
        return torch.stack([self.k(self.ln_m(memory)), memory])[None]           # (1, 2, B|1, M, D)

    def forward_kv(self, query, kv, key_mask=None):
        B, T, D = query.shape
        n = kv.shape[2]
        null = self.memory_kv(self.null[None])[0]                                # (2, 1, T, D)
        k = torch.cat([null[0].expand(n, -1, -1), kv[0, 0]], 1).view(n, -1, T, D)   # (B|1, 1+N, T, D)
        v = torch.cat([null[1].expand(n, -1, -1), kv[0, 1]], 1).view(n, -1, T, D)
        qt = self.q(self.ln_q(query))                                            # (B, T, D)
        att = torch.einsum("btd,bntd->btn", qt, k.expand(B, -1, -1, -1)) / math.sqrt(D)   # (B, T, 1+N)
        if key_mask is not None:
            entry_ok = key_mask.bool().view(B, -1, T).all(-1)                    # (B, N)
            ok = torch.cat([torch.ones(B, 1, dtype=torch.bool), entry_ok], 1)
            att = att.masked_fill(~ok[:, None, :], -1e9)
        w = att.softmax(-1)
        latent = torch.einsum("btn,bntd->btd", w, v.expand(B, -1, -1, -1))
        return latent, _per_token(w[:, :, 1:], T)


def _per_token(w, T: int):
    """Slot-wise weights (B, T, N) -> per memory token weights (B, N*T): token (n, t) gets w[t, n] / T."""
    B, _, N = w.shape
    return (w.transpose(1, 2) / T).reshape(B, N * T)


class LMSpacePrefix(nn.Module):
    """latent (B, T, D) -> prefix (L, 2, B, 1, P, hd) through the frozen LM's own projections.

    Per layer: h = latent + latent A_l B_l (B_l starts at zero), then the layer's frozen attn_norm,
    k/v projections, k_norm and RoPE, and a learned gain on the values (starts at 1). With a frame
    of R ids the prefix is [the LM's own K/V of the frame (R), the slots at positions R..R+T-1], so
    P = R + T; without, P = T. The question starts at position P.
    """

    def __init__(self, c: HeadsConfig, lm):
        super().__init__()
        L, D, r = len(lm.blocks), c.width, c.rank
        self.fitted = c.adapter == "fitted"
        if self.fitted:
            self.W = nn.Parameter(torch.eye(D).repeat(L, 1, 1))                   # (L, D, D), see fit_adapters
        else:
            self.A = nn.Parameter(torch.randn(L, D, r) / math.sqrt(D))
            self.B = nn.Parameter(torch.zeros(L, r, D))
        self.v_gain = nn.Parameter(torch.ones(L))
        self.lm_cfg, self.L, self.hd = lm.cfg, L, lm.cfg.head_dim
        # the frozen LM's pieces, as buffers (saved with the heads only in the exported graph)
        self.register_buffer("norm_w", torch.stack([b.attn_norm.weight.detach() for b in lm.blocks]), persistent=False)
        self.register_buffer("wk", torch.stack([b.attn.k.weight().detach() if callable(b.attn.k.weight) else
                                                b.attn.k.weight.detach() for b in lm.blocks]), persistent=False)
        self.register_buffer("wv", torch.stack([b.attn.v.weight().detach() if callable(b.attn.v.weight) else
                                                b.attn.v.weight.detach() for b in lm.blocks]), persistent=False)
        self.register_buffer(
            "knorm_w", torch.stack([b.attn.k_norm.weight.detach() for b in lm.blocks]), persistent=False
        )
        self.eps = lm.cfg.norm_eps
        R = len(c.frame_ids)
        frame = torch.zeros(L, 2, 1, lm.cfg.n_kv_heads, 0, lm.cfg.head_dim)
        if R:                  # in float64, rounded once: the exported prefix holds it (lm/llama.py)
            with torch.no_grad(), float64_reference(lm):
                _, frame = lm(
                    torch.tensor([list(c.frame_ids)]),
                    torch.arange(R)[None],
                    torch.ones(1, R, dtype=torch.long),
                    lm.empty_past(dtype=torch.float64),
                    hidden_only=True,
                )  # (L, 2, 1, 1, R, hd)
        self.register_buffer("frame", frame.float(), persistent=False)
        self.R = R
        # the slots' rotary tables, constants of the graph: float64 rounded once, as the frame
        pos = R + torch.arange(c.n_slots)[None]
        tables = [
            rope_tables(
                pos,
                lm.cfg.head_dim,
                lm.cfg.rope_theta if lm.cfg.is_global(i) else lm.cfg.rope_theta_local,
                torch.float64,
            )
            for i in range(L)
        ]
        # (L, 1, 1, T, hd)
        self.register_buffer("slot_cos", torch.stack([t[0] for t in tables]).float(), persistent=False)
        self.register_buffer("slot_sin", torch.stack([t[1] for t in tables]).float(), persistent=False)

    def forward(self, latent):
        B, P, D = latent.shape
        if self.fitted:
            h = latent[None] @ self.W[:, None]                                   # (L, B, P, D)
        else:
            h = latent[None] + (latent[None] @ self.A[:, None]) @ self.B[:, None]

        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps) * self.norm_w[:, None, None]
        k = h @ self.wk.transpose(1, 2)[:, None]                                 # (L, B, P, hd)  (Hkv = 1)
        v = (h @ self.wv.transpose(1, 2)[:, None]) * self.v_gain[:, None, None, None]
        k = k * torch.rsqrt(k.pow(2).mean(-1, keepdim=True) + self.eps) * self.knorm_w[:, None, None]
        assert P == self.slot_cos.shape[3], f"{P} slots, the tables hold {self.slot_cos.shape[3]}"
        out = []
        for layer in range(k.shape[0]):
            cos, sin = self.slot_cos[layer], self.slot_sin[layer]                # (1, 1, P, hd)
            out.append(torch.stack([rotate(k[layer][:, None], cos, sin), v[layer][:, None]]))
        slots = torch.stack(out)                                                 # (L, 2, B, 1, T, hd)
        if not self.R:
            return slots
        return torch.cat([self.frame.expand(-1, -1, B, -1, -1, -1), slots], dim=4)   # (L, 2, B, 1, R+T, hd)


# ---------------------------------------------------------------- the heads

class Heads(nn.Module):
    """amortizer, question encoder, aggregator, prefix generator. The frozen LM is held outside;
    the lmspace prefix keeps copies of its K/V projections as non-persistent buffers."""

    def __init__(self, c: HeadsConfig, lm):
        super().__init__()
        self.cfg = c
        if c.design == "lmspace":
            self.amortizer, self.question_encoder = Pool(c), Pool(c)
            self.aggregator, self.prefix = PoolAggregator(c), LMSpacePrefix(c, lm)
        elif c.design == "select":
            self.amortizer, self.question_encoder = SharpPool(c), SharpPool(c)
            self.aggregator, self.prefix = SlotAggregator(c), LMSpacePrefix(c, lm)
        elif c.design == "free":
            self.amortizer, self.question_encoder = SlotDecoder(c), SlotDecoder(c)
            self.aggregator, self.prefix = AttnAggregator(c), FreePrefix(c, lm)
        else:
            raise ValueError(f"unknown heads design {c.design!r} (lmspace, select, free)")

    def aggregate(self, query, memory, key_mask=None):
        """query (B, T, D); memory (B|1, M, D) -> latent (B, T, D), token weights (B, M)."""
        return self.aggregator.forward_kv(query, self.aggregator.memory_kv(memory), key_mask)

    def aggregate_hierarchical(self, query, entries, group: int):
        """entries (B|1, N, T, D) -> latent, entry weights (B, N): groups of `group` entries are each
        aggregated under the question into one entry, recursively, until at most `group` remain."""
        B, T, D = query.shape
        N = entries.shape[1]
        weights, owner = torch.ones(B, N), torch.arange(N)
        while entries.shape[1] > group:
            lats, within = [], []
            for g0 in range(0, entries.shape[1], group):
                part = entries[:, g0:g0 + group]
                lat, w = self.aggregate(query, part.reshape(part.shape[0], -1, D))
                lats.append(lat)
                within.append(w.view(B, -1, T).sum(-1))
            weights, owner = weights * torch.cat(within, 1)[:, owner], owner // group
            entries = torch.stack(lats, 1)
        lat, w = self.aggregate(query, entries.reshape(entries.shape[0], -1, D))
        return lat, weights * w.view(B, -1, T).sum(-1)[:, owner]

    @torch.no_grad()
    def fit_adapters(self, lm, rows: list[list[int]], keep: list[tuple[int, int]], ridge: float = 1e-2) -> list[float]:
        """Least squares from the tap layer's normed residual to each layer's normed input residual,
        over the tokens rows[i][keep[i][0]:keep[i][1]] (passages read in their frame). Returns each
        layer's fraction of variance explained."""
        ids, mask = pad_rows(rows)
        B, S = ids.shape
        pos = torch.arange(S)[None].expand(B, -1)
        norm = lambda x: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)   # noqa: E731
        take = lambda h: torch.cat([h[i, a:b] for i, (a, b) in enumerate(keep)])   # noqa: E731
        every = lm(ids, pos, mask, lm.empty_past(B), tap_layer=-1, stop_at_tap=True)   # (L, B, S, D)
        resid = [take(norm(x)) for x in every]                                   # each layer's input, (N, D)
        X = resid[self.cfg.tap_layer]                                            # (N, D)
        gram = X.T @ X + ridge * len(X) * torch.eye(X.shape[1])
        r2 = []
        for layer, Y in enumerate(resid):
            W = torch.linalg.solve(gram, X.T @ Y)                                 # (D, D)
            self.prefix.W[layer] = W
            r2.append(float(1 - (X @ W - Y).pow(2).sum() / (Y - Y.mean(0)).pow(2).sum()))
        return r2

    def trainable(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
