// SQuAD v1.1-format files (.json or .json.gz): validated on read, every error naming the first
// offending record, e.g. `data[3].paragraphs[2].qas[0].answers[1]: "Paris" is not in its paragraph`.
import { readFile } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import { AppError } from "../shared/errors.js";

export interface Question {
  id: string;
  question: string;
  answers: string[];
}
export interface Paragraph {
  index: number;
  article: string;
  context: string;
  questions: Question[];
}

const bad = (where: string, what: string) => new AppError("INVALID_ARGUMENT", `${where}: ${what}`);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export async function readSquad(file: string): Promise<Paragraph[]> {
  let raw: Buffer;
  try {
    raw = await readFile(file);
  } catch (e) {
    throw new AppError("IO_ERROR", `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (raw.length === 0) throw bad(file, "the file is empty");
  let text: string;
  try {
    text = (raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw).toString("utf8");
  } catch (e) {
    throw bad(file, `not a readable gzip file (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw bad(file, `not JSON (${(e as Error).message})`);
  }
  return parseSquad(json, file);
}

export function parseSquad(json: unknown, file = "file"): Paragraph[] {
  if (!isObject(json) || !Array.isArray(json.data)) throw bad(file, 'not SQuAD format: expected {"data": [articles]}');
  if (json.data.length === 0) throw bad(file, "data is empty: no articles");
  const out: Paragraph[] = [];
  json.data.forEach((article: unknown, a) => {
    const at = `data[${a}]`;
    if (!isObject(article) || !Array.isArray(article.paragraphs)) throw bad(at, "expected {title, paragraphs: [...]}");
    const title = typeof article.title === "string" ? article.title : `article ${a}`;
    article.paragraphs.forEach((p: unknown, i) => {
      const pat = `${at}.paragraphs[${i}]`;
      if (!isObject(p) || typeof p.context !== "string" || !p.context.trim())
        throw bad(pat, "expected a non-empty string context");
      if (!Array.isArray(p.qas)) throw bad(pat, "expected qas: [...]");
      const context = p.context;
      const questions = p.qas.map((q: unknown, k): Question => {
        const qat = `${pat}.qas[${k}]`;
        if (!isObject(q) || typeof q.question !== "string" || !q.question.trim())
          throw bad(qat, "expected a non-empty string question");
        if (!Array.isArray(q.answers) || q.answers.length === 0) throw bad(qat, "has no answers");
        const answers = q.answers.map((ans: unknown, n) => {
          const aat = `${qat}.answers[${n}]`;
          if (!isObject(ans) || typeof ans.text !== "string" || !ans.text.trim())
            throw bad(aat, "expected {text, answer_start}");
          if (!context.includes(ans.text)) throw bad(aat, `${JSON.stringify(ans.text)} is not in its paragraph`);
          return ans.text;
        });
        return { id: typeof q.id === "string" ? q.id : `${a}-${i}-${k}`, question: q.question.trim(), answers };
      });
      out.push({ index: out.length, article: title, context, questions });
    });
  });
  if (!out.some((p) => p.questions.length)) throw bad(file, "no questions in any paragraph");
  return out;
}
