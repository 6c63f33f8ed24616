#!/usr/bin/env bash
# The test command: Python model pipeline tests, TypeScript type check and unit tests, Node parity tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${MNEMO_PYTHON:-/usr/bin/python3}
(cd models && "$PY" -m pytest -q tests)
npx tsc -b
npx eslint .
npx vitest run
node --test models/tests/
