"""SQuAD v1.1 reading, the one fixed prompt template, and the MAC examples / valid stream.

The template is shared by LM pretraining (reading-comprehension rows), MAC training and every
evaluation mode, so the frozen LM sees the same format everywhere:
    gold:          "Context: {passage}\nQuestion: {question}\nAnswer:"  + " {answer}" + eos
    question-only: "Question: {question}\nAnswer:"                      + " {answer}" + eos
    MAC:           [prefix K/V] "Question: {question}\nAnswer:"        + " {answer}" + eos
"""
from __future__ import annotations

import gzip
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

# ../shared/data/squad beside the repository; MNEMO_SQUAD_DIR points elsewhere (e.g. on a GPU machine).
SHARED_SQUAD = Path(
    os.environ.get("MNEMO_SQUAD_DIR", Path(__file__).resolve().parents[3].parent / "shared" / "data" / "squad")
)


@dataclass
class QA:
    id: str
    question: str
    answers: list[str]          # train: one; valid: all references (scored best-of)


@dataclass
class Paragraph:
    article: str
    index: int                  # position of the paragraph in the split (stable id)
    context: str
    qas: list[QA]


def squad_path(split: str, root: Path | None = None) -> Path:
    if split not in ("train", "valid"):
        raise ValueError(f"unknown SQuAD split {split!r}; expected 'train' or 'valid'")
    path = (root or SHARED_SQUAD) / f"{split}-v1.1.json.gz"
    if not path.is_file():
        raise FileNotFoundError(f"SQuAD {split} file not found: {path} (expected ../shared/data/squad beside the repo)")
    return path


def load_squad(split: str, root: Path | None = None) -> list[Paragraph]:
    """All paragraphs of a split, in file order. Each context appears once (a real bank holds each document once)."""
    with gzip.open(squad_path(split, root), "rt", encoding="utf-8") as f:
        data = json.load(f)
    out: list[Paragraph] = []
    for article in data["data"]:
        for para in article["paragraphs"]:
            qas = [QA(q["id"], q["question"].strip(), [a["text"] for a in q["answers"]]) for q in para["qas"]]
            out.append(Paragraph(article["title"], len(out), para["context"], qas))
    return out


def prompt(question: str, passage: str | None = None) -> str:
    """The fixed prompt template. The answer continues it as " " + answer + eos."""
    q = " ".join(question.split())
    if passage is None:
        return f"Question: {q}\nAnswer:"
    return f"Context: {' '.join(passage.split())}\nQuestion: {q}\nAnswer:"


def answer_text(answer: str) -> str:
    return " " + " ".join(answer.split())


SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def short_context(context: str, answer: str, neighbours: int = 1) -> str:
    """The answer's sentence plus `neighbours` sentences either side (an easier reading task, ~60 tokens).

    Used as a curriculum for the base LM: small LMs learn to copy from short passages first.
    """
    sentences = SENTENCE_END.split(context)
    hit = next((i for i, s in enumerate(sentences) if answer in s), None)
    if hit is None:
        return context
    lo, hi = max(0, hit - neighbours), min(len(sentences), hit + neighbours + 1)
    return " ".join(sentences[lo:hi])
