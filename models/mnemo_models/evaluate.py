"""Evaluation in Python: the four gates (mac-method.md §6) and the SQuAD-Seq stream protocol.

    python3 -m mnemo_models.evaluate --lm runs/lm-tiny/ckpt.pt --mac runs/mac-tiny/ckpt.pt \
        [--limit-docs N] [--gate-questions 300] [--seed 0] --out runs/eval.json

Stream: N unique valid paragraphs (all, or a seeded sample) form one bank; every question about
them is asked under each mode on the same frozen LM: mac, question-only (empty bank: only the
learned null entry), irrelevant (a bank of N SQuAD-train paragraphs), gold (paragraph in the
prompt, no memory: the upper bound), lm (no prefix at all). Greedy, <=16 new tokens, stop at eos
or newline. Paired bootstrap intervals for mac minus each control.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch

from . import checkpoint
from .config import MACConfig
from .generate import greedy
from .mac import MAC
from .mac_data import PAD_ID, pad, question_tokens
from .metrics import bootstrap_ci, normalize, score
from .prepare import MODELS_DIR, Examples, load_examples
from .squad import SENTENCE_END
from .tokenizer import load_sentencepiece, special_ids
from .train_lm import answer_nll
from .train_common import pick_device
from .train_mac import encode_docs, load_frozen_lm, mac_nll

TOKENIZER = MODELS_DIR / "tokenizer" / "mnemo-8k.model"


def load_mac(path, lm, device) -> MAC:
    state = checkpoint.load(Path(path))
    mac = MAC(lm.cfg, MACConfig(**state["config"]["mac"])).to(device)
    try:
        mac.load_state_dict(state["model"])
    except RuntimeError as e:
        raise checkpoint.CheckpointError(f"{path} does not fit this MAC architecture or LM: {str(e)[:300]}") from e
    return mac.eval()


def interval(diffs) -> dict:
    lo, hi = bootstrap_ci(diffs)
    return {"mean": float(np.mean(diffs)), "ci95": [lo, hi], "n": len(diffs), "excludes_zero": bool(lo > 0 or hi < 0)}


@torch.no_grad()
def encode_all(mac, ex: Examples, docs: list[int], device, batch=32):
    out = [encode_docs(mac, ex, docs[i:i + batch], 1.0, PAD_ID, device, random.Random(0)) for i in range(0, len(docs), batch)]
    return torch.cat(out) if out else torch.zeros(0, mac.cfg.n_slots, mac.lm_cfg.n_embd, device=device)


@torch.no_grad()
def gates_nll(lm, mac, valid: Examples, train: Examples, n_q: int, seed: int, group: int, device) -> dict:
    """Gate 1 (gold passage in prompt vs question only), 2 (bank 1 gold vs wrong), 3 (banks 8/64/512)."""
    rng = random.Random(seed)
    qs = rng.sample(range(len(valid.q_doc)), min(n_q, len(valid.q_doc)))
    ans = [valid.q_answer[q] for q in qs]
    gold = answer_nll(lm, [valid.q_gold_prompt[q] for q in qs], ans, device, lm.cfg.n_positions)
    qonly = answer_nll(lm, [valid.q_prompt[q] for q in qs], ans, device, lm.cfg.n_positions)
    out = {"gate1_nll": {"gold": float(gold.mean()), "question_only": float(qonly.mean()), **interval(qonly - gold)}}
    if mac is None:
        return out
    pool = encode_all(mac, train, rng.sample(range(len(train.doc_ids)), 512), device)      # distractors (N, T, D)
    gold_mods = encode_all(mac, valid, [valid.q_doc[q] for q in qs], device)
    for bank in (1, 8, 64, 512):
        gaps = []
        for i, q in enumerate(qs):
            d = pool[:bank]                                                       # bank distractors
            with_gold = torch.cat([gold_mods[i:i + 1], pool[:bank - 1]])[None]   # (1, bank, T, D)
            mem = torch.cat([with_gold, d[None]])                                # (2, bank, T, D)
            if bank > group:
                nll = mac_nll(mac, lm, valid, [q, q], mem, PAD_ID, device, group=group)
            else:
                nll = mac_nll(mac, lm, valid, [q, q], mem.flatten(1, 2), PAD_ID, device)
            gaps.append((nll[1] - nll[0]).item())
        out[f"gate{2 if bank == 1 else 3}_bank{bank}_nll"] = interval(gaps)
    return out


@torch.no_grad()
def answer_stream(lm, mac, ex: Examples, qs: list[int], bank, mode: str, sp, group: int, device, batch=32):
    """Greedy answers for questions qs; bank (1, N, T, D) modulations or None (no prefix)."""
    ids = special_ids(sp)
    stops, preds = {ids["eos"], ids["newline"]}, []
    for b0 in range(0, len(qs), batch):
        chunk = qs[b0:b0 + batch]
        prefix, prompts = None, [ex.q_prompt[q] for q in chunk]
        if mode == "gold":
            prompts = [ex.q_gold_prompt[q][-(lm.cfg.n_positions - 20):] for q in chunk]
        elif mode != "lm":
            q_ids, q_mask = pad([question_tokens(ex, q, mac.cfg.max_question_tokens) for q in chunk], PAD_ID, device)
            latent, _ = mac.aggregate_hierarchical(mac.question_encoder(q_ids, q_mask), bank, group)
            prefix = mac.prefix(latent)
        outs = greedy(lm, prompts, stops, PAD_ID, 16, prefix, 0 if mac is None else mac.cfg.position_offset)
        preds.extend(sp.decode(o).strip() for o in outs)
    return preds


def overlap_baseline(ex: Examples, qs: list[int], sp) -> list[str]:
    """The floor for reading: the gold paragraph's sentence sharing most words with the question."""
    preds = []
    for q in qs:
        words = set(normalize(sp.decode(ex.q_prompt[q])).split()) - {"question", "answer"}
        sentences = SENTENCE_END.split(ex.doc_text[ex.q_doc[q]])
        preds.append(max(sentences, key=lambda s: len(words & set(normalize(s).split()))))
    return preds


