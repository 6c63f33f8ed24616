// Text extraction: file bytes -> title + per-page text. PDF (pdfjs-dist, page numbers kept for
// citations), Markdown (marked's lexer, markup dropped), HTML (html-to-text), Word (mammoth) and text.
// Every failure is an AppError whose message a user can act on; nothing here touches the disk.
import path from "node:path";
import { convert as htmlToText } from "html-to-text";
import mammoth from "mammoth";
import { Lexer, type Token } from "marked";
import { AppError } from "../shared/errors.js";
import { pageText, type PageTextItem } from "../shared/page-text.js";

export type DocType = "pdf" | "md" | "txt" | "html" | "docx";

export interface Extracted {
  title: string;
  /** Text of each page (one page for non-PDF files); page n is pages[n - 1]. */
  pages: string[];
  /** Something the user should know that did not stop ingestion (e.g. a legacy text encoding). */
  warning?: string;
}

const TYPES: Record<string, DocType> = {
  ".pdf": "pdf",
  ".md": "md",
  ".markdown": "md",
  ".txt": "txt",
  ".text": "txt",
  ".html": "html",
  ".htm": "html",
  ".docx": "docx",
};

/** The document type of a file name, or null when Mnemo cannot read it. */
export function docTypeOf(file: string): DocType | null {
  return TYPES[path.extname(file).toLowerCase()] ?? null;
}

export const SUPPORTED_EXTENSIONS = Object.keys(TYPES);

export async function extract(bytes: Uint8Array, type: DocType, name: string): Promise<Extracted> {
  if (bytes.length === 0) throw new AppError("EXTRACTION_FAILED", `${name} is empty (0 bytes)`);
  const fallbackTitle = path.basename(name, path.extname(name));
  const out =
    type === "pdf"
      ? await extractPdf(bytes, name, fallbackTitle)
      : type === "docx"
        ? await extractDocx(bytes, name, fallbackTitle)
        : extractText(bytes, type, name, fallbackTitle);
  if (!out.pages.some((p) => p.trim())) {
    throw new AppError(
      "EXTRACTION_FAILED",
      type === "pdf"
        ? `${name} has no text layer (a scanned PDF?); Mnemo cannot read images of text yet`
        : `${name} contains no text`,
    );
  }
  return out;
}

/** Decodes a text file: UTF-8 (BOM or not), UTF-16 with a BOM, else Windows-1252 with a warning. */
export function decodeText(bytes: Uint8Array, name: string): { text: string; warning?: string } {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return { text: new TextDecoder("utf-16le").decode(bytes) };
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return { text: new TextDecoder("utf-16be").decode(bytes) };
  if (bytes.subarray(0, 8192).includes(0))
    throw new AppError("UNSUPPORTED_FILE", `${name} looks binary (it contains NUL bytes), not text`);
  try {
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(bytes) };
  } catch {
    return {
      text: new TextDecoder("windows-1252").decode(bytes),
      warning: `${name} is not valid UTF-8; it was read as Windows-1252`,
    };
  }
}

function extractText(bytes: Uint8Array, type: "md" | "txt" | "html", name: string, fallbackTitle: string): Extracted {
  const { text, warning } = decodeText(bytes, name);
  const w = warning ? { warning } : {};
  if (type === "md") return { ...markdownToText(text, fallbackTitle), ...w };
  if (type === "html") {
    const title = /<title[^>]*>([^<]*)<\/title>/i.exec(text)?.[1]?.trim();
    const body = htmlToText(text, {
      wordwrap: false,
      selectors: [
        { selector: "a", options: { ignoreHref: true } },
        { selector: "img", format: "skip" },
      ],
    });
    return { title: title || fallbackTitle, pages: [body], ...w };
  }
  return { title: firstLineTitle(text, fallbackTitle), pages: [text], ...w };
}

/** A short first line is a plain document's title; otherwise the file name is. */
function firstLineTitle(text: string, fallbackTitle: string): string {
  const firstLine =
    text
      .split("\n")
      .find((l) => l.trim())
      ?.trim() ?? "";
  return firstLine.length > 0 && firstLine.length <= 80 ? firstLine : fallbackTitle;
}

async function extractDocx(bytes: Uint8Array, name: string, fallbackTitle: string): Promise<Extracted> {
  let text: string;
  try {
    text = (await mammoth.extractRawText({ buffer: Buffer.from(bytes) })).value;
  } catch (e) {
    throw new AppError("EXTRACTION_FAILED", `${name} is not a readable Word document (${(e as Error).message})`);
  }
  return { title: firstLineTitle(text, fallbackTitle), pages: [text] };
}

