#!/usr/bin/env bash
# The test command: Python model pipeline tests, then Node tests (tokenizer and bundle parity).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${MNEMO_PYTHON:-/usr/bin/python3}
(cd models && "$PY" -m pytest -q tests)
node --test models/tests/
