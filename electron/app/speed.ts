// How fast a bundle answers on this machine: the app's keyword prompt over three passages, its first
// token (prompt encoding and prefill included) and its decoding rate, greedy with no stop ids, median
// of the repetitions after a warm-up. `npm run bench` runs it at length; Settings › Model runs a short
// probe in a child process (probeSpeed) so the model in use keeps answering meanwhile, and caches it.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { ModelSpeed } from "../shared/models.js";
import { AppError } from "../shared/errors.js";
import { argmax } from "../core/sampler.js";
import { generate } from "../core/generate.js";
import { renderPrompt } from "../core/prompt.js";
import type { Session } from "../core/session.js";
import { loadBundle, readManifest } from "../engine/bundle.js";

export interface LmSpeed {
  bundle: string;
  weights: string;
  prompt_tokens: number;
  prefill_tok_s: number;
  first_token_ms: number;
  decode_tok_s: number;
  rss_mb_loaded: number;
  rss_mb_after: number;
  load_ms: number;
}

export interface SpeedPrompt {
  question: string;
  passages: string[];
}

/** The probe's prompt: three short passages of the kind a vault holds, and a question on one of them. */
export const PROBE_PROMPT: SpeedPrompt = {
  question: "When was the Eiffel Tower completed?",
  passages: [
    "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris. It is named after " +
      "the engineer Gustave Eiffel, whose company designed and built it. Construction began in 1887 and " +
      "the tower was completed in 1889 as the entrance arch to the World's Fair. It is 330 metres tall.",
    "Marie Curie was a physicist and chemist who conducted pioneering research on radioactivity. Born in " +
      "Warsaw in 1867, she moved to Paris, where she studied and later worked. She was the first woman to " +
      "win a Nobel Prize and the only person to win Nobel Prizes in two scientific fields.",
    "The Amazon rainforest covers much of the Amazon basin of South America, some seven million square " +
      "kilometres, of which five and a half million are covered by the forest itself. The majority lies " +
      "within Brazil, with the rest in Peru, Colombia and seven other countries.",
  ],
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** One bundle, in this process. `grow`: let a graph that returns new_key_values grow its cache in place. */
export async function measureSpeed(
  dir: string,
  threads: number,
  o: { prompt?: SpeedPrompt; reps?: number; decodeTokens?: number; promptFile?: string; grow?: boolean } = {},
): Promise<LmSpeed> {
  const { question, passages } = o.prompt ?? PROBE_PROMPT;
  const reps = o.reps ?? 3,
    decodeTokens = o.decodeTokens ?? 64;
  const t0 = performance.now();
  const p = await loadBundle(dir, { executionProvider: "cpu", threads });
  const loadMs = performance.now() - t0,
    rssLoaded = process.memoryUsage().rss / 2 ** 20;
  const text = renderPrompt(p.manifest, question, { kind: "keyword", passages });
  if (o.promptFile) await writeFile(o.promptFile, text);
  const lm = (p as unknown as { sessions: { lm: Session } }).sessions.lm;
  const V = p.manifest.architecture.lm.vocab_size;
  const prefill: number[] = [],
    first: number[] = [],
    decode: number[] = [];
  const opts = {
    maxNewTokens: decodeTokens + 1,
    stopIds: new Set<number>(),
    sample: argmax,
    ...((o.grow ?? true) ? p.decodeCache : {}),
  };
  for (let rep = 0; rep <= reps; rep++) {
    // repetition 0 warms up and is dropped
    const a = performance.now();
    const promptIds = (await p.encodeQuestion(question, { kind: "keyword", passages }, false, false)).promptIds;
    const b = performance.now();
    let c = 0,
      n = 0;
    for await (const token of generate(lm, promptIds, p.emptyPast(), 0, V, opts)) {
      void token;
      if (n++ === 0) c = performance.now();
    }
    const d = performance.now();
    if (rep === 0) continue;
    prefill.push(promptIds.length / ((c - b) / 1000));
    first.push(c - a);
    decode.push(decodeTokens / ((d - c) / 1000));
  }
  return {
    bundle: p.manifest.id,
    weights: p.manifest.weights ?? "",
    prompt_tokens: p.tokenizer.encode(text).length,
    prefill_tok_s: median(prefill),
    first_token_ms: median(first),
    decode_tok_s: median(decode),
    rss_mb_loaded: rssLoaded,
    rss_mb_after: process.memoryUsage().rss / 2 ** 20,
    load_ms: loadMs,
  };
}

/** Cached probes live in the cache folder, one file per bundle id and thread count. */
const probeFile = (cache: string, bundleId: string, threads: number) =>
  path.join(cache, "probes", `${bundleId.replace(/[^\w.-]/g, "_")}-t${threads}.json`);

export async function cachedProbe(cache: string, dir: string, threads: number): Promise<ModelSpeed | null> {
  if (!existsSync(path.join(dir, "manifest.json"))) return null;
  const file = probeFile(cache, (await readManifest(dir)).id, threads);
  try {
    return JSON.parse(await readFile(file, "utf8")) as ModelSpeed;
  } catch {
    return null;
  }
}

/**
 * A short probe (one warm-up, two timed answers of 16 tokens) in a child process, cached by bundle id
 * and threads. The child is this same runtime (Node, or Electron run as Node), so it needs nothing else.
 */
export async function probeSpeed(cache: string, dir: string, threads: number): Promise<ModelSpeed> {
  const manifest = await readManifest(dir);
  const script = path.join(import.meta.dirname, "speed.js");
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [script, dir, String(threads)], {
      env: { ...process.env, ELECTRON_RUN_AS_NODE: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "",
      stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0
        ? resolve(stdout)
        : reject(new AppError("PROBE_FAILED", `the speed probe failed: ${stderr.trim().split("\n").pop() ?? code}`)),
    );
  });
  const s = JSON.parse(out.trim().split("\n").pop()!) as LmSpeed;
  const speed: ModelSpeed = {
    firstTokenMs: Math.round(s.first_token_ms),
    decodeTokS: Math.round(s.decode_tok_s * 10) / 10,
    threads,
    measuredAt: new Date().toISOString().slice(0, 10),
  };
  const file = probeFile(cache, manifest.id, threads);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(speed) + "\n");
  return speed;
}

// The probe's child: `node out/app/speed.js DIR THREADS` prints one LmSpeed as JSON.
if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [dir, threads] = process.argv.slice(2);
  console.log(JSON.stringify(await measureSpeed(dir!, Number(threads ?? 0), { reps: 2, decodeTokens: 16 })));
}
