"""The recipe registry: each base LM setup can build, where its GGUF comes from, its prompts,
precisions and trained MAC heads, and where its bundle lives in the cache.

The bundle writer (bundle/format2.py) and every tool that needs a recipe's GGUF or the default
bundle's folder read this module; it imports only the pinned sources and the prompts.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mnemo_models.bundle import prompts, sources

HEADS_DIR = Path(__file__).resolve().parents[2] / "heads"
LICENCES_DIR = Path(__file__).resolve().parents[2] / "licences"


@dataclass(frozen=True)
class LMRecipe:
    """One base LM the setup can build: where its GGUF comes from, its prompts and precisions."""
    name: str                                   # bundle name prefix, e.g. "gemma3-270m"
    precisions: tuple[str, ...]                 # the first is the default
    prompts: dict
    end_of_turn: str
    long_stops_at_newline: bool                 # a base model does not end its turn: one paragraph
    weights: dict[str, str]
    heads: tuple[str, str] | None = None        # trained MAC heads: (file in models/heads, its sha256)
    memory_note: str = ""                       # what the heads measured (the manifest's record)
    default_mode: str | None = None             # the answer mode the measurements favour (docs/eval.md)
    source: sources.Assembled | None = None     # a GGUF in chunk packages, with licence_files from the repo
    licence_files: tuple[tuple[str, str], ...] = ()  # (file in models/licences, its name in the bundle)

    def gguf(self, log) -> tuple[Path, list[dict], list[Path]]:
        """-> the GGUF, its manifest "sources" entries, and licence files the bundle must carry."""
        if self.name == "gemma3-270m":      # the glue package carries the terms the bundle passes on
            gguf = sources.fetch_assembled(sources.GEMMA3, log)
            terms = sources.fetch(sources.GEMMA3_TERMS, log)
            entries = [*assembled_entries(sources.GEMMA3), *source_entries("lm", sources.GEMMA3_TERMS)]
            return gguf, entries, [terms / n for n in sources.GEMMA3_TERMS.files]
        if self.source is not None:
            licences = [copy_as(LICENCES_DIR / src, self.name, name) for src, name in self.licence_files]
            return sources.fetch_assembled(self.source, log), assembled_entries(self.source), licences
        root = sources.fetch(sources.SMOLLM2, log)
        return root / next(iter(sources.SMOLLM2.files)), source_entries("lm", sources.SMOLLM2), []


def assembled_entries(spec: sources.Assembled) -> list[dict]:
    """The manifest's "sources" for a GGUF joined from chunk packages: the file, then each part."""
    first = spec.parts[0]
    joined = {
        "role": "lm",
        "package": f"{first.package.rsplit('-part', 1)[0]}-part1..{len(spec.parts)}=={first.version}",
        "file": spec.name,
        "sha256": spec.sha256,
        "licence": first.licence,
        "model": first.model,
        "assembled_from": [p.split("/")[-1] for s in spec.parts for p in s.files],
    }
    return [joined, *(e for s in spec.parts for e in source_entries("lm", s))]


def copy_as(path: Path, recipe: str, name: str) -> Path:
    """A licence file under the name the bundle gives it (the build copies files by name)."""
    out = sources.cache_dir() / "licences" / recipe / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(path.read_bytes())
    return out


def source_entries(role: str, src: sources.Source) -> list[dict]:
    """One manifest entry per pinned file of a package."""
    return [
        {
            "role": role,
            "package": f"{src.package}=={src.version}",
            "archive_sha256": src.wheel_sha256,
            "file": name,
            "sha256": sha,
            "licence": src.licence,
            "model": src.model,
        }
        for name, sha in src.files.items()
    ]


