// Retrieval quality through the app's own path: a SQuAD file's paragraphs ingested into a vault (one
// document each; chunked, embedded and indexed like any document), every question searched with BM25
// and dense search, the two fused as the app fuses them. Recall@k counts a question found when a
// chunk of its own paragraph is among the first k. Also: the three storage formats' dense recall,
// the fusion settings tried, and the answer policy's abstentions on questions asked of a vault that
// lacks their article (two halves of the articles, each the other's foreign set).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { DEFAULT_FUSION, reciprocalRankFusion, type FusionOptions } from "../core/fusion.js";
import { MnemoApp } from "../app/app.js";
import { CANDIDATES } from "../app/retrieve.js";
import { EMBEDDING_FORMATS, pack, unpack, type EmbeddingFormat } from "../vault/embeddings.js";
import type { Vault } from "../vault/vault.js";
import { pairedDelta } from "./metrics.js";
import { readSquad, type Paragraph } from "./squad.js";
import { abstention, type Scored } from "./abstention.js";
import { chooseFusion, FUSION_GRID, type Hits } from "./fusion-choice.js";

export interface RetrievalEvalOptions {
  data: string;
  bundleDir: string;
  threads?: number;
  limitQuestions?: number;
  onProgress?: (phase: string, done: number, total: number) => void;
}

/** A ranked list: chunk ids and their scores, best first. */
type Ranked = { chunkId: number; score: number }[];
interface Asked {
  q: { question: string; article: string; paragraph: number };
  bm25: Ranked;
  dense: Ranked;
  bm25AllWords: Ranked;
}

const KS = [1, 3, 5, 10] as const;

const pct = (x: number) => Math.round(1000 * x) / 10;
const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);

/** 1 when a chunk of the gold paragraph is among the first k of the list. */
const found = (list: readonly number[], gold: number, paragraphOf: Map<number, number>, k: number) =>
  list.slice(0, k).some((c) => paragraphOf.get(c) === gold) ? 1 : 0;

async function ingest(
  app: MnemoApp,
  name: string,
  paragraphs: readonly Paragraph[],
  dir: string,
): Promise<{ vault: Vault; paragraphOf: Map<number, number>; ms: number }> {
  mkdirSync(dir, { recursive: true });
  const vault = await app.vault((await app.createVault(name)).id);
  const files = paragraphs.map((p) => {
    const f = path.join(dir, `p${String(p.index).padStart(6, "0")}.txt`);
    writeFileSync(f, p.context);
    return f;
  });
  const t0 = performance.now();
  await app.addPaths(vault, files);
  const ms = performance.now() - t0;
  const byDoc = new Map(vault.store.documents().map((d) => [d.id, Number(/^p(\d+)\.txt$/.exec(d.name)![1])]));
  const chunks = vault.db.prepare("SELECT id, document_id AS documentId FROM chunks").all() as {
    id: number;
    documentId: number;
  }[];
  return { vault, paragraphOf: new Map(chunks.map((c) => [c.id, byDoc.get(c.documentId)!])), ms };
}

async function ask(app: MnemoApp, vault: Vault, q: Asked["q"]): Promise<Asked> {
  const [b, d] = [
    await app.search([vault], q.question, "bm25", CANDIDATES),
    await app.search([vault], q.question, "dense", CANDIDATES),
  ];
  // The keyword search as it was before stopwords were left out (vault/stopwords.ts), for comparison.
  const allWords = vault.store
    .search(q.question, CANDIDATES, { keepStopwords: true })
    .map((h) => ({ chunkId: h.chunkId, score: h.score }));
  return {
    q,
    bm25: b.hits.map((h) => ({ chunkId: h.hit.chunkId, score: h.score })),
    dense: d.hits.map((h) => ({ chunkId: h.hit.chunkId, score: h.score })),
    bm25AllWords: allWords,
  };
}

const fuse = (a: Asked, o: FusionOptions) =>
  reciprocalRankFusion([a.bm25, a.dense], (h) => String(h.chunkId), o).map((f) => f.item.chunkId);

