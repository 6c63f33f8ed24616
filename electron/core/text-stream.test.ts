import { describe, expect, it } from "vitest";
import { TextStream } from "./text-stream.js";

// A byte-level fake decoder: ids are UTF-8 bytes, decoded leniently like a byte-fallback tokenizer.
const decode = (ids: number[]) => new TextDecoder().decode(new Uint8Array(ids));

describe("TextStream", () => {
  it("emits only complete characters and concatenates to the full text", () => {
    const bytes = [...new TextEncoder().encode("Paris 😀 é")];
    const s = new TextStream(decode);
    const deltas = bytes.map((b) => s.push(b));
    expect(deltas.join("") + s.flush()).toBe("Paris 😀 é");
    expect(deltas.some((d) => d.includes("\uFFFD"))).toBe(false);
    expect(deltas[6]).toBe(""); // first byte of the emoji: nothing yet
  });

  it("flushes a dangling partial character at the end", () => {
    const s = new TextStream(decode);
    s.push(0x41);
    expect(s.push(0xf0)).toBe("");
    expect(s.flush()).toBe("\uFFFD");
  });
});
