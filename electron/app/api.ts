// The AppApi over one MnemoApp: validated calls in, results or typed errors out, events to listeners.
// Transports (the local server, Electron's main process relay) only move these messages.
import { readFile } from "node:fs/promises";
import { ANSWER_MODES, type AskRequest, type UpdateStatus } from "../shared/api.js";
import { AppError } from "../shared/errors.js";
import { validateCall, type AppEvent, type Method, type ModelInfo, type Params, type Reply } from "../shared/ipc.js";
import { defaultMode } from "../shared/manifest.js";
import type { MnemoApp } from "./app.js";
import type { Model } from "./model.js";
import { ModelService } from "./model-service.js";

type Handler<M extends Method> = (p: Params<M>, emit: (e: AppEvent) => void) => Promise<unknown>;

/** The updates.* methods. Electron's main process answers them itself (it owns the installed app and
 * its updater, electron/update/); everywhere else the app cannot update itself and says so. */
export interface UpdatesService {
  call(method: Method, params: unknown): Promise<UpdateStatus>;
}
export const NO_UPDATES: UpdatesService = {
  async call(method) {
    if (method !== "updates.status")
      throw new AppError("UPDATES_UNSUPPORTED", "this is not the installed desktop app: it does not update itself");
    return {
      mode: "off",
      state: "unsupported",
      currentVersion: "",
      message:
        "Updates come with the installed desktop app; the local server and development runs do not update themselves.",
    };
  },
};

export class AppApi {
  private readonly listeners = new Set<(e: AppEvent) => void>();
  private readonly asks = new Map<string, AbortController>();
  readonly models: ModelService;

  constructor(
    private readonly app: MnemoApp,
    private readonly updates: UpdatesService = NO_UPDATES,
  ) {
    app.config.onProgress = (data) => this.broadcast({ type: "ingest.progress", data });
    app.config.onOutcome = (data) => this.broadcast({ type: "ingest.outcome", data });
    this.models = new ModelService(app, {
      onBuild: (data) => this.broadcast({ type: "models.build", data }),
      onSwitch: (data) => this.broadcast({ type: "models.switch", data }),
    });
  }

