// The Electron main process's security checklist and IPC relay, run in Node against a stand-in for
// the electron module (no Electron binary can be installed here): what the window is created with,
// what happens to navigation, new windows, webviews and permission requests, which calls reach the
// backend, and how a backend crash is handled. It checks main.ts's own decisions, not Electron's.
import { beforeAll, describe, expect, it, vi } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

type Posted = { id: number; method: string; params: unknown };
const fake = vi.hoisted(() => {
  /** A minimal EventEmitter (vi.hoisted runs before imports). */
  class Emitter {
    private readonly listeners = new Map<string, ((...a: unknown[]) => void)[]>();
    on(event: string, fn: (...a: unknown[]) => void) {
      this.listeners.set(event, [...(this.listeners.get(event) ?? []), fn]);
      return this;
    }
    once(event: string, fn: (...a: unknown[]) => void) {
      return this.on(event, fn);
    }
    emit(event: string, ...args: unknown[]) {
      for (const fn of this.listeners.get(event) ?? []) fn(...args);
    }
  }
  const state = {
    windows: [] as {
      options: { webPreferences: Record<string, unknown> };
      webContents: Emitter & Record<string, unknown>;
    }[],
    handlers: new Map<string, (...a: unknown[]) => unknown>(),
    listeners: [] as string[],
    backends: [] as (Emitter & { posted: Posted[]; kill(): void; postMessage(m: Posted): void })[],
    permissionRequest: null as null | ((wc: unknown, permission: string, cb: (ok: boolean) => void) => void),
    permissionCheck: null as null | ((...a: unknown[]) => boolean),
    opened: [] as string[],
    dialogs: [] as unknown[],
    dialogAnswer: { canceled: false, filePaths: ["/home/me/Papers"] } as { canceled: boolean; filePaths: string[] },
    Emitter,
  };
  return state;
});

vi.mock("electron", () => {
  class BrowserWindow extends fake.Emitter {
    static getAllWindows = () => fake.windows;
    webContents: InstanceType<typeof fake.Emitter> & Record<string, unknown>;
    constructor(readonly options: { webPreferences: Record<string, unknown> }) {
      super();
      const wc = new fake.Emitter() as InstanceType<typeof fake.Emitter> & Record<string, unknown>;
      wc.sent = [] as unknown[];
      wc.send = (channel: string, payload: unknown) => (wc.sent as unknown[]).push([channel, payload]);
      wc.setWindowOpenHandler = (h: unknown) => {
        wc.windowOpenHandler = h;
      };
      this.webContents = wc;
      fake.windows.push(this as never);
    }
    loadFile = async () => {};
    show() {}
  }
  const app = Object.assign(new fake.Emitter(), {
    isPackaged: false,
    whenReady: async () => {},
    isReady: () => true,
    getPath: () => "/tmp/mnemo-main-test",
    getVersion: () => "0.1.0",
    quit: () => {},
  });
  return {
    app,
    BrowserWindow,
    ipcMain: {
      handle: (channel: string, fn: (...a: unknown[]) => unknown) => fake.handlers.set(channel, fn),
      on: (channel: string) => fake.listeners.push(channel),
    },
    session: {
      defaultSession: {
        setPermissionRequestHandler: (h: never) => {
          fake.permissionRequest = h;
        },
        setPermissionCheckHandler: (h: never) => {
          fake.permissionCheck = h;
        },
      },
    },
    dialog: {
      showOpenDialog: async (_win: unknown, options: { properties: string[] }) => {
        fake.dialogs.push(options);
        return fake.dialogAnswer;
      },
    },
    shell: {
      openExternal: async (url: string) => {
        fake.opened.push(url);
      },
    },
    utilityProcess: {
      fork: () => {
        const b = Object.assign(new fake.Emitter(), {
          posted: [] as { id: number; method: string; params: unknown }[],
          kill() {},
          postMessage(m: { id: number; method: string; params: unknown }) {
            b.posted.push(m);
            setImmediate(() => b.emit("message", { id: m.id, ok: true, value: `relayed ${m.method}` }));
          },
        });
        fake.backends.push(b as never);
        return b;
      },
    },
  };
});