export async function runRetrievalEval(o: RetrievalEvalOptions, command: string) {
  const paragraphs = await readSquad(o.data);
  const allQs = paragraphs.flatMap((p) =>
    p.questions.map((q) => ({ question: q.question, article: p.article, paragraph: p.index })),
  );
  const step = o.limitQuestions && o.limitQuestions < allQs.length ? allQs.length / o.limitQuestions : 1;
  // evenly spread, deterministic
  const qs = step === 1 ? allQs : Array.from({ length: o.limitQuestions! }, (_, i) => allQs[Math.floor(i * step)]!);
  const work = mkdtempSync(path.join(os.tmpdir(), "mnemo-eval-retrieval-"));
  const app = new MnemoApp({
    dataDir: path.join(work, "data"),
    bundleDir: o.bundleDir,
    ...(o.threads !== undefined ? { threads: o.threads } : {}),
  });
  try {
    const model = await app.model();
    o.onProgress?.("ingest", 0, 1);
    const all = await ingest(app, "valid", paragraphs, path.join(work, "all"));
    const chunks = all.paragraphOf.size;
    const bytes = all.vault.db.prepare("SELECT count(*) AS n, sum(length(data)) AS data FROM embeddings").get() as {
      n: number;
      data: number;
    };
    let onDisk: number | null = null;
    try {
      onDisk = (
        all.vault.db
          .prepare("SELECT sum(pgsize) AS b FROM dbstat WHERE name IN ('embeddings', 'embeddings_encoder')")
          .get() as { b: number }
      ).b;
    } catch {
      /* no dbstat */
    }

    const asked: Asked[] = [];
    for (const [i, q] of qs.entries()) {
      o.onProgress?.("search", i, qs.length);
      asked.push(await ask(app, all.vault, q));
    }
    const items = (lists: number[][], k: number) =>
      lists.map((l, i) => found(l, asked[i]!.q.paragraph, all.paragraphOf, k));
    // hybrid: the fusion the app ships (core/fusion.ts DEFAULT_FUSION); the grid: what it was chosen from.
    const modes: Record<string, number[][]> = {
      bm25: asked.map((a) => a.bm25.map((h) => h.chunkId)),
      dense: asked.map((a) => a.dense.map((h) => h.chunkId)),
      hybrid: asked.map((a) => fuse(a, DEFAULT_FUSION)),
      "bm25 all words": asked.map((a) => a.bm25AllWords.map((h) => h.chunkId)),
      "hybrid, bm25 all words": asked.map((a) => fuse({ ...a, bm25: a.bm25AllWords }, DEFAULT_FUSION)),
    };
    for (const f of FUSION_GRID) modes[f.name] = asked.map((a) => fuse(a, f.o));
    const articles = [...new Set(paragraphs.map((p) => p.article))];
    const fold = asked.map((a) => articles.indexOf(a.q.article) % 2);
    const fusion = chooseFusion(
      new Map(
        FUSION_GRID.map((f): [string, Hits] => [
          f.name,
          { r1: items(modes[f.name]!, 1), r5: items(modes[f.name]!, 5) },
        ]),
      ),
      fold,
    );
    // The app's own hybrid search on a sample: must equal the fusion computed here.
    const appHybrid = await Promise.all(
      asked
        .slice(0, 50)
        .map(async (a) =>
          (await app.search([all.vault], a.q.question, "hybrid", CANDIDATES)).hits.map((h) => h.hit.chunkId),
        ),
    );
    const agree = appHybrid.filter((l, i) => l.slice(0, 10).join() === modes.hybrid![i]!.slice(0, 10).join()).length;
    const recall = Object.fromEntries(
      Object.entries(modes).map(([m, lists]) => [
        m,
        Object.fromEntries(KS.map((k) => [`r@${k}`, pct(mean(items(lists, k)))])),
      ]),
    );
    const deltas: Record<string, ReturnType<typeof pairedDelta>> = {};
    for (const k of [1, 3, 5])
      for (const [a, b] of [
        ["hybrid", "bm25"],
        ["hybrid", "dense"],
        ["dense", "bm25"],
        ["hybrid", "rrf k=60"],
        ["bm25", "bm25 all words"],
        ["hybrid", "hybrid, bm25 all words"],
      ] as const) {
        deltas[`${a} - ${b} r@${k}`] = pairedDelta(items(modes[a]!, k), items(modes[b]!, k));
      }

    // Storage formats: the encoder's float vectors, stored and read back in each format, searched exactly.
    o.onProgress?.("formats", 0, 1);
    const rows = all.vault.db.prepare("SELECT id, text FROM chunks ORDER BY id").all() as {
      id: number;
      text: string;
    }[];
    const docVecs: Float32Array[] = [],
      qVecs: Float32Array[] = [];
    for (let s = 0; s < rows.length; s += 64)
      docVecs.push(...(await model.engine.embed(rows.slice(s, s + 64).map((r) => r.text))));
    for (let s = 0; s < qs.length; s += 64)
      qVecs.push(...(await model.engine.embed(qs.slice(s, s + 64).map((q) => q.question))));
    const formats = Object.fromEntries(
      EMBEDDING_FORMATS.map((f) => [
        f,
        formatRecall(
          f,
          docVecs,
          qVecs,
          rows.map((r) => r.id),
          asked,
          all.paragraphOf,
        ),
      ]),
    );

    // The answer policy: questions asked of a vault holding half of the articles (theirs or not).
    const halves = [0, 1].map((h) => new Set(articles.filter((_, i) => i % 2 === h)));
    const scored: Scored[] = [];
    for (const [h, half] of halves.entries()) {
      const part = await ingest(
        app,
        `half ${h}`,
        paragraphs.filter((p) => half.has(p.article)),
        path.join(work, `half${h}`),
      );
      for (const [i, q] of qs.entries()) {
        o.onProgress?.(`policy ${h + 1}/2`, i, qs.length);
        const a = await ask(app, part.vault, q);
        const top3 = fuse(a, DEFAULT_FUSION).slice(0, 3);
        scored.push({
          fold: h,
          foreign: !half.has(q.article),
          bestDense: a.dense[0]?.score ?? -1,
          bestKeyword: a.bm25[0]?.score ?? 0,
          goldInTop3: top3.some((c) => part.paragraphOf.get(c) === q.paragraph),
        });
      }
    }
    const fullVault = asked.map((a) => ({ bestDense: a.dense[0]?.score ?? -1 }));
    return {
      command,
      date: new Date().toISOString(),
      bundle: model.manifest.id,
      encoder: model.encoder?.id ?? null,
      data: path.resolve(o.data),
      paragraphs: paragraphs.length,
      chunks,
      questions: qs.length,
      candidates: CANDIDATES,
      ingest: { ms: all.ms, chunks_per_s: chunks / (all.ms / 1000) },
      storage: {
        format: "int8",
        rows: bytes.n,
        payload_bytes_per_chunk: bytes.data / bytes.n + 8,
        on_disk_bytes_per_chunk: onDisk === null ? null : onDisk / bytes.n,
      },
      fusion: { shipped: DEFAULT_FUSION, ...fusion },
      recall,
      deltas,
      app_hybrid_agrees: `${agree}/${appHybrid.length}`,
      formats,
      policy: abstention(scored, fullVault),
    };
  } finally {
    await app.close();
    rmSync(work, { recursive: true, force: true });
  }
}