/** Markdown -> plain text with blank lines between blocks; the first heading is the title. */
export function markdownToText(source: string, fallbackTitle: string): { title: string; pages: string[] } {
  const tokens = new Lexer().lex(source);
  const heading = tokens.find((t) => t.type === "heading");
  const blocks = tokens.map(blockText).filter((b) => b.trim());
  return { title: heading ? inlineText(heading).trim() : fallbackTitle, pages: [blocks.join("\n\n")] };
}

function blockText(t: Token): string {
  switch (t.type) {
    case "space":
    case "hr":
    case "html":
      return "";
    case "code":
      return t.text as string;
    case "list":
      return (t.items as Token[]).map((item) => "- " + blockChildren(item)).join("\n");
    case "table":
      return [t.header, ...(t.rows as unknown[])].map((row) => (row as Token[]).map(inlineText).join(" | ")).join("\n");
    case "blockquote":
      return blockChildren(t);
    default:
      return inlineText(t);
  }
}

function blockChildren(t: Token): string {
  const children = (t as { tokens?: Token[] }).tokens;
  return children ? children.map(blockText).filter(Boolean).join("\n") : String((t as { text?: string }).text ?? "");
}

function inlineText(t: Token): string {
  if (t.type === "image" || t.type === "html") return "";
  const children = (t as { tokens?: Token[] }).tokens;
  if (children?.length) return children.map(inlineText).join("");
  return t.type === "br" ? "\n" : unescapeEntities(String((t as { text?: string }).text ?? ""));
}

const unescapeEntities = (s: string) =>
  s.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'" })[e]!);

async function extractPdf(bytes: Uint8Array, name: string, fallbackTitle: string): Promise<Extracted> {
  const pdfjs = await import("pdfjs-dist/legacy/build/pdf.mjs");
  // A plain Uint8Array copy: pdfjs refuses Buffers and detaches the buffer it is given. No eval, no fonts, no network.
  const task = pdfjs.getDocument({
    data: new Uint8Array(bytes),
    isEvalSupported: false,
    disableFontFace: true,
    useSystemFonts: false,
    verbosity: 0,
    stopAtErrors: false,
  });
  let doc;
  try {
    doc = await task.promise;
  } catch (e) {
    const err = e as Error;
    if (err.name === "PasswordException")
      throw new AppError("EXTRACTION_FAILED", `${name} is password-protected; remove the password and add it again`);
    if (err.name === "InvalidPDFException")
      throw new AppError("EXTRACTION_FAILED", `${name} is not a valid PDF (corrupt or truncated)`);
    throw new AppError("EXTRACTION_FAILED", `${name} could not be read as a PDF: ${err.message}`);
  }
  try {
    const pages: string[] = [];
    for (let n = 1; n <= doc.numPages; n++) {
      const page = await doc.getPage(n);
      const content = await page.getTextContent();
      // the viewer lays a page out the same way
      pages.push(pageText(content.items.flatMap((it): PageTextItem[] => ("str" in it ? [it] : []))));
      page.cleanup();
    }
    const meta = await doc.getMetadata().catch(() => null);
    const infoTitle = (meta?.info as { Title?: unknown } | undefined)?.Title;
    return { title: pdfTitle(infoTitle, pages[0] ?? "", fallbackTitle), pages };
  } catch (e) {
    throw new AppError("EXTRACTION_FAILED", `${name}: a page could not be read (${(e as Error).message})`);
  } finally {
    await task.destroy();
  }
}

// Metadata titles that name the program or template that made a PDF, not the document: print drivers
// ("Enscript Output"), Office's "Microsoft Word - notes.docx", "Untitled ...", or a bare file name
// ("report.pdf", "doc1.docx"). Shown as a title they say nothing, so they count as no title at all.
const PLACEHOLDER_TITLE =
  /^(enscript output|untitled.*|microsoft (word|powerpoint|excel) - .*|.*\.(docx?|pdf|txt|rtf|odt|pptx?|xlsx?|ps|dvi|tex))$/i;

/** A PDF's metadata title unless it is missing or a placeholder; then a heading on page 1; then the file name. */
export function pdfTitle(infoTitle: unknown, firstPage: string, fallbackTitle: string): string {
  const meta = typeof infoTitle === "string" ? infoTitle.trim() : "";
  if (meta && !PLACEHOLDER_TITLE.test(meta)) return meta;
  return headingLine(firstPage) ?? fallbackTitle;
}

/** The first line of a PDF page when it reads like a heading, else undefined. */
function headingLine(text: string): string | undefined {
  const first = firstLineTitle(text, "");
  // PDF text is hard-wrapped: a short first line may be a sentence, a page number, or a paragraph's
  // first line (its next line then goes on in lower case). None of those is a title.
  if (!/\p{L}/u.test(first) || /[.,;:]$/.test(first)) return undefined;
  const next = text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)[1];
  return next && /^\p{Ll}/u.test(next) ? undefined : first;
}
