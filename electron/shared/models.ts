// The model choice's contract (Settings › Model, `mnemo models`): what a model looks like to a caller,
// how fast it answers here, and the progress of building one or switching to it. Plain data only.

/** How fast a model answers on this machine: its first token for a three-passage question, then decoding. */
export interface ModelSpeed {
  firstTokenMs: number;
  decodeTokS: number;
  threads: number;
  /** An ISO date when probed here; "docs/bench" or "estimate" when taken from the recorded 2-core runs. */
  measuredAt: string;
}

export interface ModelChoice {
  /** What `mnemo models use NAME` takes: a recipe name, or a bundle folder's name. */
  name: string;
  label: string;
  dir: string;
  /** "incomplete": a build was interrupted (building it again resumes from the downloaded files). */
  state: "ready" | "not built" | "incomplete";
  bundleId: string | null;
  /** On disk when built; the expected size when not. */
  bytes: number;
  licence: string;
  about: string;
  inUse: boolean;
  recommended: boolean;
  speed: ModelSpeed | null;
  /** The command that builds it from a source checkout; null for bundles setup does not know. */
  build: string | null;
}

/** A model build (models/mnemo_models/build_bundle.py) as it runs: its stage and the last line it printed. */
export interface ModelBuildProgress {
  name: string;
  state: "running" | "done" | "failed" | "cancelled";
  stage: "downloading" | "converting" | "memory heads" | "checking" | "starting";
  line: string;
  /** 0..1, by stage: a build's time is mostly its conversion. */
  fraction: number;
}

/** Switching model re-amortizes each vault's chunks for the new bundle, in the background. */
export interface ModelSwitchProgress {
  model: string;
  vaultId: string | null;
  done: number;
  total: number;
  finished: boolean;
}
