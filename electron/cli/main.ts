#!/usr/bin/env node
// mnemo: the command-line tool. `mnemo ask --bundle DIR --doc FILE... "question"` builds an in-memory
// memory bank from the documents and streams the answer; --json prints {answer, sources, timings}.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { AppError } from "../shared/errors.js";
import { EngineClient } from "../engine/engine-client.js";

const USAGE = `usage: mnemo ask --bundle DIR --doc FILE [--doc FILE ...] [--json] [--temperature T --top-p P --seed S | --beams K] [--threads N] [--provider cpu|cuda|dml] "question"`;
import { DEFAULT_BUNDLE } from "./paths.js";

class UsageError extends Error {}

async function ask(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: {
    bundle: { type: "string", default: DEFAULT_BUNDLE }, doc: { type: "string", multiple: true, default: [] },
    json: { type: "boolean", default: false }, temperature: { type: "string" }, "top-p": { type: "string" },
    seed: { type: "string" }, threads: { type: "string" }, beams: { type: "string" }, provider: { type: "string", default: "cpu" } } });
  const question = positionals.join(" ").trim();
  if (!question) throw new UsageError("the question is empty");
  const texts: [string, string][] = [];
  for (const file of values.doc) {
    try {
      texts.push([path.basename(file), await readFile(file, "utf8")]);
    } catch (e) {
      throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  const num = (v: string | undefined, name: string) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got ${v}`);
    return n;
  };
  const engine = new EngineClient((m) => process.stderr.write(`warning: ${m}\n`));
  try {
    if (!["cpu", "cuda", "dml"].includes(values.provider)) throw new UsageError(`--provider must be cpu, cuda or dml, got ${values.provider}`);
    await engine.load(values.bundle, { executionProvider: values.provider as "cpu" | "cuda" | "dml", threads: num(values.threads, "threads") ?? 0 });
    const t0 = performance.now();
    for (const [name, text] of texts) await engine.ingest(name, text);
    const ingestMs = performance.now() - t0;
    const options = { ...(values.temperature ? { temperature: num(values.temperature, "temperature")! } : {}),
      ...(values["top-p"] ? { topP: num(values["top-p"], "top-p")! } : {}), ...(values.seed ? { seed: num(values.seed, "seed")! } : {}),
      ...(values.beams ? { beams: num(values.beams, "beams")! } : {}) };
    const controller = new AbortController();
    process.once("SIGINT", () => controller.abort());
    const result = await engine.ask(question, options, (t) => { if (!values.json) process.stdout.write(t); }, controller.signal);
    if (values.json) {
      process.stdout.write(JSON.stringify({ ...result, timings: { ...result.timings, ingestMs } }, null, 1) + "\n");
    } else {
      process.stdout.write(result.answer ? "\n" : "(no answer)\n");
      if (result.sources.length) {
        process.stdout.write("sources: " + result.sources.map((s) => `${s.key} (${(100 * s.weight).toFixed(1)}%)`).join(", ") + "\n");
      }
    }
  } finally {
    await engine.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === "ask") await ask(rest);
    else throw new UsageError(command ? `unknown command ${command}` : "no command given");
    return 0;
  } catch (e) {
    if (e instanceof UsageError) process.stderr.write(`mnemo: ${e.message}\n${USAGE}\n`);
    else if (e instanceof AppError) process.stderr.write(`mnemo: ${e.message}\n`);
    else throw e;
    return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
