// Messages between an EngineClient and the engine worker (worker_threads now; an Electron utility
// process later). Plain structured-clone data only.
import type { PromptContext } from "../core/pipeline.js";
import type { SessionSettings } from "./ort-session.js";

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
}

export interface SourceWeight {
  /** The bank (a vault id, or "docs" for ad-hoc documents) and the key its entries were put under. */
  bank: string;
  key: string;
  /** Share of the aggregator's attention that went to this key's entries (0..1). */
  weight: number;
}

export interface BankPutEntry { key: string; modulation: Float32Array }

export interface AskResult {
  answer: string;
  sources: SourceWeight[];
  timings: { questionMs: number; firstTokenMs: number | null; totalMs: number };
  /** Entries the aggregator attended over. */
  bankSize: number;
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
  | { id: number; op: "cancel"; target: number };

export type EngineMessage =
  | { id: number; kind: "ok"; value: unknown }
  | { id: number; kind: "error"; code: string; message: string }
  | { id: number; kind: "token"; text: string }
  | { id: -1; kind: "warning"; message: string };
