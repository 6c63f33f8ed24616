// The application service: vaults, ingest runs, watched folders and questions over one model.
// Transport-agnostic: the CLI calls it directly; the local server and Electron relay it.
import { mkdtemp, realpath, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  type AskRequest,
  type AskResponse,
  type DocumentOutcome,
  type DocumentSummary,
  type IngestProgress,
  type IngestSummary,
  type SearchMode,
  type VaultSummary,
} from "../shared/api.js";
import { AppError } from "../shared/errors.js";
import { docTypeOf } from "../vault/extract.js";
import { collectInputs, DEFAULT_MAX_FILE_BYTES, type Skipped } from "../vault/files.js";
import { VaultRegistry } from "../vault/registry.js";
import { Vault } from "../vault/vault.js";
import { watchFolder, type FolderWatch } from "../vault/watch.js";
import { askVaults, type Loaded } from "./ask.js";
import { updateVectors } from "./embed.js";
import { ingestQueued } from "./ingest.js";
import { loadModel, type Model } from "./model.js";
import { retrieve, type Retrieval } from "./retrieve.js";

export interface AppConfig {
  dataDir: string;
  bundleDir: string;
  provider?: "cpu" | "cuda" | "dml";
  threads?: number;
  maxFileBytes?: number;
  onWarning?: (message: string) => void;
  onProgress?: (p: IngestProgress) => void;
  onOutcome?: (o: DocumentOutcome) => void;
}

export class MnemoApp {
  readonly vaults: VaultRegistry;
  /**
   * Vault ids whose modulations (memory banks) and dense vectors are in the engine (bank name = vault
   * id). Vectors missing from a vault are filled in on first use, reported as ingest progress.
   */
  private readonly loaded: Loaded = {
    banks: new Set(),
    vectors: new Set(),
    embedHooks: (v) => ({
      onProgress: (done, total) =>
        this.config.onProgress?.({
          vaultId: v.id,
          total: 0,
          done: 0,
          failed: 0,
          current: null,
          reindex: { done, total },
        }),
    }),
  };
  private readonly runs = new Map<string, { promise: Promise<IngestSummary>; controller: AbortController }>();
  private readonly watches = new Map<string, FolderWatch>();

  private loading: Promise<Model> | undefined;

  constructor(readonly config: AppConfig) {
    this.vaults = new VaultRegistry(config.dataDir);
  }

  /** The model, loaded on first use: vault listing and management never wait for it. */
  model(): Promise<Model> {
    this.loading ??= loadModel(
      this.config.bundleDir,
      { executionProvider: this.config.provider ?? "cpu", threads: this.config.threads ?? 0 },
      this.config.onWarning ?? (() => {}),
    ).catch((e: unknown) => {
      this.loading = undefined;
      throw e;
    });
    return this.loading;
  }

  /**
   * Switches model bundle, threads or execution provider. Runs in flight finish first; the new model
   * is loaded before anything is dropped, so a bad bundle leaves the old one in place. Vault banks
   * reload on the next question (re-amortized if the bundle changed).
   */
  async configure(change: { bundleDir?: string; threads?: number; provider?: "cpu" | "cuda" | "dml" }): Promise<Model> {
    await Promise.all([...this.runs.values()].map((r) => r.promise.catch(() => {})));
    const next = { ...this.config, ...change };
    const model = await loadModel(
      next.bundleDir,
      { executionProvider: next.provider ?? "cpu", threads: next.threads ?? 0 },
      next.onWarning ?? (() => {}),
    );
    const old = this.loading;
    Object.assign(this.config, change);
    this.loading = Promise.resolve(model);
    this.loaded.banks.clear();
    this.loaded.vectors.clear();
    if (old) await (await old.catch(() => null))?.engine.close();
    return model;
  }

  vault(idOrName: string): Promise<Vault> {
    return this.vaults.get(idOrName);
  }

  async createVault(name: string): Promise<VaultSummary> {
    return this.summary(await this.vaults.create(name));
  }

