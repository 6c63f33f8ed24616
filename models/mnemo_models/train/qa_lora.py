"""A short LoRA QA-tuning of the instruct LM on SQuAD train (passage + question -> answer), then frozen.

    python -m mnemo_models.qa_lora --out runs/qa-lora [--steps 600 --batch 8 --rank 8 --lr 1e-3]

Why: SmolLM2-135M-Instruct reads a passage (its answers name the right facts) but picks the wrong
span or answers in a sentence; a few hundred steps of LoRA on the app's own prompt format teach the
short extractive answer. The base weights stay the GGUF's own blocks: the adapters are separate
low-rank terms y = W x + s * B (A x) on the attention and MLP projections (exactly a merged weight,
without re-quantizing W). Only train is used; valid is for the before/after comparison (npm run eval).
Loss: cross-entropy on the answer tokens and the end-of-turn token. Checkpoints every 50 steps
(atomic), resumable, with a progress line.
"""
from __future__ import annotations

import math
import random

import torch
import torch.nn as nn
import torch.nn.functional as F
from tokenizers import Tokenizer

from mnemo_models.bundle.prompts import SMOLLM2 as PROMPTS  # the LM this script tunes
from mnemo_models.bundle.fixtures import render
from mnemo_models.data.squad import load_squad

TARGETS = ("attn.q", "attn.k", "attn.v", "attn.o", "ffn.gate", "ffn.up", "ffn.down")


class LoRA(nn.Module):
    """Wraps a frozen linear: base(x) + scale * up(down(x)); up starts at zero (the untuned model)."""

    def __init__(self, base: nn.Module, n_in: int, n_out: int, rank: int, alpha: float):
        super().__init__()
        self.base = base
        self.down = nn.Linear(n_in, rank, bias=False)
        self.up = nn.Linear(rank, n_out, bias=False)
        nn.init.kaiming_uniform_(self.down.weight, a=math.sqrt(5))
        nn.init.zeros_(self.up.weight)
        self.scale = alpha / rank

    def forward(self, x):
        return self.base(x) + self.scale * self.up(self.down(x))


def add_lora(model, rank: int, alpha: float) -> list[nn.Parameter]:
    for p in model.parameters():
        p.requires_grad_(False)
    params = []
    for block in model.blocks:
        for name in TARGETS:
            parent, attr = name.split(".")
            lin = getattr(getattr(block, parent), attr)
            n_out, n_in = (lin.weight.shape if hasattr(lin, "weight") and isinstance(lin.weight, torch.Tensor)
                           else (lin.n_out, lin.n_in))
            wrapped = LoRA(lin, n_in, n_out, rank, alpha)
            setattr(getattr(block, parent), attr, wrapped)
            params += [wrapped.down.weight, wrapped.up.weight]
    return params


def lora_state(model) -> dict:
    return {k: v for k, v in model.state_dict().items() if ".down." in k or ".up." in k}


def examples(tok: Tokenizer, max_tokens: int, seed: int):
    """(prompt ids, answer ids) from SQuAD train in a seeded order, the app's gold prompt format."""
    rows = [(p.context, qa.question, qa.answers[0]) for p in load_squad("train") for qa in p.qas]
    random.Random(seed).shuffle(rows)
    end = tok.token_to_id("<|im_end|>")
    for context, question, answer in rows:
        ids = tok.encode(render(PROMPTS, "gold", question, context), add_special_tokens=False).ids
        ans = tok.encode(answer.strip(), add_special_tokens=False).ids + [end]
        if len(ids) + len(ans) <= max_tokens:
            yield ids, ans


def batch_loss(model, batch, pad: int):
    """Right-padded batch; loss on answer positions only. Returns mean NLL per answer token."""
    width = max(len(p) + len(a) for p, a in batch)
    ids = torch.full((len(batch), width), pad)
    target = torch.full((len(batch), width), -100)
    mask = torch.zeros(len(batch), width, dtype=torch.long)
    for i, (p, a) in enumerate(batch):
        seq = p + a
        ids[i, :len(seq)] = torch.tensor(seq)
        mask[i, :len(seq)] = 1
        target[i, len(p) - 1:len(seq) - 1] = torch.tensor(a)                     # position t predicts t+1
    pos = torch.arange(width)[None].expand(len(batch), -1)
    logits, _ = model(ids, pos, mask, model.empty_past(len(batch)))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100)
