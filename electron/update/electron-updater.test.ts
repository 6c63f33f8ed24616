// The real electron-updater (its AppImage updater, as on Linux) against a local update feed, with the
// controller and our signature check on top: what a user's Mnemo does, minus Electron itself. Two
// stand-ins: an AppAdapter (electron-updater's own seam for a non-Electron app) and a Node HTTP
// executor (electron-updater downloads through Electron's net module otherwise).
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer, request, type RequestOptions, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { createPublicKey } from "node:crypto";
import { EventEmitter } from "node:events";
import os from "node:os";
import path from "node:path";
import { AppImageUpdater } from "electron-updater";
// electron-updater's own HTTP layer (its pinned dependency), driven by Node's http instead of Electron's net.
import { HttpExecutor, configureRequestOptions, configureRequestUrl, type DownloadOptions } from "builder-util-runtime";
import { stringify } from "yaml";
import { UpdateController } from "./controller.js";
import { electronUpdaterPort } from "./electron-port.js";
import { generateSigningKeys, publicKeyFrom, sha512File, verifyDownloadedUpdate } from "./signature.js";
import { signFeeds } from "./release.js";
import type { UpdateStatus } from "../shared/api.js";

// electron-updater emits on require("electron").autoUpdater when it quits to install; in Node the
// electron package would try to download a binary, so its module slot holds a stand-in.
const require = createRequire(import.meta.url);
require.cache[require.resolve("electron")] = { exports: { autoUpdater: new EventEmitter() } } as NodeJS.Module;

class NodeHttpExecutor extends HttpExecutor<ReturnType<typeof request>> {
  createRequest(options: RequestOptions, callback: (response: unknown) => void) {
    const req = request(options);
    req.on("response", callback);
    return req;
  }

  /** As electron-updater's ElectronHttpExecutor.download, which the updaters call to fetch the installer. */
  download(url: URL, destination: string, options: DownloadOptions): Promise<string> {
    return options.cancellationToken.createPromise<string>((resolve, reject, onCancel) => {
      const requestOptions = { headers: options.headers || undefined };
      configureRequestUrl(url, requestOptions);
      configureRequestOptions(requestOptions);
      this.doDownload(
        requestOptions,
        {
          destination,
          options,
          onCancel,
          responseHandler: null,
          callback: (error) => (error ? reject(error) : resolve(destination)),
        },
        0,
      );
    });
  }
}

const root = mkdtempSync(path.join(os.tmpdir(), "mnemo-update-"));
const feedDir = path.join(root, "feed");
let server: Server,
  port = 0;
const keys = generateSigningKeys();
const NEW_APP = '#!/bin/sh\necho "installed silent=$APPIMAGE_SILENT_INSTALL" > "$(dirname "$0")/installed.txt"\n';

