// The local server over a fresh data folder, as each spec file starts it: the UI under test talks to
// the real backend (engine, vaults) on the tiny random-weights bundle.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export const repo = path.resolve(import.meta.dirname, "..");

export async function startServer(): Promise<{ url: string; stop(): void }> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "mnemo-e2e-"));
  const server = spawn(process.execPath, [path.join(repo, "out/server/main.js"), "--data-dir", dataDir, "--bundle", path.join(repo, "models/bundles/tiny-random")],
    { stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    server.stdout!.on("data", (d: Buffer) => { out += d; const m = /running at (\S+)/.exec(out); if (m) resolve(m[1]!); });
    server.once("exit", (code) => reject(new Error(`the server exited (${code}) before printing its URL`)));
  });
  return { url, stop: () => { server.kill("SIGTERM"); rmSync(dataDir, { recursive: true, force: true }); } };
}
