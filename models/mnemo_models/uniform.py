"""Run the paper's "uniform" online fine-tuning baseline on the real frozen LM.

The library behind it is mnemo_models.eval.uniform; `python -m mnemo_models.uniform --help` lists the options.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer

from mnemo_models.bundle import recipes
from mnemo_models.eval.uniform import answer_f1, densify, finetune, __doc__ as USAGE
from mnemo_models.mac.cache import load_frozen
from mnemo_models.mac.student import load_cache


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=USAGE.split("\n")[0])
    ap.add_argument("--docs", type=int, default=30)
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--cache", type=Path, default=Path("runs/mac-cache/valid"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)

    bundle = recipes.default_out()
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
    r = {
        "docs": len(docs),
        "questions": len(items),
        "steps_per_doc": a.steps,
        "lr": a.lr,
        "seconds_per_doc": s_per_doc,
        "f1_uniform": sum(tuned) / len(tuned),
        "f1_frozen_question_only": sum(base) / len(base),
        "uniform_minus_frozen": float(d.mean()),
        "ci95": [float(d.mean()) - half, float(d.mean()) + half],
    }
    a.out.write_text(json.dumps(r, indent=1))
    print(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
