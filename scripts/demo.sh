#!/usr/bin/env bash
# The main job on the embedded default model: a vault of the sample documents, then a question across
# it, answered as a stream with its sources. Vault data goes to .mnemo-demo/ (MNEMO_DATA_DIR to move it);
# running it again reuses the vault (unchanged files are skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -b
export MNEMO_DATA_DIR=${MNEMO_DATA_DIR:-$PWD/.mnemo-demo}
mnemo() { node out/cli/main.js "$@"; }
mnemo vault list | grep -q "^Samples	" || mnemo vault create Samples
mnemo add Samples resources/samples
mnemo ask --vault Samples "${1:-When was the Eiffel Tower completed?}"
