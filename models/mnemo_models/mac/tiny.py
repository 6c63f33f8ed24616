"""The tiny MAC networks around lm/tiny.py's GPT-2, behind the committed test bundle: amortizer,
question encoder, aggregator with a learned null entry, prefix generator. Seeded random weights only.

Shapes: D = LM hidden size, T = slots per modulation, P = prefix tokens per layer, L = LM layers,
M = memory tokens (N entries x T).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from mnemo_models.lm.tiny import MLP, Block, GPTConfig


@dataclass
class MACConfig:
    """MAC networks (trainable) around a frozen base LM; D is the LM's hidden size."""
    n_slots: int = 8                # T: learned slots of a modulation
    prefix_len: int = 2             # P: key/value tokens per LM layer
    position_offset: int = 0        # first position id of the prompt after the prefix
    amortizer_enc_layers: int = 2
    amortizer_dec_layers: int = 2
    question_enc_layers: int = 2
    question_dec_layers: int = 1
    aggregator_layers: int = 2
    n_head: int = 4
    max_doc_tokens: int = 256
    max_question_tokens: int = 64
    init_from_lm: bool = True       # amortizer/question encoder start from the base LM's blocks
    dropout: float = 0.0


class CrossAttention(nn.Module):
    """Queries x (B, Q, D) attend over keys/values (B or 1, K, D); returns output and weights (B, nh, Q, K)."""

    def __init__(self, d: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)
        self.o = nn.Linear(d, d)

    def project_kv(self, mem):
        return self.kv(mem).chunk(2, dim=-1)                                  # 2 x (B, K, D)

    def forward(self, x, k, v, key_mask=None):
        B, Q, D = x.shape
        hs = D // self.n_head
        q = self.q(x).view(B, Q, self.n_head, hs).transpose(1, 2)                # (B, nh, Q, hs)
        k = k.view(k.shape[0], -1, self.n_head, hs).transpose(1, 2)              # (B|1, nh, K, hs)
        v = v.view(v.shape[0], -1, self.n_head, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)                          # (B, nh, Q, K)
        if key_mask is not None:                                                 # (B, K) True = real
            att = att.masked_fill(~key_mask[:, None, None, :], torch.finfo(att.dtype).min)
        w = torch.softmax(att, dim=-1)
        y = (w @ v).transpose(1, 2).reshape(B, Q, D)
        return self.o(y), w


class SlotDecoderBlock(nn.Module):
    """Pre-LN: slots self-attend, cross-attend to the encoded document (padding masked), then MLP."""

    def __init__(self, lm_cfg: GPTConfig, n_head: int):
        super().__init__()
        d = lm_cfg.n_embd
        self.ln_self, self.self_attn = nn.LayerNorm(d), CrossAttention(d, n_head)
        self.ln_cross, self.cross = nn.LayerNorm(d), CrossAttention(d, n_head)
        self.ln_mlp, self.mlp = nn.LayerNorm(d), MLP(lm_cfg)

    def forward(self, slots, enc, enc_mask):
        h = self.ln_self(slots)
        slots = slots + self.self_attn(h, *self.self_attn.project_kv(h))[0]
        k, v = self.cross.project_kv(enc)
        slots = slots + self.cross(self.ln_cross(slots), k, v, enc_mask)[0]
        return slots + self.mlp(self.ln_mlp(slots))


