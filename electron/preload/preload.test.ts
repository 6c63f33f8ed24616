// The preload as Electron's sandbox runs it (the compiled CommonJS, with only `require("electron")`):
// it must expose exactly call(), onEvent() and pathForFile() under window.mnemo, on Mnemo's two channels, and never
// hand the page Electron's event object (its `sender` would be a way back into IPC).
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";

function loadPreload() {
  const exposed: Record<string, Record<string, (...a: unknown[]) => unknown>> = {};
  const invoked: unknown[][] = [];
  const listeners = new Map<string, (...a: unknown[]) => void>();
  const electron = {
    contextBridge: {
      exposeInMainWorld: (key: string, api: Record<string, (...a: unknown[]) => unknown>) => {
        exposed[key] = api;
      },
    },
    webUtils: { getPathForFile: (f: { name: string }) => `/home/me/${f.name}` },
    ipcRenderer: {
      invoke: async (...a: unknown[]) => {
        invoked.push(a);
        return { ok: true, value: null };
      },
      on: (ch: string, fn: (...a: unknown[]) => void) => listeners.set(ch, fn),
    },
  };
  const requireStub = (name: string) => {
    if (name !== "electron") throw new Error(`the preload required ${name}`);
    return electron;
  };
  const code = readFileSync(path.resolve(import.meta.dirname, "../../out/preload/preload.cjs"), "utf8");
  new Function("require", "exports", "module", code)(requireStub, {}, { exports: {} });
  return { exposed, invoked, listeners };
}

describe("preload", () => {
  it("exposes only call, onEvent and pathForFile, on Mnemo's channels", async () => {
    const { exposed, invoked, listeners } = loadPreload();
    expect(Object.keys(exposed)).toEqual(["mnemo"]);
    expect(Object.keys(exposed.mnemo!).sort()).toEqual(["call", "onEvent", "pathForFile"]);
    expect(exposed.mnemo!.pathForFile!({ name: "paper.pdf" })).toBe("/home/me/paper.pdf");
    await exposed.mnemo!.call!("vaults.list", {});
    expect(invoked).toEqual([["mnemo:call", "vaults.list", {}]]);
    const got: unknown[] = [];
    exposed.mnemo!.onEvent!((e: unknown) => got.push(e));
    expect([...listeners.keys()]).toEqual(["mnemo:event"]);
    listeners.get("mnemo:event")!(
      { sender: "the IPC event object" },
      { type: "backend.error", data: { message: "x" } },
    );
    expect(got).toEqual([{ type: "backend.error", data: { message: "x" } }]);
  });
});
