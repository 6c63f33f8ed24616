// Messages between an EngineClient and the engine worker (worker_threads now; an Electron utility
// process later). Plain structured-clone data only.
import type { SessionSettings } from "./ort-session.js";

export interface AskOptions {
  temperature?: number;
  topP?: number;
  seed?: number;
  maxNewTokens?: number;
  /** > 1: beam search (the answer arrives whole, not streamed). */
  beams?: number;
}

export interface SourceWeight {
  document: string;
  /** Share of the aggregator's attention that went to this document's entries (0..1). */
  weight: number;
}

export interface AskResult {
  answer: string;
  sources: SourceWeight[];
  timings: { questionMs: number; firstTokenMs: number | null; totalMs: number };
}

export type EngineRequest =
  | { id: number; op: "load"; dir: string; settings: Omit<SessionSettings, "onWarning"> }
  | { id: number; op: "ingest"; document: string; text: string }
  | { id: number; op: "ask"; question: string; options: AskOptions }
  | { id: number; op: "cancel"; target: number };

export type EngineMessage =
  | { id: number; kind: "ok"; value: unknown }
  | { id: number; kind: "error"; code: string; message: string }
  | { id: number; kind: "token"; text: string }
  | { id: -1; kind: "warning"; message: string };
