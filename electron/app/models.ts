// The models a user can choose: the readers setup knows how to build (models/mnemo_models/bundle/
// recipes.py), any other compatible bundle found in the cache's bundles/ folder, which one is in use
// (kept in the data folder, so the CLI, the local server and the desktop app agree), and which one
// this machine should run. A model is a bundle folder; choosing one never mixes two bundles' memory.
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { ModelChoice, ModelSpeed } from "../shared/models.js";
import { AppError } from "../shared/errors.js";
import { readManifest } from "../engine/bundle.js";
import { cacheDir, DEFAULT_BUNDLE_NAME } from "./paths.js";

/** A reader setup can build. `quality` orders them (best reader first), from docs/eval.md's tables. */
export interface CatalogModel {
  name: string;
  label: string;
  /** The bundle folder setup builds (recipes.default_out: NAME-PRECISION). */
  folder: string;
  licence: string;
  /** Download and bundle size, roughly, for a user deciding before building. */
  approxBytes: number;
  /** Resident memory while answering, measured (docs/bench) or estimated from the weights. */
  approxRssBytes: number;
  quality: number;
  about: string;
}

const MB = 2 ** 20;
export const CATALOG: readonly CatalogModel[] = [
  {
    name: "qwen2.5-coder-1.5b-instruct",
    label: "Qwen2.5 Coder 1.5B Instruct",
    folder: "qwen2.5-coder-1.5b-instruct-q4",
    licence: "Apache-2.0 (model card; the package states none)",
    approxBytes: 1300 * MB,
    approxRssBytes: 2000 * MB,
    quality: 4,
    about: "The strongest reader here. Needs a fast CPU or a GPU: slow to start answering on 2 cores.",
  },
  {
    name: "qwen2.5-coder-0.5b-instruct",
    label: "Qwen2.5 Coder 0.5B Instruct",
    folder: "qwen2.5-coder-0.5b-instruct-q8",
    licence: "Apache-2.0 (model card; the package states none)",
    approxBytes: 900 * MB,
    approxRssBytes: 1500 * MB,
    quality: 3,
    about: "Finds the right answer far more often than Gemma 270M; about three times slower to start.",
  },
  {
    name: "gemma3-270m",
    label: "Gemma 3 270M",
    folder: DEFAULT_BUNDLE_NAME,
    licence: "Gemma Terms of Use",
    approxBytes: 700 * MB,
    approxRssBytes: 900 * MB,
    quality: 2,
    about: "Fast on any machine, with trained memory. Often answers with a nearby but wrong phrase.",
  },
  {
    name: "smollm2-135m-instruct",
    label: "SmolLM2 135M Instruct",
    folder: "smollm2-135m-instruct-q4",
    licence: "Apache-2.0",
    approxBytes: 200 * MB,
    approxRssBytes: 400 * MB,
    quality: 1,
    about: "The smallest. Rarely finds the answer; for very old machines only.",
  },
];

/** What the recommendation looks at: this machine's cores, memory and a GPU provider, if any. */
export interface Hardware {
  cores: number;
  memoryBytes: number;
  gpu: "cuda" | "dml" | null;
}

export function thisMachine(provider: "cpu" | "cuda" | "dml" = "cpu"): Hardware {
  return { cores: os.availableParallelism(), memoryBytes: os.totalmem(), gpu: provider === "cpu" ? null : provider };
}

/** The speed a model must reach here to be recommended: the default's rule in docs/eval.md. */
export const SPEED_AIM = { firstTokenMs: 1500, decodeTokS: 20 };

/**
 * `npm run bench` on 2 cores, the three-passage keyword prompt (docs/bench/README.md; Gemma and SmolLM2
 * on the earlier AVX-512 machine, Qwen 0.5B on this AVX2 one). A model without a probe of its own on
 * this machine is judged by these, scaled by core count (prefill and decoding scale near-linearly to
 * 8 threads); the 1.5B has no measurement yet: 3x the 0.5B's cost, its weights' ratio.
 */
const TWO_CORE_SPEED: Record<string, ModelSpeed> = {
  "gemma3-270m": { firstTokenMs: 322, decodeTokS: 45.6, threads: 2, measuredAt: "docs/bench" },
  "qwen2.5-coder-0.5b-instruct": { firstTokenMs: 2800, decodeTokS: 18.4, threads: 2, measuredAt: "docs/bench" },
  "qwen2.5-coder-1.5b-instruct": { firstTokenMs: 8400, decodeTokS: 6.1, threads: 2, measuredAt: "estimate" },
  "smollm2-135m-instruct": { firstTokenMs: 329, decodeTokS: 32.5, threads: 2, measuredAt: "docs/bench" },
};

export function expectedSpeed(name: string, hw: Hardware, probe?: ModelSpeed): ModelSpeed | null {
  if (probe) return probe;
  const base = TWO_CORE_SPEED[name];
  if (!base) return null;
  const scale = Math.min(hw.cores, 8) / 2;
  return {
    ...base,
    firstTokenMs: base.firstTokenMs / scale,
    decodeTokS: base.decodeTokS * scale,
    measuredAt: "estimate",
  };
}

/**
 * The best reader this machine runs fast enough: enough memory (its resident size within 40% of RAM)
 * and, on CPU, the speed aim met by its probe here or by the 2-core measurement scaled to these cores.
 * With a GPU provider the speed rule is left out (the 2-core figures say nothing about it).
 */
export function recommend(hw: Hardware, probes: Record<string, ModelSpeed> = {}): string {
  const fits = [...CATALOG]
    .sort((a, b) => b.quality - a.quality)
    .filter((m) => m.approxRssBytes <= 0.4 * hw.memoryBytes)
    .filter((m) => {
      if (hw.gpu) return true;
      const s = expectedSpeed(m.name, hw, probes[m.name]);
      return s !== null && s.firstTokenMs <= SPEED_AIM.firstTokenMs && s.decodeTokS >= SPEED_AIM.decodeTokS;
    });
  return fits[0]?.name ?? CATALOG[CATALOG.length - 1]!.name;
}

