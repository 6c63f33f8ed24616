// The application's contract, shared by every transport (CLI, IPC, local server): what a caller can
// ask for and the events it gets back. Plain data only: no Node, no DOM.

export interface VaultSummary {
  id: string;
  name: string;
  createdAt: number;
  documents: number;
  ready: number;
  queued: number;
  errors: number;
  chunks: number;
  watches: string[];
}

export type DocumentStatus = "queued" | "ready" | "error";

export interface DocumentSummary {
  id: number;
  vaultId: string;
  name: string;
  title: string;
  type: string;
  source: string | null;
  size: number;
  status: DocumentStatus;
  error: string | null;
  warning: string | null;
  pages: number | null;
  chunks: number;
  updatedAt: number;
}

/** Where an ingest job stands: overall, and for the document being worked on. */
export interface IngestProgress {
  vaultId: string;
  total: number;
  done: number;
  failed: number;
  current: {
    documentId: number;
    name: string;
    stage: "reading" | "extracting" | "amortizing" | "embedding" | "saving";
    chunksDone: number;
    chunksTotal: number;
  } | null;
  /**
   * Chunks given their meaning-search vector after the fact (a vault from before vectors were kept, or
   * made with another encoder): present while that catch-up runs.
   */
  reindex?: { done: number; total: number };
}

/** What happened to one document. */
export interface DocumentOutcome {
  vaultId: string;
  documentId: number;
  name: string;
  result: "ready" | "unchanged" | "duplicate" | "error" | "removed" | "skipped";
  message?: string;
  chunks?: number;
}

export interface IngestSummary {
  vaultId: string;
  ready: number;
  unchanged: number;
  duplicates: number;
  errors: number;
  removed: number;
  skipped: number;
  cancelled: boolean;
}

/**
 * How an answer uses the vaults: `memory` (MAC: the aggregated memory as the LM's prefix),
 * `memory+keyword` (also the top keyword passages in the prompt), `keyword` (passages in the prompt,
 * no memory), `none` (the LM alone). Sources are found the same way in every mode.
 */
export type AnswerMode = "memory" | "memory+keyword" | "keyword" | "none";
export const ANSWER_MODES: readonly AnswerMode[] = ["memory", "memory+keyword", "keyword", "none"];
/**
 * The default of a bundle that names none (manifest memory.default_mode): keyword, the mode that
 * needs no memory heads. A bundle names a memory mode only once it is measured to beat keyword on
 * valid with the paired interval above zero; the default bundle names memory+keyword (docs/eval.md).
 */
export const DEFAULT_ANSWER_MODE: AnswerMode = "keyword";
/**
 * Memory modes attend over this many entries unless told otherwise: the retrieval's best chunks
 * (pre-selection). 1: the bank size the shipped MAC heads were trained on, and the best memory F1
 * of 1, 2, 4 and 8 on SQuAD valid (docs/eval.md); their gap shrinks as the bank grows.
 */
export const DEFAULT_MEMORY_CANDIDATES = 1;

/**
 * How passages are found: `bm25` (keyword index), `dense` (the sentence encoder's cosine: meaning, in
 * other words than the document's), `hybrid` (both, fused by reciprocal rank; the default).
 */
export type SearchMode = "bm25" | "dense" | "hybrid";
export const SEARCH_MODES: readonly SearchMode[] = ["bm25", "dense", "hybrid"];
export const DEFAULT_SEARCH_MODE: SearchMode = "hybrid";

/** The answer when the policy finds no passage relevant enough (AskResponse.notFound says why). */
export const NOT_FOUND_ANSWER = "Not found in your documents.";

export interface AskRequest {
  question: string;
  /** Vault ids or names; omitted: every vault. */
  vaults?: string[];
  mode?: AnswerMode;
  /** Keyword passages put in the prompt in the keyword modes (default 3). */
  passages?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  beams?: number;
  maxNewTokens?: number;
  /** Longer answers (a few sentences) instead of the default short, extractive ones. */
  long?: boolean;
  /** Aggregate only the N entries nearest the question (for large vaults); omitted: every entry. */
  candidates?: number;
  /** How passages are found (default hybrid). */
  search?: SearchMode;
  /**
   * The answer policy (default true): when no passage is relevant enough, answer NOT_FOUND_ANSWER
   * instead of letting the model guess. false: always answer. Not applied in mode "none".
   */
  abstain?: boolean;
}

/** A passage the answer drew on: from the memory's attention, the keyword index, or both. */
export interface Source {
  vaultId: string;
  vaultName: string;
  documentId: number;
  title: string;
  name: string;
  pageStart: number;
  pageEnd: number;
  passage: string;
  charStart: number;
  charEnd: number;
  /** Share of the aggregator's attention on this passage (0..1); 0 when only a keyword hit. */
  memoryWeight: number;
  /** BM25 score of the passage for the question; 0 when not a keyword hit. */
  keywordScore: number;
  /** Cosine similarity of the passage and the question (the sentence encoder); 0 when not a dense hit. */
  denseScore: number;
  /** Which search found it: keyword (BM25), meaning (dense), both; memory when only the memory's attention did. */
  foundBy: "keyword" | "meaning" | "both" | "memory";
}

export interface AskResponse {
  answer: string;
  sources: Source[];
  bankSize: number;
  timings: { bankMs: number; questionMs: number; firstTokenMs: number | null; totalMs: number; searchMs?: number };
  /** Set when the answer policy abstained (the answer is NOT_FOUND_ANSWER): why, in words. */
  notFound?: { reason: string };
  /** Set when the answer was cut off by the answer length's token budget (a longer setting gives more). */
  truncated?: boolean;
}

/** `auto`: check a while after start and every few hours, download, install when Mnemo quits. `off`: never
 * contact the update server unless the user presses "Check now". */
export type UpdateMode = "auto" | "off";
export const UPDATE_MODES: readonly UpdateMode[] = ["auto", "off"];

/**
 * Where the updater stands. `unsupported`: this build cannot update itself (the local server, a
 * development run, a build without an update signing key), `message` says why. `ready`: a newer
 * version was downloaded and its signature verified; it installs on restart.
 */
export type UpdateState =
  "unsupported" | "idle" | "checking" | "up-to-date" | "downloading" | "verifying" | "ready" | "error";

export interface UpdateStatus {
  mode: UpdateMode;
  state: UpdateState;
  currentVersion: string;
  /** The version found, downloading or ready. */
  version?: string;
  /** Download progress, 0..100. */
  percent?: number;
  /** When the server was last asked (ms since the epoch). */
  lastChecked?: number;
  message?: string;
}