def stream_sample(ex: Examples, limit_docs: int, limit_questions: int, seed: int):
    """The stream: all documents or a seeded sample, then all their questions or a seeded sample (file order kept)."""
    rng = random.Random(seed)
    docs = list(range(len(ex.doc_ids)))
    if limit_docs and limit_docs < len(docs):
        docs = sorted(rng.sample(docs, limit_docs))
    doc_set = set(docs)
    qs = [q for q in range(len(ex.q_doc)) if ex.q_doc[q] in doc_set]
    if limit_questions and limit_questions < len(qs):
        qs = sorted(rng.sample(qs, limit_questions))
    return rng, docs, qs


def stream_eval(lm, mac, valid, train, sp, limit_docs, limit_questions, seed, group, device) -> dict:
    rng, docs, qs = stream_sample(valid, limit_docs, limit_questions, seed)
    t0 = time.time()
    bank = encode_all(mac, valid, docs, device)[None] if mac else None
    ingest_s = time.time() - t0
    golds = [valid.q_answers_text[q] for q in qs]
    modes = {"gold": None, "lm": None}
    if mac is not None:
        T, D = mac.cfg.n_slots, mac.lm_cfg.n_embd
        modes = {"mac": bank, "question-only": torch.zeros(1, 0, T, D, device=device),
                 "irrelevant": encode_all(mac, train, rng.sample(range(len(train.doc_ids)), len(docs)), device)[None],
                 **modes}
    results, items = {}, {}
    modes["overlap-floor"] = None
    for mode, b in modes.items():
        t = time.time()
        preds = (overlap_baseline(valid, qs, sp) if mode == "overlap-floor"
                 else answer_stream(lm, mac, valid, qs, b, mode, sp, group, device))
        s = score(preds, golds)
        items[mode] = s.pop("_f1_items")
        results[mode] = {**s, "seconds": round(time.time() - t, 1), "examples": list(zip(preds[:5], golds[:5]))}
        print(f"  {mode:14s} F1 {s['f1']:.2f} [{s['f1_ci95'][0]:.2f}, {s['f1_ci95'][1]:.2f}]  EM {s['em']:.2f}  lenient EM {s['em_lenient']:.2f}", flush=True)
    deltas = {}
    if mac is not None:
        for ctrl in ("question-only", "irrelevant"):
            diff = 100 * (np.array(items["mac"]) - np.array(items[ctrl]))
            deltas[f"mac-{ctrl}"] = interval(diff)
    return {"docs": len(docs), "questions": len(qs), "seed": seed, "ingest_s_per_doc": ingest_s / max(1, len(docs)),
            "modes": results, "deltas": deltas}


def gate_table(g: dict, stream: dict) -> dict:
    def ok(key):
        return key in g and g[key]["excludes_zero"] and g[key]["mean"] > 0
    d = stream.get("deltas", {})
    m = stream["modes"]
    gold_f1, lm_f1 = m["gold"]["f1_ci95"], m["lm"]["f1_ci95"]
    floor = m.get("overlap-floor", {"f1_ci95": [0.0, 0.0]})["f1_ci95"]
    return {  # reading must beat both the no-passage LM and the word-overlap floor (mac-method.md §6)
        "1_lm_reads": bool(ok("gate1_nll") and gold_f1[0] > max(lm_f1[1], floor[1])),
        "2_memory_bank1": ok("gate2_bank1_nll"),
        "3_survives_distractors": all(ok(f"gate3_bank{b}_nll") for b in (8, 64, 512)),
        "4_answers": bool(d and all(v["excludes_zero"] and v["mean"] > 0 for v in d.values())),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lm", type=Path, required=True)
    ap.add_argument("--mac", type=Path, default=None)
    ap.add_argument("--data-dir", type=Path, default=MODELS_DIR / "data")
    ap.add_argument("--limit-docs", type=int, default=0, help="stream a seeded sample of N valid paragraphs (0 = all)")
    ap.add_argument("--limit-questions", type=int, default=0, help="ask a seeded sample of the stream's questions")
    ap.add_argument("--gate-questions", type=int, default=300)
    ap.add_argument("--group", type=int, default=16, help="hierarchical aggregation group size M")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fp16-weights", action="store_true", help="round weights to fp16 first, as the exported bundle stores them")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    device = pick_device()
    lm = load_frozen_lm(args.lm, device)
    mac = load_mac(args.mac, lm, device) if args.mac else None
    if args.fp16_weights:
        from .export import round_to_fp16
        round_to_fp16(*[m for m in (lm, mac) if m is not None])
    valid, train = load_examples(args.data_dir / "valid_examples.pkl"), load_examples(args.data_dir / "train_examples.pkl")
    sp = load_sentencepiece(TOKENIZER)
    t0 = time.time()
    gates = gates_nll(lm, mac, valid, train, args.gate_questions, args.seed, args.group, device)
    print(json.dumps(gates, indent=1), flush=True)
    stream = stream_eval(lm, mac, valid, train, sp, args.limit_docs, args.limit_questions, args.seed, args.group, device)
    report = {"command": "python3 -m mnemo_models.evaluate " + " ".join(argv or __import__("sys").argv[1:]),
              "device": str(device), "seconds": round(time.time() - t0, 1), "gates_nll": gates, "stream": stream,
              "gates": gate_table(gates, stream) if mac else {}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report["gates"]))


if __name__ == "__main__":
    main()
