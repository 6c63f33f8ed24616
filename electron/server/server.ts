// The local server: the built renderer over HTTP and the AppApi over a WebSocket, on loopback only,
// guarded by a random per-run token. It is how the UI runs outside Electron (and how it is tested),
// and lets a user run the backend on one machine and use it from a browser there.
import { randomBytes } from "node:crypto";
import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { WebSocketServer, type WebSocket } from "ws";
import type { AppEvent, Request } from "../shared/ipc.js";
import type { AppApi } from "../app/api.js";
import type { MnemoApp } from "../app/app.js";
import { allowedHosts, isLoopback, originAllowed, tokenMatches } from "./guard.js";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".css": "text/css",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".woff2": "font/woff2",
  ".mjs": "text/javascript",
};
const DOC_TYPES: Record<string, string> = {
  pdf: "application/pdf",
  md: "text/markdown; charset=utf-8",
  txt: "text/plain; charset=utf-8",
  html: "text/plain; charset=utf-8",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
};

export interface ServerOptions {
  api: AppApi;
  app: MnemoApp;
  staticDir: string;
  port?: number;
  token?: string;
}
export interface RunningServer {
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const token = o.token ?? randomBytes(24).toString("base64url");
  let port = 0;
  const csp = () =>
    `default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; ` +
    `connect-src 'self' ws://127.0.0.1:${port} ws://localhost:${port}; frame-src 'self'; object-src 'self'; base-uri 'none'; form-action 'none'`;
  const deny = (res: ServerResponse, status: number, why: string) => {
    res.writeHead(status, { "content-type": "text/plain" }).end(why + "\n");
  };

  const server = createServer((req, res) => {
    if (!isLoopback(req.socket.remoteAddress)) {
      req.socket.destroy();
      return;
    }
    if (!allowedHosts(port).has(req.headers.host ?? "")) return deny(res, 403, "wrong Host header");
    const url = new URL(req.url ?? "/", `http://127.0.0.1:${port}`);
    if (req.method !== "GET" && req.method !== "HEAD") return deny(res, 405, "method not allowed");
    if (url.pathname.startsWith("/files/"))
      return void serveDocument(url, res).catch((e: Error) => deny(res, 404, e.message));
    serveStatic(url.pathname, res);
  });

  /** A vault's stored copy of a document (the PDF a source opens at its page). Token required. */
  async function serveDocument(url: URL, res: ServerResponse): Promise<void> {
    if (!tokenMatches(url.searchParams.get("token"), token)) return deny(res, 401, "missing or wrong token");
    const [, , vaultId, docId] = url.pathname.split("/");
    const vault = await o.app.vault(decodeURIComponent(vaultId ?? ""));
    const doc = vault.store.document(Number(docId));
    if (!doc?.storedFile) return deny(res, 404, "no such document");
    const file = vault.resolve(doc.storedFile);
    res.writeHead(200, {
      "content-type": DOC_TYPES[doc.type] ?? "application/octet-stream",
      "content-length": statSync(file).size,
      "content-disposition": `inline; filename="${encodeURIComponent(doc.name)}"`,
      "x-content-type-options": "nosniff",
      "content-security-policy": "default-src 'none'; sandbox",
    });
    createReadStream(file).pipe(res);
  }

  function serveStatic(pathname: string, res: ServerResponse): void {
    const rel = path.normalize(decodeURIComponent(pathname)).replace(/^([/\\])+/, "");
    const file = path.join(o.staticDir, rel || "index.html");
    if (!file.startsWith(o.staticDir + path.sep) && file !== o.staticDir) return deny(res, 403, "outside the app");
    const target = existsSync(file) && statSync(file).isFile() ? file : path.join(o.staticDir, "index.html");
    if (!existsSync(target)) return deny(res, 500, `the renderer is not built (${o.staticDir}); run npm run build`);
    res.writeHead(200, {
      "content-type": TYPES[path.extname(target)] ?? "application/octet-stream",
      "content-security-policy": csp(),
      "x-content-type-options": "nosniff",
      "x-frame-options": "DENY",
      "referrer-policy": "no-referrer",
      "cache-control": "no-cache",
    });
    createReadStream(target).pipe(res);
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: 150 * 2 ** 20 });
  server.on("upgrade", (req: IncomingMessage, socket, head) => {
    const url = new URL(req.url ?? "/", `http://127.0.0.1:${port}`);
    const ok =
      isLoopback(req.socket.remoteAddress) &&
      allowedHosts(port).has(req.headers.host ?? "") &&
      url.pathname === "/api" &&
      originAllowed(req.headers.origin, port) &&
      tokenMatches(url.searchParams.get("token"), token);
    if (!ok) {
      socket.write("HTTP/1.1 401 Unauthorized\r\nconnection: close\r\n\r\n");
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => connect(ws));
  });

  function connect(ws: WebSocket): void {
    const send = (m: unknown) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
    };
    const unsubscribe = o.api.subscribe((e: AppEvent) => send({ event: e }));
    ws.on("close", unsubscribe);
    ws.on("message", async (raw) => {
      let msg: Request;
      try {
        msg = JSON.parse(raw.toString());
      } catch {
        return send({ id: -1, ok: false, error: { code: "INVALID_ARGUMENT", message: "not JSON" } });
      }
      const id = typeof msg?.id === "number" ? msg.id : -1;
      send(await o.api.call(id, msg?.method, msg?.params, (e) => send({ event: e })));
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 0, "127.0.0.1", () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
