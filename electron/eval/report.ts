// The evaluation report for people: report.md with the tables, and SVG charts drawn by Vega-Lite
// (F1 per mode with 95% intervals, the retention curve, first-token latency against vault size).
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { EvalReport } from "./run.js";

async function svg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const BASE = {
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  width: 420,
  height: 240,
  config: { font: "sans-serif", axis: { labelFontSize: 12, titleFontSize: 12 }, view: { stroke: null } },
} as const;

export function f1Chart(r: EvalReport): TopLevelSpec {
  const values = Object.entries(r.modes).map(([mode, m]) => ({ mode, f1: m.f1, lo: m.f1_ci95[0], hi: m.f1_ci95[1] }));
  return {
    ...BASE,
    title: `F1 per mode (${r.stream.questions} questions, 95% bootstrap intervals)`,
    data: { values },
    width: 560,
    encoding: {
      x: { field: "mode", type: "nominal", sort: null, title: null, axis: { labelAngle: 0, labelPadding: 6 } },
    },
    layer: [
      {
        mark: { type: "bar", color: "#4c78a8", width: { band: 0.6 } },
        encoding: { y: { field: "f1", type: "quantitative", title: "F1 (%)" } },
      },
      {
        mark: { type: "errorbar", ticks: true, color: "#222" },
        encoding: { y: { field: "lo", type: "quantitative", title: "F1 (%)" }, y2: { field: "hi" } },
      },
    ],
  };
}

export function retentionChart(r: EvalReport): TopLevelSpec {
  return {
    ...BASE,
    title: `Retention: F1 on the first documents' questions as the stream grows (mac)`,
    data: { values: r.retention },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "stream_docs", type: "quantitative", title: "documents ingested" },
      y: { field: "f1", type: "quantitative", title: "F1 (%)" },
    },
  };
}

export function latencyChart(r: EvalReport): TopLevelSpec {
  return {
    ...BASE,
    title: "First-token latency against vault size (median, mac)",
    data: { values: r.retention },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "vault_entries", type: "quantitative", title: "chunks in the vault" },
      y: { field: "first_token_ms_p50", type: "quantitative", title: "first token (ms)" },
    },
  };
}

const pct = (x: number) => x.toFixed(2);

export function markdown(r: EvalReport): string {
  const rows = Object.entries(r.modes).map(
    ([mode, m]) =>
      `| ${mode} | ${m.n} | ${pct(m.em)} | ${pct(m.em_lenient)} | ${pct(m.f1)} | [${pct(m.f1_ci95[0])}, ${pct(m.f1_ci95[1])}] | ${m.first_token_ms_p50?.toFixed(0) ?? "–"} | ${m.total_ms_p50.toFixed(0)} |`,
  );
  const deltas = Object.entries(r.deltas).map(
    ([k, d]) =>
      `| ${k} | ${d.f1 >= 0 ? "+" : ""}${pct(d.f1)} | [${pct(d.ci95[0])}, ${pct(d.ci95[1])}] | ${d.excludes_zero ? "yes" : "no"} |`,
  );
  return (
    [
      `# Evaluation${r.complete ? "" : " (INCOMPLETE: cancelled before the end)"}`,
      "",
      `Bundle \`${r.bundle}\`, data \`${r.data}\`, ${r.stream.docs} documents${r.stream.sampled_docs ? " (seeded sample)" : ""}, ` +
        `${r.stream.questions} questions${r.stream.sampled_questions ? " (seeded sample)" : ""}, seed ${r.seed}, ${r.date}.`,
      "",
      `Command: \`${r.command}\``,
      "",
      "| mode | n | EM | lenient EM | F1 | F1 95% CI | first token ms (p50) | total ms (p50) |",
      "|---|---:|---:|---:|---:|---|---:|---:|",
      ...rows,
      "",
      ...Object.entries(r.unavailable ?? {}).map(([mode, why]) => `Not run: ${mode} (${why}).`),
      ...(Object.keys(r.unavailable ?? {}).length ? [""] : []),
      "Paired differences (F1 points, same questions):",
      "",
      "| comparison | ΔF1 | 95% CI | excludes 0 |",
      "|---|---:|---|---|",
      ...deltas,
      "",
      `Ingestion: ${r.ingest.docs} documents, ${r.ingest.chunks} chunks, ${r.ingest.ms_per_doc.toFixed(1)} ms per document, ` +
        `${(r.ingest.bytes_per_doc / 1024).toFixed(1)} KB of vault database per document (${(r.ingest.modulation_bytes_per_doc / 1024).toFixed(1)} KB of it modulations).`,
      "",
      "![F1 per mode](f1.svg)",
      "",
      ...(r.retention.length
        ? [
            "![retention](retention.svg)",
            "",
            "![latency](latency.svg)",
            "",
            "| documents ingested | chunks in the vault | bank entries attended | F1 on the first documents' questions | first token ms (p50) |",
            "|---:|---:|---:|---:|---:|",
            ...r.retention.map(
              (p) =>
                `| ${p.stream_docs} | ${p.vault_entries} | ${p.bank_size} | ${pct(p.f1)} | ${p.first_token_ms_p50?.toFixed(0) ?? "–"} |`,
            ),
          ]
        : []),
    ].join("\n") + "\n"
  );
}

export async function writeReport(r: EvalReport, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "report.md"), markdown(r));
  writeFileSync(path.join(dir, "report.json"), JSON.stringify(r, null, 1) + "\n");
  writeFileSync(path.join(dir, "f1.svg"), await svg(f1Chart(r)));
  if (r.retention.length) {
    writeFileSync(path.join(dir, "retention.svg"), await svg(retentionChart(r)));
    writeFileSync(path.join(dir, "latency.svg"), await svg(latencyChart(r)));
  }
}