class Amortizer(nn.Module):
    """Encoder over the document (bidirectional GPT-2 blocks) + decoder over T learned slot queries.

    input_ids (B, S), attention_mask (B, S) 1 = token -> modulation (B, T, D).
    """

    def __init__(self, lm_cfg: GPTConfig, cfg: MACConfig, enc_layers: int, dec_layers: int, max_len: int):
        super().__init__()
        d = lm_cfg.n_embd
        self.wte = nn.Embedding(lm_cfg.vocab_size, d)
        self.wpe = nn.Embedding(max_len, d)
        self.enc = nn.ModuleList([Block(lm_cfg) for _ in range(enc_layers)])
        self.ln_enc = nn.LayerNorm(d)
        self.slots = nn.Parameter(torch.randn(cfg.n_slots, d) * 0.02)
        self.dec = nn.ModuleList([SlotDecoderBlock(lm_cfg, cfg.n_head) for _ in range(dec_layers)])
        self.ln_out = nn.LayerNorm(d)
        self.out = nn.Linear(d, d)

    def forward(self, input_ids, attention_mask):
        B, S = input_ids.shape
        pos = torch.arange(S, device=input_ids.device)
        x = self.wte(input_ids) + self.wpe(pos)[None]                            # (B, S, D)
        real = attention_mask.bool()
        enc_mask = real[:, None, None, :]                                        # (B, 1, 1, S) keys
        for block in self.enc:
            x = block(x, enc_mask)[0]
        x = self.ln_enc(x)
        slots = self.slots[None].expand(B, -1, -1)                               # (B, T, D)
        for block in self.dec:
            slots = block(slots, x, real)
        return self.out(self.ln_out(slots))                                      # (B, T, D)


class AggregatorBlock(nn.Module):
    def __init__(self, lm_cfg: GPTConfig, n_head: int):
        super().__init__()
        d = lm_cfg.n_embd
        self.ln_mem, self.ln_q, self.cross = nn.LayerNorm(d), nn.LayerNorm(d), CrossAttention(d, n_head)
        self.ln_mlp, self.mlp = nn.LayerNorm(d), MLP(lm_cfg)

    def memory_kv(self, memory):
        """(B|1, M, D) -> K, V (B|1, M, D): independent of the question, so cacheable at ingest."""
        return self.cross.project_kv(self.ln_mem(memory))

    def forward(self, x, k, v, key_mask=None):
        y, w = self.cross(self.ln_q(x), k, v, key_mask)
        x = x + y
        return x + self.mlp(self.ln_mlp(x)), w


class Aggregator(nn.Module):
    """Question slots (B, T, D) cross-attend over all memory tokens (B|1, M, D) -> latent (B, T, D).

    A learned null entry (T tokens) is always in the bank, so an empty bank is well defined (the
    question-only control) and attention can go "nowhere" when no entry is relevant.
    """

    def __init__(self, lm_cfg: GPTConfig, cfg: MACConfig):
        super().__init__()
        self.blocks = nn.ModuleList([AggregatorBlock(lm_cfg, cfg.n_head) for _ in range(cfg.aggregator_layers)])
        self.null = nn.Parameter(torch.randn(cfg.n_slots, lm_cfg.n_embd) * 0.02)
        self.ln_out = nn.LayerNorm(lm_cfg.n_embd)

    def memory_kv(self, memory):
        """memory (B|1, M, D) -> stacked K/V (n_blocks, 2, B|1, M, D)."""
        return torch.stack([torch.stack(b.memory_kv(memory)) for b in self.blocks])

    def forward_kv(self, query, kv, key_mask=None):
        """query (B, T, D); kv (n_blocks, 2, B|1, M, D); key_mask (B, M) or None.

        Returns latent (B, T, D) and token weights (B, M): attention mass per memory token, averaged
        over heads, slots and blocks (the null entry's share is left out, so rows sum to <= 1).
        """
        B, T, _ = query.shape
        null_kv = self.memory_kv(self.null[None])                                # (n_blocks, 2, 1, T, D)
        mask = None
        if key_mask is not None:
            mask = torch.cat([torch.ones(B, T, dtype=torch.bool, device=query.device), key_mask.bool()], 1)
        x, weights = query, 0.0
        for i, block in enumerate(self.blocks):
            k = torch.cat([null_kv[i, 0].expand(kv.shape[2], -1, -1), kv[i, 0]], dim=1)  # (B|1, T+M, D)
            v = torch.cat([null_kv[i, 1].expand(kv.shape[2], -1, -1), kv[i, 1]], dim=1)
            x, w = block(x, k, v, mask)
            weights = weights + w.mean(dim=(1, 2))                               # (B, T+M)
        return self.ln_out(x), (weights / len(self.blocks))[:, T:]

    def forward(self, query, memory, key_mask=None):
        return self.forward_kv(query, self.memory_kv(memory), key_mask)