LM_RECIPES = {
    # The default (docs/eval.md, 300 valid questions through the app): gold-passage F1 39.5 vs
    # SmolLM2's 14.9, keyword mode 28.9 vs 12.1; first token 200 ms on 2 threads. Its licence is the
    # Gemma Terms of Use, not an OSI one; the issue asks for the permissive model when quality is close.
    "gemma3-270m": LMRecipe(
        name="gemma3-270m",
        precisions=("q8", "fp32"),
        prompts=prompts.GEMMA3,
        end_of_turn="<end_of_turn>",
        long_stops_at_newline=True,
        # MAC heads trained here on CPU (models/README.md: design "select", framed prefix, fitted maps;
        # step 500 of runs/mac-select-2, which started from the step-350 heads of runs/mac-select;
        # exported by mac/export.py).
        heads=("gemma3-270m-mac.pt", "faf6a577a019c7ad9771660f185b2987f099ebb688b2718b6507a56465ec1c36"),
        memory_note="Memory (MAC) is trained, on CPU. On SQuAD valid, memory + keyword passages beat keyword passages "
        "alone on two samples of 300 questions (seeds 0 and 1): F1 31.9 vs 27.1 (+4.8, interval +0.1 to +9.1) "
        "and 33.4 vs 27.5 (+5.9, +1.9 to +10.2), so it is the default; with the best passage placed last, "
        "next to the question, it scored 37.0 and 35.0. Memory alone scored F1 14.3 and 16.7, against "
        "6.4 and 7.6 for the question alone in the same prompt.",
        default_mode="memory+keyword",
        weights={
            "q8": "every matrix as 8-bit MatMulNBits blocks of 32: the GGUF's Q8_0 tensors (embedding/output "
            "table, V) as they are, its Q4_K/Q5_0/Q6_K tensors re-quantized from their dequantized "
            "values; float32 activations",
            "fp32": "the GGUF weights dequantized to float32",
        },
    ),
    "smollm2-135m-instruct": LMRecipe(
        name="smollm2-135m-instruct",
        precisions=("q4", "q8", "fp32"),
        prompts=prompts.SMOLLM2,
        end_of_turn="<|im_end|>",
        long_stops_at_newline=False,
        weights={
            "q4": "GGUF Q4_1 blocks as MatMulNBits (4 bits, block 32, minimums folded) + Q8_0 "
            "embedding/output table as 8-bit MatMulNBits; float32 activations",
            "q8": "every matrix re-quantized to 8-bit blocks of 32 from the dequantized GGUF",
            "fp32": "the GGUF weights dequantized to float32",
        },
    ),
    "qwen2.5-coder-0.5b-instruct": LMRecipe(
        name="qwen2.5-coder-0.5b-instruct", precisions=("q8", "fp32"), prompts=prompts.QWEN2,
        end_of_turn="<|im_end|>", long_stops_at_newline=False, source=sources.QWEN25_CODER_05B,
        licence_files=(("Apache-2.0.txt", "LICENSE-Apache-2.0.txt"), ("qwen2.5-coder-NOTICE.md", "NOTICE.md")),
        weights={"q8": "every matrix re-quantized to 8-bit blocks of 32 from the dequantized GGUF (its Q5_0, "
                       "Q4_K and Q6_K tensors have no direct MatMulNBits form; Q8_0 ones keep their blocks); "
                       "the output layer and the embedding table apart; float32 activations",
                 "fp32": "the GGUF weights dequantized to float32"}),
    "qwen2.5-coder-1.5b-instruct": LMRecipe(
        name="qwen2.5-coder-1.5b-instruct", precisions=("q4", "q8", "fp32"), prompts=prompts.QWEN2,
        end_of_turn="<|im_end|>", long_stops_at_newline=False, source=sources.QWEN25_CODER_15B,
        licence_files=(("Apache-2.0.txt", "LICENSE-Apache-2.0.txt"), ("qwen2.5-coder-NOTICE.md", "NOTICE.md")),
        weights={"q4": "the GGUF's Q4_K blocks exactly, as 4-bit MatMulNBits blocks of 32 (scale d*sc, minimum "
                       "-dmin*m folded); its Q6_K tensors and the embedding table as 8-bit blocks of 32; the "
                       "output layer apart from the embeddings; float32 activations",
                 "q8": "every matrix re-quantized to 8-bit blocks of 32 from the dequantized GGUF (its Q4_K "
                       "and Q6_K tensors have no direct MatMulNBits form; Q8_0 ones keep their blocks); "
                       "the output layer and the embedding table apart; float32 activations",
                 "fp32": "the GGUF weights dequantized to float32"}),
}
DEFAULT_MODEL = "gemma3-270m"
PROMPTS = LM_RECIPES[DEFAULT_MODEL].prompts


def default_out(precision: str | None = None, model: str = DEFAULT_MODEL) -> Path:
    recipe = LM_RECIPES[model]
    return sources.cache_dir() / "bundles" / f"{recipe.name}-{precision or recipe.precisions[0]}"
