// npm run bench:engine [-- --bundle DIR --max-bank N --out DIR --threads N --reps N --max-passages
// K]: engine speed in one run: windows amortized per second, question latency (first token, total)
// for banks of 1k..100k entries (synthetic modulations) with one-shot, hierarchical and pre-selected
// aggregation, decode tokens/s, the MAC prefix against passages in the prompt, and this machine's
// physical floor for each figure.
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { gunzipSync } from "node:zlib";
import path from "node:path";
import { chunkPages } from "../vault/chunker.js";
import { argmax, seededRandom } from "../core/sampler.js";
import { oneEntryIsDirect, selectCandidates } from "../core/preselect.js";
import type { MacPipeline } from "../core/pipeline.js";
import type { Tensor } from "../core/session.js";
import { AppError } from "../shared/errors.js";
import { DEFAULT_MEMORY_CANDIDATES } from "../shared/api.js";
import { loadBundle } from "../engine/bundle.js";
import { DEFAULT_BUNDLE } from "../app/paths.js";
import { measureFloor, type Floor } from "./floor.js";
import { record } from "./record.js";

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const time = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
  const t = performance.now();
  const r = await fn();
  return [r, performance.now() - t];
};
const QUESTION = "When was the Eiffel Tower completed?";
const PASSAGE =
  "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named after the engineer " +
  "Gustave Eiffel, whose company designed and built the tower. It was completed in 1889 as the entrance arch to the World's Fair. ";

export interface EngineBench {
  bundle: string;
  windows_amortized_per_s: number;
  window_tokens: number;
  banks: Record<string, number | null>[];
  prompt_vs_prefix: Record<string, number>[];
  /** Keyword mode over the app's own chunks of real prose (absent without the SQuAD data). */
  prompt_vs_prefix_real?: Record<string, number>[];
  decode_tokens_per_s: number;
  floor: Floor;
}

const SQUAD_VALID = path.resolve(import.meta.dirname, "../../../shared/data/squad/valid-v1.1.json.gz");

/**
 * Passages as the app's retrieval hands them to keyword mode: the first SQuAD valid article's
 * paragraphs cut by the app's own chunker at the bundle's chunk size (manifest retrieval.chunk_tokens),
 * the longest first. The synthetic PASSAGE (~55 tokens) is a quarter of a typical chunk.
 */
function realChunks(mac: MacPipeline, file = SQUAD_VALID): string[] | null {
  if (!existsSync(file)) return null;
  const data = JSON.parse(gunzipSync(readFileSync(file)).toString("utf8")) as {
    data: { paragraphs: { context: string }[] }[];
  };
  const count = (t: string) => mac.tokenizer.encode(t).length;
  const { chunk_tokens, overlap_tokens } = mac.manifest.retrieval;
  return data.data[0]!.paragraphs.flatMap((p) =>
    chunkPages([p.context], count, { maxTokens: chunk_tokens, overlapTokens: overlap_tokens }),
  )
    .sort((a, b) => b.tokenCount - a.tokenCount)
    .map((c) => c.text);
}

/**
 * First-token and total latency (median of reps) of a question whose past comes from makePast.
 * slots: false skips the question's query, as the engine does for a lone entry under one_entry_direct.
 */
async function latency(
  mac: MacPipeline,
  makePast: (query: Tensor | null) => Promise<Tensor>,
  passages?: string[],
  slots = true,
  reps = 3,
) {
  const first: number[] = [],
    total: number[] = [],
    rates: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const t0 = performance.now();
    const { promptIds, query } = await mac.encodeQuestion(
      QUESTION,
      passages && { kind: "keyword", passages },
      false,
      !passages,
      slots,
    );
    const past = await makePast(query);
    let n = 0,
      tFirst = 0;
    for await (const _token of mac.decode(promptIds, past, { sample: argmax, maxNewTokens: 16 }))
      if (n++ === 0) tFirst = performance.now();
    const end = performance.now();
    first.push((tFirst || end) - t0);
    total.push(end - t0);
    if (n > 1) rates.push(((n - 1) / (end - tFirst)) * 1000);
  }
  return { first: median(first), total: median(total), rate: rates.length ? median(rates) : 0 };
}

/**
 * reps: repetitions per latency (median; single questions on a shared
 * machine swing ~2x). maxPassages: the keyword table's last row.
 */
