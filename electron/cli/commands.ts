// The CLI's commands: each takes the app, its positional arguments and the parsed options, prints
// results on stdout (JSON with --json) and progress on stderr, and returns the exit code.
import { readFile } from "node:fs/promises";
import path from "node:path";
import {
  ANSWER_MODES,
  SEARCH_MODES,
  type AnswerMode,
  type AskRequest,
  type AskResponse,
  type IngestSummary,
  type SearchMode,
  type Source,
} from "../shared/api.js";
import type { MnemoApp } from "../app/app.js";
import { num, onInterrupt, UsageError, type Options } from "./options.js";
import { IngestReporter } from "./progress.js";

type Command = (app: MnemoApp, args: string[], o: Options) => Promise<number>;

const print = (o: Options, json: unknown, text: string) =>
  process.stdout.write(o.json ? JSON.stringify(json, null, 1) + "\n" : text + (text ? "\n" : ""));
const need = (args: string[], n: number, what: string) => {
  if (args.length < n) throw new UsageError(`missing ${what}`);
};

const vault: Command = async (app, [sub, ...args], o) => {
  switch (sub) {
    case "create":
      need(args, 1, "vault name");
      {
        const v = await app.createVault(args.join(" "));
        print(o, v, `created vault "${v.name}" (${v.id})`);
      }
      return 0;
    case "list": {
      const list = await app.listVaults();
      print(
        o,
        list,
        list.length
          ? list
              .map(
                (v) =>
                  `${v.name}\t${v.ready} documents, ${v.chunks} chunks${v.queued ? `, ${v.queued} queued (mnemo add "${v.name}" resumes)` : ""}${v.errors ? `, ${v.errors} failed` : ""}${v.watches.length ? `\twatching ${v.watches.join(", ")}` : ""}`,
              )
              .join("\n")
          : "no vaults yet: mnemo vault create NAME",
      );
      return 0;
    }
    case "rename":
      need(args, 2, "vault name and new name");
      {
        const v = await app.renameVault(args[0]!, args.slice(1).join(" "));
        print(o, v, `renamed to "${v.name}"`);
      }
      return 0;
    case "remove":
      need(args, 1, "vault name");
      await app.removeVault(args.join(" "));
      print(o, { removed: args.join(" ") }, `removed vault "${args.join(" ")}"`);
      return 0;
    case "export":
      need(args, 2, "vault name and output file");
      await app.exportVault(args[0]!, path.resolve(args[1]!));
      print(o, { file: path.resolve(args[1]!) }, `exported to ${path.resolve(args[1]!)}`);
      return 0;
    case "import":
      need(args, 1, "export file");
      {
        const v = await app.importVault(path.resolve(args[0]!), o.name);
        print(o, v, `imported vault "${v.name}" (${v.ready} documents)`);
      }
      return 0;
    default:
      throw new UsageError(
        sub ? `unknown vault command ${sub}` : "vault needs a command: create, list, rename, remove, export, import",
      );
  }
};

function summaryLine(s: IngestSummary): string {
  const parts = [
    `${s.ready} added`,
    s.unchanged && `${s.unchanged} unchanged`,
    s.duplicates && `${s.duplicates} duplicates`,
    s.errors && `${s.errors} failed`,
    s.skipped && `${s.skipped} skipped`,
    s.cancelled && "cancelled (documents not yet read were dropped)",
  ];
  return parts.filter(Boolean).join(", ");
}

/** Runs an ingest with a progress bar; Ctrl-C cancels it cleanly. */
async function withReporter<T>(app: MnemoApp, o: Options, vaultId: string, work: () => Promise<T>): Promise<T> {
  const reporter = new IngestReporter(o.json);
  app.config.onProgress = reporter.progress;
  app.config.onOutcome = reporter.outcome;
  const release = onInterrupt(() => app.cancel(vaultId));
  try {
    return await work();
  } finally {
    release();
    reporter.stop();
  }
}

