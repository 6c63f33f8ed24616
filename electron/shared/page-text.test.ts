// The page-text contract between extraction and the PDF viewer's highlight: layout, page offsets,
// items under a range, and finding a passage by its offsets or, failing that, by its words. The last
// test checks the contract end to end: a real PDF's chunk offsets land on its text items.
import { describe, expect, it } from "vitest";
import { makePdf } from "../bench/pdf-fixtures.js";
import { chunkPages, joinPages } from "../vault/chunker.js";
import { extract } from "../vault/extract.js";
import { itemsInRange, locatePassage, pageOffset, pageText } from "./page-text.js";

const items = [
  { str: "The Eiffel Tower", hasEOL: true },
  { str: "was completed in" },
  { str: " " },
  { str: "1889.", hasEOL: true },
  { str: "It is tall." },
];

describe("page text", () => {
  it("joins items with a line break after each end of line; pages start after the separator", () => {
    expect(pageText(items)).toBe("The Eiffel Tower\nwas completed in 1889.\nIt is tall.");
    expect(pageOffset([10, 5, 7], 1)).toBe(0);
    expect(pageOffset([10, 5, 7], 3)).toBe(10 + 2 + 5 + 2);
  });

  it("lists the non-empty items a character range touches", () => {
    const text = pageText(items),
      start = text.indexOf("completed"),
      end = text.indexOf("1889") + 4;
    expect(itemsInRange(items, start, end)).toEqual([1, 3]); // the lone space is not worth a highlight
    expect(itemsInRange(items, 0, 1)).toEqual([0]);
    expect(itemsInRange(items, text.length, text.length + 5)).toEqual([]);
  });

  it("takes the vault's offsets when they hold the passage, else finds it whitespace-insensitively, else by its ends", () => {
    const text = pageText(items);
    const at = text.indexOf("was");
    expect(locatePassage(text, "was completed in 1889.", { start: at, end: at + 22 })).toEqual([at, at + 22]);
    expect(locatePassage(text, "Tower   was\ncompleted", { start: 0, end: 3 })).toEqual([
      text.indexOf("Tower"),
      text.indexOf("completed") + 9,
    ]);
    const long =
      "The Eiffel Tower was completed in 1889 for the World's Fair in Paris. " +
      "It is 330 metres tall and was the tallest structure. ".repeat(2);
    // the middle differs: found by its first and last words
    const changed = long.replace("330 metres", "three hundred metres");
    const r = locatePassage(changed, long)!;
    expect(changed.slice(r[0], r[1])).toBe(changed.trim());
    expect(locatePassage(text, "Marie Curie discovered radium")).toBeNull();
    expect(locatePassage(text, "   ")).toBeNull();
  });

  it("a chunk's offsets from a real PDF point at its text on the page the viewer builds", async () => {
    const pdf = await makePdf(
      [
        "Paris has many bridges over the Seine.",
        "The Eiffel Tower was completed in 1889 for the World's Fair. It is 330 metres tall.",
      ],
      "Towers",
    );
    const doc = await extract(pdf, "pdf", "towers.pdf");
    const [chunk] = chunkPages(doc.pages, (t) => t.split(" ").length, { maxTokens: 100, overlapTokens: 0 }).filter(
      (c) => c.pageStart === 2,
    );
    const offset = pageOffset(
      doc.pages.map((p) => p.length),
      2,
    );
    expect(joinPages(doc.pages).pageStarts[1]).toBe(offset);
    const page = doc.pages[1]!;
    const [s, e] = locatePassage(page, chunk!.text, {
      start: chunk!.charStart - offset,
      end: chunk!.charEnd - offset,
    })!;
    expect(page.slice(s, e)).toBe(chunk!.text);
    expect(s).toBe(chunk!.charStart - offset);
  });
});
