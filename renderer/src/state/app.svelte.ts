// The UI's state in one class (Svelte 5 runes): vaults, the selected vault's documents, ingest
// progress, the current answer and its sources, settings. Components read it and call its methods.
import {
  DEFAULT_ANSWER_MODE,
  type AnswerMode,
  type AskResponse,
  type DocumentSummary,
  type IngestProgress,
  type Source,
  type UpdateMode,
  type UpdateStatus,
  type VaultSummary,
} from "../../../electron/shared/api";
import type { ModelInfo } from "../../../electron/shared/ipc";
import { api, fileToBase64 } from "../lib/api";

export type Theme = "light" | "dark";
export interface Answer {
  askId: string | null;
  question: string;
  text: string;
  streaming: boolean;
  sources: Source[];
  error: string | null;
  timings: AskResponse["timings"] | null;
  stopped: boolean;
  /** Why the answer policy found nothing relevant ("Not found in your documents"); null when it answered. */
  notFound: string | null;
  /** The answer reached the answer length's token budget: "short" or "long", the setting it was asked with. */
  truncated: "short" | "long" | null;
}
export interface HistoryItem {
  question: string;
  answer: string;
  askedAt: number;
}

const emptyAnswer = (): Answer => ({
  askId: null,
  question: "",
  text: "",
  streaming: false,
  sources: [],
  error: null,
  timings: null,
  stopped: false,
  notFound: null,
  truncated: null,
});

