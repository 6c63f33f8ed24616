// PDFs (and a Word file) made on the fly with pdf-lib and jszip (pure
// JavaScript, no Debian tools needed in CI): for tests and for the ingestion
// benchmark.
import { PDFDocument, StandardFonts } from "pdf-lib";

/** A text PDF: one entry per page, each page's text wrapped into lines. */
export async function makePdf(pages: readonly string[], title?: string): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  if (title) doc.setTitle(title);
  for (const text of pages) {
    const page = doc.addPage([612, 792]);
    // The standard fonts encode WinAnsi only: strip accents to base letters, drop what remains outside Latin-1.
    const lines = wrap(text.normalize("NFKD").replace(/[^\x20-\x7e\xa0-\xff\n]/g, ""), 90);
    lines.forEach((line, i) => page.drawText(line, { x: 50, y: 740 - i * 14, size: 11, font }));
  }
  return doc.save();
}

/** A "scanned" PDF: pages with drawings and no text layer. */
export async function makeImageOnlyPdf(pageCount = 2): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  for (let i = 0; i < pageCount; i++) doc.addPage([612, 792]).drawRectangle({ x: 50, y: 50, width: 300, height: 400 });
  return doc.save();
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  for (const para of text.split("\n")) {
    let line = "";
    for (const w of para.split(/\s+/).filter(Boolean)) {
      if (line && line.length + 1 + w.length > width) {
        out.push(line);
        line = w;
      } else line = line ? `${line} ${w}` : w;
    }
    out.push(line);
  }
  return out;
}

/** A minimal Word document (the three parts a .docx needs), one paragraph per entry. */
export async function makeDocx(paragraphs: readonly string[]): Promise<Uint8Array> {
  const { default: JSZip } = await import("jszip");
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const zip = new JSZip();
  zip.file(
    "[Content_Types].xml",
    `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
      `<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>` +
      `<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`,
  );
  zip.file(
    "_rels/.rels",
    `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
      `<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`,
  );
  zip.file(
    "word/document.xml",
    `<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>` +
      paragraphs.map((p) => `<w:p><w:r><w:t xml:space="preserve">${esc(p)}</w:t></w:r></w:p>`).join("") +
      `</w:body></w:document>`,
  );
  return zip.generateAsync({ type: "uint8array" });
}
