"""Compare the entry selector with the app's dense retrieval over a whole bank of valid paragraphs.

The library behind it is mnemo_models.eval.selector; `python -m mnemo_models.eval_selector --help` lists the options.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from mnemo_models.data.squad import load_squad
from mnemo_models.eval.selector import dense_scores, report, rerank, rrf, selector_scores, __doc__ as USAGE
from mnemo_models.mac.selector import frozen_inputs, load_selector
from mnemo_models.mac.student import load_cache


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=USAGE.split("\n")[0])
    ap.add_argument("--selector", type=Path, required=True)
    ap.add_argument("--cache", type=Path, required=True, help="a select_cache folder of valid paragraphs")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    loaded = load_selector(a.selector)
    if loaded is None:
        raise SystemExit(f"{a.selector} is not a mac.selector checkpoint")
    sel = loaded[0]
    paras = load_cache(a.cache)
    mods, qs = frozen_inputs(None, paras)
    squad = {p.index: p for p in load_squad(json.loads((a.cache / "meta.json").read_text())["split"])}
    text = {qa.id: qa.question for p in paras for qa in squad[p["index"]].qas}
    questions = [text[q["id"]] for p in paras for q in p["questions"]]
    gold = torch.tensor([q["para"] for q in qs])
    s_sel = selector_scores(sel, mods, qs)
    s_dense = dense_scores(paras, questions, [" ".join(squad[p["index"]].context.split()) for p in paras])
    fused = rrf(s_dense, s_sel)
    whole = report({"dense": s_dense, "selector": s_sel, "fused": fused, "rerank": rerank(s_dense, fused, 5)}, gold)
    # The same, each question's bank being its own article's paragraphs only (retrieval's hard cases).
    same = torch.tensor([[p["article"] == paras[q["para"]]["article"] for p in paras] for q in qs])
    hard = {k: v.masked_fill(~same, -1e9) for k, v in {"dense": s_dense, "selector": s_sel}.items()}
    hard["fused"] = rrf(hard["dense"], hard["selector"]).masked_fill(~same, -1e9)
    result = {"paragraphs": len(paras), "questions": len(qs), "whole_bank": whole,
              "own_article": report(hard, gold), "selector": str(a.selector), "cache": str(a.cache)}
    text_out = json.dumps(result, indent=1)
    print(text_out, flush=True)
    if a.out:
        a.out.write_text(text_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