const add: Command = async (app, [name, ...paths], o) => {
  if (!name) throw new UsageError("missing vault name");
  const v = await app.vault(name);
  const { summary, skipped } = await withReporter(app, o, v.id, () =>
    paths.length ? app.addPaths(v, paths) : app.ingest(v).then((summary) => ({ summary, skipped: [] })),
  );
  print(o, { ...summary, skipped }, summaryLine(summary));
  return summary.errors || summary.cancelled ? 1 : 0;
};

const docs: Command = async (app, [name], o) => {
  if (!name) throw new UsageError("missing vault name");
  const list = app.documents(await app.vault(name));
  print(
    o,
    list,
    list
      .map(
        (d) =>
          `${d.id}\t${d.status}\t${d.title}${d.pages ? ` (${d.pages} p.)` : ""}\t${d.chunks} chunks${d.error ? `\t${d.error}` : ""}${d.warning ? `\t${d.warning}` : ""}`,
      )
      .join("\n"),
  );
  return 0;
};

const rm: Command = async (app, [name, ...ids], o) => {
  if (!name || !ids.length) throw new UsageError("rm needs a vault and document ids (see mnemo docs VAULT)");
  const v = await app.vault(name);
  const numeric = ids.map((id) => {
    const n = Number(id);
    if (!Number.isInteger(n)) throw new UsageError(`${id} is not a document id`);
    return n;
  });
  const unknown = numeric.filter((id) => !v.store.document(id));
  if (unknown.length) throw new UsageError(`no document with id ${unknown.join(", ")} in "${v.name}"`);
  await app.removeDocuments(v, numeric);
  print(o, { removed: numeric }, `removed ${numeric.length} document(s)`);
  return 0;
};