const RENDERER_URL = pathToFileURL(path.join(import.meta.dirname, "../renderer/index.html")).href;
type Call = (
  e: unknown,
  method: unknown,
  params: unknown,
) => Promise<{ ok: boolean; value?: unknown; error?: { code: string; message: string } }>;
let call: Call, win: (typeof fake.windows)[number];
/** An IPC event as Electron would give it: which webContents and frame sent it. */
const from = (wc: unknown, url = RENDERER_URL, sub = false) => {
  const frame = { url };
  if (!sub) (wc as Record<string, unknown>).mainFrame = frame;
  return { sender: wc, senderFrame: frame };
};

beforeAll(async () => {
  await import("./main.js");
  await new Promise((r) => setTimeout(r, 10)); // app.whenReady().then(...)
  win = fake.windows[0]!;
  call = fake.handlers.get("mnemo:call") as Call;
});

describe("Electron main: the security checklist", () => {
  it("creates a sandboxed, isolated window with no Node, no webviews and a preload", () => {
    expect(win.options.webPreferences).toMatchObject({
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      webviewTag: false,
      navigateOnDragDrop: false,
    });
    expect(String(win.options.webPreferences.preload)).toMatch(/preload\.cjs$/);
  });

  it("blocks navigation, new windows and webviews; web links go to the user's browser", () => {
    let prevented = 0;
    win.webContents.emit("will-navigate", { preventDefault: () => prevented++ }, "https://evil.example");
    const open = win.webContents.windowOpenHandler as (d: { url: string }) => { action: string };
    expect(open({ url: "https://example.org/paper" })).toEqual({ action: "deny" });
    expect(open({ url: "file:///etc/passwd" })).toEqual({ action: "deny" });
    expect(open({ url: "javascript:alert(1)" })).toEqual({ action: "deny" });
    expect(fake.opened).toEqual(["https://example.org/paper"]);
    // Any webContents created later (a devtools pane, a stray frame) gets the same treatment.
    const other = new fake.Emitter();
    return import("electron").then(({ app }) => {
      (app as unknown as InstanceType<typeof fake.Emitter>).emit("web-contents-created", {}, other);
      other.emit("will-attach-webview", { preventDefault: () => prevented++ });
      other.emit("will-navigate", { preventDefault: () => prevented++ });
      expect(prevented).toBe(3);
    });
  });

  it("denies every permission request and check", () => {
    for (const p of ["media", "geolocation", "notifications", "clipboard-read", "openExternal"]) {
      let granted: boolean | null = null;
      fake.permissionRequest!({}, p, (ok) => {
        granted = ok;
      });
      expect(granted).toBe(false);
      expect(fake.permissionCheck!({}, p)).toBe(false);
    }
  });

  it("the renderer's page carries a strict CSP", () => {
    const html = readFileSync(path.join(import.meta.dirname, "../../renderer/index.html"), "utf8");
    const csp = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html)?.[1] ?? "";
    expect(csp).toMatch(/default-src 'self'/);
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).toMatch(/object-src 'none'/);
    expect(csp).not.toMatch(/unsafe-eval|https?:/);
  });
});

