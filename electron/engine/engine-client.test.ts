// The engine worker through its client (compiled output: the worker must be JavaScript; `npm test`
// runs tsc -b first): ingest, streamed answer, sources, cancellation, errors.
import { afterAll, describe, expect, it } from "vitest";
import path from "node:path";
import type { EngineClient as Client } from "./engine-client.js";

const repo = path.resolve(import.meta.dirname, "../..");
const { EngineClient } = (await import(path.join(repo, "out/engine/engine-client.js"))) as {
  EngineClient: typeof Client;
};

describe("EngineClient", () => {
  const engine = new EngineClient();
  afterAll(() => engine.close());

  it("refuses to ingest before a bundle is loaded", async () => {
    await expect(engine.ingest("a.md", "text")).rejects.toThrow(/no bundle loaded/);
  });

  it("streams an answer whose pieces add up to the result, with sources", async () => {
    await engine.load(path.join(repo, "models/bundles/tiny-random"));
    expect(await engine.ingest("a.md", "The tower was completed in 1889.")).toEqual({ entries: 1 });
    await engine.ingest("b.md", "Marie Curie won two Nobel Prizes.");
    const pieces: string[] = [];
    const r = await engine.ask("When was the tower completed?", {}, (t) => pieces.push(t));
    expect(pieces.join("").trim()).toBe(r.answer);
    expect(r.sources.map((s) => s.key).sort()).toEqual(["a.md", "b.md"]);
    expect(r.bankSize).toBe(2);
    expect(r.timings.firstTokenMs).not.toBeNull();
  });

  it("cancels an answer mid-stream", async () => {
    const controller = new AbortController();
    const pieces: string[] = [];
    // 200 tokens: on a busy machine the abort message can take a few steps to reach the worker.
    const answer = engine.ask(
      "When?",
      { maxNewTokens: 200 },
      (t) => {
        pieces.push(t);
        controller.abort();
      },
      controller.signal,
    );
    await expect(answer).rejects.toMatchObject({ code: "ABORTED" });
    expect(pieces.length).toBeGreaterThan(0);
    expect(pieces.length).toBeLessThan(200);
  });
});
