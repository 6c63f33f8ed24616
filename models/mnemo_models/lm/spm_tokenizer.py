"""A SentencePiece-type GGUF vocabulary (tokenizer.ggml.model = 'llama', e.g. Gemma 3) -> HF tokenizer.json.

llama.cpp's SPM tokenizer, which this file reproduces in the `tokenizers` format (measured token for
token on >= 1 MB of text: docs/bench/gemma3-tokenizer-parity-2026-12-02.json):

1. Special-token partition: CONTROL (type 3) and USER_DEFINED (type 4) tokens are cut out of the raw
   text as whole strings (Gemma's user-defined tokens are newline, tab and space runs, HTML tags,
   '[multimodal]', image markers). HF: `added_tokens`, normalized=False, so they match the raw text.
   (llama.cpp parses CONTROL tokens only with special=True; `tokenizers` always parses added tokens.)
2. Each remaining fragment: ' ' -> '▁' (no prefix space when add_space_prefix is False), split into
   characters, then repeatedly merge the adjacent pair whose concatenation is in the vocabulary with
   the highest score (ties: leftmost). HF: a Replace normalizer, no pre-tokenizer (the whole fragment
   is one BPE word, as in llama.cpp), and a merge list holding every split of every vocabulary piece
   into two vocabulary pieces, ranked by the merged piece's score (then id), which is the same
   priority. Characters outside the vocabulary fall back to <0xXX> byte tokens (byte_fallback).
3. Decoding: '▁' -> ' ', byte tokens -> bytes, concatenate.
"""
from __future__ import annotations

import json
from pathlib import Path

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6   # llama.cpp token types
SPACE = "\u2581"                                                        # '▁', SentencePiece's space


def _field(reader, key: str, default=None):
    """A GGUF metadata value (same as lm.gguf.field, kept here to avoid importing torch)."""
    f = reader.fields.get(key)
    return default if f is None else f.contents()


def spm_merges(tokens: list[str], scores: list[float]) -> list[list[str]]:
    """Every (left, right) with left, right and left+right all in the vocabulary, best first.

    llama.cpp ranks a candidate pair by the score of the merged token, higher first, so the merges
    are ordered by (-score of merged, id of merged); splits of one piece by (id of left, id of right),
    as transformers' SentencePieceExtractor does. Which split of one piece comes first only matters
    when two of them compete on overlapping symbols, where llama.cpp takes the leftmost.
    """
    ids = {t: i for i, t in enumerate(tokens)}
    merges = []
    for merged in sorted(range(len(tokens)), key=lambda i: (-scores[i], i)):
        piece = tokens[merged]
        splits = [(ids[piece[:k]], ids[piece[k:]]) for k in range(1, len(piece))
                  if piece[:k] in ids and piece[k:] in ids]
        merges.extend([tokens[a], tokens[b]] for a, b in sorted(splits))
    return merges


def spm_tokenizer(tokens: list[str], scores: list[float], types: list[int], unk_id: int | None = None,
                  add_space_prefix: bool = False) -> dict:
    """The tokenizer.json dict for an SPM vocabulary given as parallel lists (testable without a GGUF)."""
    if add_space_prefix:
        # llama.cpp prepends ' ' to the text and after every special token; not needed for Gemma
        # and not measured, so refuse rather than guess.
        raise ValueError("SPM vocabularies with add_space_prefix = True are not supported")
    if not len(tokens) == len(scores) == len(types):
        raise ValueError("tokens, scores and token types differ in length")
    vocab = set(tokens)
    missing = [f"<0x{b:02X}>" for b in range(256) if f"<0x{b:02X}>" not in vocab]
    if missing:
        raise ValueError(f"byte fallback needs all 256 byte tokens; missing {missing[:4]}...")
    added = [{"id": i, "content": tok, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": types[i] == CONTROL}
             for i, tok in enumerate(tokens) if types[i] in (CONTROL, USER_DEFINED)]
    decoder = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
        {"type": "ByteFallback"},
        {"type": "Fuse"}]}
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
            "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": SPACE},
            "pre_tokenizer": None, "post_processor": None, "decoder": decoder,
            "model": {"type": "BPE", "dropout": None,
                      "unk_token": tokens[unk_id] if unk_id is not None else None,
                      "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": False,
                      "byte_fallback": True, "ignore_merges": False,
                      "vocab": {t: i for i, t in enumerate(tokens)}, "merges": spm_merges(tokens, scores)}}


def tokenizer_json_spm(reader) -> dict:
    """Rebuild the HF tokenizer.json from a GGUF whose tokenizer.ggml.model is 'llama' (SentencePiece)."""
    if _field(reader, "tokenizer.ggml.model") != "llama":
        raise ValueError("only SentencePiece (tokenizer.ggml.model = llama) vocabularies are supported")
    pre = _field(reader, "tokenizer.ggml.pre", "default")
    if pre != "default":
        raise ValueError(f"unknown pre-tokenizer {pre!r} for an SPM vocabulary")
    return spm_tokenizer(_field(reader, "tokenizer.ggml.tokens"),
                         [float(s) for s in _field(reader, "tokenizer.ggml.scores")],
                         _field(reader, "tokenizer.ggml.token_type"),
                         _field(reader, "tokenizer.ggml.unknown_token_id"),
                         bool(_field(reader, "tokenizer.ggml.add_space_prefix", True)))


def write_tokenizer_spm(reader, out: Path) -> None:
    """Compact, deterministic JSON (same bytes on every rebuild), like lm.gguf.write_tokenizer."""
    Path(out).write_text(json.dumps(tokenizer_json_spm(reader), ensure_ascii=False, separators=(",", ":"))
                         + "\n", encoding="utf-8")