describe("Electron main: the IPC relay", () => {
  it("listens on one channel only", () => {
    expect([...fake.handlers.keys()]).toEqual(["mnemo:call"]);
    expect(fake.listeners).toEqual([]);
  });

  it("relays a valid call from its own window's top frame to the backend", async () => {
    expect(await call(from(win.webContents), "vaults.list", {})).toMatchObject({
      ok: true,
      value: "relayed vaults.list",
    });
    expect(fake.backends[0]!.posted.at(-1)).toMatchObject({ method: "vaults.list", params: {} });
  });

  it("refuses other senders, subframes and other pages, relaying nothing", async () => {
    const before = fake.backends[0]!.posted.length;
    // Another webContents; a subframe of our window showing our page; our top frame showing another page.
    for (const e of [
      () => from(new fake.Emitter()),
      () => from(win.webContents, RENDERER_URL, true),
      () => from(win.webContents, "https://evil.example/"),
    ].map((f) => f())) {
      expect(await call(e, "vaults.list", {})).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
    }
    expect(fake.backends[0]!.posted.length).toBe(before);
  });

  it("refuses unknown methods and malformed arguments before they reach the backend", async () => {
    const before = fake.backends[0]!.posted.length;
    expect(await call(from(win.webContents), "fs.readFile", { path: "/etc/passwd" })).toMatchObject({
      ok: false,
      error: { code: "INVALID_ARGUMENT" },
    });
    expect(await call(from(win.webContents), "vaults.create", { name: "", extra: 1 })).toMatchObject({
      ok: false,
      error: { code: "INVALID_ARGUMENT" },
    });
    expect(await call(from(win.webContents), "documents.addPaths", { vault: "v", paths: "not a list" })).toMatchObject({
      ok: false,
      error: { code: "INVALID_ARGUMENT" },
    });
    expect(fake.backends[0]!.posted.length).toBe(before);
  });

  it("answers updates.* itself: a development run does not update", async () => {
    const before = fake.backends[0]!.posted.length;
    expect(await call(from(win.webContents), "updates.status", {})).toMatchObject({
      ok: true,
      value: { state: "unsupported", message: expect.stringMatching(/development run/) },
    });
    expect(await call(from(win.webContents), "updates.check", {})).toMatchObject({
      ok: false,
      error: { code: "UPDATES_UNSUPPORTED" },
    });
    expect(fake.backends[0]!.posted.length).toBe(before);
  });

  it("answers the folder picker itself, with the folder or null when cancelled", async () => {
    const before = fake.backends[0]!.posted.length;
    expect(
      await call(from(win.webContents), "dialog.chooseFolder", { title: "Choose a folder to keep in sync" }),
    ).toEqual({ id: expect.any(Number), ok: true, value: "/home/me/Papers" });
    expect(fake.dialogs.at(-1)).toMatchObject({
      title: "Choose a folder to keep in sync",
      properties: expect.arrayContaining(["openDirectory"]),
    });
    fake.dialogAnswer = { canceled: true, filePaths: [] };
    expect(await call(from(win.webContents), "dialog.chooseFolder", {})).toMatchObject({ ok: true, value: null });
    expect(await call(from(new fake.Emitter()), "dialog.chooseFolder", {})).toMatchObject({
      ok: false,
      error: { code: "FORBIDDEN" },
    });
    expect(fake.backends[0]!.posted.length).toBe(before);
  });

  it("fails calls in flight when the backend dies, tells the window, and restarts it at most 3 times a minute", async () => {
    for (let crash = 1; crash <= 4; crash++) {
      const backend = fake.backends.at(-1)!;
      backend.postMessage = (m) => {
        backend.posted.push(m);
      }; // this one never answers
      const inFlight = call(from(win.webContents), "vaults.list", {});
      await new Promise((r) => setImmediate(r));
      backend.emit("exit", 1);
      expect(await inFlight).toMatchObject({ ok: false, error: { code: "BACKEND_CRASHED" } });
    }
    expect(fake.backends.length).toBe(4); // the first, then 3 restarts; not a 4th
    const notices = (win.webContents.sent as [string, { type: string; data: { message: string } }][]).filter(
      ([, e]) => e.type === "backend.error",
    );
    expect(notices.at(-1)![1].data.message).toMatch(/keeps failing; restart Mnemo/);
    expect(await call(from(win.webContents), "vaults.list", {})).toMatchObject({
      ok: false,
      error: { code: "BACKEND_CRASHED" },
    });
  });
});

describe("Electron main: which builds update themselves", () => {
  it("an installed build without a feed, without a key, or with a damaged key says so, and opens anyway", async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import("node:fs");
    const os = await import("node:os");
    const { app } = await import("electron");
    const { createUpdates } = await import("./updates.js");
    const resources = mkdtempSync(path.join(os.tmpdir(), "mnemo-resources-"));
    const saved = { packaged: app.isPackaged, resources: process.resourcesPath };
    Object.assign(app, { isPackaged: true });
    Object.assign(process, { resourcesPath: resources });
    try {
      expect(createUpdates(() => {}).status.message).toMatch(/no update server configured/);
      writeFileSync(path.join(resources, "app-update.yml"), "provider: generic\nurl: https://updates.mnemo.example/\n");
      expect(createUpdates(() => {}).status.message).toMatch(/carries no update signing key/);
      writeFileSync(
        path.join(resources, "update-signing-key.pem"),
        "-----BEGIN PUBLIC KEY-----\ndamaged\n-----END PUBLIC KEY-----\n",
      );
      process.env.APPIMAGE = path.join(resources, "Mnemo.AppImage");
      expect(createUpdates(() => {}).status).toMatchObject({
        state: "unsupported",
        message: expect.stringMatching(/update key cannot be read/),
      });
    } finally {
      delete process.env.APPIMAGE;
      Object.assign(app, { isPackaged: saved.packaged });
      Object.assign(process, { resourcesPath: saved.resources });
      rmSync(resources, { recursive: true, force: true });
    }
  });
});
