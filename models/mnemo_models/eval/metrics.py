"""SQuAD metrics (official normalisation), the paper's lenient EM, and bootstrap intervals."""
from __future__ import annotations

import re
import string
from collections import Counter

import numpy as np

_PUNCT = set(string.punctuation)


def normalize(text: str) -> str:
    """Lower-case, drop punctuation and articles, squeeze whitespace (the official SQuAD script)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(pred: str, golds: list[str]) -> float:
    return float(any(normalize(pred) == normalize(g) for g in golds))


def lenient_match(pred: str, golds: list[str]) -> float:
    """The MAC paper's EM: the normalised prediction starts with a normalised gold answer."""
    p = normalize(pred)
    return float(any(normalize(g) and p.startswith(normalize(g)) for g in golds))


def f1(pred: str, golds: list[str]) -> float:
    """Token F1 against the best of the gold answers."""
    best = 0.0
    p = normalize(pred).split()
    for g in golds:
        gt = normalize(g).split()
        common = sum((Counter(p) & Counter(gt)).values())
        if common:
            prec, rec = common / len(p), common / len(gt)
            best = max(best, 2 * prec * rec / (prec + rec))
        elif not p and not gt:
            best = max(best, 1.0)
    return best


def bootstrap_ci(values, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean; for paired deltas pass the per-item differences."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n, len(v)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def score(preds: list[str], golds: list[list[str]]) -> dict:
    em = [exact_match(p, g) for p, g in zip(preds, golds)]
    le = [lenient_match(p, g) for p, g in zip(preds, golds)]
    f = [f1(p, g) for p, g in zip(preds, golds)]
    lo, hi = bootstrap_ci(f)
    return {"n": len(preds), "em": 100 * float(np.mean(em)), "em_lenient": 100 * float(np.mean(le)),
            "f1": 100 * float(np.mean(f)), "f1_ci95": [100 * lo, 100 * hi], "_f1_items": f}
