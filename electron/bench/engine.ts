// npm run bench:engine [-- --bundle DIR --max-bank N --out DIR]: engine speed on one machine in one run:
// documents amortized per second, question latency (first token, total), decode tokens per second,
// aggregation time for banks of 10 .. 100k entries (synthetic modulations), peak RSS.
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { argmax, seededRandom } from "../core/sampler.js";
import type { MacPipeline } from "../core/pipeline.js";
import { loadBundle } from "../engine/bundle.js";
import { DEFAULT_BUNDLE } from "../app/paths.js";

const { values } = parseArgs({ options: { bundle: { type: "string", default: DEFAULT_BUNDLE },
  "max-bank": { type: "string", default: "100000" }, out: { type: "string", default: "docs/bench" }, threads: { type: "string", default: "0" } } });
const repo = path.resolve(import.meta.dirname, "../..");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const time = async <T>(fn: () => Promise<T>): Promise<[T, number]> => { const t = performance.now(); const r = await fn(); return [r, performance.now() - t]; };

async function amortizeRate(mac: MacPipeline): Promise<number> {
  const dir = path.join(repo, "resources/samples");
  const texts = readdirSync(dir).map((f) => readFileSync(path.join(dir, f), "utf8"));
  const chunks = Array.from({ length: 32 }, (_, i) => mac.chunkIds(texts[i % texts.length]!)[0]!);
  await mac.amortize(chunks.slice(0, 8));                                 // warm-up
  const [, ms] = await time(async () => { for (let i = 0; i < chunks.length; i += 8) await mac.amortize(chunks.slice(i, i + 8)); });
  return (chunks.length / ms) * 1000;
}

async function answerLatency(mac: MacPipeline, bank: Float32Array[], kv: Float32Array[] | undefined) {
  const first: number[] = [], total: number[] = [], rates: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    const { promptIds, query } = await mac.encodeQuestion("When was the Eiffel Tower completed?");
    const agg = await mac.aggregate(query, bank, undefined, kv);
    const past = await mac.prefix(agg.latent);
    let n = 0, tFirst = 0;
    for await (const _token of mac.decode(promptIds, past, { sample: argmax, maxNewTokens: 16 })) {
      if (n++ === 0) tFirst = performance.now();
    }
    const end = performance.now();
    first.push((tFirst || end) - t0);
    total.push(end - t0);
    if (n > 1) rates.push(((n - 1) / (end - tFirst)) * 1000);
  }
  return { firstTokenMs: median(first), totalMs: median(total), tokensPerS: rates.length ? median(rates) : null };
}

async function main(): Promise<void> {
  const mac = await loadBundle(values.bundle, { executionProvider: "cpu", threads: Number(values.threads) });
  const size = mac.T * mac.D, random = seededRandom(0);
  const sample = (await mac.amortize([mac.chunkIds("The Eiffel Tower was completed in 1889.")[0]!]))[0]!;
  const synthetic = (n: number) => Array.from({ length: n }, () => sample.map((v) => v + 0.5 * (random() - 0.5)));
  const rows: Record<string, number | string | null>[] = [];
  for (const n of [10, 100, 1000, 10000, 100000].filter((n) => n <= Number(values["max-bank"]))) {
    const bank = synthetic(n);
    const kvBytes = n * size * 4 * mac.manifest.architecture.mac.aggregator_layers * 2;
    const [kv, kvMs] = kvBytes < 1.5e9 ? await time(async () => {
      const out: Float32Array[] = [];
      for (let i = 0; i < n; i += 256) out.push(...await mac.entryKV(bank.slice(i, i + 256)));
      return out;
    }) : [undefined, null];
    const { query } = await mac.encodeQuestion("When was the Eiffel Tower completed?");
    const [, hierMs] = await time(() => mac.aggregate(query, bank));
    const [, cachedMs] = kv ? await time(() => mac.aggregate(query, bank, undefined, kv)) : [null, null];
    const [, oneShotMs] = n <= 10000 ? await time(() => mac.aggregate(query, bank, n + 1, kv)) : [null, null];
    const latency = await answerLatency(mac, bank, kv);
    rows.push({ entries: n, kv_cache_ms: kvMs, one_shot_ms: oneShotMs, hierarchical_ms: hierMs, hierarchical_cached_ms: cachedMs,
      first_token_ms: latency.firstTokenMs, total_ms: latency.totalMs, tokens_per_s: latency.tokensPerS });
    console.log(JSON.stringify(rows[rows.length - 1]));
  }
  const result = { date: new Date().toISOString(), bundle: mac.manifest.id, machine: `${os.cpus().length} × ${os.cpus()[0]?.model}`,
    command: `npm run bench:engine -- ${process.argv.slice(2).join(" ")}`.trim(), docs_amortized_per_s: await amortizeRate(mac),
    banks: rows, peak_rss_mb: process.resourceUsage().maxRSS / 1024 };
  mkdirSync(values.out, { recursive: true });
  const stem = path.join(values.out, `engine-${result.date.slice(0, 10)}`);
  writeFileSync(`${stem}.json`, JSON.stringify(result, null, 1) + "\n");
  const cell = (v: unknown) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(1)) : v === null ? "–" : String(v));
  const md = [`# Engine benchmark ${result.date.slice(0, 10)}`, "", `Bundle \`${result.bundle}\`, ${result.machine}, \`${result.command}\`.`, "",
    `Documents amortized: ${result.docs_amortized_per_s.toFixed(1)}/s. Peak RSS: ${result.peak_rss_mb.toFixed(0)} MB.`, "",
    `| ${Object.keys(rows[0] ?? {}).join(" | ")} |`, `|${Object.keys(rows[0] ?? {}).map(() => "---:").join("|")}|`,
    ...rows.map((r) => `| ${Object.values(r).map(cell).join(" | ")} |`)].join("\n");
  writeFileSync(`${stem}.md`, md + "\n");
  console.log(md);
}

await main();
