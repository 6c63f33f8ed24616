// The renderer's only door to the backend: Electron's preload bridge when present, otherwise the
// local server's WebSocket (token from the page URL). Calls return promises; events go to listeners.
import type { AppEvent, Method, Params, Results } from "../../../electron/shared/ipc";

interface Bridge {
  call(
    method: string,
    params: unknown,
  ): Promise<{ ok: boolean; value?: unknown; error?: { code: string; message: string } }>;
  onEvent(listener: (e: AppEvent) => void): void;
  /** Electron's webUtils.getPathForFile: "" for a file that is not on disk. */
  pathForFile?(file: File): string;
}

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

export class Api {
  private ws: WebSocket | null = null;
  private ready: Promise<void> | null = null;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(e: AppEvent) => void>();
  private nextId = 1;
  onConnection: (connected: boolean) => void = () => {};

  constructor(private readonly bridge: Bridge | undefined = (globalThis as { mnemo?: Bridge }).mnemo) {
    bridge?.onEvent((e) => this.emit(e));
  }

  /** In the desktop app, where a dropped or picked file is on disk; null in a browser (files arrive as bytes). */
  pathOf(file: File): string | null {
    return this.bridge?.pathForFile?.(file) || null;
  }

  /** Whether files can be added by path (the desktop app), so folders can be dropped too. */
  get addsByPath(): boolean {
    return typeof this.bridge?.pathForFile === "function";
  }

  on(listener: (e: AppEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async call<M extends Method>(method: M, params: Params<M>): Promise<Results[M]> {
    if (this.bridge) {
      const r = await this.bridge.call(method, params);
      if (!r.ok) throw new ApiError(r.error!.code, r.error!.message);
      return r.value as Results[M];
    }
    await this.connect();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.ws!.send(JSON.stringify({ id, method, params }));
    });
  }

  private emit(e: AppEvent): void {
    for (const l of this.listeners) l(e);
  }

  private connect(): Promise<void> {
    if (this.ready) return this.ready;
    const token = new URLSearchParams(location.search).get("token") ?? "";
    this.ready = new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${location.host}/api?token=${encodeURIComponent(token)}`);
      ws.onopen = () => {
        this.ws = ws;
        this.onConnection(true);
        resolve();
      };
      ws.onerror = () =>
        reject(
          new ApiError(
            "DISCONNECTED",
            "cannot reach the Mnemo backend (is the server running, and is the token in the URL?)",
          ),
        );
      ws.onclose = () => {
        this.ws = null;
        this.ready = null;
        this.onConnection(false);
        for (const p of this.pending.values())
          p.reject(new ApiError("DISCONNECTED", "the connection to the backend closed"));
        this.pending.clear();
      };
      ws.onmessage = (m) => {
        const msg = JSON.parse(m.data as string);
        if (msg.event) return this.emit(msg.event as AppEvent);
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if (msg.ok) p.resolve(msg.value);
        else p.reject(new ApiError(msg.error.code, msg.error.message));
      };
    });
    return this.ready;
  }
}

/** A file's bytes as base64, in slices (String.fromCharCode on a whole large file overflows the stack). */
export async function fileToBase64(file: Blob): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export const api = new Api();
