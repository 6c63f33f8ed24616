// Electron main: one window over the built renderer, hardened (sandbox, context isolation, no Node,
// CSP, no navigation, no new windows, every permission denied), and a relay between the window and
// the backend utility process. Every call is checked for its sender and arguments before it is relayed.
import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  session,
  shell,
  utilityProcess,
  type IpcMainInvokeEvent,
  type UtilityProcess,
} from "electron";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { AppError } from "../shared/errors.js";
import { validateCall, type AppEvent, type Reply } from "../shared/ipc.js";
import type { UpdateController } from "../update/controller.js";
import { createUpdates } from "./updates.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const RENDERER = path.join(here, "../renderer/index.html");
// Packaged: the bundle shipped beside the app. Development: the backend's default (the setup-built cache).
const BUNDLE_ARGS = app.isPackaged ? ["--bundle", path.join(process.resourcesPath, "bundle")] : [];
let win: BrowserWindow | null = null;
let backend: UtilityProcess | null = null;
let updates: UpdateController | null = null;
let nextId = 1;
const pending = new Map<number, (r: Reply) => void>();
const restarts: number[] = [];

function startBackend(): void {
  backend = utilityProcess.fork(
    path.join(here, "../backend/backend.js"),
    ["--data-dir", app.getPath("userData"), ...BUNDLE_ARGS],
    { serviceName: "Mnemo backend", stdio: "inherit" },
  );
  backend.on("message", (m: Reply | { event: AppEvent }) => {
    if ("event" in m) win?.webContents.send("mnemo:event", m.event);
    else {
      pending.get(m.id)?.(m);
      pending.delete(m.id);
    }
  });
  backend.on("exit", (code) => {
    backend = null;
    for (const [id, resolve] of pending)
      resolve({
        id,
        ok: false,
        error: { code: "BACKEND_CRASHED", message: `the backend stopped (exit ${code}); it is restarting` },
      });
    pending.clear();
    if (app.isReady() && !quitting) {
      const now = Date.now();
      restarts.push(now);
      while (restarts[0]! < now - 60_000) restarts.shift();
      win?.webContents.send("mnemo:event", {
        type: "backend.error",
        data: {
          message:
            `The backend stopped unexpectedly (exit ${code}).` +
            (restarts.length <= 3 ? " Restarting it." : " It keeps failing; restart Mnemo."),
        },
      } satisfies AppEvent);
      if (restarts.length <= 3) startBackend();
    }
  });
}

/** Only our own window's top frame, showing our own page, may call the backend. */
function trustedSender(e: IpcMainInvokeEvent): boolean {
  return (
    e.sender === win?.webContents &&
    e.senderFrame?.url === pathToFileURL(RENDERER).href &&
    e.senderFrame === e.sender.mainFrame
  );
}

ipcMain.handle("mnemo:call", async (e, method: unknown, params: unknown): Promise<Reply> => {
  const id = nextId++;
  if (!trustedSender(e))
    return { id, ok: false, error: { code: "FORBIDDEN", message: "calls are accepted from Mnemo's window only" } };
  try {
    const call = validateCall(method, params);
    // Updates are this process's own: it owns the installed app (the backend only runs the engine and vaults).
    if (call.method.startsWith("updates.") && updates)
      return { id, ok: true, value: await updates.call(call.method, call.params) };
    if (call.method === "dialog.chooseFolder")
      return { id, ok: true, value: await chooseFolder((call.params as { title?: string }).title) };
    if (!backend) return { id, ok: false, error: { code: "BACKEND_CRASHED", message: "the backend is not running" } };
    return await new Promise<Reply>((resolve) => {
      pending.set(id, resolve);
      backend!.postMessage({ id, method: call.method, params: call.params });
    });
  } catch (err) {
    return {
      id,
      ok: false,
      error: { code: err instanceof AppError ? err.code : "INTERNAL", message: (err as Error).message },
    };
  }
});

/** The native folder picker, modal to Mnemo's window: the one path into the app that the user points at. */
async function chooseFolder(title = "Choose a folder"): Promise<string | null> {
  const options = { title, properties: ["openDirectory" as const, "createDirectory" as const] };
  const r = win ? await dialog.showOpenDialog(win, options) : await dialog.showOpenDialog(options);
  return r.canceled ? null : (r.filePaths[0] ?? null);
}

function createWindow(): void {
  win = new BrowserWindow({
    width: 1280,
    height: 860,
    minWidth: 720,
    minHeight: 520,
    title: "Mnemo",
    show: false,
    webPreferences: {
      preload: path.join(here, "../preload/preload.cjs"),
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      webviewTag: false,
      spellcheck: false,
      navigateOnDragDrop: false,
    },
  });
  win.once("ready-to-show", () => win?.show());
  win.webContents.on("will-navigate", (e) => e.preventDefault());
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (/^https?:\/\//.test(url)) void shell.openExternal(url); // links open in the user's browser, never here
    return { action: "deny" };
  });
  void win.loadFile(RENDERER);
}

let quitting = false;
app.on("web-contents-created", (_e, contents) => {
  contents.on("will-attach-webview", (e) => e.preventDefault());
  contents.on("will-navigate", (e) => e.preventDefault());
});
app.whenReady().then(() => {
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
  updates = createUpdates((data) =>
    win?.webContents.send("mnemo:event", { type: "updates.status", data } satisfies AppEvent),
  );
  updates.start();
  startBackend();
  createWindow();
  app.on("activate", () => {
    if (!BrowserWindow.getAllWindows().length) createWindow();
  });
});
app.on("before-quit", () => {
  quitting = true;
  backend?.kill();
});
app.on("quit", () => updates?.onQuit()); // auto mode: a verified update installs as Mnemo quits
app.on("window-all-closed", () => {
  if (process.platform !== "darwin") app.quit();
});
