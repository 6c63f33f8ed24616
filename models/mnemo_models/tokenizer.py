"""Tokenizer: a SentencePiece BPE model (byte fallback, no normalisation) and its exact HF tokenizer.json.

Settings are chosen so that a Hugging Face `tokenizers` BPE with no pre-tokenizer reproduces
SentencePiece id for id (proved by tests/test_tokenizer.py + tokenizer-parity.test.mjs in Node):
identity normalisation (NFKC would need a Unicode table both sides agree on), no dummy prefix
(so " " + answer tokenizes the same alone or after a prompt), spaces kept as "▁", digits split,
byte fallback for anything outside the vocabulary (newlines, rare characters).
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Iterable

import sentencepiece as spm

SPECIALS = {"unk": ("<unk>", 0), "bos": ("<s>", 1), "eos": ("</s>", 2), "pad": ("<pad>", 3)}


def train_sentencepiece(lines: Iterable[str], vocab_size: int, model_prefix: Path) -> Path:
    """Train on `lines` (one sentence-ish unit per line, newlines inside are not seen by SP)."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, model_type="bpe", vocab_size=vocab_size,
        character_coverage=0.9995, byte_fallback=True, split_digits=True,
        normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=False,
        allow_whitespace_only_pieces=True, split_by_whitespace=True, max_sentence_length=8192,
        unk_id=0, bos_id=1, eos_id=2, pad_id=3, num_threads=2, minloglevel=2,
        input_sentence_size=2_000_000, shuffle_input_sentence=True)
    path = model_prefix.with_suffix(".model")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.getvalue())
    return path


def load_sentencepiece(path: Path) -> spm.SentencePieceProcessor:
    if not Path(path).is_file():
        raise FileNotFoundError(f"tokenizer model not found: {path}")
    return spm.SentencePieceProcessor(model_file=str(path))


def to_hf_json(sp: spm.SentencePieceProcessor) -> dict:
    """The HF tokenizer.json equivalent of `sp`: BPE vocab by id, merges ordered by SP piece score."""
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    scores = {sp.id_to_piece(i): sp.get_score(i) for i in range(sp.get_piece_size())}
    mergeable = {p for i, p in enumerate(vocab) if sp.is_unknown(i) is False and not sp.is_control(i)
                 and not sp.is_byte(i)}
    merges = []
    for piece in mergeable:
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in mergeable and right in mergeable:
                merges.append((scores[piece], vocab[left], vocab[right], left, right))
    # SP's BPE merges the adjacent pair whose result has the highest score; HF merges by rank.
    merges.sort(key=lambda m: (-m[0], m[1], m[2]))
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        # No added_tokens: HF would split "</s>" typed in a document into the eos id, while SentencePiece
        # (and safety: a document must not end a generation) treats it as plain text. Special ids come
        # from the bundle manifest, never from text.
        "added_tokens": [],
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
        ]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": [[m[3], m[4]] for m in merges]},
    }


def special_ids(sp: spm.SentencePieceProcessor) -> dict:
    ids = {name: sp.piece_to_id(piece) for name, (piece, _) in SPECIALS.items()}
    ids["newline"] = sp.piece_to_id("<0x0A>")
    return ids


def write_hf_json(sp: spm.SentencePieceProcessor, path: Path) -> None:
    path.write_text(json.dumps(to_hf_json(sp), ensure_ascii=False), encoding="utf-8")