export async function benchEngine(o: {
  bundle: string;
  maxBank: number;
  threads: number;
  candidates?: number;
  reps?: number;
  maxPassages?: number;
}): Promise<EngineBench> {
  const reps = o.reps ?? 3;
  const mac = await loadBundle(o.bundle, { executionProvider: "cpu", threads: o.threads });
  if (!mac.manifest.mac)
    throw new AppError("MEMORY_UNAVAILABLE", `${mac.manifest.name} has no memory heads to benchmark`);
  const max = mac.manifest.mac.max_doc_tokens,
    candidates = o.candidates ?? DEFAULT_MEMORY_CANDIDATES;
  // Full windows: the amortizer's cost at its input size (the ingest benchmark measures real documents).
  const window = mac.chunkIds(PASSAGE.repeat(Math.ceil((2 * max) / 40)))[0]!;
  await mac.amortize([window, window]);
  const [, amortizeMs] = await time(async () => {
    for (let i = 0; i < 4; i++) await mac.amortize(Array(8).fill(window));
  });
  const random = seededRandom(0);
  const sample = (await mac.amortize([mac.chunkIds(PASSAGE)[0]!]))[0]!;
  const banks: Record<string, number | null>[] = [];
  let decodeRate = 0;
  for (const n of [1000, 10000, 100000].filter((n) => n <= o.maxBank)) {
    const bank = Array.from({ length: n }, () => sample.map((v) => v + 0.5 * (random() - 0.5)));
    const kvBytes = n * mac.T * mac.D * 4 * mac.manifest.mac.aggregator_layers * 2;
    // As the engine does: reader bundles compute memory_kv per question instead of caching it.
    const [kv, kvMs] =
      mac.cachesEntryKV && kvBytes < 1.5e9
        ? await time(async () => {
            const out: Float32Array[] = [];
            for (let i = 0; i < n; i += 256) out.push(...(await mac.entryKV(bank.slice(i, i + 256))));
            return out;
          })
        : [undefined, null];
    const prefixOf = (group?: number, subset?: () => Promise<number[]>) => async (query: Tensor | null) => {
      const keep = subset ? await subset() : null;
      const entries = keep ? keep.map((i) => bank[i]!) : bank,
        cache = kv && (keep ? keep.map((i) => kv[i]!) : kv);
      // A lone entry under one_entry_direct is its own latent (engine-worker.ts): no query was made.
      if (!query && entries.length === 1) return mac.prefix(entries[0]!);
      return mac.prefix((await mac.aggregate(query!, entries, group, cache)).latent);
    };
    const hier = await latency(mac, prefixOf(), undefined, true, reps);
    const oneShot = n <= 10000 ? await latency(mac, prefixOf(n + 1), undefined, true, reps) : null;
    const direct = oneEntryIsDirect(candidates, mac.oneEntryDirect);
    const pre = await latency(
      mac,
      prefixOf(undefined, async () =>
        selectCandidates((await mac.amortize([mac.chunkIds(QUESTION)[0]!]))[0]!, bank, candidates),
      ),
      undefined,
      !direct,
      reps,
    );
    // The app's default: the retrieval's best chunks as the candidates (its search time, 2.8 ms at 10k
    // and 28 ms at 100k chunks, is measured by npm run bench:retrieval and not included here).
    const byKeys = await latency(
      mac,
      prefixOf(undefined, async () => Array.from({ length: candidates }, (_, i) => Math.floor((i * n) / candidates))),
      undefined,
      !direct,
      reps,
    );
    decodeRate ||= hier.rate; // from the smallest bank: a large one crowds memory
    banks.push({
      entries: n,
      kv_cache_ms: kvMs,
      one_shot_first_ms: oneShot?.first ?? null,
      one_shot_total_ms: oneShot?.total ?? null,
      hierarchical_first_ms: hier.first,
      hierarchical_total_ms: hier.total,
      [`preselect_${candidates}_first_ms`]: pre.first,
      [`preselect_${candidates}_total_ms`]: pre.total,
      [`retrieval_${candidates}_first_ms`]: byKeys.first,
      [`retrieval_${candidates}_total_ms`]: byKeys.total,
    });
    console.error(JSON.stringify(banks[banks.length - 1]));
  }
  // Passages in the prompt grow the prompt the LM must read before its first token; the prefix is P slots.
  const small = Array.from({ length: 16 }, () => sample);
  const prefixed = await latency(
    mac,
    async (q) => mac.prefix((await mac.aggregate(q!, small)).latent),
    undefined,
    true,
    reps,
  );
  const budget = mac.manifest.architecture.lm.n_positions - 64;
  const promptVsPrefix: Record<string, number>[] = [
    {
      passages: 0,
      prompt_tokens: (await mac.encodeQuestion(QUESTION)).promptIds.length,
      memory: 1,
      first_token_ms: prefixed.first,
      total_ms: prefixed.total,
    },
  ];
  for (let k = 1; k <= (o.maxPassages ?? Infinity); k++) {
    const context = Array<string>(k).fill(PASSAGE);
    const tokens = (await mac.encodeQuestion(QUESTION, { kind: "keyword", passages: context }, false, false)).promptIds
      .length;
    if (tokens > budget) break;
    const r = await latency(mac, async () => mac.emptyPast(), context, true, reps);
    promptVsPrefix.push({ passages: k, prompt_tokens: tokens, memory: 0, first_token_ms: r.first, total_ms: r.total });
  }
  // The same with the app's real chunks: the ratio the aim is about depends on passage length.
  const chunks = realChunks(mac),
    real: Record<string, number>[] = [];
  for (let k = 1; chunks && k <= Math.min(chunks.length, o.maxPassages ?? 3); k++) {
    const context = chunks.slice(0, k);
    const tokens = (await mac.encodeQuestion(QUESTION, { kind: "keyword", passages: context }, false, false)).promptIds
      .length;
    if (tokens > budget) break;
    const r = await latency(mac, async () => mac.emptyPast(), context, true, reps);
    real.push({ passages: k, prompt_tokens: tokens, first_token_ms: r.first, total_ms: r.total });
  }
  return {
    bundle: mac.manifest.id,
    windows_amortized_per_s: (32 / amortizeMs) * 1000,
    window_tokens: window.length,
    banks,
    prompt_vs_prefix: promptVsPrefix,
    ...(real.length ? { prompt_vs_prefix_real: real } : {}),
    decode_tokens_per_s: decodeRate,
    floor: await measureFloor(mac, o.bundle, window.length, o.threads),
  };
}

