// npm run bench:mac [-- --bundle DIR --out DIR --threads N --max-bank N --pdfs N --pages N --bank N
// --eval-report FILE]: the engine and ingestion benchmarks and MAC's cost per document (one
// amortizer pass), with its F1 when `mnemo eval` recorded one for the same bundle, in one dated
// JSON + Markdown result under docs/bench/. The paper's "uniform" baseline (gradient steps of the
// LM on each document) is a PyTorch run in models/ (UNIFORM_COMMAND below); its results are in
// docs/eval.md.
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { DEFAULT_BUNDLE } from "../app/paths.js";
import { benchEngine, engineMarkdown, table } from "./engine.js";
import { benchIngest, ingestMarkdown } from "./ingest.js";
import { record } from "./record.js";

const { values } = parseArgs({
  options: {
    bundle: { type: "string", default: DEFAULT_BUNDLE },
    out: { type: "string", default: "docs/bench" },
    threads: { type: "string", default: "0" },
    "max-bank": { type: "string", default: "100000" },
    pdfs: { type: "string", default: "40" },
    pages: { type: "string", default: "5" },
    bank: { type: "string", default: "10000" },
    "eval-report": { type: "string", default: "docs/eval/valid-default.json" },
  },
});

interface ModeF1 {
  f1: number;
  f1_ci95: [number, number];
  n: number;
}

/** Where the uniform online fine-tuning baseline runs now: on the default bundle's LM, in PyTorch (docs/eval.md). */
const UNIFORM_COMMAND = "cd models && .venv/bin/python -m mnemo_models.uniform --docs 30 --out runs/uniform-gemma.json";

console.log(`bench:mac: the uniform online fine-tuning baseline is run separately: ${UNIFORM_COMMAND} (docs/eval.md)`);
const threads = Number(values.threads);
const engine = await benchEngine({ bundle: values.bundle, maxBank: Number(values["max-bank"]), threads });
const ingest = await benchIngest({
  bundle: values.bundle,
  pdfs: Number(values.pdfs),
  pages: Number(values.pages),
  bank: Number(values.bank),
  threads,
});
// MAC's F1 comes from `mnemo eval` of the same bundle (docs/eval/), when one has been recorded.
const recorded = existsSync(values["eval-report"]) ? JSON.parse(readFileSync(values["eval-report"], "utf8")) : null;
const evalReport = recorded?.bundle === engine.bundle && recorded?.complete ? recorded : null;
const efficiency = {
  mac: {
    seconds_per_doc: evalReport ? evalReport.ingest.ms_per_doc / 1000 : 1 / ingest.bank.ingest_chunks_per_s,
    source: evalReport ? `${values["eval-report"]} (mnemo eval, app ingestion path)` : "bench:ingest notes",
    f1: evalReport?.modes?.mac ?? null,
    question_only_f1: evalReport?.modes?.["question-only"] ?? null,
  },
  uniform: { command: UNIFORM_COMMAND, results: "docs/eval.md" },
};
const f1 = (m: ModeF1 | null | undefined) =>
  m ? `${m.f1.toFixed(2)} [${m.f1_ci95[0].toFixed(2)}, ${m.f1_ci95[1].toFixed(2)}] (n ${m.n})` : "–";
const body = [
  "## Engine",
  "",
  ...engineMarkdown(engine),
  "",
  "## Ingestion",
  "",
  ...ingestMarkdown(ingest),
  "",
  "## Adapting to new documents: MAC's cost per document",
  "",
  ...table([
    {
      method: "MAC: one amortizer pass per document",
      "ms per document": 1000 * efficiency.mac.seconds_per_doc,
      "F1 (valid)": f1(efficiency.mac.f1),
    },
    {
      method: "the frozen LM, question alone (control)",
      "ms per document": 0,
      "F1 (valid)": f1(efficiency.mac.question_only_f1),
    },
  ]),
  "",
  `MAC seconds per document from ${efficiency.mac.source}.`,
  `The "uniform" baseline (gradient steps of the LM on each document) runs in PyTorch, not here: \`${UNIFORM_COMMAND}\`; results in docs/eval.md.`,
];
record({
  out: values.out,
  name: "bench",
  title: "Benchmarks",
  script: "bench:mac",
  bundle: engine.bundle,
  data: { engine, ingest, efficiency },
  body,
});