  /** Subscribes to events for every client (progress, outcomes); returns the unsubscribe function. */
  subscribe(listener: (e: AppEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  broadcast(e: AppEvent): void {
    for (const l of this.listeners) l(e);
  }

  /** One call: never throws; a bad call or a failure comes back as {ok: false, error}. emit gets this call's stream. */
  async call(id: number, method: unknown, params: unknown, emit: (e: AppEvent) => void = () => {}): Promise<Reply> {
    try {
      const v = validateCall(method, params);
      const handler = this.handlers[v.method] as Handler<Method>;
      return { id, ok: true, value: (await handler(v.params as Params<Method>, emit)) ?? null };
    } catch (e) {
      const code = e instanceof AppError ? e.code : "INTERNAL";
      return { id, ok: false, error: { code, message: (e as Error).message } };
    }
  }

  private modelInfo(m: Model): ModelInfo {
    const { lm } = m.manifest.architecture,
      mac = m.manifest.mac;
    const memory = !mac ? "none" : mac.trained ? "trained" : "untrained";
    return {
      id: m.manifest.id,
      name: m.manifest.name,
      created: String((m.manifest as { created?: string }).created ?? ""),
      dir: m.dir,
      memory,
      ...(m.manifest.memory?.note ? { memoryNote: m.manifest.memory.note } : {}),
      modes: ANSWER_MODES.filter((mode) => mac || mode === "keyword" || mode === "none"),
      defaultMode: defaultMode(m.manifest),
      licences: (m.manifest.sources ?? []).map((s) => ({
        role: s.role,
        model: s.model,
        licence: s.licence,
        package: s.package,
      })),
      threads: this.app.config.threads ?? 0,
      provider: this.app.config.provider ?? "cpu",
      facts: {
        "LM layers": lm.n_layer,
        "LM width": lm.n_embd,
        "context tokens": lm.n_positions,
        vocabulary: lm.vocab_size,
        "key/value heads": lm.n_kv_head,
        "chunk tokens": m.manifest.retrieval.chunk_tokens,
        ...(mac ? { "memory slots per chunk": mac.n_slots, "prefix length": mac.prefix_len } : {}),
      },
    };
  }

  private readonly handlers: { [M in Method]: Handler<M> } = {
    "vaults.list": () => this.app.listVaults(),
    "vaults.create": (p) => this.app.createVault(p.name),
    "vaults.rename": (p) => this.app.renameVault(p.vault, p.name),
    "vaults.remove": async (p) => {
      await this.app.removeVault(p.vault);
      return null;
    },
    "documents.list": async (p) => this.app.documents(await this.app.vault(p.vault)),
    "documents.upload": async (p) =>
      this.app.addUpload(await this.app.vault(p.vault), p.name, Buffer.from(p.data, "base64")),
    "documents.addPaths": async (p) => (await this.app.addPaths(await this.app.vault(p.vault), p.paths)).summary,
    "documents.addNote": async (p) => this.app.addNote(await this.app.vault(p.vault), p.title, p.text),
    "documents.remove": async (p) => {
      await this.app.removeDocuments(await this.app.vault(p.vault), p.ids);
      return null;
    },
    "documents.retry": async (p) => this.app.retry(await this.app.vault(p.vault), p.ids),
    "ingest.cancel": async (p) => this.app.cancel((await this.app.vault(p.vault)).id),
    "watch.add": async (p) => (await this.app.watch(await this.app.vault(p.vault), p.dir)).initial,
    ask: async (p, emit) => {
      if (this.asks.has(p.askId)) throw new AppError("INVALID_ARGUMENT", `ask ${p.askId} is already running`);
      const controller = new AbortController();
      this.asks.set(p.askId, controller);
      const { askId, ...req } = p;
      try {
        const request = Object.fromEntries(
          Object.entries(req).filter(([, v]) => v !== undefined),
        ) as unknown as AskRequest;
        return await this.app.ask(
          request,
          (text) => emit({ type: "answer.token", data: { askId, text } }),
          controller.signal,
        );
      } finally {
        this.asks.delete(askId);
      }
    },
    "documents.read": async (p) => {
      const vault = await this.app.vault(p.vault);
      const doc = vault.store.document(p.id);
      if (!doc?.storedFile) throw new AppError("DOCUMENT_NOT_FOUND", `no document ${p.id} in "${vault.name}"`);
      return {
        name: doc.name,
        type: doc.type,
        data: (await readFile(vault.resolve(doc.storedFile))).toString("base64"),
      };
    },
    "history.list": async (p) => (await this.app.vault(p.vault)).store.questions(),
    "ask.cancel": async (p) => {
      const c = this.asks.get(p.askId);
      c?.abort();
      return c !== undefined;
    },
    "model.info": async () => this.modelInfo(await this.app.model()),
    "model.configure": async (p) => {
      const change = Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as Parameters<
        MnemoApp["configure"]
      >[0];
      return this.modelInfo(await this.app.configure(change));
    },
    "models.list": () => this.models.list(),
    "models.use": (p) => this.models.use(p.name),
    "models.build": (p) => this.models.startBuild(p.name),
    "models.cancelBuild": async (p) => this.models.cancelBuild(p.name),
    "models.probe": (p) => this.models.probe(p.name),
    "updates.status": (p) => this.updates.call("updates.status", p),
    "updates.check": (p) => this.updates.call("updates.check", p),
    "updates.configure": (p) => this.updates.call("updates.configure", p),
    "updates.install": (p) => this.updates.call("updates.install", p),
    "dialog.chooseFolder": async () => {
      throw new AppError("DESKTOP_ONLY", "a folder picker needs the desktop app; type the folder's path instead");
    },
  };
}
