import { describe, expect, it } from "vitest";
import { validateCall } from "./ipc.js";

describe("validateCall", () => {
  it("accepts known methods with well-formed parameters", () => {
    expect(validateCall("vaults.create", { name: "Work" })).toEqual({
      method: "vaults.create",
      params: { name: "Work" },
    });
    expect(validateCall("vaults.list", undefined).params).toEqual({});
    expect(
      validateCall("ask", { askId: "a1", question: "Why?", mode: "memory+keyword", vaults: ["Work"] }).method,
    ).toBe("ask");
  });

  it("refuses unknown methods, unknown keys and malformed values, naming the field", () => {
    expect(() => validateCall("vaults.drop", {})).toThrow('unknown method "vaults.drop"');
    expect(() => validateCall("__proto__", {})).toThrow(/unknown method/);
    expect(() => validateCall(42, {})).toThrow(/unknown method 42/);
    expect(() => validateCall("vaults.create", { name: "" })).toThrow(/^vaults\.create: name: /);
    expect(() => validateCall("vaults.create", { name: "x", extra: 1 })).toThrow(
      /vaults\.create: parameters: .*extra/i,
    );
    expect(() => validateCall("documents.remove", { vault: "v", ids: [1, -2] })).toThrow(/documents\.remove: ids\.1: /);
    expect(() => validateCall("documents.upload", { vault: "v", name: "../../etc/passwd", data: "" })).toThrow(
      /name: a file name, not a path/,
    );
    expect(() => validateCall("ask", { askId: "a", question: "q", mode: "telepathy" })).toThrow(/ask: mode: /);
    expect(() => validateCall("ask", { askId: "a", question: "q", temperature: "hot" })).toThrow(/ask: temperature: /);
    expect(() => validateCall("vaults.list", "not an object")).toThrow(/vaults\.list: parameters: /);
  });
});
