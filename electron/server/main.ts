#!/usr/bin/env node
// mnemo-server: the backend and the UI on http://127.0.0.1:PORT (loopback only, a new token each run).
// `npm start` runs this when Electron cannot start; it prints the URL to open.
import path from "node:path";
import { parseArgs } from "node:util";
import { AppApi } from "../app/api.js";
import { MnemoApp } from "../app/app.js";
import { resolveBundleDir } from "../app/models.js";
import { defaultDataDir } from "../app/paths.js";
import { startServer } from "./server.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    "data-dir": { type: "string" },
    bundle: { type: "string" },
    threads: { type: "string" },
  },
});
const dataDir = values["data-dir"] ?? defaultDataDir();
// --bundle, else MNEMO_BUNDLE, else the model chosen in Settings › Model, else the setup-built default.
const app = new MnemoApp({
  dataDir,
  bundleDir: await resolveBundleDir(values.bundle, dataDir),
  ...(values.threads ? { threads: Number(values.threads) } : {}),
  onWarning: (m) => process.stderr.write(`warning: ${m}\n`),
});
const api = new AppApi(app);
const server = await startServer({
  api,
  app,
  staticDir: path.resolve(import.meta.dirname, "../renderer"),
  port: Number(values.port),
});
process.stdout.write(`Mnemo is running at ${server.url}\n(open it in a browser on this machine; Ctrl-C stops it)\n`);
// Interrupted ingestion resumes as soon as the backend is up.
for (const v of await app.listVaults()) if (v.queued) void app.ingest(await app.vault(v.id));
const stop = async () => {
  await server.close();
  await app.close();
  process.exit(0);
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
