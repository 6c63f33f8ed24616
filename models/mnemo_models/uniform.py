"""The paper's "uniform" online fine-tuning baseline: the LM itself takes gradient steps on each
document of the stream (next-token loss, same steps for every document), then the stream's
questions are asked with the question-only prompt. MAC's alternative is one amortizer pass per
document into a memory bank; this script gives the seconds per document and the F1 to compare.

    python3 -m mnemo_models.uniform --lm runs/lm-tiny/ckpt.pt [--steps 1 --lr 1e-4]
        [--limit-docs N --limit-questions N --seed 0] --out runs/uniform.json

The frozen LM's own answers (no fine-tuning) are scored on the same questions as the control.
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch

from .evaluate import TOKENIZER, interval, stream_sample
from .generate import greedy
from .mac_data import PAD_ID
from .metrics import score
from .prepare import MODELS_DIR, Examples, load_examples
from .tokenizer import load_sentencepiece, special_ids
from .train_common import pick_device
from .train_mac import load_frozen_lm


def finetune_stream(lm, docs: list[list[int]], steps: int, lr: float, device) -> tuple[torch.nn.Module, float]:
    """A trainable copy of lm after `steps` AdamW steps on each document in order; seconds per document."""
    model = copy.deepcopy(lm).train()
    for p in model.parameters():
        p.requires_grad_(True)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    max_len = model.cfg.n_positions
    t0 = time.time()
    for doc in docs:
        ids = torch.tensor([doc[:max_len]], device=device)                    # (1, S)
        for _ in range(steps):
            loss = model.loss(ids[:, :-1], ids[:, 1:])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval(), (time.time() - t0) / max(1, len(docs))


@torch.no_grad()
def answers(lm, ex: Examples, qs: list[int], stops: set[int], sp, batch: int = 32) -> list[str]:
    out = []
    for b in range(0, len(qs), batch):
        prompts = [ex.q_prompt[q] for q in qs[b:b + batch]]
        out.extend(sp.decode(o).strip() for o in greedy(lm, prompts, stops, PAD_ID, 16))
    return out


def run(lm, ex: Examples, sp, steps: int, lr: float, limit_docs: int, limit_questions: int, seed: int, device) -> dict:
    _, docs, qs = stream_sample(ex, limit_docs, limit_questions, seed)
    ids = special_ids(sp)
    stops = {ids["eos"], ids["newline"]}
    golds = [ex.q_answers_text[q] for q in qs]
    tuned, s_per_doc = finetune_stream(lm, [ex.doc_ids[d] for d in docs], steps, lr, device)
    base = score(answers(lm, ex, qs, stops, sp), golds)
    ft = score(answers(tuned, ex, qs, stops, sp), golds)
    diff = 100 * (np.array(ft.pop("_f1_items")) - np.array(base.pop("_f1_items")))
    return {"docs": len(docs), "questions": len(qs), "steps_per_doc": steps, "lr": lr, "seconds_per_doc": s_per_doc,
            "modes": {"uniform": ft, "lm": base}, "deltas": {"uniform-lm": interval(diff)}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lm", type=Path, required=True)
    ap.add_argument("--data-dir", type=Path, default=MODELS_DIR / "data")
    ap.add_argument("--steps", type=int, default=1, help="gradient steps per document")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--limit-docs", type=int, default=0)
    ap.add_argument("--limit-questions", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    device = pick_device()
    lm = load_frozen_lm(args.lm, device)
    ex = load_examples(args.data_dir / "valid_examples.pkl")
    report = run(lm, ex, load_sentencepiece(TOKENIZER), args.steps, args.lr, args.limit_docs, args.limit_questions, args.seed, device)
    report["command"] = "python3 -m mnemo_models.uniform " + " ".join(argv or __import__("sys").argv[1:])
    report["device"] = str(device)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "modes"} | {m: r["f1"] for m, r in report["modes"].items()}))


if __name__ == "__main__":
    main()
