// npm run bench:retrieval [-- --sizes 10000,100000 --queries N --out DIR --threads N]: dense search
// speed. (1) The vector index alone (the code the engine worker runs): exact top-50 search over N
// int8 vectors of 384 values, median and p95 over --queries random queries. (2) Through the engine
// worker, as a question meets it: the question embedded by the real encoder, then the search, each
// timed inside the worker, over the same synthetic vectors. (3) Encoder throughput on SQuAD
// paragraphs (chunks embedded per second, what ingest adds per chunk). Needs the setup-built bundle's encoder.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { gunzipSync } from "node:zlib";
import { seededRandom } from "../core/sampler.js";
import { EngineClient } from "../engine/engine-client.js";
import { VectorIndex } from "../engine/vector-index.js";
import { encoderSource, makeEncoderBundle } from "./encoder-bundle.js";
import { record } from "./record.js";

const repo = path.resolve(import.meta.dirname, "../..");
const DIM = 384,
  K = 50;
const QUESTIONS = [
  "When was the Eiffel Tower completed?",
  "Who discovered polonium?",
  "Which river flows through the rainforest?",
  "How tall is the tower?",
  "What did the cardiologist recommend?",
];

const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** n synthetic int8 vectors: random directions, a scale each (as pack() would give a unit vector). */
function synthetic(n: number, seed: number): { data: Int8Array; scales: Float32Array; keys: string[] } {
  const r = seededRandom(seed);
  const data = Int8Array.from({ length: n * DIM }, () => Math.round((r() * 2 - 1) * 127));
  return {
    data,
    scales: new Float32Array(n).fill(1 / (127 * Math.sqrt(DIM / 3))),
    keys: Array.from({ length: n }, (_, i) => String(i + 1)),
  };
}

function paragraphs(n: number): string[] {
  const squad = path.join(repo, "../shared/data/squad/valid-v1.1.json.gz");
  if (!existsSync(squad)) return Array.from({ length: n }, (_, i) => `${QUESTIONS[i % QUESTIONS.length]} `.repeat(12));
  const data = JSON.parse(gunzipSync(readFileSync(squad)).toString("utf8")) as {
    data: { paragraphs: { context: string }[] }[];
  };
  return data.data.flatMap((a) => a.paragraphs.map((p) => p.context)).slice(0, n);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: "string", default: "10000,100000" },
      queries: { type: "string", default: "200" },
      out: { type: "string", default: path.join(repo, "docs/bench") },
      threads: { type: "string", default: "2" },
    },
  });
  const sizes = values.sizes.split(",").map(Number),
    queries = Number(values.queries),
    threads = Number(values.threads);
  const source = encoderSource();
  if (!source) throw new Error("bench:retrieval needs the setup-built bundle's sentence encoder (npm run setup)");
  const r = seededRandom(7);
  const rows: Record<string, number>[] = [];
  for (const n of sizes) {
    const { data, scales, keys } = synthetic(n, n);
    const index = new VectorIndex(DIM, n);
    index.put(keys, data, scales);
    const times: number[] = [];
    for (let i = 0; i < queries + 5; i++) {
      const q = Float32Array.from({ length: DIM }, () => r() - 0.5);
      const t0 = performance.now();
      index.search(q, K);
      if (i >= 5) times.push(performance.now() - t0); // the first few warm the JIT up
    }
    rows.push({
      chunks: n,
      index_mb: round((n * (DIM + 4)) / 2 ** 20, 1),
      search_ms_p50: round(quantile(times, 0.5)),
      search_ms_p95: round(quantile(times, 0.95)),
    });
  }

  const work = mkdtempSync(path.join(os.tmpdir(), "mnemo-bench-retrieval-"));
  const engine = new EngineClient();
  try {
    await engine.load(makeEncoderBundle(path.join(work, "bundle"), source), { executionProvider: "cpu", threads });
    const texts = paragraphs(256);
    await engine.embed(texts.slice(0, 16)); // loads the encoder
    const t0 = performance.now();
    await engine.embed(texts);
    const chunksPerS = texts.length / ((performance.now() - t0) / 1000);
    const worker: Record<string, number>[] = [];
    for (const n of sizes) {
      const { data, scales, keys } = synthetic(n, n);
      await engine.vectorsDrop("bench");
      for (let s = 0; s < n; s += 8192) {
        const m = Math.min(8192, n - s);
        await engine.vectorsPut(
          "bench",
          DIM,
          keys.slice(s, s + m),
          data.slice(s * DIM, (s + m) * DIM),
          scales.slice(s, s + m),
        );
      }
      const embed: number[] = [],
        search: number[] = [],
        total: number[] = [];
      for (let i = 0; i < Math.min(queries, 50) + 3; i++) {
        const t = performance.now();
        const res = await engine.vectorSearch(QUESTIONS[i % QUESTIONS.length]!, ["bench"], K);
        if (i < 3) continue;
        embed.push(res.embedMs);
        search.push(res.searchMs);
        total.push(performance.now() - t);
      }
      worker.push({
        chunks: n,
        embed_question_ms_p50: round(quantile(embed, 0.5)),
        search_ms_p50: round(quantile(search, 0.5)),
        search_ms_p95: round(quantile(search, 0.95)),
        round_trip_ms_p50: round(quantile(total, 0.5)),
      });
    }
    const body = [
      "Exact top-50 search over int8 vectors (384 values), the vector index alone:",
      "",
      "| chunks | index MB | search ms p50 | p95 |",
      "|---:|---:|---:|---:|",
      ...rows.map((x) => `| ${x.chunks} | ${x.index_mb} | ${x.search_ms_p50} | ${x.search_ms_p95} |`),
      "",
      "Through the engine worker (the question embedded by the real encoder, then the search; timed inside the worker):",
      "",
      "| chunks | embed question ms | search ms p50 | p95 | round trip ms |",
      "|---:|---:|---:|---:|---:|",
      ...worker.map(
        (x) =>
          `| ${x.chunks} | ${x.embed_question_ms_p50} | ${x.search_ms_p50} | ${x.search_ms_p95} | ${x.round_trip_ms_p50} |`,
      ),
      "",
      `Encoder throughput: ${chunksPerS.toFixed(1)} SQuAD paragraphs/s (${texts.length}, batches of 16, ${threads} threads).`,
    ];
    record({
      out: values.out,
      name: "retrieval",
      title: "Retrieval speed",
      script: "bench:retrieval",
      bundle: source,
      data: { index: rows, worker, encoder_chunks_per_s: round(chunksPerS, 1), threads },
      body,
    });
  } finally {
    await engine.close();
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
