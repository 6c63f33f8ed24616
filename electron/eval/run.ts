// mnemo eval: a SQuAD-format file streamed through the app's own path. Its paragraphs are ingested
// into a fresh vault as documents (the online-adaptation stream), then every question is asked in
// each mode on the same frozen LM. A retention curve re-asks the first documents' questions as the
// stream grows. Cancelling returns what was measured so far, marked incomplete.
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { seededRandom } from "../core/sampler.js";
import { DEFAULT_MEMORY_CANDIDATES, type SearchMode } from "../shared/api.js";
import { MnemoApp } from "../app/app.js";
import type { Vault } from "../vault/vault.js";
import { pairedDelta, score, type ModeScore } from "./metrics.js";
import { readSquad, type Paragraph } from "./squad.js";

/**
 * mac: the vault's memory. question-only: an empty bank (the prefix comes from the learned null entry
 * alone). irrelevant: a bank of every other article. bm25 / mac+bm25: top keyword passages in the
 * prompt, without / with the memory. gold: the question's own paragraph in the prompt (upper bound).
 * lm: the frozen LM with no prefix and no passage (the Python evaluation's "lm").
 */
export const EVAL_MODES = ["mac", "question-only", "irrelevant", "bm25", "mac+bm25", "gold", "lm"] as const;
export type EvalMode = (typeof EVAL_MODES)[number];
/** Modes that need the bundle's MAC heads. */
const MEMORY_MODES: ReadonlySet<EvalMode> = new Set(["mac", "question-only", "irrelevant", "mac+bm25"]);
/** The paired differences a report (and a pool of reports, pool.ts) gives: a − b on the same questions. */
export const EVAL_DELTAS = [
  ["mac", "question-only"],
  ["mac", "irrelevant"],
  ["mac+bm25", "bm25"],
  ["bm25", "lm"],
  ["gold", "lm"],
  ["gold", "bm25"],
] as const;

export interface EvalOptions {
  data: string;
  bundleDir: string;
  modes: EvalMode[];
  seed: number;
  limitDocs?: number;
  limitQuestions?: number;
  passages: number;
  /** Retention: the questions of the first retentionDocs documents, re-asked at retentionPoints stream sizes. */
  retentionDocs: number;
  retentionPoints: number;
  retentionQuestions: number;
  threads?: number;
  signal?: AbortSignal;
  /** How keyword-mode passages are found (the app's default, hybrid, when omitted). */
  search?: SearchMode;
  /** Retrieval's best chunks the memory attends over (memory modes, and the irrelevant bank's size). */
  candidates?: number;
  onProgress?: (phase: string, done: number, total: number) => void;
}

export interface Asked {
  answer: string;
  firstTokenMs: number | null;
  totalMs: number;
  bankSize: number;
}

export interface EvalReport {
  complete: boolean;
  command: string;
  bundle: string;
  data: string;
  seed: number;
  date: string;
  stream: { docs: number; questions: number; sampled_docs: boolean; sampled_questions: boolean };
  /** The questions asked, in order (f1_items follow it); reports before 2026-12-07 lack it (pool.ts rebuilds it). */
  question_ids?: string[];
  modes: Partial<
    Record<
      EvalMode,
      ModeScore & {
        first_token_ms_p50: number | null;
        total_ms_p50: number;
        examples: [string, string[]][];
        /**
         * Each question's F1 (0..1) in question order: runs with the same seed pair up (e.g. --search bm25 vs hybrid).
         */
        f1_items: number[];
      }
    >
  >;
  /** Modes asked for that this bundle cannot run, with the reason (e.g. no memory heads yet). */
  unavailable: Partial<Record<EvalMode, string>>;
  deltas: Record<string, { f1: number; ci95: [number, number]; n: number; excludes_zero: boolean }>;
  ingest: { docs: number; chunks: number; ms_per_doc: number; bytes_per_doc: number; modulation_bytes_per_doc: number };
  latency: { first_token_ms_p50: number | null; total_ms_p50: number };
  retention: {
    stream_docs: number;
    vault_entries: number;
    bank_size: number;
    f1: number;
    questions: number;
    first_token_ms_p50: number | null;
  }[];
}

const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : null);

/** The file a paragraph is ingested as; the vault's document name maps back to its article. */
const docFileName = (p: Paragraph) => `p${String(p.index).padStart(6, "0")}.txt`;

/** A seeded sample of k indices out of n, in ascending order (the stream keeps file order). */
export function sampleSorted(n: number, k: number, seed: number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i),
    random = seededRandom(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.slice(0, k).sort((a, b) => a - b);
}

