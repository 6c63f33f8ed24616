// Messages between an EngineClient and the engine worker (worker_threads now; an Electron utility
// process later). Plain structured-clone data only.
import type { PromptContext } from "../core/prompt.js";
import type { SessionSettings } from "./ort-session.js";
import type { VectorHit } from "./vector-index.js";

export interface AskOptions {
  temperature?: number;
  topP?: number;
  seed?: number;
  maxNewTokens?: number;
  /** > 1: beam search (the answer arrives whole, not streamed). */
  beams?: number;
  /** Passages put in the prompt (the manifest's gold or keyword template), with or without memory. */
  context?: PromptContext;
  /** The manifest's long-answer prompts and token budget instead of short, extractive answers. */
  long?: boolean;
  /** > 0: aggregate only this many entries, those nearest the question's own modulation (large banks). */
  candidates?: number;
  /**
   * The entries to aggregate over, chosen by the caller's retrieval (hybrid search): used instead of
   * the modulation-similarity pre-selection when `candidates` is set and the keys are given.
   */
  candidateKeys?: { bank: string; key: string }[];
}

export interface SourceWeight {
  /** The bank (a vault id, or "docs" for ad-hoc documents) and the key its entries were put under. */
  bank: string;
  key: string;
  /** Share of the aggregator's attention that went to this key's entries (0..1). */
  weight: number;
}

export interface BankPutEntry {
  key: string;
  modulation: Float32Array;
}

export interface AskResult {
  answer: string;
  sources: SourceWeight[];
  timings: { questionMs: number; firstTokenMs: number | null; totalMs: number };
  /** Entries the aggregator attended over. */
  bankSize: number;
  /** The token budget ran out before the model ended its answer (greedy or sampled decoding). */
  truncated?: boolean;
}

/** A dense search's result: the best chunks across the banks in scope, and what it cost. */
export interface VectorSearchResult {
  hits: VectorHit[];
  rows: number;
  embedMs: number;
  searchMs: number;
}

export type EngineRequest =
  | { id: number; op: "load"; dir: string; settings: Omit<SessionSettings, "onWarning"> }
  | { id: number; op: "ingest"; document: string; text: string }
  | { id: number; op: "amortize"; texts: string[] }
  | { id: number; op: "bankPut"; bank: string; entries: BankPutEntry[] }
  | { id: number; op: "bankDrop"; bank: string; keys?: string[] }
  /**
   * banks: the scope of the memory (undefined: every bank). memory false: no prefix at all (the LM
   * alone); an empty scope with memory on still conditions the LM, on the learned null entry.
   */
  | { id: number; op: "ask"; question: string; options: AskOptions; banks?: string[]; memory?: boolean }
  | { id: number; op: "cancel"; target: number }
  /** Unit-length sentence embeddings from the bundle's encoder graph (an error when it has none). */
  | { id: number; op: "embed"; texts: string[] }
  /** int8 vectors (keys.length × dim) with one scale each into a bank's vector index, replacing same keys. */
  | { id: number; op: "vectorsPut"; bank: string; dim: number; keys: string[]; data: Int8Array; scales: Float32Array }
  | { id: number; op: "vectorsDrop"; bank: string; keys?: string[] }
  /** Embeds the query and returns the k nearest vectors across banks. */
  | { id: number; op: "vectorSearch"; query: string; banks: string[]; k: number };

export type EngineMessage =
  | { id: number; kind: "ok"; value: unknown }
  | { id: number; kind: "error"; code: string; message: string }
  | { id: number; kind: "token"; text: string }
  | { id: -1; kind: "warning"; message: string };
