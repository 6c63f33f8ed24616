// The local server over a fresh data folder, as each spec file starts it: the UI under test talks to
// the real backend (engine, vaults) on the real model bundle that `npm run setup` builds into the cache
// (Gemma 3 270M), found by electron/app/paths.ts defaultBundleDir() as the app finds it. Without it the specs run on
// the tiny random-weights bundle and the tests that need real answers skip; in CI a missing bundle fails.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { defaultBundleDir } from "../electron/app/paths.js";

export const repo = path.resolve(import.meta.dirname, "..");

const realDir = defaultBundleDir();
/** The real bundle's folder, or null when it is not built (then the tests needing real answers skip). */
export const realBundle: string | null = existsSync(path.join(realDir, "manifest.json")) ? realDir : null;
if (!realBundle && process.env.CI) {
  throw new Error(
    `e2e: the model bundle is missing at ${realDir} (run \`npm run setup\` to build it, or set MNEMO_BUNDLE); ` +
      "CI runs the specs on the real model, not the tiny random one",
  );
}
export const NEEDS_REAL_MODEL =
  "needs the real model bundle (npm run setup builds it); the tiny random one answers nonsense";
const bundle = realBundle ?? path.join(repo, "models/bundles/tiny-random");

/**
 * `bundle: null` starts the server without --bundle, so it finds its model as the app does (the
 * choice in the data folder, else the default in the cache `env` names).
 */
export async function startServer(
  o: { bundle?: string | null; env?: NodeJS.ProcessEnv } = {},
): Promise<{ url: string; stop(): void }> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "mnemo-e2e-"));
  const chosen = o.bundle === undefined ? bundle : o.bundle;
  const server = spawn(
    process.execPath,
    [path.join(repo, "out/server/main.js"), "--data-dir", dataDir, ...(chosen ? ["--bundle", chosen] : [])],
    { stdio: ["ignore", "pipe", "inherit"], env: o.env ?? process.env },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    server.stdout!.on("data", (d: Buffer) => {
      out += d;
      const m = /running at (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    server.once("exit", (code) => reject(new Error(`the server exited (${code}) before printing its URL`)));
  });
  return {
    url,
    stop: () => {
      server.kill("SIGTERM");
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