export async function runEval(o: EvalOptions, command: string): Promise<EvalReport> {
  const all = await readSquad(o.data);
  const docs =
    o.limitDocs && o.limitDocs < all.length ? sampleSorted(all.length, o.limitDocs, o.seed).map((i) => all[i]!) : all;
  const allQs = docs.flatMap((p) => p.questions.map((q) => ({ ...q, paragraph: p })));
  const qs =
    o.limitQuestions && o.limitQuestions < allQs.length
      ? sampleSorted(allQs.length, o.limitQuestions, o.seed + 1).map((i) => allQs[i]!)
      : allQs;
  const work = mkdtempSync(path.join(os.tmpdir(), "mnemo-eval-"));
  const app = new MnemoApp({
    dataDir: path.join(work, "data"),
    bundleDir: o.bundleDir,
    ...(o.threads !== undefined ? { threads: o.threads } : {}),
  });
  const model = await app.model();
  const report: EvalReport = {
    complete: false,
    command,
    bundle: model.manifest.id,
    data: path.resolve(o.data),
    seed: o.seed,
    date: new Date().toISOString(),
    stream: {
      docs: docs.length,
      questions: qs.length,
      sampled_docs: docs.length < all.length,
      sampled_questions: qs.length < allQs.length,
    },
    question_ids: qs.map((q) => q.id),
    modes: {},
    unavailable: {},
    deltas: {},
    ingest: { docs: 0, chunks: 0, ms_per_doc: 0, bytes_per_doc: 0, modulation_bytes_per_doc: 0 },
    latency: { first_token_ms_p50: null, total_ms_p50: 0 },
    retention: [],
  };
  const items: Partial<Record<EvalMode, number[]>> = {};
  const modes = o.modes.filter((mode) => model.manifest.mac || !MEMORY_MODES.has(mode));
  for (const mode of o.modes.filter((m) => !modes.includes(m)))
    report.unavailable[mode] = `${model.manifest.name} has no memory heads (untrained)`;
  try {
    const vault = await app.vault((await app.createVault("eval")).id);
    const files = path.join(work, "docs");
    mkdirSync(files);
    // The stream: paragraphs ingested in order, in stages; the retention questions are asked after each.
    const retention = qs.filter((q) => docs.indexOf(q.paragraph) < o.retentionDocs).slice(0, o.retentionQuestions);
    const stages = Math.max(1, Math.min(o.retentionPoints, docs.length));
    let ingestMs = 0;
    for (let s = 1; s <= stages; s++) {
      const upto = Math.round((docs.length * s) / stages),
        from = Math.round((docs.length * (s - 1)) / stages);
      const batch = docs.slice(from, upto).map((p) => {
        const f = path.join(files, docFileName(p));
        writeFileSync(f, p.context);
        return f;
      });
      const t0 = performance.now();
      app.config.onProgress = (p) => o.onProgress?.("ingest", from + p.done, docs.length);
      await app.addPaths(vault, batch);
      ingestMs += performance.now() - t0;
      if (o.signal?.aborted) return report;
      if (!retention.length || !modes.includes("mac")) continue;
      const asked: Asked[] = [];
      for (const [i, q] of retention.entries()) {
        o.onProgress?.(`retention ${s}/${stages}`, i, retention.length);
        const a = await ask(app, vault, "mac", q.question, q.paragraph, o, []);
        if (!a) return report;
        asked.push(a);
      }
      const sc = score(
        asked.map((a) => a.answer),
        retention.map((q) => q.answers),
      );
      // vault_entries: the chunks the memory can choose from; bank_size: those it attended over (its candidates).
      report.retention.push({
        stream_docs: upto,
        vault_entries: vault.store.stats().chunks,
        bank_size: asked[0]!.bankSize,
        f1: sc.f1,
        questions: retention.length,
        first_token_ms_p50: median(asked.map((a) => a.firstTokenMs ?? a.totalMs)),
      });
    }
    const stats = vault.store.stats();
    vault.db.pragma("wal_checkpoint(TRUNCATE)");
    report.ingest = {
      docs: docs.length,
      chunks: stats.chunks,
      ms_per_doc: ingestMs / docs.length,
      bytes_per_doc: statSync(path.join(vault.dir, "vault.db")).size / docs.length,
      modulation_bytes_per_doc: vault.store.modulationBytes(model.manifest.id) / docs.length,
    };
    const articleBanks = modes.includes("irrelevant") ? await putArticleBanks(app, vault, docs) : [];
    for (const mode of modes) {
      const asked: Asked[] = [];
      for (const [i, q] of qs.entries()) {
        o.onProgress?.(mode, i, qs.length);
        const a = await ask(app, vault, mode, q.question, q.paragraph, o, articleBanks);
        if (!a) break;
        asked.push(a);
      }
      if (!asked.length) break;
      const sc = score(
        asked.map((a) => a.answer),
        qs.slice(0, asked.length).map((q) => q.answers),
      );
      items[mode] = sc.items;
      report.modes[mode] = {
        n: sc.n,
        em: sc.em,
        em_lenient: sc.em_lenient,
        f1: sc.f1,
        f1_ci95: sc.f1_ci95,
        first_token_ms_p50: median(asked.map((a) => a.firstTokenMs ?? a.totalMs)),
        total_ms_p50: median(asked.map((a) => a.totalMs))!,
        examples: asked.slice(0, 5).map((a, k) => [a.answer, qs[k]!.answers]),
        f1_items: sc.items.map((x) => Math.round(x * 1e4) / 1e4),
      };
      if (o.signal?.aborted) return report;
    }
    for (const [a, b] of EVAL_DELTAS) {
      const x = items[a],
        y = items[b];
      if (x && y && x.length === y.length) report.deltas[`${a}-${b}`] = pairedDelta(x, y);
    }
    const main = report.modes.mac ?? Object.values(report.modes)[0];
    if (main) report.latency = { first_token_ms_p50: main.first_token_ms_p50, total_ms_p50: main.total_ms_p50 };
    report.complete = true;
    return report;
  } finally {
    await app.close();
    rmSync(work, { recursive: true, force: true });
  }
}

