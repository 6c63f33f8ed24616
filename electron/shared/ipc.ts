// The wire contract of the AppApi, the same over Electron IPC and the local server's WebSocket:
// every method's parameters as a zod schema (validated at each boundary, unknown keys refused),
// its result type, and the events the backend pushes. No Node, no DOM.
import { z } from "zod";
import type {
  AnswerMode,
  AskResponse,
  DocumentOutcome,
  DocumentSummary,
  IngestProgress,
  IngestSummary,
  UpdateStatus,
  VaultSummary,
} from "./api.js";
import { ANSWER_MODES, SEARCH_MODES, UPDATE_MODES } from "./api.js";
import type { ModelBuildProgress, ModelChoice, ModelSpeed, ModelSwitchProgress } from "./models.js";
import { AppError } from "./errors.js";

const vault = z.string().min(1).max(200);
const ids = z.array(z.number().int().positive()).min(1).max(10_000);
const name = z.string().min(1).max(100);
/** A model's name: a recipe or a bundle folder in the cache, never a path. */
const model = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[\w][\w.-]*$/, "a model name from models.list, not a path");

export const METHODS = {
  "vaults.list": z.strictObject({}),
  "vaults.create": z.strictObject({ name }),
  "vaults.rename": z.strictObject({ vault, name }),
  "vaults.remove": z.strictObject({ vault }),
  "documents.list": z.strictObject({ vault }),
  /** A file as bytes (base64): browser uploads and drops without a path. At most ~100 MB decoded. */
  "documents.upload": z.strictObject({
    vault,
    name: z
      .string()
      .min(1)
      .max(255)
      .refine((n) => !/[\\/]/.test(n), "a file name, not a path"),
    data: z.string().max(140 * 2 ** 20),
  }),
  "documents.addPaths": z.strictObject({ vault, paths: z.array(z.string().min(1).max(4096)).min(1).max(1000) }),
  "documents.addNote": z.strictObject({
    vault,
    title: z.string().max(200),
    text: z
      .string()
      .min(1)
      .max(2 ** 20),
  }),
  "documents.remove": z.strictObject({ vault, ids }),
  "documents.retry": z.strictObject({ vault, ids }),
  "ingest.cancel": z.strictObject({ vault }),
  "watch.add": z.strictObject({ vault, dir: z.string().min(1).max(4096) }),
  ask: z.strictObject({
    askId: z.string().min(1).max(64),
    question: z.string().min(1).max(4000),
    vaults: z.array(vault).max(1000).optional(),
    mode: z.enum(ANSWER_MODES as unknown as [string, ...string[]]).optional(),
    passages: z.number().int().min(1).max(10).optional(),
    temperature: z.number().min(0).max(2).optional(),
    topP: z.number().gt(0).max(1).optional(),
    seed: z.number().int().optional(),
    long: z.boolean().optional(),
    search: z.enum(SEARCH_MODES as unknown as [string, ...string[]]).optional(),
    abstain: z.boolean().optional(),
  }),
  "ask.cancel": z.strictObject({ askId: z.string().min(1).max(64) }),
  "model.info": z.strictObject({}),
  "history.list": z.strictObject({ vault }),
  "documents.read": z.strictObject({ vault, id: z.number().int().positive() }),
  "model.configure": z.strictObject({
    bundleDir: z.string().min(1).max(4096).optional(),
    threads: z.number().int().min(0).max(256).optional(),
    provider: z.enum(["cpu", "cuda", "dml"]).optional(),
  }),
  /** The models: built or not, size, licence, speed here, which is in use and which is recommended. */
  "models.list": z.strictObject({}),
  /** Switches to a built model (then re-amortizes the vaults in the background: models.switch events). */
  "models.use": z.strictObject({ name: model }),
  /** Builds a model setup knows (models.build events); resolves when it ends. */
  "models.build": z.strictObject({ name: model }),
  "models.cancelBuild": z.strictObject({ name: model }),
  /** A short speed probe of a built model on this machine (cached). */
  "models.probe": z.strictObject({ name: model }),
  // Updates are the Electron main process's business (it owns
  // the installed app); the local server answers "unsupported".
  "updates.status": z.strictObject({}),
  "updates.check": z.strictObject({}),
  "updates.configure": z.strictObject({ mode: z.enum(UPDATE_MODES as unknown as [string, ...string[]]) }),
  /** Quits and installs a verified update (restarting Mnemo). */
  "updates.install": z.strictObject({}),
  /** The desktop app's native folder picker (main process); null when the user cancels. */
  "dialog.chooseFolder": z.strictObject({ title: z.string().max(200).optional() }),
} as const;

