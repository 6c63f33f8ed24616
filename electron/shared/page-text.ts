// How a PDF page's text is laid out, one rule for both sides: extraction (vault/extract.ts joins the
// page's text items this way, the chunker cuts passages out of it) and the viewer (which highlights
// a cited passage on pdf.js's text layer, built from the same items). With the same rule a passage's
// character offsets point at the same characters in both. No Node, no DOM.

/** A pdf.js text item (getTextContent's items that carry text). */
export interface PageTextItem {
  str: string;
  hasEOL?: boolean;
}

/** Between two pages in a document's text (vault/chunker.ts offsets count it). */
export const PAGE_SEPARATOR = "\n\n";

/** The page's text: every item's string, a line break after an item that ends a line. */
export function pageText(items: readonly PageTextItem[]): string {
  return items.map((it) => it.str + (it.hasEOL ? "\n" : "")).join("");
}

/** Where page `page` (1-based) starts in the document text, given every page's text length. */
export function pageOffset(pageLengths: readonly number[], page: number): number {
  let at = 0;
  for (let i = 0; i < page - 1 && i < pageLengths.length; i++) at += pageLengths[i]! + PAGE_SEPARATOR.length;
  return at;
}

/** Indices of the items with text (not just spaces) whose characters overlap [start, end) of the page text. */
export function itemsInRange(items: readonly PageTextItem[], start: number, end: number): number[] {
  const out: number[] = [];
  let at = 0;
  items.forEach((it, i) => {
    const from = at,
      to = at + it.str.length;
    at = to + (it.hasEOL ? 1 : 0);
    if (it.str.trim() && from < end && to > start) out.push(i);
  });
  return out;
}

/** The text with whitespace runs collapsed to one space, and where each of its characters came from. */
function collapsed(text: string): { s: string; from: number[] } {
  let s = "";
  const from: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const space = /\s/u.test(text[i]!);
    if (space && (s.endsWith(" ") || !s.length)) continue;
    s += space ? " " : text[i];
    from.push(i);
  }
  if (s.endsWith(" ")) {
    s = s.slice(0, -1);
    from.pop();
  }
  return { s, from };
}

/**
 * Where a passage lies in the page text, [start, end). The hint (its offsets from the vault) is used
 * when the text there is the passage, whitespace aside; otherwise the passage is searched for, whole,
 * then by its first and last words (a PDF read differently, or changed since). Null: not on this page.
 */
export function locatePassage(
  text: string,
  passage: string,
  hint?: { start: number; end: number },
): [number, number] | null {
  const p = collapsed(passage).s;
  if (!p) return null;
  if (hint && hint.start >= 0 && hint.end <= text.length && collapsed(text.slice(hint.start, hint.end)).s === p)
    return [hint.start, hint.end];
  const t = collapsed(text);
  const span = (i: number, len: number): [number, number] => [t.from[i]!, t.from[i + len - 1]! + 1];
  const whole = t.s.indexOf(p);
  if (whole >= 0) return span(whole, p.length);
  const EDGE = 60;
  if (p.length <= EDGE) return null;
  const head = p.slice(0, EDGE),
    tail = p.slice(-EDGE);
  const h = t.s.indexOf(head);
  if (h < 0) return null;
  const e = t.s.indexOf(tail, h + head.length);
  return e >= 0 ? [t.from[h]!, t.from[e + tail.length - 1]! + 1] : span(h, head.length);
}
