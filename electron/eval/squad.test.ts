import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { parseSquad, readSquad } from "./squad.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "mnemo-squad-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const good = {
  data: [
    {
      title: "Paris",
      paragraphs: [
        {
          context: "Paris is the capital of France.",
          qas: [
            {
              id: "q1",
              question: "What is the capital of France?",
              answers: [
                { text: "Paris", answer_start: 0 },
                { text: "Paris", answer_start: 0 },
              ],
            },
          ],
        },
      ],
    },
  ],
};

describe("readSquad", () => {
  it("reads plain and gzipped SQuAD files", async () => {
    writeFileSync(path.join(dir, "a.json"), JSON.stringify(good));
    writeFileSync(path.join(dir, "a.json.gz"), gzipSync(JSON.stringify(good)));
    for (const f of ["a.json", "a.json.gz"]) {
      const [p] = await readSquad(path.join(dir, f));
      expect(p).toMatchObject({ index: 0, article: "Paris", questions: [{ id: "q1", answers: ["Paris", "Paris"] }] });
    }
  });

  it("names the first offending record", async () => {
    writeFileSync(path.join(dir, "empty.json"), "");
    await expect(readSquad(path.join(dir, "empty.json"))).rejects.toThrow(/empty\.json: the file is empty/);
    writeFileSync(path.join(dir, "text.json"), "hello");
    await expect(readSquad(path.join(dir, "text.json"))).rejects.toThrow(/text\.json: not JSON/);
    expect(() => parseSquad({ version: "1.1" })).toThrow(/not SQuAD format/);
    expect(() => parseSquad({ data: [] })).toThrow(/data is empty/);
    const missing = structuredClone(good);
    missing.data[0]!.paragraphs[0]!.qas[0]!.answers[1]!.text = "Lyon";
    expect(() => parseSquad(missing)).toThrow(
      'data[0].paragraphs[0].qas[0].answers[1]: "Lyon" is not in its paragraph',
    );
    const noAnswers = structuredClone(good);
    noAnswers.data[0]!.paragraphs[0]!.qas[0]!.answers = [];
    expect(() => parseSquad(noAnswers)).toThrow("data[0].paragraphs[0].qas[0]: has no answers");
    await expect(readSquad(path.join(dir, "nope.json"))).rejects.toThrow(/cannot read .*nope\.json: ENOENT/);
  });
});
