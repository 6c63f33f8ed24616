// Switching model end to end on two copies of the tiny random bundle (compiled output: the engine
// worker must be JavaScript): the vaults are re-amortized for the new bundle in the background with
// progress, the choice is remembered, a model not built says how to build it, one build at a time.
import { afterAll, describe, expect, it } from "vitest";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ModelSwitchProgress } from "../shared/models.js";
import type { MnemoApp as App } from "./app.js";
import type { ModelService as Service } from "./model-service.js";

const repo = path.resolve(import.meta.dirname, "../..");
const { MnemoApp } = (await import(path.join(repo, "out/app/app.js"))) as { MnemoApp: typeof App };
const { ModelService } = (await import(path.join(repo, "out/app/model-service.js"))) as {
  ModelService: typeof Service;
};
const { readChoice } = await import(path.join(repo, "out/app/models.js"));

const root = mkdtempSync(path.join(os.tmpdir(), "mnemo-switch-"));
const bundles = path.join(root, "cache", "bundles");
const env: NodeJS.ProcessEnv = { ...process.env, MNEMO_CACHE_DIR: path.join(root, "cache") };
delete env.MNEMO_BUNDLE;
mkdirSync(bundles, { recursive: true });
for (const name of ["tiny-a", "tiny-b"]) {
  cpSync(path.join(repo, "models/bundles/tiny-random"), path.join(bundles, name), { recursive: true });
  const file = path.join(bundles, name, "manifest.json");
  const m = JSON.parse(readFileSync(file, "utf8"));
  writeFileSync(file, JSON.stringify({ ...m, id: `${m.id}-${name}` })); // the same weights, two bundle ids
}
const switches: ModelSwitchProgress[] = [];
const app = new MnemoApp({ dataDir: path.join(root, "data"), bundleDir: path.join(bundles, "tiny-a") });
const service = new ModelService(app, { onSwitch: (p) => switches.push(p) }, env);
afterAll(async () => {
  await service.close();
  await app.close();
  rmSync(root, { recursive: true, force: true });
});

describe("switching model", () => {
  it("loads the new bundle, remembers it and re-amortizes every vault for it with progress", async () => {
    const v = await app.vault((await app.createVault("Notes")).id);
    const note = (i: number) => `The note number ${i} says the answer is ${i * 3}. `.repeat(30);
    for (let i = 0; i < 3; i++) await app.addNote(v, `Note ${i}`, note(i));
    const chunks = v.store.stats().chunks;
    const before = (await app.model()).manifest.id;
    expect(v.store.staleCount(before)).toBe(0);

    const chosen = await service.use("tiny-b");
    expect(chosen).toMatchObject({ name: "tiny-b", inUse: true });
    const after = (await app.model()).manifest.id;
    expect(after).toMatch(/tiny-b$/);
    await service.switching;
    expect(v.store.staleCount(after)).toBe(0);
    expect(switches.at(-1)).toMatchObject({ model: "tiny-b", finished: true });
    expect(switches.filter((s) => s.vaultId === v.id).at(-1)).toMatchObject({ done: chunks, total: chunks });
    expect(await readChoice(path.join(root, "data"))).toBe("tiny-b");
    const list = await service.list();
    expect(list.filter((m) => m.inUse).map((m) => m.name)).toEqual(["tiny-b"]);
  });

  it("refuses a model that is not built, saying how to build it, and keeps the one in use", async () => {
    await expect(service.use("qwen2.5-coder-1.5b-instruct")).rejects.toThrow(
      /not built yet.*npm run setup -- --model qwen2.5-coder-1.5b-instruct/,
    );
    expect((await app.model()).manifest.id).toMatch(/tiny-b$/);
  });

  it("keeps the old model when the new bundle is broken", async () => {
    cpSync(path.join(bundles, "tiny-a"), path.join(bundles, "tiny-bad"), { recursive: true });
    writeFileSync(path.join(bundles, "tiny-bad", "lm.onnx"), "not a graph");
    await expect(service.use("tiny-bad")).rejects.toThrow(/lm\.onnx/);
    expect((await app.model()).manifest.id).toMatch(/tiny-b$/);
  });
});

describe("building", () => {
  it("runs one build at a time and cancels it", async () => {
    const slow = new ModelService(
      app,
      {
        buildCommand: () => ({ command: process.execPath, args: ["-e", "setTimeout(() => {}, 5000)"], cwd: root }),
      },
      env,
    );
    const first = slow.startBuild("gemma3-270m");
    await expect(slow.startBuild("smollm2-135m-instruct")).rejects.toThrow(/being built/);
    expect(slow.cancelBuild("smollm2-135m-instruct")).toBe(false);
    expect(slow.cancelBuild("gemma3-270m")).toBe(true);
    expect((await first).state).toBe("cancelled");
    await expect(slow.startBuild("tiny-a")).rejects.toThrow(/does not know how to build/);
  });
});
