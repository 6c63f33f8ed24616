// The CLI's shared option table, argument errors and Ctrl-C handling: what main.ts parses and every command reads,
// kept apart so that main.ts, commands.ts and eval-command.ts import it and never each other.
import { parseArgs, type ParseArgsConfig } from "node:util";

/** A wrong call: main prints it with the usage and exits 2. */
export class UsageError extends Error {}

export function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got ${v}`);
  return n;
}

export const COMMON = {
  "data-dir": { type: "string" },
  /** Unset: MNEMO_BUNDLE, else the model `mnemo models use` chose, else setup's default (app/models.ts). */
  bundle: { type: "string" },
  provider: { type: "string", default: "cpu" },
  threads: { type: "string" },
  json: { type: "boolean", default: false },
  vault: { type: "string", multiple: true, default: [] },
  doc: { type: "string", multiple: true, default: [] },
  name: { type: "string" },
  temperature: { type: "string" },
  "top-p": { type: "string" },
  seed: { type: "string" },
  beams: { type: "string" },
  long: { type: "boolean", default: false },
  mode: { type: "string" },
  passages: { type: "string" },
  candidates: { type: "string" },
  search: { type: "string" },
  limit: { type: "string" },
  "no-abstain": { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} satisfies ParseArgsConfig["options"];

export type Options = ReturnType<typeof parse>["values"];

/** Every command's arguments against COMMON; a malformed one is a UsageError. */
export function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, options: COMMON });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Ctrl-C calls onCancel once; a second Ctrl-C exits at once. */
export function onInterrupt(onCancel: () => void): () => void {
  let pressed = false;
  const handler = () => {
    if (pressed) process.exit(130);
    pressed = true;
    onCancel();
  };
  process.on("SIGINT", handler);
  return () => process.off("SIGINT", handler);
}
