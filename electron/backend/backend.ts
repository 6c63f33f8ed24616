// The backend in Electron: an Electron utility process running the app service (vaults, ingestion,
// the MAC engine) off the UI's main thread. It only wires AppApi to the parent port.
import { parseArgs } from "node:util";
import type { Reply, Request } from "../shared/ipc.js";
import { AppApi } from "../app/api.js";
import { MnemoApp } from "../app/app.js";
import { resolveBundleDir } from "../app/models.js";

interface ParentPort {
  on(event: "message", listener: (e: { data: Request }) => void): void;
  postMessage(message: unknown): void;
}
const port = (process as unknown as { parentPort?: ParentPort }).parentPort;
if (!port)
  throw new Error("backend.js runs inside an Electron utility process (the local server is out/server/main.js)");

// The model chosen in Settings › Model when it is built; else --bundle, the bundle shipped beside the
// packaged app; else (a development run) the setup-built default in the cache (app/models.ts).
const { values } = parseArgs({ options: { "data-dir": { type: "string" }, bundle: { type: "string" } } });
if (!values["data-dir"]) throw new Error("backend.js needs --data-dir");
const app = new MnemoApp({
  dataDir: values["data-dir"],
  bundleDir: await resolveBundleDir(undefined, values["data-dir"], process.env, values.bundle),
  onWarning: (message) => port.postMessage({ event: { type: "backend.error", data: { message } } }),
});
const api = new AppApi(app);
api.subscribe((event) => port.postMessage({ event }));
port.on("message", async ({ data }) => {
  const reply: Reply = await api.call(data.id, data.method, data.params, (event) => port.postMessage({ event }));
  port.postMessage(reply);
});
// resume interrupted ingestion
for (const v of await app.listVaults()) if (v.queued) void app.ingest(await app.vault(v.id));
