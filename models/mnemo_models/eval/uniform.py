"""The paper's "uniform" online fine-tuning baseline on the real frozen LM (Gemma 3 270M).

    python -m mnemo_models.uniform --docs 30 --out runs/uniform-gemma.json [--steps 1 --lr 1e-5]

A trainable copy of the bundle's LM takes `steps` AdamW steps of next-token loss on each document
of a stream (valid paragraphs from the MAC cache, in order), then every question about those
documents is asked with the question-only prompt (greedy, as the app decodes). The untouched LM
answers the same questions as the control. MAC's alternative is one amortizer pass per document;
this gives the seconds per document and the F1 beside it (mac-method.md §5).
"""
from __future__ import annotations

import copy
import time

import torch
import torch.nn.functional as F

from mnemo_models.eval.metrics import f1 as f1_score
from mnemo_models.lm.quant_linear import QuantEmbedding, QuantLinear
from mnemo_models.mac.student import greedy


def densify(lm):
    """A float copy whose every weight can train (the q8 blocks dequantized, exactly)."""
    model = copy.deepcopy(lm)
    for mod in list(model.modules()):
        for name, child in list(mod.named_children()):
            if isinstance(child, QuantLinear):
                dense = torch.nn.Linear(child.n_in, child.n_out, bias=False)
                dense.weight.data = child.weight().clone()
                setattr(mod, name, dense)
    if isinstance(model.embed, QuantEmbedding):                # tied: one float table for both ends
        model.embed = torch.nn.Embedding.from_pretrained(model.head.weight.detach().clone(), freeze=False)
        model.head = None                                       # logits use embed.weight
    return model.requires_grad_(True)


def finetune(model, docs: list[list[int]], steps: int, lr: float) -> float:
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    t0 = time.time()
    for ids in docs:
        x = torch.tensor([ids])
        S = x.shape[1]
        for _ in range(steps):
            hidden, _ = model(x[:, :-1], torch.arange(S - 1)[None], torch.ones(1, S - 1, dtype=torch.long),
                              model.empty_past(), hidden_only=True)
            loss = F.cross_entropy(model.logits(hidden[0]), x[0, 1:])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return (time.time() - t0) / max(1, len(docs))


@torch.no_grad()
def answer_f1(model, items, decode, hard, newlines) -> list[float]:
    model.eval()
    return [100 * f1_score(decode(greedy(model, model.empty_past(), q["q_ids"], hard, newlines)).strip(), q["answers"])
            for q in items]
