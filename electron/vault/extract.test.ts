import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import { PDFDocument, StandardFonts } from "pdf-lib";
import { decodeText, docTypeOf, extract, pdfTitle } from "./extract.js";
import { makeDocx, makeImageOnlyPdf, makePdf } from "../bench/pdf-fixtures.js";

const enc = (s: string) => new TextEncoder().encode(s);

describe("extract", () => {
  it("reads a PDF page by page, with its title", async () => {
    const pdf = await makePdf(
      ["The first page talks about bridges.", "The second page: the tower opened in 1889."],
      "Towers",
    );
    const out = await extract(pdf, "pdf", "towers.pdf");
    expect(out.title).toBe("Towers");
    expect(out.pages).toHaveLength(2);
    expect(out.pages[0]).toContain("bridges");
    expect(out.pages[1]).toContain("opened in 1889");
  });

  it("falls back to the file name when a PDF has no title", async () => {
    expect((await extract(await makePdf(["Text."]), "pdf", "report-2024.pdf")).title).toBe("report-2024");
  });

  it("ignores a PDF title that names the program that made it, and takes page 1's heading instead", async () => {
    // A one-page PDF made with pdf-lib: Title metadata as given, then the page's lines top to bottom.
    const pdf = async (title: string, lines: string[]) => {
      const doc = await PDFDocument.create();
      const font = await doc.embedFont(StandardFonts.Helvetica);
      doc.setTitle(title);
      const page = doc.addPage([612, 792]);
      lines.forEach((line, i) => page.drawText(line, { x: 50, y: 740 - i * 14, size: 11, font }));
      return doc.save();
    };
    const body = ["Minutes of the Board Meeting", "The board met on 3 May and approved the budget."];
    expect((await extract(await pdf("Enscript Output", body), "pdf", "minutes.pdf")).title).toBe(
      "Minutes of the Board Meeting",
    );
    expect((await extract(await pdf("Microsoft Word - notes.docx", body), "pdf", "notes.pdf")).title).toBe(
      "Minutes of the Board Meeting",
    );
    expect((await extract(await pdf("Annual Budget 2024", body), "pdf", "b.pdf")).title).toBe("Annual Budget 2024");
    // No heading on page 1 (its first line is a sentence): the file name.
    expect((await extract(await pdf("untitled", ["The board met on 3 May."]), "pdf", "minutes-may.pdf")).title).toBe(
      "minutes-may",
    );
  });

  it("knows placeholder PDF titles, and which first lines are headings", () => {
    const heading = "Trip Report\nWe went north.";
    for (const t of [
      "Enscript Output",
      "untitled",
      "Untitled document",
      "Microsoft PowerPoint - deck.pptx",
      "report.pdf",
      "doc1.docx",
      "C:\\Users\\me\\paper.tex",
      "",
      "   ",
      undefined,
      42,
    ]) {
      expect(pdfTitle(t, heading, "file"), String(t)).toBe("Trip Report");
    }
    expect(pdfTitle("  Towers of Paris ", heading, "file")).toBe("Towers of Paris");
    expect(pdfTitle("Node.js in Practice", heading, "file")).toBe("Node.js in Practice");
    // Not headings: a sentence, a page number, the first line of a
    // hard-wrapped paragraph, a line over 80 characters, no text.
    for (const page of [
      "Text.",
      "  12  \nBody",
      "The tower was built in\nthree years by",
      `${"A".repeat(81)}\nBody`,
      "",
    ]) {
      expect(pdfTitle("Untitled", page, "file"), page).toBe("file");
    }
  });

  it("refuses a scanned PDF, an encrypted PDF and a corrupt PDF with messages a user can act on", async () => {
    await expect(extract(await makeImageOnlyPdf(), "pdf", "scan.pdf")).rejects.toThrow(/scan\.pdf has no text layer/);
    const encrypted = readFileSync(path.join(import.meta.dirname, "fixtures/encrypted.pdf"));
    await expect(extract(encrypted, "pdf", "secret.pdf")).rejects.toThrow(/secret\.pdf is password-protected/);
    const good = await makePdf(["Some text that will be cut off."]);
    await expect(extract(good.slice(0, 200), "pdf", "cut.pdf")).rejects.toMatchObject({ code: "EXTRACTION_FAILED" });
    await expect(extract(enc("%PDF-1.7 garbage garbage"), "pdf", "junk.pdf")).rejects.toThrow(/junk\.pdf/);
    await expect(extract(new Uint8Array(0), "pdf", "empty.pdf")).rejects.toThrow(/empty\.pdf is empty \(0 bytes\)/);
  });

  it("turns Markdown into plain text and takes the first heading as title", async () => {
    const md = "# Field notes\n\nThe **river** is [wide](http://x.y) and `deep`.\n\n- one\n- two\n\n![img](a.png)\n";
    const out = await extract(enc(md), "md", "notes.md");
    expect(out.title).toBe("Field notes");
    expect(out.pages[0]).toBe("Field notes\n\nThe river is wide and deep.\n\n- one\n- two");
  });

  it("reads HTML without markup and with its <title>", async () => {
    const out = await extract(
      enc(
        "<html><head><title>Page</title><script>var x=1</script></head><body><p>Hello <b>world</b>.</p></body></html>",
      ),
      "html",
      "p.html",
    );
    expect(out.title).toBe("Page");
    expect(out.pages[0]).toContain("Hello world.");
    expect(out.pages[0]).not.toContain("var x");
  });

  it("reads a Word document's paragraphs, and names a broken one", async () => {
    const out = await extract(
      await makeDocx(["Quarterly report", "Sales rose by 12% in March.", "Costs fell."]),
      "docx",
      "q1.docx",
    );
    expect(out.title).toBe("Quarterly report");
    expect(out.pages[0]).toMatch(/Quarterly report\n+Sales rose by 12% in March\.\n+Costs fell\./);
    await expect(extract(enc("PK not a zip"), "docx", "bad.docx")).rejects.toThrow(
      /bad\.docx is not a readable Word document/,
    );
  });

  it("reads UTF-8 and UTF-16 text, falls back to Windows-1252 with a warning, refuses binary", async () => {
    expect(decodeText(enc("café"), "a.txt")).toEqual({ text: "café" });
    const utf16 = new Uint8Array([0xff, 0xfe, ...Array.from("hé").flatMap((c) => [c.charCodeAt(0), 0])]);
    expect(decodeText(utf16, "b.txt").text).toBe("hé");
    const latin = new Uint8Array([0x63, 0x61, 0x66, 0xe9]); // "café" in Windows-1252
    expect(decodeText(latin, "c.txt")).toEqual({
      text: "café",
      warning: "c.txt is not valid UTF-8; it was read as Windows-1252",
    });
    expect(() => decodeText(new Uint8Array([1, 2, 0, 4]), "d.txt")).toThrow(/d\.txt looks binary/);
    await expect(extract(enc(" \n\t "), "txt", "blank.txt")).rejects.toThrow(/blank\.txt contains no text/);
  });

  it("knows which files it can read", () => {
    expect(["a.PDF", "b.md", "c.markdown", "d.txt", "e.htm", "f.docx", "g.doc", "h"].map(docTypeOf)).toEqual([
      "pdf",
      "md",
      "md",
      "txt",
      "html",
      "docx",
      null,
      null,
    ]);
  });
});