  async renameVault(idOrName: string, name: string): Promise<VaultSummary> {
    return this.summary(await this.vaults.rename(idOrName, name));
  }

  async exportVault(idOrName: string, file: string): Promise<void> {
    await (await this.vaults.get(idOrName)).exportTo(file);
  }

  async importVault(file: string, name?: string): Promise<VaultSummary> {
    return this.summary(await this.vaults.importVault(file, name));
  }

  async listVaults(): Promise<VaultSummary[]> {
    return Promise.all((await this.vaults.list()).map(async (v) => this.summary(await this.vaults.get(v.id))));
  }

  summary(vault: Vault): VaultSummary {
    return { ...vault.info(), ...vault.store.stats(), watches: vault.store.watches().map((w) => w.dir) };
  }

  documents(vault: Vault): DocumentSummary[] {
    return vault.store.documents().map((d) => ({
      id: d.id,
      vaultId: vault.id,
      name: d.name,
      title: d.title,
      type: d.type,
      source: d.source,
      size: d.size,
      status: d.status,
      error: d.error,
      warning: d.warning,
      pages: d.pages,
      chunks: d.chunks,
      updatedAt: d.updatedAt,
    }));
  }

  async removeVault(idOrName: string): Promise<void> {
    const vault = await this.vaults.get(idOrName);
    this.cancel(vault.id);
    await this.runs.get(vault.id)?.promise.catch(() => {});
    for (const [key, w] of this.watches)
      if (key.startsWith(vault.id + ":")) {
        await w.close();
        this.watches.delete(key);
      }
    if (this.loaded.banks.delete(vault.id)) await (await this.model()).engine.bankDrop(vault.id);
    if (this.loaded.vectors.delete(vault.id)) await (await this.model()).engine.vectorsDrop(vault.id);
    await this.vaults.remove(vault.id);
  }

  /** Queues files and folders, then ingests everything queued in the vault. */
  async addPaths(vault: Vault, paths: readonly string[]): Promise<{ summary: IngestSummary; skipped: Skipped[] }> {
    const { files, skipped } = await collectInputs(paths);
    const { unchanged } = vault.store.enqueue(
      files.map((f) => ({
        source: f.path,
        name: path.basename(f.path),
        type: f.type,
        size: f.size,
        mtimeMs: f.mtimeMs,
      })),
    );
    const summary = await this.ingest(vault);
    for (const s of skipped)
      this.config.onOutcome?.({ vaultId: vault.id, documentId: 0, name: s.path, result: "skipped", message: s.reason });
    return { summary: { ...summary, unchanged: summary.unchanged + unchanged, skipped: skipped.length }, skipped };
  }

  /** A note typed in the app: kept as a Markdown file in the vault, then ingested like any document. */
  async addNote(vault: Vault, title: string, text: string): Promise<IngestSummary> {
    if (!text.trim()) throw new AppError("INVALID_ARGUMENT", "the note is empty");
    const body = new TextEncoder().encode(`# ${title.trim() || "Note"}\n\n${text}`);
    const storedFile = await vault.storeFile(body, "md");
    vault.store.enqueue([
      {
        source: null,
        name: `${title.trim() || "Note"}.md`,
        type: "md",
        size: body.length,
        mtimeMs: Date.now(),
        storedFile,
      },
    ]);
    return this.ingest(vault);
  }

  /** A file handed over as bytes (a browser upload, a drop without a path): stored in the vault, then ingested. */
  async addUpload(vault: Vault, name: string, bytes: Uint8Array): Promise<IngestSummary> {
    const type = docTypeOf(name);
    if (!type)
      throw new AppError("UNSUPPORTED_FILE", `${name}: Mnemo reads PDF, Word (.docx), Markdown, HTML and text files`);
    const max = this.config.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    if (bytes.length > max)
      throw new AppError(
        "FILE_TOO_LARGE",
        `${name} is ${(bytes.length / 2 ** 20).toFixed(0)} MB; the limit is ${(max / 2 ** 20).toFixed(0)} MB`,
      );
    const storedFile = await vault.storeFile(bytes, type);
    vault.store.enqueue([{ source: null, name, type, size: bytes.length, mtimeMs: Date.now(), storedFile }]);
    return this.ingest(vault);
  }