const cell = (v: unknown) =>
  typeof v === "number"
    ? Number.isInteger(v)
      ? String(v)
      : v.toFixed(1)
    : v === null || v === undefined
      ? "–"
      : String(v);
export const table = (rows: Record<string, unknown>[]) =>
  !rows.length
    ? []
    : [
        `| ${Object.keys(rows[0]!).join(" | ")} |`,
        `|${Object.keys(rows[0]!)
          .map(() => "---:")
          .join("|")}|`,
        ...rows.map((r) => `| ${Object.values(r).map(cell).join(" | ")} |`),
      ];

export function engineMarkdown(r: EngineBench): string[] {
  const f = r.floor;
  const pct = (measured: number, floor: number | null) =>
    floor ? `${((100 * measured) / floor).toFixed(0)}% of it` : "–";
  return [
    `Windows of ${r.window_tokens} tokens amortized: ${r.windows_amortized_per_s.toFixed(1)}/s. Decoding: ${r.decode_tokens_per_s.toFixed(0)} tokens/s.`,
    "",
    "Question latency in ms (synthetic banks; first token includes question encoding, aggregation and the prefix):",
    "",
    ...table(r.banks),
    "",
    "The MAC prefix against passages in the prompt (no memory), same question:",
    "",
    ...table(r.prompt_vs_prefix),
    "",
    ...(r.prompt_vs_prefix_real
      ? [
          "Keyword mode over the app's own chunks of SQuAD valid prose (the longest of its first article), same question:",
          "",
          ...table(r.prompt_vs_prefix_real),
          "",
        ]
      : []),
    "Physical floor on this machine:",
    "",
    "| figure | measured | floor | how far |",
    "|---|---:|---:|---|",
    `| decode tokens/s | ${r.decode_tokens_per_s.toFixed(0)} | ${f.decode_tokens_per_s_floor.toFixed(0)} (${(f.lm_weight_bytes / 1e6).toFixed(1)} MB of fp32 LM weights per token at ${f.memory_gb_per_s.toFixed(1)} GB/s) | ${pct(r.decode_tokens_per_s, f.decode_tokens_per_s_floor)} |`,
    `| windows amortized/s | ${r.windows_amortized_per_s.toFixed(1)} | ${f.windows_per_s_floor?.toFixed(0) ?? "–"} (${f.amortizer_gflop_per_window?.toFixed(2) ?? "?"} GFLOP per window at ${f.matmul_gflop_per_s?.toFixed(0) ?? "?"} GFLOP/s) | ${pct(r.windows_amortized_per_s, f.windows_per_s_floor)} |`,
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      bundle: { type: "string", default: DEFAULT_BUNDLE },
      "max-bank": { type: "string", default: "100000" },
      out: { type: "string", default: "docs/bench" },
      threads: { type: "string", default: "0" },
      reps: { type: "string", default: "3" },
      "max-passages": { type: "string" },
    },
  });
  const r = await benchEngine({
    bundle: values.bundle,
    maxBank: Number(values["max-bank"]),
    threads: Number(values.threads),
    reps: Number(values.reps),
    ...(values["max-passages"] ? { maxPassages: Number(values["max-passages"]) } : {}),
  });
  record({
    out: values.out,
    name: "engine",
    title: "Engine benchmark",
    script: "bench:engine",
    bundle: r.bundle,
    data: r,
    body: engineMarkdown(r),
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
