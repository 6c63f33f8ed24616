"""The tokenizer.json rebuilt from an SPM GGUF (lm/spm_tokenizer.py) against llama.cpp's own tokenizer.

    # 0. the tokenizer.json under test
    cd models && .venv/bin/python -c "from gguf import GGUFReader; from mnemo_models.lm.spm_tokenizer import \\
        write_tokenizer_spm as w; w(GGUFReader('GGUF'), '/tmp/gemma3-tokenizer.json')"
    # 1. ids from the Rust `tokenizers` library (models/.venv): the parity corpus, prompts, vocabulary
    .venv/bin/python -m mnemo_models.parity_text --out /tmp/gemma3-parity.jsonl \
        --hf-tokenizer /tmp/gemma3-tokenizer.json
    .venv/bin/python bench/spm_parity_llamacpp.py prompts --hf-tokenizer /tmp/gemma3-tokenizer.json \
        --out /tmp/gemma3-prompts.jsonl
    .venv/bin/python bench/spm_parity_llamacpp.py vocab --gguf GGUF --hf-tokenizer /tmp/gemma3-tokenizer.json \
        --out /tmp/gemma3-vocab.jsonl
    # 2. llama.cpp on the same texts (throwaway venv with llama-cpp-python; never a runtime dependency)
    /work/llama-venv/bin/python bench/spm_parity_llamacpp.py compare --gguf GGUF \\
        --jsonl /tmp/gemma3-parity.jsonl /tmp/gemma3-prompts.jsonl /tmp/gemma3-vocab.jsonl \\
        --hf-tokenizer /tmp/gemma3-tokenizer.json \\
        --report ../docs/bench/gemma3-tokenizer-parity-2026-12-02.json [--node-results N.jsonl --node-script N.mjs]

`prompts` writes SQuAD-style prompts (plain and Gemma chat template, literal <bos>, <start_of_turn>,
newlines, double spaces) and edge cases, with the tokenizers library's ids; `vocab` every NORMAL
vocabulary piece alone ('▁' as ' ') and 100k random concatenations of 2-6 pieces. `compare` tokenizes every
text with llama.cpp (add_bos=False, special=True: the tokenizers library always parses added tokens)
and counts texts whose ids differ; it also counts the texts where special=False would differ.
`compare` reads any GGUF's vocabulary (Qwen2's byte-level BPE as well); --made-by names the commands
that wrote its JSONL files, for the report.
--node-results keeps the output of a Node @huggingface/tokenizers run over the same JSONL files
(its script too, with --node-script) in the report.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

EDGE = ["Hello world", "When was the Eiffel Tower completed?\nAnswer:", "  two spaces", "日本語", "🙂",
        "<bos>", "<eos>", "<end_of_turn>", "<start_of_turn>", "\n", "\n\n", "<bos><bos>x", "a<eos>b",
        "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n", "<unused12><unused1>", "<mask>",
        "<start_of_image><end_of_image>", "[multimodal]", "<b>bold</b> <table><tr><td>1</td></tr></table>",
        "<0x41> <0xZZ> <0x", "ababa", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "=" * 40, "-" * 70, "." * 33,
        " " * 40, "\n" * 35, "\t" * 40, " \n \n\t \t", "\r\n\r\n", "\u00a0\u3000\u2028\u200b\ufeff",
        " leading space", "trailing space ", "x  y   z    w", "e\u0301 \u0915\u094d\u0937", "🏳️‍🌈 👩🏽‍💻",
        "\U0001F9FF\U000E0001\U0010FFFF", "\x00\x01\x7f", "", "▁already▁escaped ▁", "<bos >", "< bos>"]


def prompts() -> list[str]:
    """SQuAD-style prompts in the shapes the app and the benchmarks send, plus EDGE."""
    from mnemo_models.data.squad import load_squad
    out = list(EDGE)
    for p in load_squad("valid")[:150]:
        q = p.qas[0].question
        out.append(f"Context: {p.context}\nQuestion: {q}\nAnswer:")
        out.append(f"<bos>Question: {q}\nAnswer:")
        out.append(f"<bos><start_of_turn>user\nContext: {p.context}\n\nQuestion: {q}<end_of_turn>\n"
                   "<start_of_turn>model\n")
        out.append(f"Context:  {p.context.replace('. ', '.  ')}\n\n\nQuestion:  {q}  \nAnswer: ")
    return out


def write_prompts(hf_tokenizer: Path, out: Path) -> None:
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(hf_tokenizer))
    with open(out, "w", encoding="utf-8") as f:
        for t in prompts():
            f.write(json.dumps({"text": t, "ids": tok.encode(t, add_special_tokens=False).ids}, ensure_ascii=False)
                    + "\n")


def write_vocab_texts(gguf: Path, hf_tokenizer: Path, out: Path, n_random: int = 100_000) -> None:
    from gguf import GGUFReader
    from tokenizers import Tokenizer
    fields = GGUFReader(gguf).fields
    tokens, types = fields["tokenizer.ggml.tokens"].contents(), fields["tokenizer.ggml.token_type"].contents()
    normal = [t for t, kind in zip(tokens, types) if kind == 1]
    rng = random.Random(0)
    texts = normal + ["".join(rng.choice(normal) for _ in range(rng.randint(2, 6))) for _ in range(n_random)]
    texts = [t.replace("\u2581", " ") for t in texts]
    encoded = Tokenizer.from_file(str(hf_tokenizer)).encode_batch(texts, add_special_tokens=False)
    with open(out, "w", encoding="utf-8") as f:
        for t, e in zip(texts, encoded):
            f.write(json.dumps({"text": t, "ids": e.ids}, ensure_ascii=False) + "\n")


def compare(a: argparse.Namespace, argv: list[str]) -> int:
    import hashlib
    from llama_cpp import Llama, __version__
    llm = Llama(model_path=str(a.gguf), vocab_only=True, verbose=False)
    data = a.hf_tokenizer.read_bytes() if a.hf_tokenizer else b""
    result = {
        "gguf": str(a.gguf),
        "llama_cpp_python": __version__,
        "tokenizer_json": (
            {"path": str(a.hf_tokenizer), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            if a.hf_tokenizer
            else None
        ),
        "settings": "llama.cpp tokenize(add_bos=False, special=True) vs tokenizers encode(add_special_tokens=False)",
        "commands": [      # what made the JSONL files is the caller's: --made-by, then this comparison
            *(a.made_by or []),
            "/work/llama-venv/bin/python " + " ".join(["bench/spm_parity_llamacpp.py"] + argv),
        ],
        "files": {},
    }
    bad = 0
    for path in a.jsonl:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]
        stats = {"texts": len(rows), "bytes": 0, "tokens": 0, "mismatches": 0, "special_false_differs": 0,
                 "examples": []}
        for row in rows:
            data = row["text"].encode("utf-8")
            ref = llm.tokenize(data, add_bos=False, special=True) if data else []
            stats["bytes"] += len(data)
            stats["tokens"] += len(ref)
            if data and llm.tokenize(data, add_bos=False, special=False) != ref:
                stats["special_false_differs"] += 1
            if ref != row["ids"]:
                stats["mismatches"] += 1
                first = next(
                    (i for i, (a, b) in enumerate(zip(ref, row["ids"])) if a != b), min(len(ref), len(row["ids"]))
                )
                if len(stats["examples"]) < 10:
                    stats["examples"].append({"text": row["text"][:200], "first_diff": first,
                                              "llama_cpp": ref[max(0, first - 3):first + 8],
                                              "tokenizers": row["ids"][max(0, first - 3):first + 8]})
        bad += stats["mismatches"]
        result["files"][path.name] = stats
        print(f"{path.name}: {stats['texts']} texts, {stats['bytes']} bytes, {stats['tokens']} tokens, "
              f"{stats['mismatches']} mismatches ({stats['special_false_differs']} texts differ with special=False)")
    result["total"] = {k: sum(s[k] for s in result["files"].values())
                       for k in ("texts", "bytes", "tokens", "mismatches")}
    if a.node_results:          # Node @huggingface/tokenizers vs the same JSONL ids, from a throwaway script
        result["node_vs_tokenizers"] = {
            "results": [json.loads(line) for line in a.node_results.read_text().split("\n") if line.startswith("{")],
            "script": a.node_script.read_text() if a.node_script else None}
    if a.report:
        a.report.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prompts", help="write the prompts with the tokenizers library's ids (models/.venv)")
    p.add_argument("--hf-tokenizer", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    v = sub.add_parser("vocab", help="write vocabulary pieces and their concatenations with ids (models/.venv)")
    v.add_argument("--gguf", type=Path, required=True)
    v.add_argument("--hf-tokenizer", type=Path, required=True)
    v.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("compare", help="compare JSONL ids with llama.cpp (/work/llama-venv)")
    c.add_argument("--gguf", type=Path, required=True)
    c.add_argument("--jsonl", type=Path, nargs="+", required=True)
    c.add_argument("--made-by", action="append", help="a command that wrote the JSONL files (repeatable)")
    c.add_argument("--report", type=Path)
    c.add_argument("--hf-tokenizer", type=Path, help="the tokenizer.json compared (its sha256 goes in the report)")
    c.add_argument("--node-results", type=Path, help="JSON lines from a Node comparison, kept in the report")
    c.add_argument("--node-script", type=Path, help="that Node script, kept in the report")
    a = ap.parse_args(argv)
    if a.cmd == "prompts":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        write_prompts(a.hf_tokenizer, a.out)
        return 0
    if a.cmd == "vocab":
        write_vocab_texts(a.gguf, a.hf_tokenizer, a.out)
        return 0
    return compare(a, argv)


if __name__ == "__main__":
    sys.exit(main())
