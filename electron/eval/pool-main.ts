// npm run eval:pool -- REPORT.json REPORT.json ... [--data SQUAD.json[.gz]] [--json OUT]:
// several `mnemo eval` samples of one bundle read as one (pool.ts). Reports written before
// question ids were recorded are rebuilt from the data file (default: the one each report names).
// With --against REPORT.json (repeatable), another bundle's reports: each shared mode's F1 of both,
// paired by question id (compareBundles), instead of the pool's own table.
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { compareBundles, poolReports, questionIds, type PoolInput } from "./pool.js";
import type { EvalReport } from "./run.js";
import { readSquad, type Paragraph } from "./squad.js";

const USAGE =
  "usage: eval:pool REPORT.json [REPORT.json ...] [--against REPORT.json ...] [--data SQUAD.json[.gz]] [--json OUT]";

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { data: { type: "string" }, json: { type: "string" }, against: { type: "string", multiple: true } },
  });
  const against = values.against ?? [];
  if (positionals.length < (against.length ? 1 : 2)) {
    process.stderr.write(`two or more reports are needed\n${USAGE}\n`);
    return 2;
  }
  const squads = new Map<string, Paragraph[]>();
  const read = async (files: string[]) => {
    const inputs: PoolInput[] = [];
    for (const file of files) {
      const report = JSON.parse(readFileSync(file, "utf8")) as EvalReport;
      if (!report.modes || !report.stream) throw new Error(`${file} is not a mnemo eval report`);
      let paragraphs: Paragraph[] = [];
      if (!report.question_ids) {
        const data = values.data ?? report.data;
        if (!squads.has(data)) squads.set(data, await readSquad(data));
        paragraphs = squads.get(data)!;
      }
      inputs.push({ file, report, ids: questionIds(report, paragraphs) });
    }
    return inputs;
  };
  const inputs = await read(positionals);
  if (against.length) return compare(await read(against), inputs, argv, values.json);
  const pool = poolReports(inputs);
  if (values.json)
    writeFileSync(
      values.json,
      JSON.stringify({ command: `npm run eval:pool -- ${argv.join(" ")}`, ...pool }, null, 1) + "\n",
    );
  const f = (x: number) => x.toFixed(2);
  const lines = [
    `${pool.bundle}: ${pool.questions} questions (${pool.duplicates} drawn twice, kept once)`,
    ...pool.sources.map((s) => `  ${s.file}: seed ${s.seed}, ${s.questions} questions, ${s.kept} kept`),
    "",
    "| mode | n | F1 | 95% CI |",
    "|---|---:|---:|---|",
    ...Object.entries(pool.modes).map(
      ([m, s]) => `| ${m} | ${s.n} | ${f(s.f1)} | [${f(s.f1_ci95[0])}, ${f(s.f1_ci95[1])}] |`,
    ),
    "",
    "| comparison | ΔF1 | 95% CI | better | worse |",
    "|---|---:|---|---:|---:|",
    ...Object.entries(pool.deltas).map(
      ([k, d]) =>
        `| ${k} | ${d.f1 >= 0 ? "+" : ""}${f(d.f1)} | [${f(d.ci95[0])}, ${f(d.ci95[1])}] | ${d.better} | ${d.worse} |`,
    ),
  ];
  process.stdout.write(lines.join("\n") + "\n");
  return 0;
}

function compare(base: PoolInput[], next: PoolInput[], argv: string[], json?: string): number {
  const r = compareBundles(base, next);
  if (json)
    writeFileSync(json, JSON.stringify({ command: `npm run eval:pool -- ${argv.join(" ")}`, ...r }, null, 1) + "\n");
  const f = (x: number) => x.toFixed(2);
  const lines = [
    `${r.b} against ${r.a}: ${r.questions} questions both asked`,
    "",
    `| mode | ${r.a} F1 | ${r.b} F1 | ΔF1 | 95% CI | better | worse |`,
    "|---|---:|---:|---:|---|---:|---:|",
    ...Object.entries(r.modes).map(
      ([m, d]) =>
        `| ${m} | ${f(d.a)} | ${f(d.b)} | ${d.f1 >= 0 ? "+" : ""}${f(d.f1)} | [${f(d.ci95[0])}, ${f(d.ci95[1])}] ` +
        `| ${d.better} | ${d.worse} |`,
    ),
  ];
  process.stdout.write(lines.join("\n") + "\n");
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: Error) => {
    process.stderr.write(`eval:pool: ${e.message}\n`);
    process.exitCode = 1;
  },
);
