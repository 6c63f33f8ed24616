// npm run bench:ingest [-- --bundle DIR --pdfs N --pages P --bank N --out DIR --threads N]: ingestion and
// vault speed through the app's own path: PDF pages/s (extraction alone and end to end), chunks/s,
// bytes per chunk on disk, and question latency on a vault of --bank chunks (cold and warm).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { gunzipSync } from "node:zlib";
import { MnemoApp } from "../app/app.js";
import { DEFAULT_BUNDLE } from "../app/paths.js";
import { extract } from "../vault/extract.js";
import { median } from "./engine.js";
import { makePdf } from "./pdf-fixtures.js";
import { record } from "./record.js";
import { modulationBytes as storedBytes } from "../shared/modulation-codec.js";

const repo = path.resolve(import.meta.dirname, "../..");

const QUESTIONS = [
  "When was the Eiffel Tower completed?",
  "Who founded the university?",
  "What is the capital of the region?",
  "How many people live in the city?",
  "Which river flows through it?",
];

/** SQuAD train paragraphs (real prose of realistic length); the shipped samples when the data is absent. */
function paragraphs(): string[] {
  const squad = path.join(repo, "../shared/data/squad/train-v1.1.json.gz");
  if (existsSync(squad)) {
    const data = JSON.parse(gunzipSync(readFileSync(squad)).toString("utf8")) as {
      data: { paragraphs: { context: string }[] }[];
    };
    return data.data.flatMap((a) => a.paragraphs.map((p) => p.context));
  }
  const dir = path.join(repo, "resources/samples");
  return ["amazon-rainforest.md", "eiffel-tower.md", "marie-curie.md"].map((f) =>
    readFileSync(path.join(dir, f), "utf8"),
  );
}

const dirSize = (files: string[]) => files.filter(existsSync).reduce((n, f) => n + statSync(f).size, 0);

export interface IngestOptions {
  bundle: string;
  pdfs: number;
  pages: number;
  bank: number;
  threads: number;
}

export async function benchIngest(o: IngestOptions) {
  const work = mkdtempSync(path.join(os.tmpdir(), "mnemo-bench-"));
  const texts = paragraphs();
  const nPdfs = o.pdfs,
    nPages = o.pages,
    nBank = o.bank;
  // A batch of PDFs, each page about three paragraphs.
  const pdfDir = path.join(work, "pdfs");
  mkdirSync(pdfDir);
  let k = 0;
  for (let d = 0; d < nPdfs; d++) {
    const pages = Array.from({ length: nPages }, () =>
      [texts[k++ % texts.length], texts[k++ % texts.length], texts[k++ % texts.length]].join("\n"),
    );
    writeFileSync(path.join(pdfDir, `doc-${d}.pdf`), await makePdf(pages, `Document ${d}`));
  }
  const t0 = performance.now();
  for (let d = 0; d < nPdfs; d++) await extract(readFileSync(path.join(pdfDir, `doc-${d}.pdf`)), "pdf", `doc-${d}.pdf`);
  const extractPagesPerS = (nPdfs * nPages) / ((performance.now() - t0) / 1000);

  const app = new MnemoApp({ dataDir: path.join(work, "data"), bundleDir: o.bundle, threads: o.threads });
  const model = await app.model();
  const pdfVault = await app.vault((await app.createVault("PDFs")).id);
  const t1 = performance.now();
  const { summary } = await app.addPaths(pdfVault, [pdfDir]);
  const pdfSeconds = (performance.now() - t1) / 1000;
  const pdfChunks = pdfVault.store.stats().chunks;
  pdfVault.db.pragma("wal_checkpoint(TRUNCATE)");
  const dbFile = path.join(pdfVault.dir, "vault.db");
  const dbBytes = dirSize([dbFile, `${dbFile}-wal`]);
  const modulationBytes = storedBytes(model.storage, model.slots, model.width);

  // A vault of nBank chunks: one note per SQuAD paragraph (each fits one amortizer window).
  const noteDir = path.join(work, "notes");
  mkdirSync(noteDir);
  for (let i = 0; i < nBank; i++)
    writeFileSync(path.join(noteDir, `n-${String(i).padStart(6, "0")}.txt`), texts[(k + i) % texts.length]!);
  const bigVault = await app.vault((await app.createVault("Big")).id);
  const t2 = performance.now();
  await app.addPaths(bigVault, [noteDir]);
  const bigSeconds = (performance.now() - t2) / 1000;
  const bigChunks = bigVault.store.stats().chunks;
  const cold = await app.ask({ question: QUESTIONS[0]!, vaults: ["Big"] }, () => {});
  const warm = [];
  for (const q of QUESTIONS) warm.push(await app.ask({ question: q, vaults: ["Big"] }, () => {}));
  await app.close();
  rmSync(work, { recursive: true, force: true });

  return {
    bundle: model.manifest.id,
    pdf: {
      documents: nPdfs,
      pages: nPdfs * nPages,
      failed: summary.errors,
      chunks: pdfChunks,
      seconds: pdfSeconds,
      extract_pages_per_s: extractPagesPerS,
      ingest_pages_per_s: (nPdfs * nPages) / pdfSeconds,
      ingest_chunks_per_s: pdfChunks / pdfSeconds,
      db_bytes_per_chunk: dbBytes / pdfChunks,
      modulation_bytes_per_chunk: modulationBytes,
    },
    bank: {
      chunks: bigChunks,
      ingest_seconds: bigSeconds,
      ingest_chunks_per_s: bigChunks / bigSeconds,
      cold_bank_load_ms: cold.timings.bankMs,
      cold_first_token_ms: cold.timings.firstTokenMs,
      cold_total_ms: cold.timings.totalMs,
      warm_first_token_ms_p50: median(warm.map((r) => r.timings.firstTokenMs ?? r.timings.totalMs)),
      warm_total_ms_p50: median(warm.map((r) => r.timings.totalMs)),
    },
  };
}

