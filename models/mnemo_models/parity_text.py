"""Varied text with its token ids, for the Python/Node tokenizer parity tests.

    python3 -m mnemo_models.parity_text --out /tmp/parity.jsonl [--min-bytes 1100000]
    python3 -m mnemo_models.parity_text --out /tmp/p.jsonl --hf-tokenizer BUNDLE/tokenizer.json

The first form uses the project's SentencePiece model (the tiny bundle's tokenizer); the second the
HF `tokenizers` library (Rust) on a bundle's tokenizer.json, e.g. the one rebuilt from the GGUF.

Prose (SQuAD valid paragraphs and questions), code (this package's own source), and generated
strings: digit runs, whitespace runs (spaces, tabs, CR/LF, NBSP, ideographic space), many scripts,
emoji, combining marks, and characters outside the vocabulary (byte fallback).
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from .prepare import TOKENIZER_DIR
from .squad import load_squad
from .tokenizer import load_sentencepiece

RANGES = [(0x20, 0x7E), (0xA0, 0x17F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x5FF), (0x600, 0x6FF),
          (0x900, 0x97F), (0x3040, 0x30FF), (0x4E00, 0x4FFF), (0xAC00, 0xAD00), (0x1F300, 0x1F64F), (0x300, 0x36F)]
SPACES = [" ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", "\u00a0", "\u3000", " \t ", "        "]


def generated(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(5, 40)):
        kind = rng.random()
        if kind < 0.25:
            parts.append("".join(rng.choice("0123456789") for _ in range(rng.randint(1, 20))))
        elif kind < 0.45:
            parts.append(rng.choice(SPACES) * rng.randint(1, 3))
        elif kind < 0.8:
            lo, hi = rng.choice(RANGES)
            parts.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 12))))
        else:
            parts.append(rng.choice(["the", "Question:", "Answer:", "1,606.7 km2", "e.g.", "C++", "x = f(y)",
                                     "<|im_start|>user\n", "<|im_end|>", "<|endoftext|>", "don't", "'ll"]))
    return "".join(parts)


def texts(min_bytes: int, seed: int = 0):
    rng = random.Random(seed)
    valid = load_squad("valid")
    out = [p.context for p in valid] + [qa.question for p in valid for qa in p.qas]
    out += [f.read_text() for f in sorted(Path(__file__).parent.glob("*.py"))]
    size = sum(len(t.encode()) for t in out)
    while size < min_bytes:
        t = generated(rng)
        out.append(t)
        size += len(t.encode())
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--min-bytes", type=int, default=1_100_000)
    ap.add_argument("--tokenizer", type=Path, default=TOKENIZER_DIR / "mnemo-8k.model")
    ap.add_argument("--hf-tokenizer", type=Path, help="a tokenizer.json, encoded with the tokenizers library")
    args = ap.parse_args(argv)
    if args.hf_tokenizer:
        from tokenizers import Tokenizer
        hf = Tokenizer.from_file(str(args.hf_tokenizer))
        encode = lambda t: hf.encode(t, add_special_tokens=False).ids              # noqa: E731
    else:
        encode = load_sentencepiece(args.tokenizer).encode
    with open(args.out, "w", encoding="utf-8") as f:
        for t in texts(args.min_bytes):
            f.write(json.dumps({"text": t, "ids": encode(t)}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
