// The model list, the remembered choice and the recommendation, over bundle folders made here.
import { afterAll, describe, expect, it } from "vitest";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CATALOG, listModels, modelDir, readChoice, recommend, resolveBundleDir, writeChoice } from "./models.js";

const repo = path.resolve(import.meta.dirname, "../..");
const TINY = path.join(repo, "models/bundles/tiny-random");
const root = mkdtempSync(path.join(os.tmpdir(), "mnemo-models-"));
const bundles = path.join(root, "cache", "bundles");
const env = { MNEMO_CACHE_DIR: path.join(root, "cache") };
afterAll(() => rmSync(root, { recursive: true, force: true }));

const GB = 2 ** 30;
const laptop = { cores: 2, memoryBytes: 8 * GB, gpu: null };

describe("recommend", () => {
  it("picks the best reader that meets the speed aim on these cores, else a faster one", () => {
    expect(recommend(laptop)).toBe("gemma3-270m"); // the 0.5B's 2.8 s first token misses 1.5 s on 2 cores
    expect(recommend({ ...laptop, cores: 8 })).toBe("qwen2.5-coder-0.5b-instruct"); // 0.7 s, 74 tok/s scaled
  });
  it("trusts a probe on this machine over the recorded 2-core figures", () => {
    const fast = { firstTokenMs: 900, decodeTokS: 25, threads: 2, measuredAt: "2026-12-08" };
    expect(recommend(laptop, { "qwen2.5-coder-0.5b-instruct": fast })).toBe("qwen2.5-coder-0.5b-instruct");
    const slow = { firstTokenMs: 1600, decodeTokS: 18, threads: 2, measuredAt: "2026-12-08" };
    expect(recommend(laptop, { "gemma3-270m": slow })).toBe("smollm2-135m-instruct");
  });
  it("leaves out what the memory cannot hold, and the speed rule when a GPU answers", () => {
    expect(recommend({ cores: 16, memoryBytes: 2 * GB, gpu: null })).toBe("smollm2-135m-instruct");
    expect(recommend({ cores: 2, memoryBytes: 16 * GB, gpu: "cuda" })).toBe("qwen2.5-coder-1.5b-instruct");
  });
});

describe("listModels", () => {
  it("lists the catalog built or not, other bundles, and marks the one in use", async () => {
    mkdirSync(bundles, { recursive: true });
    cpSync(TINY, path.join(bundles, "tiny-random"), { recursive: true });
    mkdirSync(path.join(bundles, "qwen2.5-coder-0.5b-instruct-q8.partial"));
    mkdirSync(path.join(bundles, "junk")); // no manifest: not a model
    const list = await listModels(bundles, path.join(bundles, "tiny-random"), laptop);
    expect(list.map((m) => m.name)).toEqual([...CATALOG.map((m) => m.name), "tiny-random"]);
    const byName = Object.fromEntries(list.map((m) => [m.name, m]));
    expect(byName["gemma3-270m"]).toMatchObject({ state: "not built", inUse: false, recommended: true });
    expect(byName["gemma3-270m"]!.build).toBe("npm run setup -- --model gemma3-270m");
    expect(byName["qwen2.5-coder-0.5b-instruct"]!.state).toBe("incomplete");
    expect(byName["tiny-random"]).toMatchObject({ state: "ready", inUse: true, build: null });
    expect(byName["tiny-random"]!.bytes).toBeGreaterThan(3_000_000);
    expect(byName["tiny-random"]!.bundleId).toMatch(/tiny/);
  });
  it("adds a bundle given by path when it is not in the folder", async () => {
    const list = await listModels(bundles, TINY, laptop);
    expect(list.at(-1)).toMatchObject({ dir: TINY, inUse: true, state: "ready" });
    expect(list.filter((m) => m.inUse)).toHaveLength(1);
  });
});

describe("the remembered choice", () => {
  it("is read back, and a run without --bundle or MNEMO_BUNDLE uses it when it is built", async () => {
    const data = path.join(root, "data");
    expect(await readChoice(data)).toBeNull();
    expect(await resolveBundleDir(undefined, data, env)).toBe(path.join(bundles, "gemma3-270m-q8"));
    await writeChoice(data, "tiny-random");
    expect(await readChoice(data)).toBe("tiny-random");
    expect(await resolveBundleDir(undefined, data, env)).toBe(path.join(bundles, "tiny-random"));
    expect(await resolveBundleDir("/x/flag", data, env)).toBe("/x/flag");
    expect(await resolveBundleDir(undefined, data, { ...env, MNEMO_BUNDLE: "/x/env" })).toBe("/x/env");
    await writeChoice(data, "qwen2.5-coder-0.5b-instruct"); // chosen, but not built: the fallback
    expect(await resolveBundleDir(undefined, data, env, "/shipped")).toBe("/shipped");
  });
  it("ignores a damaged choice file and refuses names that are paths", async () => {
    const data = path.join(root, "data2");
    mkdirSync(data);
    writeFileSync(path.join(data, "model.json"), "{not json");
    expect(await readChoice(data)).toBeNull();
    writeFileSync(path.join(data, "model.json"), JSON.stringify({ model: "../../etc" }));
    expect(await readChoice(data)).toBeNull();
    expect(() => modelDir("../escape", bundles)).toThrow(/not a model name/);
    expect(() => modelDir("..", bundles)).toThrow(/not a model name/);
    expect(modelDir("gemma3-270m", bundles)).toBe(path.join(bundles, "gemma3-270m-q8"));
  });
});
