#!/usr/bin/env node
// mnemo: the command-line tool over the application service. Vaults live in the platform's app-data
// folder (--data-dir or MNEMO_DATA_DIR to move them); the model is the default bundle unless --bundle.
import { AppError } from "../shared/errors.js";
import { MnemoApp } from "../app/app.js";
import { resolveBundleDir } from "../app/models.js";
import { defaultDataDir } from "../app/paths.js";
import { COMMANDS } from "./commands.js";
import { models, MODELS_USAGE } from "./models-command.js";
import { EVAL_USAGE, evalCommand } from "./eval-command.js";
import { num, parse, UsageError } from "./options.js";

export const USAGE = `usage: mnemo <command> [options]
  vault create NAME | vault list | vault rename NAME NEW | vault remove NAME
  vault export NAME FILE | vault import FILE [--name NAME]
  add VAULT PATH...            ingest files and folders (PDF, Word, Markdown, HTML, text); resumes an interrupted run
  docs VAULT                   list a vault's documents and their status
  rm VAULT DOC_ID...           remove documents
  watch VAULT DIR              keep a vault in sync with a folder until Ctrl-C
  search VAULT "words"         passages: --mode hybrid (default: keywords and meaning fused)|bm25|dense  --limit N
  ask [--vault NAME...] [--doc FILE...] "question"   streamed answer, then its sources
  models [list|use|build|probe] [NAME]   the readers: size, licence, speed here; switch, build, time one
  eval --data SQUAD.json ...   quality through the app's own path (mnemo eval --help for its options)
  help [eval|models]           this usage, or eval's or models' (also -h or --help anywhere)
options: --data-dir DIR  --bundle DIR  --provider cpu|cuda|dml  --threads N  --json
ask: --mode memory+keyword|keyword|memory|none (default: the bundle's; memory+keyword for the default model)
     --long (a few sentences)  --passages K  --candidates N  --temperature T --top-p P --seed S | --beams K
     --search hybrid (default)|bm25|dense  --no-abstain (answer even when no passage is relevant; default: "Not found in your documents")`;

export async function main(argv: string[]): Promise<number> {
  let app: MnemoApp | undefined;
  try {
    if (argv[0] === "eval") return await evalCommand(argv.slice(1));
    const { values, positionals } = parse(argv);
    const [command, ...args] = positionals;
    // Asking for help is not a wrong call: usage goes to stdout, exit 0, before any app is opened.
    if (values.help || command === "help") {
      const topic = command === "help" ? args[0] : command;
      process.stdout.write(`${topic === "eval" ? EVAL_USAGE : topic === "models" ? MODELS_USAGE : USAGE}\n`);
      return 0;
    }
    const run = command === "models" ? models : command ? COMMANDS[command] : undefined;
    if (!run) throw new UsageError(command ? `unknown command ${command}` : "no command given");
    if (!["cpu", "cuda", "dml"].includes(values.provider))
      throw new UsageError(`--provider must be cpu, cuda or dml, got ${values.provider}`);
    const threads = num(values.threads, "threads");
    const dataDir = values["data-dir"] ?? defaultDataDir();
    app = new MnemoApp({
      dataDir,
      bundleDir: await resolveBundleDir(values.bundle, dataDir),
      provider: values.provider as "cpu" | "cuda" | "dml",
      ...(threads !== undefined ? { threads } : {}),
      onWarning: (m) => process.stderr.write(`warning: ${m}\n`),
    });
    return await run(app, args, values);
  } catch (e) {
    if (e instanceof UsageError) process.stderr.write(`mnemo: ${e.message}\n${USAGE}\n`);
    else if (e instanceof AppError) process.stderr.write(`mnemo: ${e.message}\n`);
    else throw e;
    return 2;
  } finally {
    await app?.close();
  }
}

// A reader that stops early (\`mnemo ask … | head -1\`) closes the pipe: end quietly, as Unix tools do.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw e;
});
process.exitCode = await main(process.argv.slice(2));
