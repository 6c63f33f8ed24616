// The caller's side of the engine worker: promise per request, async iterable of text for answers.
import { Worker } from "node:worker_threads";
import { AppError, type ErrorCode } from "../shared/errors.js";
import type {
  AskOptions,
  AskResult,
  BankPutEntry,
  EngineMessage,
  EngineRequest,
  VectorSearchResult,
} from "./engine-protocol.js";
import type { SessionSettings } from "./ort-session.js";

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; onToken?: (t: string) => void };
type Request = EngineRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

export class EngineClient {
  private readonly worker = new Worker(new URL("./engine-worker.js", import.meta.url));
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(private readonly onWarning: (message: string) => void = () => {}) {
    this.worker.on("message", (m: EngineMessage) => this.receive(m));
    this.worker.on("error", (e) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    });
  }

  load(
    dir: string,
    settings: Omit<SessionSettings, "onWarning"> = { executionProvider: "cpu", threads: 0 },
  ): Promise<{ id: string }> {
    return this.call({ op: "load", dir, settings }) as Promise<{ id: string }>;
  }

  ingest(document: string, text: string): Promise<{ entries: number }> {
    return this.call({ op: "ingest", document, text }) as Promise<{ entries: number }>;
  }

  /** Modulations ([T*D] each) of texts, each cut to the amortizer's input; `truncated` counts the cut ones. */
  amortize(texts: string[]): Promise<{ modulations: Float32Array[]; truncated: number }> {
    return this.call({ op: "amortize", texts }) as Promise<{ modulations: Float32Array[]; truncated: number }>;
  }

  /**
   * Puts entries into a bank (replacing same keys); the worker caches their
   * aggregator K/V (format-1 heads) or keeps int8 blobs (int8 storage).
   */
  bankPut(bank: string, entries: BankPutEntry[]): Promise<{ size: number }> {
    return this.call({ op: "bankPut", bank, entries }) as Promise<{ size: number }>;
  }

  bankDrop(bank: string, keys?: string[]): Promise<{ size: number }> {
    return this.call({ op: "bankDrop", bank, ...(keys ? { keys } : {}) }) as Promise<{ size: number }>;
  }

  /** Unit-length sentence embeddings of texts (the bundle's encoder; an error when it has none). */
  embed(texts: string[]): Promise<Float32Array[]> {
    return (this.call({ op: "embed", texts }) as Promise<{ embeddings: Float32Array[] }>).then((r) => r.embeddings);
  }

  /** Puts int8 vectors (keys.length × dim, one scale each) into a bank's index; the buffers are moved, not copied. */
  vectorsPut(
    bank: string,
    dim: number,
    keys: string[],
    data: Int8Array,
    scales: Float32Array,
  ): Promise<{ size: number }> {
    return this.call({ op: "vectorsPut", bank, dim, keys, data, scales }, undefined, [
      data.buffer as ArrayBuffer,
      scales.buffer as ArrayBuffer,
    ]) as Promise<{ size: number }>;
  }

  vectorsDrop(bank: string, keys?: string[]): Promise<{ size: number }> {
    return this.call({ op: "vectorsDrop", bank, ...(keys ? { keys } : {}) }) as Promise<{ size: number }>;
  }

  /** The k chunks nearest the query across banks (exact search over their int8 vectors). */
  vectorSearch(query: string, banks: string[], k: number): Promise<VectorSearchResult> {
    return this.call({ op: "vectorSearch", query, banks, k }) as Promise<VectorSearchResult>;
  }

  /**
   * Streams answer text through onToken; resolves with the whole result. banks limits the memory
   * (undefined: every bank); memory false answers without any prefix. signal aborts generation.
   */
  ask(
    question: string,
    options: AskOptions,
    onToken: (text: string) => void,
    signal?: AbortSignal,
    banks?: string[],
    memory = true,
  ): Promise<AskResult> {
    const id = this.nextId;
    if (signal?.aborted) return Promise.reject(new AppError("ABORTED", "the question was cancelled"));
    const onAbort = () => this.worker.postMessage({ id: this.nextId++, op: "cancel", target: id });
    signal?.addEventListener("abort", onAbort, { once: true });
    // One signal often spans many questions (an evaluation run): drop the listener once this one is answered.
    return (
      this.call({ op: "ask", question, options, ...(banks ? { banks } : {}), memory }, onToken) as Promise<AskResult>
    ).finally(() => signal?.removeEventListener("abort", onAbort));
  }

  close(): Promise<number> {
    return this.worker.terminate();
  }

  private call(req: Request, onToken?: (t: string) => void, transfer: ArrayBuffer[] = []): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, ...(onToken ? { onToken } : {}) });
      this.worker.postMessage({ ...req, id }, transfer);
    });
  }

  private receive(m: EngineMessage): void {
    if (m.kind === "warning") return this.onWarning(m.message);
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.kind === "token") return p.onToken?.(m.text);
    this.pending.delete(m.id);
    if (m.kind === "ok") p.resolve(m.value);
    else p.reject(new AppError(m.code as ErrorCode, m.message));
  }
}
