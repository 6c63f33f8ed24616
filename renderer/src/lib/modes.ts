// What each answer mode is called and does, in the user's words: Settings lists them, the ask panel's
// hint says what answers are made from. The measurements behind the recommendation are in docs/eval.md.
import type { AnswerMode } from "../../../electron/shared/api";

export interface ModeCopy {
  /** The option's name in Settings › Answer mode. */
  label: string;
  /** One or two sentences under the choice: what the model reads, and what that is good for. */
  help: string;
  /** The end of "Answers are written … from ___". */
  from: string;
}

export const MODE_COPY: Record<AnswerMode, ModeCopy> = {
  "memory+keyword": {
    label: "Memory + passages",
    help:
      "The model reads the passages that best match your question, plus the vault's memory of the best one. " +
      "The most accurate answers.",
    from: "the vault's memory and the passages that best match your question's words",
  },
  keyword: {
    label: "Passages only",
    help: "The model reads the passages of your documents that best match your question, without the vault's memory.",
    from: "the passages of the vault's documents that best match your question's words",
  },
  memory: {
    label: "Memory only",
    help:
      "The model answers from the vault's memory of the best-matching passage, with no passage text to read: " +
      "it starts answering soonest, but is wrong more often.",
    from: "the vault's memory of its documents",
  },
  none: {
    label: "Model alone (no documents)",
    help: "The model answers from what it learned in training, without your documents.",
    from: "what it learned in training alone, without your documents",
  },
};

/** Where the modes are compared, question by question (no numbers are shown in the app itself). */
export const HOW_WE_MEASURED = "docs/eval.md";
