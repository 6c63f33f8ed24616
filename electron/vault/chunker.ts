// Chunking: a document's pages -> token-bounded windows that fit the amortizer's input. Windows end
// at sentence boundaries, prefer paragraph ends, overlap within a paragraph, and never cross a page
// break, so every passage cites one exact page ("p. N") and can be highlighted there.
import { PAGE_SEPARATOR } from "../shared/page-text.js";

export interface ChunkOptions {
  /** The amortizer's input size (manifest architecture.mac.max_doc_tokens). */
  maxTokens: number;
  /** Tokens of trailing sentences repeated at the start of the next window of the same paragraph. */
  overlapTokens: number;
}

export interface Chunk {
  seq: number;
  text: string;
  /** Offsets into the document text (pages joined by PAGE_SEPARATOR). */
  charStart: number;
  charEnd: number;
  pageStart: number;
  pageEnd: number;
  tokenCount: number;
}

// One definition for extraction, chunking and the PDF viewer's highlight (shared/page-text.ts).
export { PAGE_SEPARATOR };

interface Unit {
  start: number;
  end: number;
  tokens: number;
  paragraph: number;
  page: number;
}

const segmenter = new Intl.Segmenter("en", { granularity: "sentence" });
const collapse = (s: string) => s.split(/\s+/u).filter(Boolean).join(" ");

/** The document text the chunk offsets refer to, and the offset where each page starts. */
export function joinPages(pages: readonly string[]): { text: string; pageStarts: number[] } {
  const pageStarts: number[] = [];
  let text = "";
  pages.forEach((p, i) => {
    if (i > 0) text += PAGE_SEPARATOR;
    pageStarts.push(text.length);
    text += p;
  });
  return { text, pageStarts };
}

export function chunkPages(
  pages: readonly string[],
  countTokens: (text: string) => number,
  opts: ChunkOptions,
): Chunk[] {
  const { text, pageStarts } = joinPages(pages);
  const pageOf = (offset: number) => {
    let lo = 0,
      hi = pageStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (pageStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const units = sentenceUnits(text, countTokens, opts.maxTokens).map((u) => ({ ...u, page: pageOf(u.start) }));
  const chunks: Chunk[] = [];
  let i = 0;
  while (i < units.length) {
    // Grow a window from unit i; stop early at a paragraph end when the next paragraph would not fit.
    let j = i,
      tokens = 0;
    while (j < units.length && tokens + units[j]!.tokens <= opts.maxTokens && units[j]!.page === units[i]!.page) {
      if (
        j > i &&
        units[j]!.paragraph !== units[j - 1]!.paragraph &&
        tokens >= opts.maxTokens / 2 &&
        tokens + paragraphTokens(units, j) > opts.maxTokens
      )
        break;
      tokens += units[j]!.tokens;
      j++;
    }
    if (j === i) j = i + 1; // sentenceUnits guarantees one unit fits
    // Per-sentence counts can differ from the joined text's by a token at a boundary: check exactly.
    let exact = countTokens(collapse(text.slice(units[i]!.start, units[j - 1]!.end)));
    while (exact > opts.maxTokens && j - i > 1) {
      j--;
      exact = countTokens(collapse(text.slice(units[i]!.start, units[j - 1]!.end)));
    }
    const start = units[i]!.start,
      end = units[j - 1]!.end;
    chunks.push({
      seq: chunks.length,
      text: text.slice(start, end),
      charStart: start,
      charEnd: end,
      pageStart: units[i]!.page,
      pageEnd: units[j - 1]!.page,
      tokenCount: exact,
    });
    if (j >= units.length) break;
    // Overlap: restart a few sentences back when the next window continues the same paragraph.
    let next = j,
      carried = 0;
    while (
      next - 1 > i &&
      units[next - 1]!.paragraph === units[j]!.paragraph &&
      carried + units[next - 1]!.tokens <= opts.overlapTokens
    ) {
      carried += units[--next]!.tokens;
    }
    i = next;
  }
  return chunks;
}

function paragraphTokens(units: readonly Unit[], from: number): number {
  let sum = 0;
  for (let k = from; k < units.length && units[k]!.paragraph === units[from]!.paragraph; k++) sum += units[k]!.tokens;
  return sum;
}

/** Sentences of every paragraph with their token counts; a sentence longer than maxTokens is cut at words. */
function sentenceUnits(text: string, countTokens: (t: string) => number, maxTokens: number): Omit<Unit, "page">[] {
  const units: Omit<Unit, "page">[] = [];
  const paragraphs = /\S[\s\S]*?(?=\n\s*\n|$)/g;
  let paragraph = 0;
  for (const p of text.matchAll(paragraphs)) {
    for (const s of segmenter.segment(p[0])) {
      const body = s.segment.trimEnd();
      if (!body.trim()) continue;
      const start = p.index + s.index + (body.length - body.trimStart().length),
        end = p.index + s.index + body.length;
      const tokens = countTokens(collapse(text.slice(start, end)));
      if (tokens <= maxTokens) units.push({ start, end, tokens, paragraph });
      else units.push(...splitWords(text, start, end, countTokens, maxTokens, paragraph));
    }
    paragraph++;
  }
  return units;
}

function splitWords(
  text: string,
  start: number,
  end: number,
  countTokens: (t: string) => number,
  maxTokens: number,
  paragraph: number,
): Omit<Unit, "page">[] {
  // Word counts add up (each word carries its own leading-space marker), so this stays linear in the
  // sentence's length; chunkPages re-counts every window exactly.
  const out: Omit<Unit, "page">[] = [];
  let pieceStart = -1,
    pieceEnd = -1,
    pieceTokens = 0;
  const flush = () => {
    if (pieceEnd > pieceStart) out.push({ start: pieceStart, end: pieceEnd, tokens: pieceTokens, paragraph });
  };
  for (const w of text.slice(start, end).matchAll(/\S+/g)) {
    let wStart = start + w.index;
    const wEnd = wStart + w[0].length;
    let wTokens = countTokens(w[0]);
    // A single "word" longer than the window (a base64 blob, a URL): cut it by characters.
    while (wTokens > maxTokens) {
      flush();
      const cut = wStart + Math.max(1, Math.floor(((wEnd - wStart) * maxTokens) / wTokens) - 1);
      out.push({ start: wStart, end: cut, tokens: countTokens(text.slice(wStart, cut)), paragraph });
      wStart = cut;
      wTokens = countTokens(text.slice(wStart, wEnd));
      pieceStart = pieceEnd = -1;
      pieceTokens = 0;
    }
    if (pieceStart < 0 || pieceTokens + wTokens > maxTokens) {
      flush();
      pieceStart = wStart;
      pieceTokens = 0;
    }
    pieceTokens += wTokens;
    pieceEnd = wEnd;
  }
  flush();
  return out;
}