export type Method = keyof typeof METHODS;
export type Params<M extends Method> = z.infer<(typeof METHODS)[M]>;

export interface ModelInfo {
  id: string;
  name: string;
  created: string;
  dir: string;
  threads: number;
  provider: string;
  facts: Record<string, string | number>;
  /** The memory heads: "trained", "untrained" (present, not yet trained) or "none" (memory modes unavailable). */
  memory: "trained" | "untrained" | "none";
  /** What the bundle says about its memory (for trained heads: its measured effect, from the manifest). */
  memoryNote?: string;
  /** The modes this model can answer in, and the default (docs/eval.md says why). */
  modes: AnswerMode[];
  defaultMode: AnswerMode;
  /** Licences of the model's weights, as the bundle manifest records them. */
  licences: { role: string; model: string; licence: string; package: string }[];
}

export interface Results {
  "vaults.list": VaultSummary[];
  "vaults.create": VaultSummary;
  "vaults.rename": VaultSummary;
  "vaults.remove": null;
  "documents.list": DocumentSummary[];
  "documents.upload": IngestSummary;
  "documents.addPaths": IngestSummary;
  "documents.addNote": IngestSummary;
  "documents.remove": null;
  "documents.retry": IngestSummary;
  "ingest.cancel": boolean;
  "watch.add": IngestSummary;
  ask: AskResponse;
  "ask.cancel": boolean;
  "model.info": ModelInfo;
  "history.list": { question: string; answer: string; mode: string; askedAt: number }[];
  "model.configure": ModelInfo;
  "documents.read": { name: string; type: string; data: string };
  "models.list": ModelChoice[];
  "models.use": ModelChoice;
  "models.build": ModelBuildProgress;
  "models.cancelBuild": boolean;
  "models.probe": ModelSpeed;
  "updates.status": UpdateStatus;
  "updates.check": UpdateStatus;
  "updates.configure": UpdateStatus;
  "updates.install": UpdateStatus;
  "dialog.chooseFolder": string | null;
}

export type AppEvent =
  | { type: "ingest.progress"; data: IngestProgress }
  | { type: "ingest.outcome"; data: DocumentOutcome }
  | { type: "answer.token"; data: { askId: string; text: string } }
  | { type: "backend.error"; data: { message: string } }
  | { type: "updates.status"; data: UpdateStatus }
  | { type: "models.build"; data: ModelBuildProgress }
  | { type: "models.switch"; data: ModelSwitchProgress };

export type Reply =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; error: { code: string; message: string } };
export type Request = { id: number; method: string; params: unknown };

/** Validates a call: a known method and parameters that fit its schema; the message names the bad field. */
export function validateCall(method: unknown, params: unknown): { method: Method; params: unknown } {
  if (typeof method !== "string" || !Object.hasOwn(METHODS, method))
    throw new AppError("INVALID_ARGUMENT", `unknown method ${JSON.stringify(method)}`);
  const parsed = METHODS[method as Method].safeParse(params ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new AppError("INVALID_ARGUMENT", `${method}: ${issue.path.join(".") || "parameters"}: ${issue.message}`);
  }
  return { method: method as Method, params: parsed.data };
}
