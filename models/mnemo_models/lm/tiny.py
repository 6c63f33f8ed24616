"""The tiny GPT-2 and MAC networks behind the committed test bundle (bundles/tiny-random, format 1).

What is left of the project's first pipeline: GPT-2 exactly (learned positions, pre-LN blocks, tied
embeddings, Conv1D weights [in, out]) with explicit position ids and past key/values, and the MAC
networks around it (amortizer, question encoder, aggregator with a null entry, prefix generator).
Seeded random weights (bundle/format1.random_tiny) test the engine's whole MAC path fast; nothing
here is trained any more. Shapes: D = LM hidden size, T = slots per modulation, P = prefix tokens
per layer, L = LM layers, M = memory tokens (N entries x T).
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
