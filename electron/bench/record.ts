// One benchmark result on disk: <out>/<name>-<date>.json (the figures, the machine, the command that
// made them, peak RSS) and .md (a title line, the same facts, then the body), echoed to stdout.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export function record(o: {
  out: string;
  name: string;
  title: string;
  script: string;
  bundle: string;
  data: object;
  body: string[];
}): void {
  const date = new Date().toISOString();
  const result = {
    date,
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model}`,
    command: `npm run ${o.script} -- ${process.argv.slice(2).join(" ")}`.trim(),
    ...o.data,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
  };
  mkdirSync(o.out, { recursive: true });
  const stem = path.join(o.out, `${o.name}-${date.slice(0, 10)}`);
  writeFileSync(`${stem}.json`, JSON.stringify(result, null, 1) + "\n");
  const md = [
    `# ${o.title} ${date.slice(0, 10)}`,
    "",
    `Bundle \`${o.bundle}\`, ${result.machine}, \`${result.command}\`. Peak RSS ${result.peak_rss_mb.toFixed(0)} MB.`,
    "",
    ...o.body,
  ].join("\n");
  writeFileSync(`${stem}.md`, md + "\n");
  console.log(md);
}
