"""The paper's "uniform" online fine-tuning baseline on the real frozen LM (Gemma 3 270M).

    python -m mnemo_models.uniform_gemma --docs 30 --out runs/uniform-gemma.json [--steps 1 --lr 1e-5]

A trainable copy of the bundle's LM takes `steps` AdamW steps of next-token loss on each document
of a stream (valid paragraphs from the MAC cache, in order), then every question about those
documents is asked with the question-only prompt (greedy, as the app decodes). The untouched LM
answers the same questions as the control. MAC's alternative is one amortizer pass per document;
this gives the seconds per document and the F1 beside it (mac-method.md §5).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .mac_cache import load_frozen
from .mac_student import greedy, load_cache
from .metrics import f1 as f1_score


def densify(lm):
    """A float copy whose every weight can train (the q8 blocks dequantized, exactly)."""
    from .quant_linear import QuantEmbedding, QuantLinear
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=30)
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--cache", type=Path, default=Path("runs/mac-cache/valid"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from tokenizers import Tokenizer

    from . import build_bundle
    bundle = build_bundle.default_out()
    lm, encode, manifest = load_frozen(bundle)
    tok = Tokenizer.from_file(str(bundle / manifest["tokenizer"]))
    paras = load_cache(a.cache)[: a.docs]
    docs = [[manifest["special_ids"]["bos"]] + p["doc_ids"] for p in paras]
    items = [q for p in paras for q in p["questions"]]
    g = manifest["generation"]
    hard, newlines = set(g["stop_ids"]), set(g["newline_ids"])
    decode = lambda ids: tok.decode(ids)                                          # noqa: E731
    base = answer_f1(lm, items, decode, hard, newlines)
    model = densify(lm).train()
    s_per_doc = finetune(model, docs, a.steps, a.lr)
    tuned = answer_f1(model, items, decode, hard, newlines)
    d = torch.tensor(tuned) - torch.tensor(base)
    half = 1.96 * float(d.std()) / math.sqrt(len(d))
    r = {"docs": len(docs), "questions": len(items), "steps_per_doc": a.steps, "lr": a.lr,
         "seconds_per_doc": s_per_doc, "f1_uniform": sum(tuned) / len(tuned), "f1_frozen_question_only": sum(base) / len(base),
         "uniform_minus_frozen": float(d.mean()), "ci95": [float(d.mean()) - half, float(d.mean()) + half]}
    a.out.write_text(json.dumps(r, indent=1))
    print(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
