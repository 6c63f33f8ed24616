"""MAC's entry selector: which memory entries a question should aggregate over, learned on the cache.

    python -m mnemo_models.train_selector --heads heads/gemma3-270m-mac.pt --out runs/selector [--minutes 10]

Why: the shipped aggregator (mac.heads.SlotAggregator) mixes slot t of every entry under the
question, and was trained on banks of one. In a bank of 64 the gold paragraph's share of the mix is
too small to move the answer (gate 3: +0.012 nats at 64 against +0.56 at 1; gate 4 fails there).
Hierarchical aggregation only regroups that mix. The selector adds a question-conditioned hard
choice before it: it scores every entry of the bank and the aggregator attends over the top k
(default 1), so a bank of 64 answers like a bank of one whenever the choice is right.

Scoring is late interaction (ColBERT's MaxSim) between the two things the engine already has for a
question and an entry: the question's tap rows (the question encoder's input, (S, D): the LM's
residual after 9 blocks, RMS-normed) and the entry's stored modulation (T, D, int8-rounded as the
vault keeps it). Each side goes through LayerNorm and a linear map to d = 128, unit-normed; a
question token's weight in the sum is learned from its own vector (template tokens learn to count
for little):

    score(q, m) = scale * sum_i w_i * max_t <q_i, m_t>,   w = softmax over the question's tokens

Training is cheap because everything before it is frozen: the heads' modulations of every cached
train paragraph and every question's tap rows are computed once; a step is a cross-entropy over a
candidate set (the batch's gold paragraphs, every paragraph of their articles: the hard
negatives retrieval hands the app, and random others). The LM never runs.
"""
from __future__ import annotations

import math
import random
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from mnemo_models.mac.storage import as_stored
from mnemo_models.mac.student import amortize, pad_feats


class EntrySelector(nn.Module):
    """question features (B, S, D) + mask (B, S), modulations (E, T, D) -> scores (B, E)."""

    def __init__(self, width: int, dim: int = 128, hidden: int = 0):
        super().__init__()
        # hidden > 0: a two-layer MLP per side instead of one linear map (more data, more capacity).
        proj = lambda: nn.Linear(width, dim) if not hidden else nn.Sequential(      # noqa: E731
            nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.ln_q, self.q = nn.LayerNorm(width), proj()
        self.ln_m, self.m = nn.LayerNorm(width), proj()
        self.token_weight = nn.Linear(width, 1)
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))

    def question(self, feat, mask):
        """-> unit token vectors (B, S, d), token weights (B, S) summing to 1 over real tokens."""
        x = self.ln_q(feat)
        w = self.token_weight(x)[..., 0].masked_fill(~mask.bool(), -1e9).softmax(-1)
        return F.normalize(self.q(x), dim=-1), w

    def entries(self, modulations):
        return F.normalize(self.m(self.ln_m(modulations)), dim=-1)              # (E, T, d)

    def score(self, qv, qw, mv):
        sim = torch.einsum("bsd,etd->bset", qv, mv).amax(-1)                     # (B, S, E)
        return self.log_scale.exp() * torch.einsum("bse,bs->be", sim, qw)

    def forward(self, feat, mask, modulations):
        qv, qw = self.question(feat, mask)
        return self.score(qv, qw, self.entries(modulations))


def load_selector(path: Path) -> tuple[EntrySelector, int] | None:
    """(selector, 1) from a mac.selector checkpoint; None if the file holds something else."""
    payload = torch.load(path, map_location="cpu")
    if "model" not in payload or "dim" not in payload.get("config", {}):
        return None
    sel = EntrySelector(payload["config"]["width"], payload["config"]["dim"], payload["config"].get("hidden", 0))
    sel.load_state_dict(payload["model"])
    return sel.eval().requires_grad_(False), 1


@torch.no_grad()
def frozen_inputs(heads, paras: list[dict]) -> tuple[torch.Tensor, list[dict]]:
    """-> every paragraph's modulation as stored (P, T, D), and the questions [{feat, para, article}].
    A select_cache record brings its modulation (the bundle's graphs made it); a mac.cache record
    is amortized here by the heads."""
    if all("mod" in p for p in paras):
        mods = torch.stack([as_stored(p["mod"].float()) for p in paras])
    else:
        mods = torch.cat([as_stored(amortize(heads, paras[i:i + 32], grad=False)) for i in range(0, len(paras), 32)])
    qs = [
        {"feat": q["q_feat"], "para": i, "article": p["article"]} for i, p in enumerate(paras) for q in p["questions"]
    ]
    return mods, qs