  /** Failed documents go back in the queue (after the user fixed the file, or to retry a transient error). */
  retry(vault: Vault, ids: readonly number[]): Promise<IngestSummary> {
    vault.store.requeue(ids);
    return this.ingest(vault);
  }

  /** Runs (or joins the run already going over) the vault's queue. Also how a crashed run resumes. */
  ingest(vault: Vault): Promise<IngestSummary> {
    const running = this.runs.get(vault.id);
    if (running) return running.promise;
    const controller = new AbortController();
    const promise = this.model()
      .then((model) =>
        ingestQueued(vault, model, {
          signal: controller.signal,
          maxFileBytes: this.config.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES,
          ...(this.config.onProgress ? { onProgress: this.config.onProgress } : {}),
          ...(this.config.onOutcome ? { onOutcome: this.config.onOutcome } : {}),
          onCommitted: async (v, oldIds, entries) => {
            if (this.loaded.vectors.has(v.id)) await updateVectors(model, v.id, oldIds, entries);
            if (!this.loaded.banks.has(v.id)) return;
            if (oldIds.length) await model.engine.bankDrop(v.id, oldIds.map(String));
            await model.engine.bankPut(
              v.id,
              entries.map((e) => ({ key: String(e.chunkId), modulation: e.modulation })),
            );
          },
          onReindexed: (v) => {
            if (this.loaded.vectors.delete(v.id)) void model.engine.vectorsDrop(v.id).catch(() => {});
          },
        }),
      )
      .finally(() => this.runs.delete(vault.id));
    this.runs.set(vault.id, { promise, controller });
    return promise;
  }

  cancel(vaultId: string): boolean {
    const run = this.runs.get(vaultId);
    run?.controller.abort();
    return run !== undefined;
  }

  async removeDocuments(vault: Vault, ids: readonly number[]): Promise<void> {
    const chunkIds = ids.flatMap((id) => vault.store.chunkIdsOf(id));
    vault.store.remove(ids);
    if (this.loaded.banks.has(vault.id) && chunkIds.length)
      await (await this.model()).engine.bankDrop(vault.id, chunkIds.map(String));
    if (this.loaded.vectors.has(vault.id) && chunkIds.length)
      await (await this.model()).engine.vectorsDrop(vault.id, chunkIds.map(String));
    for (const id of ids)
      this.config.onOutcome?.({ vaultId: vault.id, documentId: id, name: String(id), result: "removed" });
  }

  /**
   * Keeps the vault in sync with a folder (subfolders included): a first pass adds new and changed
   * files and removes documents whose file is gone, then debounced file events do the same.
   */
  async watch(
    vault: Vault,
    dir: string,
    opts: { debounceMs?: number } = {},
  ): Promise<{ initial: IngestSummary; close: () => Promise<void> }> {
    const root = await realpath(dir).catch(() => {
      throw new AppError("INVALID_ARGUMENT", `${dir} is not a folder that exists`);
    });
    vault.store.addWatch(root);
    const sync = async (changed: string[] | null, removed: string[]) => {
      const gone =
        changed === null
          ? await this.missingUnder(vault, root)
          : removed.flatMap((f) =>
              vault.store
                .documentsUnder(root)
                .filter((d) => d.source === f)
                .map((d) => d.id),
            );
      if (gone.length) await this.removeDocuments(vault, gone);
      return (await this.addPaths(vault, changed ?? [root])).summary;
    };
    const initial = await sync(null, []);
    let chain = Promise.resolve();
    const w = watchFolder(
      root,
      (b) => {
        chain = chain
          .then(() => sync(b.changed, b.removed))
          .then(
            () => {},
            (e: Error) => this.config.onWarning?.(e.message),
          );
      },
      {
        ...(opts.debounceMs ? { debounceMs: opts.debounceMs } : {}),
        onError: (e) => this.config.onWarning?.(`watching ${root}: ${e.message}`),
      },
    );
    await w.ready;
    const key = `${vault.id}:${root}`;
    this.watches.set(key, w);
    return {
      initial,
      close: async () => {
        await w.close();
        await chain;
        this.watches.delete(key);
      },
    };
  }

