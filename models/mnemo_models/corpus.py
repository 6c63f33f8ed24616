"""The pretraining corpus: SQuAD *train* paragraphs plus redistributable text from Debian packages.

Every source is recorded with its size; paragraphs are deduplicated by a normalised hash; and no
text of the SQuAD valid split may enter (checked by 12-word shingles before anything is written).
"""
from __future__ import annotations

import glob
import gzip
import hashlib
import json
import re
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .squad import Paragraph

SHINGLE = 12  # words; a 12-word run shared with valid text is treated as a leak


def _read(path: str) -> str:
    opener = gzip.open if path.endswith((".gz", ".dz")) else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        return f.read()


def gcide_entries(path: str = "/usr/share/dictd/gcide.dict.dz") -> Iterator[str]:
    """GCIDE (1913 Webster + additions, GPL): one entry per blank-line block, pronunciation marks removed."""
    for block in _read(path).split("\n\n"):
        lines = [l.strip() for l in block.splitlines() if l.strip() and not l.strip().startswith("[")]
        text = " ".join(lines)
        text = re.sub(r"\\[^\\]{0,80}\\", "", text)         # \Ab*di"ca*tion\
        text = re.sub(r"\[[^\]]{0,80}\]", "", text)          # [1913 Webster], [L. ...]
        text = " ".join(text.split())
        if len(text) > 40:
            yield text


def wordnet_glosses(root: str = "/usr/share/wordnet") -> Iterator[str]:
    """WordNet 3.0 synsets (WordNet licence): "word, synonym: gloss; "example"."""
    for pos in ("noun", "verb", "adj", "adv"):
        path = Path(root) / f"data.{pos}"
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("  ") or "|" not in line:
                continue
            head, gloss = line.split("|", 1)
            fields = head.split()
            n_words = int(fields[3], 16)
            words = [fields[4 + 2 * i].replace("_", " ") for i in range(n_words)]
            yield f"{', '.join(words)}: {gloss.strip()}"


def jargon_entries(path: str = "/usr/share/doc/jargon-text/jargon.txt.gz") -> Iterator[str]:
    """The Jargon File 4.4.7 (public domain)."""
    if Path(path).is_file():
        yield from _paragraphs(_read(path))


def fortunes(root: str = "/usr/share/games/fortunes") -> Iterator[str]:
    """Debian fortunes (quotations, free licences); files without an extension, entries split by %."""
    for path in sorted(glob.glob(f"{root}/*")):
        if "." in Path(path).name or not Path(path).is_file():
            continue
        for entry in _read(path).split("\n%\n"):
            text = entry.strip()
            if len(text) > 40:
                yield text


def debian_docs(root: str = "/usr/share/doc", limit_bytes: int = 40_000_000) -> Iterator[str]:
    """README/NEWS/*.txt documentation of installed packages (free licences), paragraph by paragraph."""
    used = 0
    patterns = ("README*", "*.txt", "*.txt.gz", "NEWS*", "FAQ*")
    paths = sorted({p for pat in patterns for p in glob.glob(f"{root}/*/{pat}")})
    for path in paths:
        if used > limit_bytes or not Path(path).is_file() or "jargon" in path:
            continue
        try:
            text = _read(path)
        except (OSError, EOFError):
            continue
        used += len(text)
        yield from _paragraphs(text)


def _paragraphs(text: str) -> Iterator[str]:
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        if len(para) > 40:
            yield para


def squad_train_paragraphs(paragraphs: list[Paragraph]) -> Iterator[str]:
    for p in paragraphs:
        yield p.context


def default_sources(train: list[Paragraph]) -> dict[str, Callable[[], Iterable[str]]]:
    return {
        "squad-train-paragraphs (CC BY-SA 4.0)": lambda: squad_train_paragraphs(train),
        "dict-gcide /usr/share/dictd/gcide.dict.dz (GPL-3+)": gcide_entries,
        "wordnet-base /usr/share/wordnet (WordNet licence)": wordnet_glosses,
        "jargon-text /usr/share/doc/jargon-text (public domain)": jargon_entries,
        "fortunes /usr/share/games/fortunes": fortunes,
        "debian docs /usr/share/doc/*/README*,*.txt,NEWS*,FAQ*": debian_docs,
    }


def shingles(text: str, n: int = SHINGLE) -> set[int]:
    words = re.findall(r"\w+", text.lower())
    return {hash(" ".join(words[i:i + n])) for i in range(max(0, len(words) - n + 1))}


class ValidFilter:
    """Knows every 12-word run of the evaluation text; `overlaps(text)` says whether text shares one.

    Wikipedia articles share boilerplate ("According to the United States Census Bureau, the city
    has a total area of..."), so a few train paragraphs overlap valid ones: those are dropped from
    every training set and counted, never silently kept.
    """

    def __init__(self, forbidden: Iterable[str]):
        self.banned: set[int] = set()
        for text in forbidden:
            self.banned |= shingles(text)

    def overlaps(self, text: str) -> bool:
        return bool(self.banned) and not self.banned.isdisjoint(shingles(text))


def build_corpus(sources: dict[str, Callable[[], Iterable[str]]], valid_filter: ValidFilter,
                 out_path: Path) -> dict:
    """Write deduplicated documents as JSON lines {"source", "text"}; return the per-source record.

    Documents sharing a 12-word run with the valid split are dropped and counted per source.
    """
    seen: set[bytes] = set()
    record: dict[str, dict] = {}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        for name, make in sources.items():
            stats = record.setdefault(name, {"documents": 0, "bytes": 0, "duplicates_dropped": 0,
                                                "valid_overlap_dropped": 0})
            for text in make():
                key = hashlib.sha1(" ".join(text.lower().split()).encode()).digest()
                if key in seen:
                    stats["duplicates_dropped"] += 1
                    continue
                seen.add(key)
                if valid_filter.overlaps(text):
                    stats["valid_overlap_dropped"] += 1
                    continue
                out.write(json.dumps({"source": name, "text": text}, ensure_ascii=False) + "\n")
                stats["documents"] += 1
                stats["bytes"] += len(text.encode("utf-8"))
    tmp.replace(out_path)
    return record
