#!/usr/bin/env bash
# npm start: the desktop app when Electron can run here; otherwise the same UI from the local server
# (loopback only, a new token each run), with the reason and the URL to open.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -b
npx vite build --config renderer/vite.config.ts --logLevel warn
# The electron package records its binary in path.txt once downloaded (require("electron") would try
# to download it now, which hangs offline).
PATHFILE=node_modules/electron/path.txt
if [ -f "$PATHFILE" ] && [ -x "node_modules/electron/dist/$(cat "$PATHFILE")" ]; then
  exec "node_modules/electron/dist/$(cat "$PATHFILE")" out/main/main.js "$@"
fi
echo "Electron cannot start on this machine: its binary is not installed (npm fetches it on first run, from the network)." >&2
echo "Serving the same app locally instead." >&2
exec node out/server/main.js "$@"
