"""Data preparation: corpus -> tokenizer -> token files. Stages meet at files under models/data/.

    python3 -m mnemo_models.prepare [--data-dir models/data] [--retrain-tokenizer]

Writes corpus.jsonl + sources.json (every source with its size), lm_{train,valid}.npy (uint16 ids
of general text, documents separated by eos), and {train,valid}_examples.pkl (tokenized SQuAD
documents, prompts and answers). The SQuAD valid split is only ever tokenized into
valid_examples.pkl; SQuAD train paragraphs and corpus documents that share a 12-word run with it
are dropped from every training set (and counted in sources.json).
"""
from __future__ import annotations

import argparse
import json
import pickle
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import corpus as corpus_mod
from .squad import Paragraph, answer_text, load_squad, prompt, short_context
from .tokenizer import load_sentencepiece, special_ids, train_sentencepiece, write_hf_json

MODELS_DIR = Path(__file__).resolve().parents[1]
TOKENIZER_DIR = MODELS_DIR / "tokenizer"
VOCAB_SIZE = 8192


@dataclass
class Examples:
    """Tokenized SQuAD split: unique documents and their questions. Lists of int lists."""
    doc_ids: list = field(default_factory=list)          # [n_docs][doc_len]
    doc_text: list = field(default_factory=list)
    doc_article: list = field(default_factory=list)
    q_doc: list = field(default_factory=list)            # [n_q] index into docs
    q_prompt: list = field(default_factory=list)         # "Question: ...\nAnswer:" ids
    q_gold_prompt: list = field(default_factory=list)    # "Context: ...\nQuestion: ...\nAnswer:" ids
    q_short_prompt: list = field(default_factory=list)   # same with the answer's sentences only
    q_answer: list = field(default_factory=list)         # " answer" ids + eos (first reference)
    q_answers_text: list = field(default_factory=list)   # all references, for EM/F1
    q_id: list = field(default_factory=list)


def tokenize_examples(paragraphs: list[Paragraph], sp, eos: int) -> Examples:
    ex = Examples()
    for d, para in enumerate(paragraphs):
        ex.doc_ids.append(sp.encode(para.context))
        ex.doc_text.append(para.context)
        ex.doc_article.append(para.article)
        for qa in para.qas:
            ex.q_doc.append(d)
            ex.q_prompt.append(sp.encode(prompt(qa.question)))
            ex.q_gold_prompt.append(sp.encode(prompt(qa.question, para.context)))
            ex.q_short_prompt.append(sp.encode(prompt(qa.question, short_context(para.context, qa.answers[0]))))
            ex.q_answer.append(sp.encode(answer_text(qa.answers[0])) + [eos])
            ex.q_answers_text.append(qa.answers)
            ex.q_id.append(qa.id)
    return ex


TOKEN_FIELDS = ("doc_ids", "q_prompt", "q_gold_prompt", "q_short_prompt", "q_answer")


def save_examples(ex: Examples, path: Path) -> None:
    """Token fields as uint16 concat + offsets (2 bytes a token; small enough to carry to a GPU machine)."""
    payload = {}
    for name, value in vars(ex).items():
        if name in TOKEN_FIELDS:
            payload[name] = (np.concatenate([np.asarray(r, dtype=np.uint16) for r in value] or [np.zeros(0, np.uint16)]),
                             np.cumsum([0] + [len(r) for r in value]))
        else:
            payload[name] = value
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(payload, f, protocol=4)
    tmp.replace(path)


def load_examples(path: Path) -> Examples:
    if not path.is_file():
        raise FileNotFoundError(f"examples file not found: {path} (run: python3 -m mnemo_models.prepare)")
    with open(path, "rb") as f:
        payload = pickle.load(f)
    ex = Examples()
    for name, value in payload.items():
        if name in TOKEN_FIELDS:
            flat, offsets = value
            value = [flat[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:])]
        setattr(ex, name, value)
    return ex


def tokenizer_lines(corpus_path: Path, train: list[Paragraph], limit: int = 400_000, seed: int = 0):
    """A sample of corpus lines plus every SQuAD train context and question: SP's training input."""
    lines = [p.context for p in train] + [qa.question for p in train for qa in p.qas]
    rng = random.Random(seed)
    with open(corpus_path, encoding="utf-8") as f:
        docs = [json.loads(l)["text"] for l in f]
    for text in rng.sample(docs, min(limit, len(docs))):
        lines.extend(l for l in text.splitlines() if l.strip())
    return lines


def tokenize_corpus(corpus_path: Path, sp, eos: int, valid_every: int = 200):
    """General text as one uint16 stream per split; every valid_every-th document goes to valid."""
    train, valid = [], []
    with open(corpus_path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            doc = json.loads(line)
            ids = sp.encode(doc["text"]) + [eos]
            (valid if i % valid_every == valid_every - 1 else train).extend(ids)
    return np.array(train, dtype=np.uint16), np.array(valid, dtype=np.uint16)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=MODELS_DIR / "data")
    ap.add_argument("--retrain-tokenizer", action="store_true", help="train a new tokenizer even if one is committed")
    args = ap.parse_args(argv)
    out = args.data_dir
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    train, valid = load_squad("train"), load_squad("valid")
    valid_filter = corpus_mod.ValidFilter([p.context for p in valid] + [qa.question for p in valid for qa in p.qas])
    n_train = len(train)
    train = [p for p in train if not valid_filter.overlaps(p.context)]
    record = corpus_mod.build_corpus(corpus_mod.default_sources(train), valid_filter, out / "corpus.jsonl")
    record["squad-train paragraphs dropped from every training set (12-word overlap with valid)"] = {
        "documents": n_train - len(train)}
    (out / "sources.json").write_text(json.dumps(record, indent=2))
    kept = [r for r in record.values() if "bytes" in r]
    print(f"corpus: {sum(r['documents'] for r in kept)} documents, {sum(r['bytes'] for r in kept) / 1e6:.1f} MB ({time.time() - t0:.0f}s)")
    sp_path = TOKENIZER_DIR / "mnemo-8k.model"
    if args.retrain_tokenizer or not sp_path.is_file():
        train_sentencepiece(tokenizer_lines(out / "corpus.jsonl", train), VOCAB_SIZE, sp_path.with_suffix(""))
        sp = load_sentencepiece(sp_path)
        write_hf_json(sp, TOKENIZER_DIR / "tokenizer.json")
        print(f"tokenizer: trained {VOCAB_SIZE} pieces -> {sp_path}")
    sp = load_sentencepiece(sp_path)
    eos = special_ids(sp)["eos"]
    lm_train, lm_valid = tokenize_corpus(out / "corpus.jsonl", sp, eos)
    np.save(out / "lm_train.npy", lm_train)
    np.save(out / "lm_valid.npy", lm_valid)
    print(f"lm tokens: train {len(lm_train) / 1e6:.1f}M, valid {len(lm_valid) / 1e6:.2f}M ({time.time() - t0:.0f}s)")
    for split, paras in (("train", train), ("valid", valid)):
        ex = tokenize_examples(paras, sp, eos)
        save_examples(ex, out / f"{split}_examples.pkl")
        lens = np.array([len(d) for d in ex.doc_ids])
        print(f"{split} examples: {len(ex.doc_ids)} documents (tokens p50 {int(np.median(lens))}, "
              f"p99 {int(np.percentile(lens, 99))}), {len(ex.q_doc)} questions")
    print(f"done in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
