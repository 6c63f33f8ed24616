#!/usr/bin/env bash
# One-time machine setup: Debian packages for the Python model pipeline, then npm packages (offline-safe).
set -euo pipefail
cd "$(dirname "$0")/.."
# g++ and make: better-sqlite3 compiles its binding with node-gyp when no prebuilt one can be fetched.
# chromium: the browser the Playwright end-to-end tests drive (never `npx playwright install`).
APT_PACKAGES=(python3-torch python3-onnx python3-numpy python3-sentencepiece python3-pytest libopenblas0-pthread g++ make chromium)
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# onnxruntime-node's install script fetches a CUDA add-on (unreachable here): package.json's
# allowScripts disables it; the env var covers npm versions that ignore allowScripts.
ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
