// npm run eval:retrieval [-- --data FILE --bundle DIR --threads N --limit-questions N --json OUT]:
// retrieval recall (bm25, dense, hybrid), storage formats and the answer policy on SQuAD valid,
// through the app's own ingest and search (electron/eval/retrieval.ts). Progress on stderr, the
// JSON to --json, a summary on stdout. docs/retrieval.md reads its results.
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { DEFAULT_BUNDLE } from "../app/paths.js";
import { runRetrievalEval } from "./retrieval.js";

const USAGE =
  "usage: eval:retrieval --data SQUAD.json[.gz] [--bundle DIR] [--threads N] [--limit-questions N] [--json OUT]";

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: "string" },
      bundle: { type: "string", default: DEFAULT_BUNDLE },
      threads: { type: "string" },
      "limit-questions": { type: "string" },
      json: { type: "string" },
    },
  });
  if (!values.data) {
    process.stderr.write(`--data is required\n${USAGE}\n`);
    return 2;
  }
  const int = (v: string | undefined, name: string) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive whole number, got ${v}`);
    return n;
  };
  const threads = int(values.threads, "threads"),
    limit = int(values["limit-questions"], "limit-questions");
  let last = "";
  const t0 = performance.now();
  const report = await runRetrievalEval(
    {
      data: values.data,
      bundleDir: values.bundle,
      ...(threads ? { threads } : {}),
      ...(limit ? { limitQuestions: limit } : {}),
      onProgress: (phase, done, total) => {
        const line = `${phase} ${Math.floor((100 * done) / Math.max(1, total))}%`;
        if (line !== last && (done % 500 === 0 || done === total))
          process.stderr.write(`${line} (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
        last = line;
      },
    },
    `npm run eval:retrieval -- ${argv.join(" ")}`.trim(),
  );
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 1) + "\n");
  const out = [
    `${report.questions} questions, ${report.paragraphs} paragraphs, ${report.chunks} chunks; ingest ${report.ingest.chunks_per_s.toFixed(1)} chunks/s`,
    "| search | r@1 | r@3 | r@5 | r@10 |",
    "|---|---:|---:|---:|---:|",
    ...Object.entries(report.recall).map(
      ([m, r]) => `| ${m} | ${r["r@1"]} | ${r["r@3"]} | ${r["r@5"]} | ${r["r@10"]} |`,
    ),
    "",
    `fusion: shipped ${JSON.stringify(report.fusion.shipped)}; chosen on valid: ${report.fusion.chosen}; held out: ${JSON.stringify(report.fusion.held_out)}`,
    "",
    ...Object.entries(report.deltas).map(
      ([k, d]) => `${k}: ${d.f1.toFixed(1)} [${d.ci95[0].toFixed(1)}, ${d.ci95[1].toFixed(1)}] points`,
    ),
    "",
    ...Object.entries(report.formats).map(
      ([f, r]) => `${f}: ${r.payload_bytes_per_chunk} B/chunk, dense r@1 ${r["r@1"]} r@5 ${r["r@5"]}`,
    ),
    `stored: ${JSON.stringify(report.storage)}; app hybrid agrees ${report.app_hybrid_agrees}`,
    "",
    `policy: threshold ${report.policy.threshold} ${JSON.stringify(report.policy.in_sample)}`,
    ...report.policy.held_out.map((h) => `held out: ${JSON.stringify(h)}`),
    `full vault abstained: ${report.policy.full_vault_abstained}%`,
  ];
  process.stdout.write(out.join("\n") + "\n");
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: Error) => {
    process.stderr.write(`eval:retrieval: ${e.message}\n`);
    process.exitCode = 1;
  },
);
