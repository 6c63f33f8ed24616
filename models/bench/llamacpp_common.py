"""What the llama.cpp benchmark scripts share: thread settings, the guarded llama_cpp import, the
project's metrics on the path, and small helpers over a loaded Llama (last-position logits, greedy
choice, tokenizing, the model's identity for a report).

Imported only by the throwaway benchmark venv's scripts (llamacpp_bench.py, llamacpp_logits.py);
never by the app, the model pipeline or the tests.
"""
from __future__ import annotations

import ctypes
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

# The project's own modules used here (SQuAD metrics, file hashing) are standard library + numpy
# only, so they import in this throwaway venv too.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from mnemo_models.bundle.sources import sha256  # noqa: E402

try:
    import llama_cpp  # noqa: E402
    from llama_cpp import Llama  # noqa: E402
except ImportError:  # pragma: no cover
    sys.exit("llama_cpp is not importable: run this with /work/llama-venv/bin/python (see the docstring)")


def last_logits(llm: Llama) -> np.ndarray:
    ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    return np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(llm.n_vocab(),))


def greedy(llm: Llama) -> int:
    return int(np.argmax(last_logits(llm)))


def tokenize(llm: Llama, text: str) -> list[int]:
    """BOS as the GGUF asks; a prompt that already opens with the BOS piece (the app's Gemma prompts
    are rendered with "<bos>") keeps one, as the app's tokenizer gives."""
    toks = llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
    bos = llm.token_bos()
    return toks[1:] if len(toks) > 1 and toks[0] == toks[1] == bos else toks


def model_info(llm: Llama, path: str) -> dict:
    md = llm.metadata
    keep = ["general.architecture", "general.name", "general.basename", "general.size_label",
            "general.finetune", "general.license", "general.file_type"]
    return {"gguf": os.path.abspath(path), "bytes": os.path.getsize(path), "sha256": sha256(path),
            "metadata": {k: md[k] for k in keep if k in md}, "n_vocab": llm.n_vocab()}
