#!/usr/bin/env bash
# The test command: Python model pipeline tests, TypeScript type checks and lint, unit tests, Node
# parity tests, then the renderer build and the end-to-end tests in Chromium through the local server.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${MNEMO_PYTHON:-$PWD/models/.venv/bin/python}   # setup.sh makes it: Debian torch + gguf, tokenizers
(cd models && "$PY" -m pytest -q tests)
npx tsc -b
npx tsc -p renderer/tsconfig.json
npx vite build --config renderer/vite.config.ts --logLevel warn     # the server tests and e2e serve it
npx eslint .
npx prettier --check . --log-level warn        # formatting drift fails here: npm run format fixes it
npx vitest run
node --test models/tests/
npx playwright test -c e2e/playwright.config.ts