export type IngestBench = Awaited<ReturnType<typeof benchIngest>>;

export function ingestMarkdown(r: IngestBench): string[] {
  const f = (v: number | null, d = 1) => (v === null ? "–" : v.toFixed(d));
  return [
    "| measure | value |",
    "|---|---:|",
    `| PDF pages extracted per second (pdfjs-dist alone) | ${f(r.pdf.extract_pages_per_s)} |`,
    `| PDF pages ingested per second (extract + chunk + amortize + commit) | ${f(r.pdf.ingest_pages_per_s)} |`,
    `| chunks ingested per second (PDF batch: ${r.pdf.documents} docs, ${r.pdf.pages} pages, ${r.pdf.chunks} chunks) | ${f(r.pdf.ingest_chunks_per_s)} |`,
    `| database bytes per chunk (text, FTS index, modulation) | ${f(r.pdf.db_bytes_per_chunk, 0)} |`,
    `| of which the modulation | ${r.pdf.modulation_bytes_per_chunk} |`,
    `| chunks ingested per second (${r.bank.chunks} chunks of one-paragraph notes) | ${f(r.bank.ingest_chunks_per_s)} |`,
    `| first question on the ${r.bank.chunks}-chunk vault: loading its bank (SQLite -> engine, K/V cache) | ${f(r.bank.cold_bank_load_ms, 0)} ms |`,
    `| first question: first token / total | ${f(r.bank.cold_first_token_ms, 0)} / ${f(r.bank.cold_total_ms, 0)} ms |`,
    `| later questions (median of ${QUESTIONS.length}): first token / total | ${f(r.bank.warm_first_token_ms_p50, 0)} / ${f(r.bank.warm_total_ms_p50, 0)} ms |`,
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      bundle: { type: "string", default: DEFAULT_BUNDLE },
      pdfs: { type: "string", default: "40" },
      pages: { type: "string", default: "5" },
      bank: { type: "string", default: "10000" },
      out: { type: "string", default: "docs/bench" },
      threads: { type: "string", default: "0" },
    },
  });
  const r = await benchIngest({
    bundle: values.bundle,
    pdfs: Number(values.pdfs),
    pages: Number(values.pages),
    bank: Number(values.bank),
    threads: Number(values.threads),
  });
  record({
    out: values.out,
    name: "ingest",
    title: "Ingestion benchmark",
    script: "bench:ingest",
    bundle: r.bundle,
    data: r,
    body: ingestMarkdown(r),
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