export class AppState {
  vaults = $state<VaultSummary[]>([]);
  selectedId = $state<string | null>(null);
  documents = $state<DocumentSummary[]>([]);
  progress = $state<Record<string, IngestProgress>>({});
  answer = $state<Answer>(emptyAnswer());
  scope = $state<"vault" | "all">("vault");
  /** The mode the user chose (kept even when the current model cannot use it, for a model that can). */
  chosenMode = $state<AnswerMode | null>(localStorage.getItem("mnemo.mode") as AnswerMode | null);
  /** Longer answers (a few sentences) instead of short extractive ones. */
  long = $state(localStorage.getItem("mnemo.long") === "1");
  /** The answer policy: "Not found in your documents" when no passage is relevant (on unless turned off). */
  abstain = $state(localStorage.getItem("mnemo.abstain") !== "0");
  theme = $state<Theme>(
    (localStorage.getItem("mnemo.theme") as Theme | null) ??
      (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"),
  );
  model = $state<ModelInfo | null>(null);
  connected = $state(true);
  notice = $state<string | null>(null);
  loaded = $state(false);
  /** The PDF open in the viewer, at a page, with the cited passage to highlight there. */
  viewer = $state<{
    vaultId: string;
    documentId: number;
    page: number;
    title: string;
    passage?: { text: string; charStart: number; charEnd: number };
  } | null>(null);
  /** The mode answers use: the user's choice when this model offers it, otherwise the model's default. */
  mode = $derived<AnswerMode>(
    this.model && this.chosenMode && this.model.modes.includes(this.chosenMode)
      ? this.chosenMode
      : (this.model?.defaultMode ?? DEFAULT_ANSWER_MODE),
  );
  /** The language model's name for people ("gemma-3-270m"), from the bundle's licences; null when it records none. */
  lmName = $derived(
    this.model?.licences
      .find((l) => l.role === "lm")
      ?.model.replace(/^[^/]*\//, "")
      .replace(/\s*\(.*\)$/, "") ?? null,
  );
  selected = $derived(this.vaults.find((v) => v.id === this.selectedId) ?? null);
  history = $state<HistoryItem[]>([]);
  /** The desktop app's updater (the local server answers "unsupported"). */
  update = $state<UpdateStatus | null>(null);
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;

  async init(): Promise<void> {
    api.onConnection = (c) => {
      this.connected = c;
    };
    api.on((e) => {
      if (e.type === "ingest.progress") this.progress = { ...this.progress, [e.data.vaultId]: e.data };
      else if (e.type === "ingest.outcome") {
        if (e.data.result === "skipped") this.notice = `Skipped ${e.data.name}: ${e.data.message ?? "not readable"}`;
        this.scheduleRefresh();
      } else if (e.type === "answer.token" && e.data.askId === this.answer.askId && this.answer.streaming)
        this.answer.text += e.data.text;
      else if (e.type === "backend.error") this.notice = e.data.message;
      else if (e.type === "updates.status") this.update = e.data;
    });
    await this.guard(async () => {
      await this.refreshVaults();
      this.selectedId = localStorage.getItem("mnemo.vault") ?? this.vaults[0]?.id ?? null;
      if (!this.vaults.some((v) => v.id === this.selectedId)) this.selectedId = this.vaults[0]?.id ?? null;
      await this.refreshDocuments();
    });
    this.loaded = true;
    api.call("model.info", {}).then(
      (m) => {
        this.model = m;
      },
      () => {},
    );
    api.call("updates.status", {}).then(
      (u) => {
        this.update = u;
      },
      () => {},
    );
  }

  /** Runs an action; a failure becomes the notice the user sees, never an unhandled rejection. */
  async guard<T>(action: () => Promise<T>): Promise<T | undefined> {
    try {
      return await action();
    } catch (e) {
      this.notice = (e as Error).message;
      return undefined;
    }
  }

  async refreshVaults(): Promise<void> {
    this.vaults = await api.call("vaults.list", {});
  }

  async refreshDocuments(): Promise<void> {
    this.documents = this.selectedId ? await api.call("documents.list", { vault: this.selectedId }) : [];
    this.history = this.selectedId ? await api.call("history.list", { vault: this.selectedId }) : [];
  }

  private scheduleRefresh(): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(
      () =>
        void this.guard(async () => {
          await this.refreshVaults();
          await this.refreshDocuments();
        }),
      150,
    );
  }

  async select(id: string): Promise<void> {
    this.selectedId = id;
    localStorage.setItem("mnemo.vault", id);
    this.answer = emptyAnswer();
    await this.guard(() => this.refreshDocuments());
  }

  async createVault(name: string): Promise<void> {
    const v = await this.guard(() => api.call("vaults.create", { name }));
    if (!v) return;
    await this.refreshVaults();
    await this.select(v.id);
  }

  renameVault = (id: string, name: string) =>
    this.guard(async () => {
      await api.call("vaults.rename", { vault: id, name });
      await this.refreshVaults();
    });

  async deleteVault(id: string): Promise<void> {
    await this.guard(() => api.call("vaults.remove", { vault: id }));
    await this.refreshVaults();
    if (this.selectedId === id) await this.select(this.vaults[0]?.id ?? "");
  }

  /**
   * Adds dropped or picked files. In the desktop app they come with their paths and are added by path
   * (a dropped folder is read whole, each document remembers its source); otherwise their bytes are
   * uploaded one after another. Either way ingestion starts at once and progress arrives as events.
   */
  async upload(files: File[]): Promise<void> {
    const vault = this.selectedId;
    if (!vault) return;
    const paths = files.map((f) => api.pathOf(f));
    const onDisk = paths.filter((p): p is string => p !== null);
    if (onDisk.length) await this.guard(() => api.call("documents.addPaths", { vault, paths: onDisk }));
    for (const [i, file] of files.entries()) {
      if (paths[i] === null)
        await this.guard(async () =>
          api.call("documents.upload", { vault, name: file.name, data: await fileToBase64(file) }),
        );
    }
    this.scheduleRefresh();
  }

  addNote = (title: string, text: string) =>
    this.guard(async () => {
      await api.call("documents.addNote", { vault: this.selectedId!, title, text });
      this.scheduleRefresh();
    });
  retry = (ids: number[]) =>
    this.guard(async () => {
      await api.call("documents.retry", { vault: this.selectedId!, ids });
      this.scheduleRefresh();
    });
  remove = (ids: number[]) =>
    this.guard(async () => {
      await api.call("documents.remove", { vault: this.selectedId!, ids });
      this.scheduleRefresh();
    });
  watch = (dir: string) =>
    this.guard(async () => {
      await api.call("watch.add", { vault: this.selectedId!, dir });
      this.scheduleRefresh();
    });
  /** Desktop app: the native folder picker, then keep the vault in sync with the chosen folder. */
  chooseAndWatch = () =>
    this.guard(async () => {
      const dir = await api.call("dialog.chooseFolder", { title: "Choose a folder to keep in sync" });
      if (dir) {
        await api.call("watch.add", { vault: this.selectedId!, dir });
        this.scheduleRefresh();
      }
    });
  cancelIngest = () => this.guard(() => api.call("ingest.cancel", { vault: this.selectedId! }));

  async ask(question: string): Promise<void> {
    if (!question.trim() || this.answer.streaming) return;
    const askId = crypto.randomUUID();
    this.answer = { ...emptyAnswer(), askId, question, streaming: true };
    const vaults = this.scope === "vault" && this.selectedId ? [this.selectedId] : undefined,
      long = this.long;
    try {
      // Until the model is known the backend picks the mode: a stored choice is sent only if this model offers it.
      const r = await api.call("ask", {
        askId,
        question,
        ...(this.model ? { mode: this.mode } : {}),
        ...(long ? { long: true } : {}),
        ...(vaults ? { vaults } : {}),
        ...(this.abstain ? {} : { abstain: false }),
      });
      if (this.answer.askId !== askId || this.answer.stopped) return; // stopped or replaced meanwhile
      this.answer = {
        ...this.answer,
        text: r.answer,
        sources: r.sources,
        timings: r.timings,
        streaming: false,
        notFound: r.notFound?.reason ?? null,
        truncated: r.truncated ? (long ? "long" : "short") : null,
      };
      if (this.selectedId) this.history = await api.call("history.list", { vault: this.selectedId });
    } catch (e) {
      if (this.answer.askId !== askId || this.answer.stopped) return;
      const stopped = (e as { code?: string }).code === "ABORTED";
      this.answer = { ...this.answer, streaming: false, stopped, error: stopped ? null : (e as Error).message };
    }
  }

  /** Stops at once on screen (what was streamed stays), and cancels generation in the backend. */
  stop = () => {
    if (!this.answer.askId || !this.answer.streaming) return;
    this.answer = { ...this.answer, streaming: false, stopped: true };
    void api.call("ask.cancel", { askId: this.answer.askId }).catch(() => {});
  };

  async configureModel(change: {
    bundleDir: string;
    threads: number;
    provider: "cpu" | "cuda" | "dml";
  }): Promise<void> {
    const m = await this.guard(() => api.call("model.configure", change));
    if (m) {
      this.model = m;
      this.notice = null;
    }
  }

  // Update calls answer with the new status; progress in between arrives as updates.status events.
  checkUpdates = () =>
    this.guard(async () => {
      this.update = await api.call("updates.check", {});
    });
  setUpdateMode = (mode: UpdateMode) =>
    this.guard(async () => {
      this.update = await api.call("updates.configure", { mode });
    });
  installUpdate = () =>
    this.guard(async () => {
      this.update = await api.call("updates.install", {});
    });

  setTheme(t: Theme): void {
    this.theme = t;
    localStorage.setItem("mnemo.theme", t);
  }
  setMode(m: AnswerMode): void {
    this.chosenMode = m;
    localStorage.setItem("mnemo.mode", m);
  }
  setLong(long: boolean): void {
    this.long = long;
    localStorage.setItem("mnemo.long", long ? "1" : "0");
  }
  setAbstain(on: boolean): void {
    this.abstain = on;
    localStorage.setItem("mnemo.abstain", on ? "1" : "0");
  }
}

export const app = new AppState();
