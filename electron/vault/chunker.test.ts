import { describe, expect, it } from "vitest";
import { chunkPages, joinPages } from "./chunker.js";

// One token per word keeps the arithmetic visible; the real tokenizer is exercised in the app tests.
const words = (t: string) => t.split(/\s+/).filter(Boolean).length;
// Sentences start with a capital, as a sentence segmenter expects ("end. x" is not a sentence break).
const sentence = (n: number, tag: string) =>
  Array.from({ length: n - 1 }, (_, i) => `${tag.toUpperCase()}${i}`).join(" ") + " end.";

describe("chunkPages", () => {
  it("keeps every window within the token budget and covers every sentence", () => {
    const text = Array.from({ length: 40 }, (_, i) => sentence(7, `s${i}w`)).join(" ");
    const chunks = chunkPages([text], words, { maxTokens: 30, overlapTokens: 0 });
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) expect(c.tokenCount).toBeLessThanOrEqual(30);
    expect(chunks.map((c) => c.text).join(" ")).toBe(text);
    // Windows end at sentence ends, never mid-sentence.
    for (const c of chunks) expect(c.text.endsWith("end.")).toBe(true);
  });

  it("offsets point at the chunk's text in the joined document", () => {
    const pages = ["First page. It has two sentences.", "Second page here. And more text on it."];
    const { text } = joinPages(pages);
    for (const c of chunkPages(pages, words, { maxTokens: 6, overlapTokens: 0 }))
      expect(text.slice(c.charStart, c.charEnd)).toBe(c.text);
  });

  it("never lets a window cross a page break, so each passage cites one page", () => {
    const pages = [sentence(5, "a"), `${sentence(5, "b")} ${sentence(5, "bb")}`, sentence(5, "c")];
    const chunks = chunkPages(pages, words, { maxTokens: 100, overlapTokens: 0 });
    expect(chunks.map((c) => [c.pageStart, c.pageEnd, c.text])).toEqual([
      [1, 1, pages[0]],
      [2, 2, pages[1]],
      [3, 3, pages[2]],
    ]);
  });

  it("prefers to end a window at a paragraph end when the next paragraph would not fit", () => {
    const p1 = [sentence(8, "a"), sentence(8, "b")].join(" ");
    const p2 = [sentence(8, "c"), sentence(8, "d"), sentence(8, "e")].join(" ");
    const chunks = chunkPages([`${p1}\n\n${p2}`], words, { maxTokens: 30, overlapTokens: 0 });
    expect(chunks[0]!.text).toBe(p1); // 16 tokens: a,b; c would fit but p2 (24) would not
    expect(chunks[1]!.text).toBe(p2);
  });

  it("overlaps trailing sentences inside a paragraph, not across paragraphs", () => {
    const para = Array.from({ length: 6 }, (_, i) => sentence(5, `p${i}w`)).join(" ");
    const chunks = chunkPages([para], words, { maxTokens: 15, overlapTokens: 5 });
    expect(chunks.length).toBeGreaterThan(1);
    for (let k = 1; k < chunks.length; k++) expect(chunks[k]!.charStart).toBeLessThan(chunks[k - 1]!.charEnd);
    const twoParas = chunkPages([`${sentence(10, "x")}\n\n${sentence(10, "y")}`], words, {
      maxTokens: 12,
      overlapTokens: 5,
    });
    expect(twoParas.map((c) => c.text)).toEqual([sentence(10, "x"), sentence(10, "y")]);
  });

  it("cuts a sentence longer than the window at words, and a giant word at characters", () => {
    const long = Array.from({ length: 50 }, (_, i) => `w${i}`).join(" ");
    const chunks = chunkPages([long], words, { maxTokens: 8, overlapTokens: 0 });
    for (const c of chunks) expect(c.tokenCount).toBeLessThanOrEqual(8);
    expect(chunks.map((c) => c.text).join(" ")).toBe(long);
    const perChar = (t: string) => t.replace(/\s/g, "").length; // a tokenizer that spends one token per character
    const blob = "x".repeat(100);
    const cut = chunkPages([blob], perChar, { maxTokens: 30, overlapTokens: 0 });
    for (const c of cut) expect(c.tokenCount).toBeLessThanOrEqual(30);
    expect(cut.map((c) => c.text).join("")).toBe(blob);
  });

  it("returns nothing for a document of whitespace", () => {
    expect(chunkPages(["  \n\n \t"], words, { maxTokens: 10, overlapTokens: 2 })).toEqual([]);
  });
});
