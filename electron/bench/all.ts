// npm run bench [-- --bundle DIR --out DIR --threads N --max-bank N --pdfs N --pages N --bank N --no-uniform]:
// the engine and ingestion benchmarks, and the paper's efficiency comparison (MAC's one amortizer pass
// per document against the "uniform" baseline's gradient steps of the LM on each document, with
// both F1s), in one dated JSON + Markdown result under docs/bench/.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_BUNDLE } from "../app/paths.js";
import { benchEngine, engineMarkdown, table } from "./engine.js";
import { benchIngest, ingestMarkdown } from "./ingest.js";
import { record } from "./record.js";

const repo = path.resolve(import.meta.dirname, "../..");
const { values } = parseArgs({ options: { bundle: { type: "string", default: DEFAULT_BUNDLE }, out: { type: "string", default: "docs/bench" },
  threads: { type: "string", default: "0" }, "max-bank": { type: "string", default: "100000" }, pdfs: { type: "string", default: "40" },
  pages: { type: "string", default: "5" }, bank: { type: "string", default: "10000" }, "no-uniform": { type: "boolean", default: false },
  "eval-report": { type: "string", default: "docs/eval/valid-default.json" }, "lm-checkpoint": { type: "string", default: "models/runs/lm-tiny/ckpt.pt" } } });

interface ModeF1 { f1: number; f1_ci95: [number, number]; n: number }

/** The uniform baseline through the Python pipeline (needs the LM's PyTorch checkpoint and the prepared data). */
function uniform(): { seconds_per_doc: number; docs: number; modes: Record<string, ModeF1>; command: string } | { skipped: string } {
  if (values["no-uniform"]) return { skipped: "--no-uniform" };
  const ckpt = path.resolve(values["lm-checkpoint"]);
  if (!existsSync(ckpt)) return { skipped: `no LM checkpoint at ${ckpt} (train one: models/README.md)` };
  if (!existsSync(path.join(repo, "models/data/valid_examples.pkl"))) return { skipped: "models/data not prepared (python3 -m mnemo_models.prepare)" };
  const dir = mkdtempSync(path.join(os.tmpdir(), "mnemo-uniform-"));
  try {
    const out = path.join(dir, "uniform.json");
    const r = spawnSync(process.env.MNEMO_PYTHON ?? "/usr/bin/python3", ["-m", "mnemo_models.uniform", "--lm", ckpt, "--out", out],
      { cwd: path.join(repo, "models"), encoding: "utf8", stdio: ["ignore", "inherit", "inherit"] });
    if (r.status !== 0) return { skipped: `python3 -m mnemo_models.uniform failed (exit ${r.status})` };
    return JSON.parse(readFileSync(out, "utf8"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const threads = Number(values.threads);
const engine = await benchEngine({ bundle: values.bundle, maxBank: Number(values["max-bank"]), threads });
const ingest = await benchIngest({ bundle: values.bundle, pdfs: Number(values.pdfs), pages: Number(values.pages), bank: Number(values.bank), threads });
// MAC's F1 comes from `mnemo eval` of the same bundle (docs/eval/), when one has been recorded.
const recorded = existsSync(values["eval-report"]) ? JSON.parse(readFileSync(values["eval-report"], "utf8")) : null;
const evalReport = recorded?.bundle === engine.bundle && recorded?.complete ? recorded : null;
const baseline = uniform();
const efficiency = {
  mac: { seconds_per_doc: evalReport ? evalReport.ingest.ms_per_doc / 1000 : 1 / ingest.bank.ingest_chunks_per_s,
    source: evalReport ? `${values["eval-report"]} (mnemo eval, app ingestion path)` : "bench:ingest notes", f1: evalReport?.modes?.mac ?? null,
    question_only_f1: evalReport?.modes?.["question-only"] ?? null },
  uniform: baseline };
const f1 = (m: ModeF1 | null | undefined) => (m ? `${m.f1.toFixed(2)} [${m.f1_ci95[0].toFixed(2)}, ${m.f1_ci95[1].toFixed(2)}] (n ${m.n})` : "–");
const u = "skipped" in baseline ? null : baseline;
const body = [
  "## Engine", "", ...engineMarkdown(engine), "", "## Ingestion", "", ...ingestMarkdown(ingest), "",
  "## Adapting to new documents: MAC against online fine-tuning (\"uniform\")", "",
  ...table([{ method: "MAC: one amortizer pass per document", "ms per document": 1000 * efficiency.mac.seconds_per_doc, "F1 (valid)": f1(efficiency.mac.f1) },
    { method: "uniform: gradient steps of the LM on each document", "ms per document": u ? 1000 * u.seconds_per_doc : null, "F1 (valid)": f1(u?.modes.uniform) },
    { method: "the frozen LM alone (control)", "ms per document": 0, "F1 (valid)": f1(u?.modes.lm) }]),
  "", u ? `Uniform: \`${u.command}\` (${u.docs} documents).` : `Uniform baseline not run: ${(baseline as { skipped: string }).skipped}.`,
  `MAC seconds per document from ${efficiency.mac.source}.`];
record({ out: values.out, name: "bench", title: "Benchmarks", script: "bench", bundle: engine.bundle, data: { engine, ingest, efficiency }, body });
