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

/**
 * Options for a session. Why spinning matters: onnxruntime's worker threads spin for a while after a
 * run, waiting for the next; with several sessions on two cores, one session's spinning threads take
 * the cores from the next session's run. A memory question runs the LM to its tap, the question
 * encoder, the aggregator, the prefix graph and the LM again, and measured 18 + 5 + 32 + 88 ms by stage
 * with every session spinning, 20 + 4 + 12 + 29 ms with only the LM's (docs/bench/README.md). The LM
 * keeps spinning (spinBetweenRuns): its decoding steps follow each other and lost ~6% without it.
 */
export function sessionOptions(spinBetweenRuns: boolean): ort.InferenceSession.SessionOptions {
  // Errors only: onnxruntime warns on stderr that an empty bank's entry_weights (1, 0, T) differs from
  // the declared rank; the null entry makes that case valid (see MacPipeline.aggregate).
  return {
    graphOptimizationLevel: "all",
    logSeverityLevel: 3,
    ...(spinBetweenRuns ? {} : { extra: { session: { force_spinning_stop: "1" } } }),
  };
}

export async function createSession(
  file: string,
  settings: SessionSettings,
  spinBetweenRuns = false,
): Promise<Session> {
  const options = sessionOptions(spinBetweenRuns);
  if (settings.threads > 0) options.intraOpNumThreads = settings.threads;
  if (settings.executionProvider !== "cpu") {
    try {
      return new OrtSession(
        await ort.InferenceSession.create(file, {
          ...options,
          executionProviders: [settings.executionProvider, "cpu"],
        }),
      );
    } catch (e) {
      settings.onWarning?.(
        `execution provider ${settings.executionProvider} is not available (${(e as Error).message.split("\n")[0]}); using CPU`,
      );
    }
  }
  return new OrtSession(await ort.InferenceSession.create(file, { ...options, executionProviders: ["cpu"] }));
}