/** For the irrelevant control: each article's entries as their own engine bank, so a question can be
 * asked over every other article's memory (a bank of nearly the stream's size without its answer). */
async function putArticleBanks(app: MnemoApp, vault: Vault, docs: readonly Paragraph[]): Promise<string[]> {
  const model = await app.model();
  const byName = new Map(docs.map((p) => [docFileName(p), p.article]));
  const articleOf = new Map(vault.store.documents().map((d) => [d.id, byName.get(d.name)]));
  const byArticle = new Map<string, { key: string; modulation: Float32Array }[]>();
  for (const m of vault.store.modulations(model.manifest.id)) {
    const [chunk] = vault.store.chunks([m.chunkId]);
    const article = chunk && articleOf.get(chunk.documentId);
    if (article === undefined) continue;
    if (!byArticle.has(article)) byArticle.set(article, []);
    byArticle.get(article)!.push({ key: String(m.chunkId), modulation: m.modulation });
  }
  for (const [article, entries] of byArticle) await model.engine.bankPut(`article:${article}`, entries);
  return [...byArticle.keys()].map((a) => `article:${a}`);
}

/** One question in one mode (askOnce's arguments); null once the run is cancelled. */
async function ask(...args: Parameters<typeof askOnce>): Promise<Asked | null> {
  const o = args[5];
  if (o.signal?.aborted) return null;
  try {
    return await askOnce(...args);
  } catch (e) {
    if (o.signal?.aborted) return null;
    throw e;
  }
}

async function askOnce(
  app: MnemoApp,
  vault: Vault,
  mode: EvalMode,
  question: string,
  paragraph: Paragraph,
  o: EvalOptions,
  articleBanks: readonly string[],
): Promise<Asked> {
  const model = await app.model();
  if (mode === "gold" || mode === "irrelevant" || mode === "question-only") {
    const banks = mode === "irrelevant" ? articleBanks.filter((b) => b !== `article:${paragraph.article}`) : [];
    // The irrelevant bank holds as many entries as memory mode attends over (its pre-selection):
    // the other articles' chunks most like the question.
    const opts =
      mode === "gold"
        ? { context: { kind: "gold" as const, passages: [paragraph.context] } }
        : mode === "irrelevant"
          ? { candidates: o.candidates ?? DEFAULT_MEMORY_CANDIDATES }
          : {};
    const r = await model.engine.ask(question, opts, () => {}, o.signal, banks, mode !== "gold");
    return { answer: r.answer, firstTokenMs: r.timings.firstTokenMs, totalMs: r.timings.totalMs, bankSize: r.bankSize };
  }
  const appMode = ({ mac: "memory", bm25: "keyword", "mac+bm25": "memory+keyword", lm: "none" } as const)[mode];
  // Every question's paragraph is in the vault, so the answer policy could only lose answers here: it is
  // off, and measured on its own (docs/retrieval.md, npm run eval:retrieval).
  const r = await app.ask(
    {
      question,
      vaults: [vault.id],
      mode: appMode,
      passages: o.passages,
      abstain: false,
      ...(o.search ? { search: o.search } : {}),
      ...(o.candidates ? { candidates: o.candidates } : {}),
    },
    () => {},
    o.signal,
  );
  return { answer: r.answer, firstTokenMs: r.timings.firstTokenMs, totalMs: r.timings.totalMs, bankSize: r.bankSize };
}
