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

import random
from pathlib import Path

from mnemo_models.data.squad import load_squad

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
    out += [f.read_text() for f in sorted(Path(__file__).resolve().parents[1].rglob("*.py"))]
    size = sum(len(t.encode()) for t in out)
    while size < min_bytes:
        t = generated(rng)
        out.append(t)
        size += len(t.encode())
    return out