beforeAll(async () => {
  server = createServer((req, res) => {
    const file = path.join(feedDir, path.basename(new URL(req.url!, "http://x").pathname));
    if (!existsSync(file)) return void res.writeHead(404).end();
    res.writeHead(200, { connection: "close" }).end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  server.close();
  rmSync(root, { recursive: true, force: true });
});
afterEach(() => {
  delete process.env.APPIMAGE;
});

/**
 * Publishes version 0.2.0 (a tiny "AppImage" that records that
 * it ran) and its feed, signed with `signWith` or unsigned.
 */
async function publish(opts: { signWith?: string; version?: string; corrupt?: boolean } = {}): Promise<void> {
  rmSync(feedDir, { recursive: true, force: true });
  mkdirSync(feedDir, { recursive: true });
  const name = "Mnemo-0.2.0.AppImage";
  writeFileSync(path.join(feedDir, name), NEW_APP);
  const sha512 = await sha512File(path.join(feedDir, name));
  writeFileSync(
    path.join(feedDir, "latest-linux.yml"),
    stringify({
      version: opts.version ?? "0.2.0",
      files: [{ url: name, sha512, size: NEW_APP.length }],
      path: name,
      sha512,
      releaseDate: "2026-11-24T00:00:00.000Z",
    }),
  );
  if (opts.signWith) await signFeeds(feedDir, opts.signWith, publicOf(opts.signWith));
  if (opts.corrupt) writeFileSync(path.join(feedDir, name), NEW_APP + "# tampered after publishing\n");
}
const publicOf = (privatePem: string) => createPublicKey(privatePem).export({ type: "spki", format: "pem" }).toString();

/** One installed Mnemo 0.1.0: its AppImage, its update config, electron-updater and the controller over them. */
function installedApp(name: string) {
  const dir = path.join(root, name);
  mkdirSync(dir, { recursive: true });
  const appImage = path.join(dir, "Mnemo-0.1.0.AppImage");
  writeFileSync(appImage, "old version");
  chmodSync(appImage, 0o755);
  process.env.APPIMAGE = appImage;
  writeFileSync(
    path.join(dir, "app-update.yml"),
    `provider: generic\nurl: http://127.0.0.1:${port}/\nupdaterCacheDirName: mnemo-updater\n`,
  );
  const quit = vi.fn();
  const updater = new AppImageUpdater(null, {
    version: "0.1.0",
    name: "Mnemo",
    isPackaged: true,
    appUpdateConfigPath: path.join(dir, "app-update.yml"),
    userDataPath: dir,
    baseCachePath: path.join(dir, "cache"),
    whenReady: async () => {},
    relaunch: () => {},
    quit,
    onQuit: () => {},
  });
  (updater as unknown as { httpExecutor: HttpExecutor<never> }).httpExecutor = new NodeHttpExecutor() as never;
  updater.logger = null;
  const statuses: UpdateStatus[] = [];
  const publicKey = publicKeyFrom(keys.publicKeyPem);
  const controller = new UpdateController({
    currentVersion: "0.1.0",
    port: electronUpdaterPort(updater),
    settingsFile: path.join(dir, "updates.json"),
    verify: (file, offer) => verifyDownloadedUpdate(publicKey, file, offer.version, offer.signatures),
    onStatus: (s) => statuses.push(s),
  });
  const cached = () =>
    readdirSync(path.join(dir, "cache"), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith(".AppImage"));
  return { dir, appImage, controller, statuses, quit, cached };
}

describe("updates through electron-updater", () => {
  it("finds, downloads and verifies a signed release, then installs it over the running AppImage", async () => {
    await publish({ signWith: keys.privateKeyPem });
    const app = installedApp("good");
    const status = await app.controller.check();
    expect(status).toMatchObject({ state: "ready", version: "0.2.0", percent: 100 });
    expect(app.statuses.map((s) => s.state)).toEqual(
      expect.arrayContaining(["checking", "downloading", "verifying", "ready"]),
    );
    app.controller.onQuit(); // auto mode: installs silently as Mnemo quits
    expect(existsSync(app.appImage)).toBe(false);
    expect(readFileSync(path.join(app.dir, "Mnemo-0.2.0.AppImage"), "utf8")).toBe(NEW_APP);
    expect(readFileSync(path.join(app.dir, "installed.txt"), "utf8").trim()).toBe("installed silent=true");
  });

  it("refuses a release signed by another key, and removes the download", async () => {
    await publish({ signWith: generateSigningKeys().privateKeyPem });
    const app = installedApp("foreign-key");
    const status = await app.controller.check();
    expect(status.state).toBe("error");
    expect(status.message).toMatch(/does not carry a valid Mnemo signature/);
    expect(app.cached()).toEqual([]);
    expect(() => app.controller.install()).toThrow(/no verified update/);
    app.controller.onQuit();
    expect(readFileSync(app.appImage, "utf8")).toBe("old version");
  });

  it("refuses an unsigned release", async () => {
    await publish();
    const app = installedApp("unsigned");
    expect(await app.controller.check()).toMatchObject({
      state: "error",
      message: expect.stringMatching(/is not signed/),
    });
    expect(readFileSync(app.appImage, "utf8")).toBe("old version");
  });

  it("refuses a signed release replayed under a newer version number", async () => {
    await publish({ signWith: keys.privateKeyPem });
    const yml = path.join(feedDir, "latest-linux.yml");
    writeFileSync(yml, readFileSync(yml, "utf8").replace("version: 0.2.0", "version: 0.3.0"));
    const app = installedApp("replay");
    expect(await app.controller.check()).toMatchObject({
      state: "error",
      version: "0.3.0",
      message: expect.stringMatching(/valid Mnemo signature/),
    });
  });

  it("lets electron-updater refuse a file that does not match the feed's SHA-512", async () => {
    await publish({ signWith: keys.privateKeyPem, corrupt: true });
    const app = installedApp("corrupt");
    expect(await app.controller.check()).toMatchObject({
      state: "error",
      message: expect.stringMatching(/^Downloading 0\.2\.0 failed: .*sha512/i),
    });
    expect(app.cached()).toEqual([]);
  });

  it("says up to date when the feed's version is not newer, and reports an unreachable server", async () => {
    await publish({ signWith: keys.privateKeyPem, version: "0.1.0" });
    const app = installedApp("current");
    expect(await app.controller.check()).toMatchObject({ state: "up-to-date" });
    rmSync(feedDir, { recursive: true, force: true });
    expect(await app.controller.check()).toMatchObject({
      state: "error",
      message: expect.stringMatching(/^Checking for updates failed: /),
    });
  });
});