const watch: Command = async (app, [name, dir], o) => {
  if (!name || !dir) throw new UsageError("watch needs a vault and a folder");
  const v = await app.vault(name);
  const reporter = new IngestReporter(o.json);
  app.config.onProgress = reporter.progress;
  app.config.onOutcome = (e) => {
    reporter.outcome(e);
    if (o.json) process.stdout.write(JSON.stringify(e) + "\n");
  };
  const w = await app.watch(v, path.resolve(dir));
  reporter.stop();
  process.stderr.write(`${summaryLine(w.initial)}\nwatching ${path.resolve(dir)} for "${v.name}" (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => onInterrupt(resolve));
  await w.close();
  return 0;
};

function searchMode(v: string | undefined, flag: string): SearchMode | undefined {
  if (v !== undefined && !SEARCH_MODES.includes(v as SearchMode))
    throw new UsageError(`--${flag} must be one of ${SEARCH_MODES.join(", ")}, got ${v}`);
  return v as SearchMode | undefined;
}

const search: Command = async (app, [name, ...words], o) => {
  if (!name || !words.length) throw new UsageError("search needs a vault and words");
  const mode = searchMode(o.mode, "mode") ?? "hybrid",
    limit = num(o.limit, "limit") ?? 10;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    throw new UsageError(`--limit must be a whole number from 1 to 1000, got ${o.limit}`);
  const query = words.join(" ");
  const v = await app.vault(name);
  // A vault without vectors (older, or another encoder's) gets them on its first search: show that.
  const r = await withReporter(app, o, v.id, () => app.search([v], query, mode, limit));
  const hits = r.hits.map((h, i) => ({
    rank: i + 1,
    score: h.score,
    foundBy: h.foundBy,
    keyword: h.keyword,
    dense: h.dense,
    vault: h.vault.name,
    chunkId: h.hit.chunkId,
    documentId: h.hit.documentId,
    title: h.hit.title,
    name: h.hit.name,
    pageStart: h.hit.pageStart,
    pageEnd: h.hit.pageEnd,
    charStart: h.hit.charStart,
    charEnd: h.hit.charEnd,
    text: h.hit.text,
  }));
  print(
    o,
    { query, mode: r.mode, hits, timings: r.timings },
    hits
      .map((h) => `${h.title} (${pages(h)})\t${h.foundBy}\t${h.text.slice(0, 100).replace(/\s+/g, " ")}…`)
      .join("\n") || "no matches",
  );
  return 0;
};

const pages = (s: { pageStart: number; pageEnd: number }) =>
  s.pageStart === s.pageEnd ? `p. ${s.pageStart}` : `pp. ${s.pageStart}-${s.pageEnd}`;

/** One source: title, pages, vault, then the signals that found it (the UI's source card says the same). */
export function sourceLine(s: Source): string {
  // BM25 scores of a one- or two-document vault are near zero (every word is in most documents).
  const keywords = s.keywordScore >= 0.01 ? s.keywordScore.toFixed(2) : "<0.01";
  const why = [
    s.memoryWeight > 0 && `memory ${(100 * s.memoryWeight).toFixed(1)}%`,
    s.keywordScore > 0 && `keywords ${keywords}`,
    s.denseScore > 0 && `meaning ${s.denseScore.toFixed(2)}`,
  ]
    .filter(Boolean)
    .join(", ");
  // A small vault's last passages can rank without any signal (all its chunks are candidates).
  return `  ${s.title} (${pages(s)})${s.vaultName ? ` [${s.vaultName}]` : ""} ${why || "(ranked last: no keyword or meaning match)"}`;
}

const ask: Command = async (app, words, o) => {
  const question = words.join(" ").trim();
  if (!question) throw new UsageError("the question is empty");
  const req: AskRequest = {
    question,
    ...(o.vault.length ? { vaults: o.vault } : {}),
    ...(o.long ? { long: true } : {}),
    ...(o["no-abstain"] ? { abstain: false } : {}),
  };
  const search = searchMode(o.search, "search");
  if (search) req.search = search;
  if (o.mode !== undefined) {
    if (!ANSWER_MODES.includes(o.mode as AnswerMode))
      throw new UsageError(`--mode must be one of ${ANSWER_MODES.join(", ")}, got ${o.mode}`);
    req.mode = o.mode as AnswerMode;
  }
  for (const [k, flag] of [
    ["temperature", "temperature"],
    ["topP", "top-p"],
    ["seed", "seed"],
    ["beams", "beams"],
    ["passages", "passages"],
    ["candidates", "candidates"],
  ] as const) {
    const v = num(o[flag], flag);
    if (v !== undefined) req[k] = v;
  }
  const docs = await Promise.all(
    o.doc.map(async (file) => {
      try {
        return { name: path.basename(file), text: await readFile(file, "utf8") };
      } catch (e) {
        throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }),
  );
  const controller = new AbortController();
  const release = onInterrupt(() => controller.abort());
  const onToken = (t: string) => {
    if (!o.json) process.stdout.write(t);
  };
  let r: AskResponse;
  const reporter = new IngestReporter(o.json);
  app.config.onProgress = reporter.progress; // vectors filled in for an older vault, if any
  try {
    r = docs.length
      ? await app.askDocuments(docs, req, onToken, controller.signal)
      : await app.ask(req, onToken, controller.signal);
  } finally {
    reporter.stop();
    release();
  }
  if (o.json) {
    print(o, r, "");
    return 0;
  }
  process.stdout.write(r.answer ? "\n" : "(no answer)\n");
  if (r.notFound) process.stdout.write(`(${r.notFound.reason}; --no-abstain answers anyway)\n`);
  if (r.truncated)
    process.stdout.write(
      o.long
        ? "(cut off at the longer answers' length limit)\n"
        : "(cut off at the short answers' length; --long for a longer answer)\n",
    );
  if (r.sources.length) process.stdout.write("sources:\n" + r.sources.map(sourceLine).join("\n") + "\n");
  return 0;
};

export const COMMANDS: Record<string, Command> = { vault, add, docs, rm, watch, search, ask };
