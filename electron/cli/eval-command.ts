// `mnemo eval`: its own options (--json takes a file here), a progress bar, Ctrl-C for a partial report.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { SingleBar } from "cli-progress";
import { SEARCH_MODES, type SearchMode } from "../shared/api.js";
import { DEFAULT_BUNDLE } from "../app/paths.js";
import { writeReport } from "../eval/report.js";
import { EVAL_MODES, runEval, type EvalMode } from "../eval/run.js";
import { num, UsageError } from "./options.js";

export const EVAL_USAGE = `usage: mnemo eval --data FILE [--limit-docs N] [--limit-questions N] [--seed S] [--modes ${EVAL_MODES.join(",")}] [--search hybrid|bm25|dense]
                  [--passages K] [--candidates N] [--bundle DIR] [--threads N] [--json OUT] [--report DIR]
  --candidates N: how many of retrieval's best chunks the memory attends over (the app's default when omitted)`;

export async function evalCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        data: { type: "string" },
        "limit-docs": { type: "string" },
        "limit-questions": { type: "string" },
        seed: { type: "string", default: "0" },
        modes: { type: "string", default: EVAL_MODES.join(",") },
        passages: { type: "string", default: "3" },
        candidates: { type: "string" },
        bundle: { type: "string", default: DEFAULT_BUNDLE },
        threads: { type: "string" },
        json: { type: "string" },
        report: { type: "string" },
        "retention-docs": { type: "string", default: "200" },
        "retention-points": { type: "string", default: "5" },
        "retention-questions": { type: "string", default: "200" },
        search: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${EVAL_USAGE}`);
  }
  // `mnemo eval --help` is a request, not a wrong call: usage to stdout, exit 0, nothing run.
  if (values.help) {
    process.stdout.write(`${EVAL_USAGE}\n`);
    return 0;
  }
  if (!values.data) throw new UsageError(`--data FILE is required\n${EVAL_USAGE}`);
  const modes = values.modes
    .split(",")
    .map((m) => m.trim())
    .filter(Boolean);
  const unknown = modes.filter((m) => !(EVAL_MODES as readonly string[]).includes(m));
  if (unknown.length || !modes.length)
    throw new UsageError(`unknown mode ${unknown.join(", ") || "(none given)"}; modes are ${EVAL_MODES.join(", ")}`);
  if (values.search !== undefined && !(SEARCH_MODES as readonly string[]).includes(values.search)) {
    throw new UsageError(`--search must be one of ${SEARCH_MODES.join(", ")}, got ${values.search}`);
  }
  const controller = new AbortController();
  let pressed = false;
  const onSigint = () => {
    if (pressed) process.exit(130);
    pressed = true;
    controller.abort();
    process.stderr.write("\ncancelling: writing a partial report...\n");
  };
  process.on("SIGINT", onSigint);
  const bar = process.stderr.isTTY
    ? new SingleBar({ format: " {phase} {bar} {value}/{total}", stream: process.stderr, barsize: 30, hideCursor: true })
    : null;
  let phase = "";
  const threads = num(values.threads, "threads");
  try {
    const report = await runEval(
      {
        data: values.data,
        bundleDir: values.bundle,
        modes: modes as EvalMode[],
        seed: num(values.seed, "seed")!,
        passages: num(values.passages, "passages")!,
        ...(values["limit-docs"] ? { limitDocs: num(values["limit-docs"], "limit-docs")! } : {}),
        ...(values["limit-questions"] ? { limitQuestions: num(values["limit-questions"], "limit-questions")! } : {}),
        retentionDocs: num(values["retention-docs"], "retention-docs")!,
        retentionPoints: num(values["retention-points"], "retention-points")!,
        retentionQuestions: num(values["retention-questions"], "retention-questions")!,
        ...(threads !== undefined ? { threads } : {}),
        ...(values.search ? { search: values.search as SearchMode } : {}),
        ...(values.candidates ? { candidates: num(values.candidates, "candidates")! } : {}),
        signal: controller.signal,
        onProgress: (p, done, total) => {
          if (!bar) {
            if (p !== phase) process.stderr.write(`${p}...\n`);
            phase = p;
            return;
          }
          if (p !== phase) {
            bar.stop();
            bar.start(total, done, { phase: p.padEnd(14) });
            phase = p;
          } else bar.update(done);
        },
      },
      `mnemo eval ${argv.join(" ")}`,
    );
    bar?.stop();
    if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 1) + "\n");
    if (values.report) await writeReport(report, values.report);
    for (const [mode, m] of Object.entries(report.modes)) {
      process.stdout.write(
        `${mode.padEnd(14)} F1 ${m.f1.toFixed(2)} [${m.f1_ci95[0].toFixed(2)}, ${m.f1_ci95[1].toFixed(2)}]  EM ${m.em.toFixed(2)}  lenient EM ${m.em_lenient.toFixed(2)}  n ${m.n}\n`,
      );
    }
    for (const [k, d] of Object.entries(report.deltas))
      process.stdout.write(
        `${k.padEnd(24)} ΔF1 ${d.f1.toFixed(2)} [${d.ci95[0].toFixed(2)}, ${d.ci95[1].toFixed(2)}]\n`,
      );
    if (values.report) process.stdout.write(`report: ${path.join(values.report, "report.md")}\n`);
    if (!report.complete) process.stderr.write("the evaluation was cancelled: the report is marked incomplete\n");
    return report.complete ? 0 : 1;
  } finally {
    bar?.stop();
    process.off("SIGINT", onSigint);
  }
}