def rms_normed(feat: torch.Tensor) -> torch.Tensor:
    x = feat.float()
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)


def batch_feats(qs: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    feat, mask = pad_feats([q["feat"] for q in qs])
    return rms_normed(feat), mask


def candidates(batch: list[dict], by_article: dict[str, list[int]], n_paras: int, n_random: int,
               rng: random.Random, per_article: int | None = None) -> list[int]:
    """The batch's gold paragraphs, their articles' paragraphs (at most per_article others of
    each, drawn), and n_random others."""
    pick = {q["para"] for q in batch}
    for art in {q["article"] for q in batch}:
        rows = by_article[art]
        pick.update(rows if per_article is None or len(rows) <= per_article else rng.sample(rows, per_article))
    pick.update(rng.randrange(n_paras) for _ in range(n_random))
    return sorted(pick)


@torch.no_grad()
def accuracy(sel: EntrySelector, mods: torch.Tensor, qs: list[dict], banks: list[list[int]]) -> dict:
    """Top-1 and reciprocal rank of the gold paragraph (banks[i][0]) in each question's bank."""
    sel.eval()
    top1, rr = [], []
    mv = sel.entries(mods)
    for i in range(0, len(qs), 64):
        feat, mask = batch_feats(qs[i:i + 64])
        qv, qw = sel.question(feat, mask)
        s = sel.score(qv, qw, mv)                                                 # (b, P)
        for j, bank in enumerate(banks[i:i + 64]):
            row = s[j, bank]
            rank = int((row > row[0]).sum())
            top1.append(float(rank == 0))
            rr.append(1.0 / (rank + 1))
    sel.train()
    n = len(top1)
    p = sum(top1) / n
    return {"top1": p, "top1_ci95": [p - 1.96 * math.sqrt(p * (1 - p) / n), p + 1.96 * math.sqrt(p * (1 - p) / n)],
            "mrr": sum(rr) / n, "n": n}


def probe_banks(qs: list[dict], paras: list[dict], size: int, seed: int = 2) -> list[list[int]]:
    """Per question: its paragraph first, then size - 1 paragraphs of other articles (eval.gates's banks)."""
    rng = random.Random(seed)
    out = []
    for q in qs:
        others = [i for i, p in enumerate(paras) if p["article"] != q["article"]]
        out.append([q["para"], *rng.sample(others, min(size - 1, len(others)))])
    return out


def same_article_banks(qs: list[dict], paras: list[dict]) -> list[list[int]]:
    """Per question: its paragraph first, then every other paragraph of its own article."""
    return [
        [q["para"], *(i for i, p in enumerate(paras) if p["article"] == q["article"] and i != q["para"])] for q in qs
    ]


@torch.no_grad()
def raw_baselines(mods: torch.Tensor, qs: list[dict], paras: list[dict], banks: list[list[int]]) -> dict:
    """Top-1 at the given banks with nothing learned: MaxSim of the question's tap rows (without
    <bos>) against the entry's stored slots, and against every token of the paragraph's own tap
    (what a vault does not keep: how much the 16 slots lose for telling documents apart)."""
    slots = F.normalize(mods, dim=-1)
    docs = [F.normalize(rms_normed(p["doc_feat"]), dim=-1) for p in paras]
    hits = {"maxsim_slots": [], "maxsim_all_tokens": []}
    for q, bank in zip(qs, banks):
        qv = F.normalize(rms_normed(q["feat"]), dim=-1)[1:]                     # (S-1, D)
        s_slots = torch.einsum("sd,etd->set", qv, slots[bank]).amax(-1).mean(0)
        s_all = torch.stack([(qv @ docs[i].T).amax(-1).mean() for i in bank])
        for name, s in (("maxsim_slots", s_slots), ("maxsim_all_tokens", s_all)):
            hits[name].append(float(int((s > s[0]).sum()) == 0))
    return {k: sum(v) / len(v) for k, v in hits.items()}
