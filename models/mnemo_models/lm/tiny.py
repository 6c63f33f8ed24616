"""The tiny GPT-2 behind the committed test bundle (bundles/tiny-random, format 1); its MAC
networks are mac/tiny.py.

What is left of the project's first pipeline: GPT-2 exactly (learned positions, pre-LN blocks, tied
embeddings, Conv1D weights [in, out]) with explicit position ids and past key/values, and greedy
decoding behind a MAC prefix. Seeded random weights (bundle/format1.random_tiny) test the engine's
whole MAC path fast; nothing here is trained any more. Shapes: D = hidden size, P = prefix tokens per
layer, L = layers.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    """GPT-2 architecture facts. Names follow Hugging Face's GPT2Config where they overlap."""
    vocab_size: int = 8192
    n_positions: int = 512
    n_embd: int = 192
    n_layer: int = 4
    n_head: int = 4
    dropout: float = 0.0
    layer_norm_epsilon: float = 1e-5


class Conv1D(nn.Module):
    """GPT-2's linear layer: weight stored [in, out] (transposed from nn.Linear)."""

    def __init__(self, n_out: int, n_in: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out).normal_(std=0.02))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).reshape(*x.shape[:-1], -1)


def gelu_new(x):
    """GPT-2's tanh-approximated GELU, written out so it exports to any ONNX opset."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def attend(q, k, v, mask):
    """q (B, nh, S, hs), k/v (B, nh, K, hs), mask bool (B or 1, 1, S, K) True = may attend."""
    if hasattr(F, "scaled_dot_product_attention") and not torch.onnx.is_in_onnx_export():
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    att = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])           # (B, nh, S, K)
    att = att.masked_fill(~mask, torch.finfo(att.dtype).min)
    return torch.softmax(att, dim=-1) @ v


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0, "n_embd must be divisible by n_head"
        self.n_head = cfg.n_head
        self.c_attn = Conv1D(3 * cfg.n_embd, cfg.n_embd)
        self.c_proj = Conv1D(cfg.n_embd, cfg.n_embd)
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x, mask, past=None):
        B, S, D = x.shape
        q, k, v = self.c_attn(x).split(D, dim=2)
        q, k, v = (t.view(B, S, self.n_head, D // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, S, hs)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)                                # (B, nh, P+S, hs)
            v = torch.cat([past[1], v], dim=2)
        y = attend(q, k, v, mask).transpose(1, 2).reshape(B, S, D)
        return self.resid_dropout(self.c_proj(y)), (k, v)


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = Conv1D(4 * cfg.n_embd, cfg.n_embd)
        self.c_proj = Conv1D(cfg.n_embd, 4 * cfg.n_embd)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(gelu_new(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.mlp = MLP(cfg)

    def forward(self, x, mask, past=None):
        a, present = self.attn(self.ln_1(x), mask, past)
        x = x + a
        return x + self.mlp(self.ln_2(x)), present


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(cfg.vocab_size, cfg.n_embd),
            wpe=nn.Embedding(cfg.n_positions, cfg.n_embd),
            drop=nn.Dropout(cfg.dropout),
            h=nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)]),
            ln_f=nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon),
        ))
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied, as in GPT-2
        nn.init.normal_(self.transformer.wte.weight, std=0.02)
        nn.init.normal_(self.transformer.wpe.weight, std=0.01)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):  # GPT-2's scaled init of residual projections
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @property
    def head_dim(self) -> int:
        return self.cfg.n_embd // self.cfg.n_head

    def hidden(self, input_ids, position_ids=None, past=None, attention_mask=None):
        """Final hidden states (B, S, D) and presents [(k, v) (B, nh, P+S, hs)] per layer.

        past: per-layer (k, v) of P earlier tokens (the MAC prefix or a KV cache), or None.
        attention_mask: (B, P+S) 1 = real token, 0 = padding; None = all real.
        """
        B, S = input_ids.shape
        P = 0 if past is None else past[0][0].shape[2]
        if position_ids is None:
            position_ids = torch.arange(S, device=input_ids.device).unsqueeze(0).expand(B, S)
        q_idx = torch.arange(S, device=input_ids.device) + P
        k_idx = torch.arange(P + S, device=input_ids.device)
        mask = (k_idx[None, :] <= q_idx[:, None])[None, None]                 # (1, 1, S, P+S)
        if attention_mask is not None:
            mask = mask & attention_mask[:, None, None, :].bool()               # (B, 1, S, P+S)
        x = self.transformer.drop(self.transformer.wte(input_ids) + self.transformer.wpe(position_ids))
        presents = []
        for i, block in enumerate(self.transformer.h):
            x, present = block(x, mask, None if past is None else past[i])
            presents.append(present)
        return self.transformer.ln_f(x), presents

    def forward(self, input_ids, position_ids=None, past=None, attention_mask=None):
        h, presents = self.hidden(input_ids, position_ids, past, attention_mask)
        B, S, D = h.shape
        # 2-D input so ONNX gets Gemm(transB=1) on the tied embedding, not a second transposed copy
        return self.lm_head(h.reshape(B * S, D)).view(B, S, -1), presents


def pad(rows: list[list[int]], pad_id: int, device, left: bool = False):
    """Ragged ids -> ids (B, S) and mask (B, S) with 1 on real tokens."""
    S = max(1, max(len(r) for r in rows))
    ids = torch.full((len(rows), S), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), S), dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            sl = slice(S - len(r), S) if left else slice(0, len(r))
            ids[i, sl] = torch.tensor(r)
            mask[i, sl] = 1
    return ids.to(device), mask.to(device)


def prefix_past(prefix):
    """(L, 2, B, nh, P, hs) -> the LM's past: [(k, v)] per layer."""
    return [(prefix[l, 0], prefix[l, 1]) for l in range(prefix.shape[0])]


@torch.no_grad()
def greedy(lm: GPT, prompts: list[list[int]], stop_ids: set[int], pad_id: int, max_new: int = 16,
           prefix=None, position_offset: int = 0) -> list[list[int]]:
    """Greedy continuation of each prompt (left-padded batch); stops at any stop id or max_new tokens.

    prefix: (L, 2, B, nh, P, hs) or None. Positions of real tokens start at position_offset.
    """
    device = next(lm.parameters()).device
    ids, mask = pad(prompts, pad_id, device, left=True)                         # (B, S)
    B = ids.shape[0]
    P = 0 if prefix is None else prefix.shape[-2]
    pos = (mask.cumsum(1) - 1).clamp(min=0) + position_offset                   # (B, S)
    attn = torch.cat([torch.ones(B, P, dtype=mask.dtype, device=device), mask], 1)
    logits, past = lm(ids, pos, None if prefix is None else prefix_past(prefix), attn)
    next_pos = pos[:, -1:] + 1
    out = [[] for _ in range(B)]
    done = torch.zeros(B, dtype=torch.bool, device=device)
    for _ in range(max_new):
        tok = logits[:, -1].argmax(-1)                                          # (B,)
        for i in range(B):
            if not done[i]:
                if tok[i].item() in stop_ids:
                    done[i] = True
                else:
                    out[i].append(tok[i].item())
        if bool(done.all()):
            break
        attn = torch.cat([attn, torch.ones(B, 1, dtype=attn.dtype, device=device)], 1)
        logits, past = lm(tok[:, None], next_pos, past, attn)
        next_pos = next_pos + 1
    return out


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)