class PrefixGenerator(nn.Module):
    """latent (B, T, D) -> per-layer prefix K/V (L, 2, B, nh, P, hs) for the frozen LM.

    L*2*P learned queries read the latent through one cross-attention, a shared MLP refines each,
    and a small-initialised projection keeps the untrained prefix close to neutral.
    """

    def __init__(self, lm_cfg: GPTConfig, cfg: MACConfig):
        super().__init__()
        d = lm_cfg.n_embd
        self.L, self.P, self.nh = lm_cfg.n_layer, cfg.prefix_len, lm_cfg.n_head
        self.queries = nn.Parameter(torch.randn(self.L * 2 * self.P, d) * 0.02)
        self.ln_q, self.ln_kv, self.cross = nn.LayerNorm(d), nn.LayerNorm(d), CrossAttention(d, cfg.n_head)
        self.ln_mlp, self.mlp = nn.LayerNorm(d), MLP(lm_cfg)
        self.out = nn.Linear(d, d)
        nn.init.normal_(self.out.weight, std=0.02)
        nn.init.zeros_(self.out.bias)

    def forward(self, latent):
        B, _, D = latent.shape
        x = self.queries[None].expand(B, -1, -1)                                 # (B, L*2*P, D)
        k, v = self.cross.project_kv(self.ln_kv(latent))
        x = x + self.cross(self.ln_q(x), k, v)[0]
        x = x + self.mlp(self.ln_mlp(x))
        x = self.out(x).view(B, self.L, 2, self.P, self.nh, D // self.nh)       # (B, L, 2, P, nh, hs)
        return x.permute(1, 2, 0, 4, 3, 5)                                        # (L, 2, B, nh, P, hs)


class MAC(nn.Module):
    """The trainable heads. The frozen LM is held outside (never in this module's parameters)."""

    def __init__(self, lm_cfg: GPTConfig, cfg: MACConfig):
        super().__init__()
        self.cfg, self.lm_cfg = cfg, lm_cfg
        self.amortizer = Amortizer(lm_cfg, cfg, cfg.amortizer_enc_layers, cfg.amortizer_dec_layers, cfg.max_doc_tokens)
        self.question_encoder = Amortizer(lm_cfg, cfg, cfg.question_enc_layers, cfg.question_dec_layers,
                                          cfg.max_question_tokens)
        self.aggregator = Aggregator(lm_cfg, cfg)
        self.prefix = PrefixGenerator(lm_cfg, cfg)

    def aggregate_hierarchical(self, query, memory, group: int):
        """query (B, T, D), memory (B|1, N, T, D) entries -> latent (B, T, D), entry weights (B, N).

        Loops over the bank (never over the question): groups of `group` entries are each aggregated
        under the question into one (T, D) entry, recursively, until at most `group` remain. Entry
        weights multiply down the tree (a node's weight in its parent times the entry's in the node).
        """
        B, T, D = query.shape
        N = memory.shape[1]
        weights = torch.ones(B, N, device=query.device)
        owner = torch.arange(N, device=query.device)                            # entry -> current node
        while memory.shape[1] > group:
            latents, within = [], []
            for g0 in range(0, memory.shape[1], group):
                part = memory[:, g0:g0 + group]                                  # (B|1, g, T, D)
                lat, w = self.aggregator(query, part.reshape(part.shape[0], -1, D))
                latents.append(lat)
                within.append(w.view(B, -1, T).sum(-1))                          # (B, g)
            weights = weights * torch.cat(within, 1)[:, owner]
            owner = owner // group
            memory = torch.stack(latents, 1)                                     # (B, ceil(n/group), T, D)
        lat, w = self.aggregator(query, memory.reshape(memory.shape[0], -1, D))
        return lat, weights * w.view(B, -1, T).sum(-1)[:, owner]
