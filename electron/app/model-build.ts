// Building a model bundle from the app or the CLI: runs setup's builder (python -m
// mnemo_models.build_bundle --model NAME in models/, with the venv setup made) as a child process,
// turns its log lines into progress, and cancels it on request. The builder writes into NAME.partial
// and renames it into place only when complete, so a cancelled or crashed build never leaves a bundle
// that looks ready; building again starts that folder afresh from the already-downloaded files.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import type { ModelBuildProgress } from "../shared/models.js";
import { AppError } from "../shared/errors.js";
import { CATALOG } from "./models.js";

/** The source checkout's models/ folder (out/app/ -> repo/models); absent in a packaged app. */
export const MODELS_SOURCE = path.resolve(import.meta.dirname, "../../models");

export interface BuildCommand {
  command: string;
  args: string[];
  cwd: string;
}

export function buildCommand(name: string, modelsDir = MODELS_SOURCE): BuildCommand {
  if (!CATALOG.some((m) => m.name === name))
    throw new AppError("INVALID_ARGUMENT", `setup does not know how to build "${name}" (mnemo models list)`);
  const python = path.join(modelsDir, ".venv", "bin", "python");
  if (!existsSync(python))
    throw new AppError(
      "BUILD_UNAVAILABLE",
      `building a model needs Mnemo's source checkout with its setup done (${python} is missing): ` +
        `run \`npm run setup -- --model ${name}\` there, then copy the bundle into the bundles folder`,
    );
  return { command: python, args: ["-u", "-m", "mnemo_models.build_bundle", "--model", name], cwd: modelsDir };
}

/** Which stage a builder log line starts, and how far along the build is then. */
const STAGES: [RegExp, ModelBuildProgress["stage"], number][] = [
  [/^downloading /, "downloading", 0.05],
  [/^assembled /, "downloading", 0.2],
  [/^converting /, "converting", 0.25],
  [/^computing golden fixtures/, "checking", 0.75],
  [/^(MAC heads|exporting the MAC heads)/, "memory heads", 0.85],
  [/^exporting the MiniLM encoder/, "converting", 0.9],
];

export function progressOf(prev: ModelBuildProgress, line: string): ModelBuildProgress {
  const text = line.trim();
  if (!text || /Warning|warnings\.warn|_C\._jit/.test(text)) return prev; // torch's exporter chatter
  for (const [re, stage, fraction] of STAGES)
    if (re.test(text)) return { ...prev, stage, line: text, fraction: Math.max(prev.fraction, fraction) };
  return { ...prev, line: text };
}

export interface RunningBuild {
  name: string;
  done: Promise<ModelBuildProgress>;
  cancel(): void;
}

/**
 * Starts a build; onProgress gets each stage and line, then the final state. The promise resolves
 * (never rejects) with that final state: done, failed (with the builder's last line) or cancelled.
 */
export function startBuild(
  name: string,
  onProgress: (p: ModelBuildProgress) => void,
  cmd: BuildCommand = buildCommand(name),
): RunningBuild {
  let p: ModelBuildProgress = { name, state: "running", stage: "starting", line: "", fraction: 0 };
  let cancelled = false;
  const child: ChildProcess = spawn(cmd.command, cmd.args, {
    cwd: cmd.cwd,
    stdio: ["ignore", "pipe", "pipe"],
    detached: process.platform !== "win32", // its own process group: cancelling stops its workers too
  });
  onProgress(p);
  let tail = "";
  const onData = (d: Buffer) => {
    const lines = (tail + d.toString()).split(/\r?\n/);
    tail = lines.pop() ?? "";
    for (const line of lines) {
      const next = progressOf(p, line);
      if (next !== p) onProgress((p = next));
    }
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const done = new Promise<ModelBuildProgress>((resolve) => {
    let finished = false;
    const finish = (code: number | null, error?: string) => {
      if (finished) return; // a failed spawn can report both "error" and "exit"
      finished = true;
      if (tail) p = progressOf(p, tail);
      const state = cancelled ? "cancelled" : code === 0 ? "done" : "failed";
      p = {
        ...p,
        state,
        fraction: state === "done" ? 1 : p.fraction,
        line: error ?? (state === "failed" ? p.line || `the builder exited with code ${code}` : p.line),
      };
      onProgress(p);
      resolve(p);
    };
    child.once("error", (e) => finish(null, `could not start the builder: ${e.message}`));
    child.once("exit", (code) => finish(code));
  });
  return {
    name,
    done,
    cancel() {
      if (cancelled || child.exitCode !== null) return;
      cancelled = true;
      try {
        if (child.pid && process.platform !== "win32") process.kill(-child.pid, "SIGTERM");
        else child.kill("SIGTERM");
      } catch {
        child.kill("SIGTERM");
      }
    },
  };
}
