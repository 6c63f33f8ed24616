// The only file that imports onnxruntime-node: creates sessions for a bundle's graphs and adapts them to
// core's Session. Execution providers are a setting; GPU ones fall back to CPU with a clear message.
import ort from "onnxruntime-node";
import type { Session, Tensor } from "../core/session.js";

export type ExecutionProvider = "cpu" | "cuda" | "dml";

export interface SessionSettings {
  executionProvider: ExecutionProvider;
  /** Intra-op threads; 0 lets onnxruntime decide. */
  threads: number;
  onWarning?: (message: string) => void;
}

class OrtSession implements Session {
  constructor(private readonly inner: ort.InferenceSession) {}

  async run(feeds: Record<string, Tensor>, fetches?: readonly string[]): Promise<Record<string, Tensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(t.type, t.data, [...t.dims]);
    // Outputs not fetched are not copied out of onnxruntime (a decoding step skips the full present).
    const out = fetches ? await this.inner.run(ortFeeds, [...fetches]) : await this.inner.run(ortFeeds);
    const result: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(out)) {
      result[name] = { type: t.type as Tensor["type"], data: t.data as Float32Array | BigInt64Array, dims: t.dims };
    }
    return result;
  }
}

export async function createSession(file: string, settings: SessionSettings): Promise<Session> {
  // Errors only: onnxruntime warns on stderr that an empty bank's entry_weights (1, 0, T) differs from
  // the declared rank; the null entry makes that case valid (see MacPipeline.aggregate).
  const options: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: "all", logSeverityLevel: 3 };
  if (settings.threads > 0) options.intraOpNumThreads = settings.threads;
  if (settings.executionProvider !== "cpu") {
    try {
      return new OrtSession(await ort.InferenceSession.create(file, { ...options, executionProviders: [settings.executionProvider, "cpu"] }));
    } catch (e) {
      settings.onWarning?.(`execution provider ${settings.executionProvider} is not available (${(e as Error).message.split("\n")[0]}); using CPU`);
    }
  }
  return new OrtSession(await ort.InferenceSession.create(file, { ...options, executionProviders: ["cpu"] }));
}
