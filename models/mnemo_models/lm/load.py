"""Which architecture a GGUF holds, and its loader: Llama for "llama", Gemma3 for "gemma3"."""
from __future__ import annotations

from pathlib import Path

from mnemo_models.lm.gemma3_gguf import load_gemma3
from mnemo_models.lm.gguf import architecture, load_llama


def load_lm(path: Path, precision: str):
    """Any supported GGUF -> (model, config)."""
    if architecture(path) == "gemma3":
        return load_gemma3(path, precision)
    return load_llama(path, precision)