  private async missingUnder(vault: Vault, root: string): Promise<number[]> {
    const { files } = await collectInputs([root]);
    const present = new Set(files.map((f) => f.path));
    return vault.store
      .documentsUnder(root)
      .filter((d) => !present.has(d.source!))
      .map((d) => d.id);
  }

  async ask(req: AskRequest, onToken: (text: string) => void, signal?: AbortSignal): Promise<AskResponse> {
    const scope = req.vaults?.length
      ? await Promise.all(req.vaults.map((v) => this.vaults.get(v)))
      : await Promise.all((await this.vaults.list()).map((v) => this.vaults.get(v.id)));
    return askVaults(await this.model(), scope, this.loaded, req, onToken, signal);
  }

  /** Passages for a query across vaults (`mnemo search`): BM25, dense or both fused (the default). */
  async search(vaults: readonly Vault[], query: string, mode: SearchMode = "hybrid", k = 10): Promise<Retrieval> {
    if (!query.trim()) throw new AppError("INVALID_ARGUMENT", "the search is empty");
    const model = await this.model();
    return retrieve(model, vaults, query, {
      mode,
      k,
      loaded: this.loaded.vectors,
      embedHooks: this.loaded.embedHooks!,
    });
  }

  /**
   * Answers over documents that are not in any vault (the CLI's --doc): a scratch vault in a temporary
   * folder, ingested (and, for memory modes, amortized) and asked like any vault in any mode, then
   * dropped with its bank and vectors. Sources name the files.
   */
  async askDocuments(
    docs: readonly { name: string; text: string }[],
    req: AskRequest,
    onToken: (text: string) => void,
    signal?: AbortSignal,
  ): Promise<AskResponse> {
    return this.askScratch(docs, req, onToken, signal);
  }

  private async askScratch(
    docs: readonly { name: string; text: string }[],
    req: AskRequest,
    onToken: (text: string) => void,
    signal?: AbortSignal,
  ): Promise<AskResponse> {
    const model = await this.model();
    const dir = await mkdtemp(path.join(os.tmpdir(), "mnemo-docs-"));
    const vault = await Vault.create(dir, `scratch-${path.basename(dir)}`, "documents");
    try {
      for (const d of docs) {
        const name = docTypeOf(d.name) ? d.name : `${d.name}.txt`;
        vault.store.enqueue([
          {
            source: null,
            name,
            type: docTypeOf(name)!,
            size: d.text.length,
            mtimeMs: Date.now(),
            storedFile: await vault.storeFile(new TextEncoder().encode(d.text), docTypeOf(name)!),
          },
        ]);
      }
      await this.ingest(vault);
      const failed = vault.store.documents().find((d) => d.status === "error");
      if (failed) throw new AppError("EXTRACTION_FAILED", failed.error ?? `${failed.name} could not be read`);
      const r = await askVaults(
        model,
        [vault],
        { banks: new Set(), vectors: new Set() },
        { ...req, vaults: [] },
        onToken,
        signal,
      );
      return { ...r, sources: r.sources.map((s) => ({ ...s, vaultId: "", vaultName: "" })) };
    } finally {
      await model.engine.vectorsDrop(vault.id).catch(() => {}); // the scratch vault's vectors, if a search loaded them
      await model.engine.bankDrop(vault.id).catch(() => {}); // and its modulations, if a memory mode loaded them
      vault.close();
      await rm(dir, { recursive: true, force: true });
    }
  }

  async close(): Promise<void> {
    for (const run of this.runs.values()) run.controller.abort();
    await Promise.all([...this.runs.values()].map((r) => r.promise.catch(() => {})));
    for (const w of this.watches.values()) await w.close();
    this.watches.clear();
    if (this.loading) await (await this.loading.catch(() => null))?.engine.close();
    this.vaults.closeAll();
  }
}
