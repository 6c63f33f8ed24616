import { describe, expect, it } from "vitest";
import { allowedHosts, isLoopback, originAllowed, tokenMatches } from "./guard.js";

describe("the local server's guards", () => {
  it("accepts loopback peers only", () => {
    for (const a of ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"]) expect(isLoopback(a)).toBe(true);
    for (const a of [
      "10.0.0.2",
      "192.168.1.5",
      "::ffff:10.0.0.1",
      "fe80::1",
      "0.0.0.0",
      "",
      undefined,
      "127.0.0.1.evil.com",
    ])
      expect(isLoopback(a)).toBe(false);
  });

  it("accepts this server's own Host and Origin only (no DNS rebinding, no other web page)", () => {
    expect([...allowedHosts(4000)]).toEqual(["127.0.0.1:4000", "localhost:4000", "[::1]:4000"]);
    expect(originAllowed("http://127.0.0.1:4000", 4000)).toBe(true);
    expect(originAllowed(undefined, 4000)).toBe(true); // not a browser; the token still applies
    for (const o of [
      "http://127.0.0.1:4001",
      "https://127.0.0.1:4000",
      "http://evil.com",
      "null",
      "http://localhost:4000.evil.com",
    ]) {
      expect(originAllowed(o, 4000)).toBe(false);
    }
  });

  it("compares tokens exactly", () => {
    expect(tokenMatches("abc123", "abc123")).toBe(true);
    for (const t of ["abc124", "abc12", "abc1234", "", null, undefined]) expect(tokenMatches(t, "abc123")).toBe(false);
  });
});
