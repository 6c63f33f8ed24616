// The prompt policy: how a question (and its passages) becomes the LM's prompt text, which ids end
// an answer, and how long it may be. Every template comes from the manifest; the one place prompts
// are built, so the evaluation and the app ask the same way.
import type { BundleManifest } from "../shared/manifest.js";

/** What the policy reads from a bundle's manifest. */
export type PromptFacts = Pick<BundleManifest, "prompt" | "generation" | "special_ids">;

/** Whitespace runs become one space, as in the Python prompt template (squad.prompt). */
export const collapseWhitespace = (text: string): string => text.split(/\s+/u).filter(Boolean).join(" ");

/**
 * Passages in the prompt: the gold paragraph (evaluation's upper bound) or keyword hits.
 * passages: best first. bestLast: the prompt lists them the other way round, the best next to the
 * question (memory + keyword mode, docs/eval.md); a prompt too long still loses the weakest first.
 */
export interface PromptContext {
  kind: "gold" | "keyword";
  passages: string[];
  bestLast?: boolean;
}

/**
 * Control tokens must not be injected by a document or a question: ChatML's "<|im_end|>" and
 * Gemma's "<bos>", "<end_of_turn>", "<unused12>" ... (the tokenizer would read them as controls).
 */
const CONTROL_MARKERS =
  /<\|[a-z_]{2,20}\|>|<\/?(?:bos|eos|pad|unk|mask|start_of_turn|end_of_turn|start_of_image|end_of_image|image_soft_token|unused\d{1,4})>/gu;

/**
 * The LM's prompt text: the manifest's template for the question alone, or with passages, in the
 * short (extractive) or long style, inside the chat template when the bundle has one.
 */
export function renderPrompt(
  m: PromptFacts,
  question: string,
  context?: PromptContext,
  long = false,
  memory = false,
): string {
  const p = m.prompt;
  const clean = (t: string) => collapseWhitespace(t.replace(CONTROL_MARKERS, " "));
  const passages = (c: PromptContext) =>
    (c.bestLast ? [...c.passages].reverse() : c.passages).map(clean).join(p.passage_separator ?? " ");
  // Behind a framed memory prefix (the gold prompt's opening is in the prefix, the memory's slots
  // where its passage would be) the prompt is the gold prompt's closing part, keyword passages
  // continuing the passage; the heads were trained on exactly this text.
  if (memory && p.memory) {
    const t = context ? p.memory.keyword.replace("{passage}", passages(context)) : p.memory.question;
    return t.replace("{question}", clean(question));
  }
  const templates = long && p.long ? p.long : { question: p.question, gold: p.gold, keyword: p.keyword ?? p.gold };
  const q = clean(question);
  const user = !context
    ? templates.question.replace("{question}", q)
    : templates[context.kind].replace("{passage}", passages(context)).replace("{question}", q);
  const chat = long && p.long?.chat ? p.long.chat : p.chat;
  if (!chat) return user;
  return chat.replace("{system}", (long ? p.long?.system : undefined) ?? p.system ?? "").replace("{user}", user);
}

/** Ids that end an answer: the manifest's, plus a newline in the short style when it says so. */
export function stopIds(m: PromptFacts, long = false): Set<number> {
  const g = m.generation,
    nl = m.special_ids.newline;
  if (long) return new Set([...g.stop_ids, ...(g.stop_ids_long ?? [])]);
  const newlines = g.stop_at_newline ? [...(nl !== undefined ? [nl] : []), ...(g.newline_ids ?? [])] : [];
  return new Set([...g.stop_ids, ...newlines]);
}

/** The line-break stops, which a leading line break must not trigger (generate's leadingIds). */
export function leadingIds(m: PromptFacts, long = false): Set<number> {
  const hard = new Set(m.generation.stop_ids);
  return new Set([...stopIds(m, long)].filter((id) => !hard.has(id)));
}

/** The answer's token budget in the short or long style. */
export function maxNewTokens(m: PromptFacts, long = false): number {
  const g = m.generation;
  return long ? (g.max_new_tokens_long ?? g.max_new_tokens) : g.max_new_tokens;
}
