// The local server's doors (compiled output: the engine worker must be JavaScript): the token, the
// Host and Origin checks, validated calls, document downloads and static paths that stay inside.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import os from "node:os";
import path from "node:path";
import WebSocket from "ws";
import { seededRandom } from "../core/sampler.js";
import type { startServer as Start, RunningServer } from "./server.js";
import type { AppApi as Api } from "../app/api.js";
import type { MnemoApp as App } from "../app/app.js";

const repo = path.resolve(import.meta.dirname, "../..");
const { startServer } = (await import(path.join(repo, "out/server/server.js"))) as { startServer: typeof Start };
const { AppApi } = (await import(path.join(repo, "out/app/api.js"))) as { AppApi: typeof Api };
const { MnemoApp } = (await import(path.join(repo, "out/app/app.js"))) as { MnemoApp: typeof App };
const dir = mkdtempSync(path.join(os.tmpdir(), "mnemo-server-"));
const app = new MnemoApp({ dataDir: dir, bundleDir: path.join(repo, "models/bundles/tiny-random") });
let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ api: new AppApi(app), app, staticDir: path.join(repo, "out/renderer"), token: "t0k3n" });
});
afterAll(async () => {
  await server.close();
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

function fetchRaw(p: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(
      { host: "127.0.0.1", port: server.port, path: p, headers: { host: `127.0.0.1:${server.port}`, ...headers } },
      (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d)).on("end", () => resolve({ status: res.statusCode!, body }));
      },
    )
      .on("error", reject)
      .end();
  });
}
const get = async (p: string, headers: Record<string, string> = {}) => (await fetchRaw(p, headers)).status;

function open(query: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api${query}`, { headers });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

function call(
  ws: WebSocket,
  method: string,
  params: unknown,
): Promise<{ ok: boolean; value?: unknown; error?: { code: string; message: string } }> {
  const id = Math.floor(Math.random() * 1e9);
  return new Promise((resolve) => {
    ws.on("message", (raw) => {
      const m = JSON.parse(raw.toString());
      if (m.id === id) resolve(m);
    });
    ws.send(JSON.stringify({ id, method, params }));
  });
}

describe("local server", () => {
  it("opens the API to the right token only, and not to another web page", async () => {
    await expect(open("")).rejects.toThrow(/401/);
    await expect(open("?token=wrong")).rejects.toThrow(/401/);
    await expect(open("?token=t0k3n", { origin: "http://evil.example" })).rejects.toThrow(/401/);
    const ws = await open("?token=t0k3n", { origin: `http://127.0.0.1:${server.port}` });
    expect(await call(ws, "vaults.list", {})).toMatchObject({ ok: true, value: [] });
    expect(await call(ws, "vaults.create", { name: "" })).toMatchObject({
      ok: false,
      error: { code: "INVALID_ARGUMENT", message: expect.stringMatching(/vaults\.create: name/) },
    });
    expect(await call(ws, "fs.readFile", { path: "/etc/passwd" })).toMatchObject({
      ok: false,
      error: { code: "INVALID_ARGUMENT" },
    });
    expect(await call(ws, "documents.list", { vault: "nope" })).toMatchObject({
      ok: false,
      error: { code: "VAULT_NOT_FOUND" },
    });
    // The server is no installed app: it reports that, and nothing on the page can make it fetch or install anything.
    expect(await call(ws, "updates.status", {})).toMatchObject({ ok: true, value: { state: "unsupported" } });
    for (const m of ["updates.check", "updates.install"])
      expect(await call(ws, m, {})).toMatchObject({ ok: false, error: { code: "UPDATES_UNSUPPORTED" } });
    expect(await call(ws, "updates.configure", { mode: "sometimes" })).toMatchObject({
      ok: false,
      error: { code: "INVALID_ARGUMENT" },
    });
    expect(await call(ws, "dialog.chooseFolder", {})).toMatchObject({ ok: false, error: { code: "DESKTOP_ONLY" } });
    ws.close();
  });

  it("answers every random frame on the WebSocket with a result or a typed error, and keeps working", async () => {
    const ws = await open("?token=t0k3n");
    const replies: { id: number; ok: boolean; error?: { code: string } }[] = [];
    ws.on("message", (raw) => {
      const m = JSON.parse(raw.toString());
      if (!m.event) replies.push(m);
    });
    const r = seededRandom(99),
      pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
    // Read-only and unknown methods only: the fuzz must not create or delete things in the shared server.
    const methods = [
      "vaults.list",
      "documents.list",
      "history.list",
      "documents.read",
      "model.info",
      "updates.status",
      "nope",
      "__proto__",
      "constructor",
      "",
    ];
    const junk = () =>
      pick<unknown>([
        null,
        true,
        -1,
        1e308,
        "x",
        "../../etc/passwd",
        [],
        [1, [2]],
        { vault: pick(["", "nope", 7]) },
        { id: 3 },
        "\u0000",
      ]);
    let sent = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < 1500 && sent < 2000) {
      const k = r();
      if (k < 0.2) ws.send(Buffer.from(Array.from({ length: 1 + Math.floor(r() * 64) }, () => Math.floor(r() * 256))));
      else if (k < 0.4) ws.send(JSON.stringify(junk()));
      else
        ws.send(
          JSON.stringify({
            id: pick<unknown>([sent, "7", null, -3]),
            method: pick<unknown>([...methods, 42, null]),
            params: junk(),
          }),
        );
      sent++;
    }
    await vi.waitFor(() => expect(replies.length).toBe(sent), { timeout: 20_000 });
    expect(replies.every((m) => typeof m.ok === "boolean" && (m.ok || typeof m.error?.code === "string"))).toBe(true);
    expect(replies.filter((m) => !m.ok).length).toBeGreaterThan(sent / 2);
    expect(await call(ws, "vaults.list", {})).toMatchObject({ ok: true });
    ws.close();
  });

  it("serves the app to its own Host only, never a file outside it, and documents only with the token", async () => {
    expect(await get("/")).toBe(200);
    expect(await get("/", { host: "evil.example" })).toBe(403);
    for (const p of ["/..%2f..%2f..%2fetc%2fpasswd", "/../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd"]) {
      const r = await fetchRaw(p);
      expect(r.body).not.toMatch(/root:/); // at most the app's own index.html
      expect(r.body).toMatch(/<!doctype html>|outside the app|not built/i);
    }
    expect(await get("/files/x/1")).toBe(401);
    expect(await get("/files/x/1?token=t0k3n")).toBe(404);
  });
});
