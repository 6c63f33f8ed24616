"""Write varied text with its token ids for the Python/Node tokenizer parity tests.

The library behind it is mnemo_models.data.parity_text; `python -m mnemo_models.parity_text --help` lists the options.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from tokenizers import Tokenizer

from mnemo_models.bundle.format1 import TOKENIZER_DIR, load_sentencepiece
from mnemo_models.data.parity_text import texts, __doc__ as USAGE


def main(argv=None):
    ap = argparse.ArgumentParser(description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--min-bytes", type=int, default=1_100_000)
    ap.add_argument("--tokenizer", type=Path, default=TOKENIZER_DIR / "mnemo-8k.model")
    ap.add_argument("--hf-tokenizer", type=Path, help="a tokenizer.json, encoded with the tokenizers library")
    args = ap.parse_args(argv)
    if args.hf_tokenizer:
        hf = Tokenizer.from_file(str(args.hf_tokenizer))
        encode = lambda t: hf.encode(t, add_special_tokens=False).ids              # noqa: E731
    else:
        encode = load_sentencepiece(args.tokenizer).encode
    with open(args.out, "w", encoding="utf-8") as f:
        for t in texts(args.min_bytes):
            f.write(json.dumps({"text": t, "ids": encode(t)}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