/** Dense recall@k with the vectors stored in one format and read back, searched exactly (float dot products). */
function formatRecall(
  format: EmbeddingFormat,
  docs: Float32Array[],
  queries: Float32Array[],
  ids: number[],
  asked: Asked[],
  paragraphOf: Map<number, number>,
) {
  const stored = docs.map((v) => unpack(pack(v, format)));
  const hits = { 1: 0, 3: 0, 5: 0, 10: 0 } as Record<(typeof KS)[number], number>;
  queries.forEach((q, i) => {
    const scores = stored.map((d, j) => {
      let s = 0;
      for (let x = 0; x < q.length; x++) s += q[x]! * d[x]!;
      return { id: ids[j]!, s };
    });
    const top = scores
      .sort((a, b) => b.s - a.s)
      .slice(0, 10)
      .map((x) => x.id);
    for (const k of KS) hits[k] += found(top, asked[i]!.q.paragraph, paragraphOf, k);
  });
  const bytes = format === "int8" ? docs[0]!.length + 8 : docs[0]!.length * (format === "f16" ? 2 : 4) + 8;
  return {
    payload_bytes_per_chunk: bytes,
    ...(Object.fromEntries(KS.map((k) => [`r@${k}`, pct(hits[k] / queries.length)])) as Record<
      `r@${(typeof KS)[number]}`,
      number
    >),
  };
}