export function bundlesDir(env = process.env): string {
  return path.join(cacheDir(env), "bundles");
}

/** Sum of a folder's file sizes (a bundle is flat: manifest, graphs, external data, licences). */
function folderBytes(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce(
    (n, e) => n + (e.isFile() ? statSync(path.join(dir, e.name)).size : 0),
    0,
  );
}

async function describe(dir: string): Promise<{ id: string; name: string; bytes: number } | null> {
  if (!existsSync(path.join(dir, "manifest.json"))) return null;
  try {
    const m = await readManifest(dir);
    return { id: m.id, name: m.name, bytes: folderBytes(dir) };
  } catch {
    return null; // a broken manifest is listed as not ready by the caller, never loaded
  }
}

/**
 * Every model: the catalog's (built or not) and the other bundles in `root`, the one in use marked.
 * probeOf: a built bundle's speed measured on this machine (a cached probe), if any.
 */
export async function listModels(
  root: string,
  activeDir: string,
  hw: Hardware,
  probeOf: (dir: string) => Promise<ModelSpeed | null> = async () => null,
): Promise<ModelChoice[]> {
  const probes: Record<string, ModelSpeed> = {};
  const active = path.resolve(activeDir);
  const known = new Set(CATALOG.map((m) => m.folder));
  const out: ModelChoice[] = [];
  for (const m of CATALOG) {
    const dir = path.join(root, m.folder);
    const built = await describe(dir);
    const probe = built ? await probeOf(dir) : null;
    if (probe) probes[m.name] = probe;
    const speed = expectedSpeed(m.name, hw, probe ?? undefined);
    out.push({
      name: m.name,
      label: m.label,
      dir,
      state: built ? "ready" : existsSync(`${dir}.partial`) ? "incomplete" : "not built",
      bundleId: built?.id ?? null,
      bytes: built?.bytes ?? m.approxBytes,
      licence: m.licence,
      about: m.about,
      inUse: path.resolve(dir) === active,
      recommended: false, // set below, once every probe is known
      speed,
      build: `npm run setup -- --model ${m.name}`,
    });
  }
  const others = existsSync(root) ? readdirSync(root, { withFileTypes: true }) : [];
  for (const e of others.filter((e) => (e.isDirectory() || e.isSymbolicLink()) && !known.has(e.name))) {
    const dir = path.join(root, e.name);
    const built = e.name.endsWith(".partial") ? null : await describe(dir);
    if (!built) continue;
    out.push({
      name: e.name,
      label: built.name || e.name,
      dir,
      state: "ready",
      bundleId: built.id,
      bytes: built.bytes,
      licence: "see the bundle's manifest",
      about: "A bundle built outside setup's list (for example on a bigger machine).",
      inUse: path.resolve(dir) === active,
      recommended: false,
      speed: await probeOf(dir),
      build: null,
    });
  }
  if (!out.some((m) => m.inUse)) {
    const b = await describe(active);
    out.push({
      name: path.basename(active),
      label: b?.name || path.basename(active),
      dir: active,
      state: b ? "ready" : "not built",
      bundleId: b?.id ?? null,
      bytes: b?.bytes ?? 0,
      licence: "see the bundle's manifest",
      about: "The bundle given with --bundle or MNEMO_BUNDLE.",
      inUse: true,
      recommended: false,
      speed: b ? await probeOf(active) : null,
      build: null,
    });
  }
  const recommended = recommend(hw, probes);
  for (const m of out) m.recommended = CATALOG.some((c) => c.name === m.name) && m.name === recommended;
  return out;
}

/** The model choice file in the data folder: {"model": NAME}, written atomically. */
const choiceFile = (dataDir: string) => path.join(dataDir, "model.json");

export async function readChoice(dataDir: string): Promise<string | null> {
  try {
    const v = JSON.parse(await readFile(choiceFile(dataDir), "utf8")) as { model?: unknown };
    return typeof v.model === "string" && /^[\w.-]+$/.test(v.model) ? v.model : null;
  } catch {
    return null;
  }
}

export async function writeChoice(dataDir: string, name: string): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  const tmp = `${choiceFile(dataDir)}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify({ model: name }) + "\n");
  await rename(tmp, choiceFile(dataDir));
}

/** A model's folder by name: a catalog model's bundle folder, or a bundle folder's own name. */
export function modelDir(name: string, root: string): string {
  if (!/^[\w.-]+$/.test(name) || name.startsWith("."))
    throw new AppError("INVALID_ARGUMENT", `"${name}" is not a model name (mnemo models list shows them)`);
  return path.join(root, CATALOG.find((m) => m.name === name)?.folder ?? name);
}

/**
 * The bundle a run uses: --bundle, else MNEMO_BUNDLE, else the model chosen in this data folder (when
 * its bundle is built), else `fallback` (the bundle shipped with the desktop app), else setup's default.
 */
export async function resolveBundleDir(
  flag: string | undefined,
  dataDir: string,
  env = process.env,
  fallback?: string,
): Promise<string> {
  if (flag) return path.resolve(flag);
  if (env.MNEMO_BUNDLE) return path.resolve(env.MNEMO_BUNDLE);
  const root = bundlesDir(env);
  const chosen = await readChoice(dataDir);
  if (chosen) {
    const dir = modelDir(chosen, root);
    if (existsSync(path.join(dir, "manifest.json"))) return dir;
  }
  return fallback ? path.resolve(fallback) : path.join(root, DEFAULT_BUNDLE_NAME);
}
