import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { UpdateController, type UpdateOffer, type UpdaterPort } from "./controller.js";
import type { UpdateStatus } from "../shared/api.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "mnemo-updctl-"));
});
afterEach(() => {
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

/** A fake server: counts checks, offers `offer`, downloads into a real file (so discarding it can be seen). */
function fakePort(offer: UpdateOffer | null = { version: "0.2.0", signatures: ["sig"] }) {
  const calls = { checks: 0, downloads: 0, installs: [] as boolean[] };
  let release: (() => void) | null = null;
  const port: UpdaterPort & { hold: boolean; release(): void } = {
    hold: false,
    release: () => release?.(),
    async check() {
      calls.checks++;
      return offer;
    },
    async download(onProgress, signal) {
      calls.downloads++;
      onProgress(50);
      onProgress(50.2); // the same whole percent: no second event
      if (port.hold)
        await new Promise<void>((resolve, reject) => {
          release = resolve;
          signal.addEventListener("abort", () => reject(new Error("cancelled")));
        });
      const file = path.join(dir, "Mnemo-0.2.0.AppImage");
      writeFileSync(file, "new version");
      return file;
    },
    install(restart) {
      calls.installs.push(restart);
    },
  };
  return { port, calls };
}

function controller(
  port: UpdaterPort | null,
  verify: (file: string, offer: UpdateOffer) => Promise<void> = async () => {},
) {
  const statuses: UpdateStatus[] = [];
  const c = new UpdateController({
    currentVersion: "0.1.0",
    port,
    verify,
    settingsFile: path.join(dir, "updates.json"),
    onStatus: (s) => statuses.push(s),
    firstCheckMs: 1000,
    intervalMs: 60_000,
    now: () => 42,
    ...(port ? {} : { unsupportedReason: "no updates in the local server" }),
  });
  return { c, statuses };
}

describe("UpdateController", () => {
  it("in auto mode checks after the first delay, then on every interval, and never before", async () => {
    vi.useFakeTimers();
    const { port, calls } = fakePort(null);
    const { c } = controller(port);
    c.start();
    await vi.advanceTimersByTimeAsync(999);
    expect(calls.checks).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls.checks).toBe(1);
    expect(c.status).toMatchObject({ state: "up-to-date", lastChecked: 42 });
    await vi.advanceTimersByTimeAsync(60_000 * 3);
    expect(calls.checks).toBe(4);
    c.stop();
  });

  it("when off never contacts the server on its own, remembers the choice, and still checks when asked", async () => {
    vi.useFakeTimers();
    const { port, calls } = fakePort();
    const first = controller(port).c;
    expect(first.configure("off").mode).toBe("off");
    expect(JSON.parse(readFileSync(path.join(dir, "updates.json"), "utf8"))).toEqual({ mode: "off" });
    const { c } = controller(port); // the next start reads the saved choice
    expect(c.status.mode).toBe("off");
    c.start();
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(calls.checks).toBe(0);
    expect(await c.check()).toMatchObject({ state: "ready", version: "0.2.0" });
    expect(calls.checks).toBe(1);
    c.onQuit(); // off: a ready update waits for the user's restart
    expect(calls.installs).toEqual([]);
    c.install();
    expect(calls.installs).toEqual([true]);
  });

  it("goes checking → downloading → verifying → ready, and installs silently on quit in auto mode", async () => {
    const { port, calls } = fakePort();
    const { c, statuses } = controller(port);
    expect(await c.check()).toMatchObject({ state: "ready", version: "0.2.0", percent: 100 });
    expect(statuses.map((s) => [s.state, s.percent])).toEqual([
      ["checking", undefined],
      ["checking", undefined],
      ["downloading", 0],
      ["downloading", 50],
      ["verifying", 50],
      ["ready", 100],
    ]);
    expect(await c.check()).toMatchObject({ state: "ready" }); // nothing more to do once ready
    expect(calls.checks).toBe(1);
    c.onQuit();
    expect(calls.installs).toEqual([false]);
  });

  it("never installs what fails verification, and removes the file", async () => {
    const { port, calls } = fakePort();
    const { c } = controller(port, async () => {
      throw new Error("the update to 0.2.0 does not carry a valid Mnemo signature");
    });
    const status = await c.check();
    expect(status).toMatchObject({ state: "error", version: "0.2.0" });
    expect(status.message).toBe(
      "Checking the signature of 0.2.0 failed: the update to 0.2.0 does not carry a valid Mnemo signature",
    );
    expect(existsSync(path.join(dir, "Mnemo-0.2.0.AppImage"))).toBe(false);
    expect(() => c.install()).toThrow(/no verified update is ready/);
    c.onQuit();
    expect(calls.installs).toEqual([]);
  });

  it("shares one run among concurrent checks, and turning updates off stops a download", async () => {
    const { port, calls } = fakePort();
    port.hold = true;
    const { c } = controller(port);
    const a = c.check(),
      b = c.check();
    await vi.waitFor(() => expect(c.status.state).toBe("downloading"));
    expect(calls.checks).toBe(1);
    c.configure("off");
    const [sa, sb] = await Promise.all([a, b]);
    expect(sa).toEqual(sb);
    expect(sa).toMatchObject({ state: "idle", mode: "off", message: "Stopped: updates are off." });
    expect(sa.version).toBeUndefined();
  });

  it("reports a network failure briefly, and recovers on the next check", async () => {
    const { port } = fakePort();
    const check = port.check.bind(port);
    port.check = async () => {
      throw new Error("net::ERR_INTERNET_DISCONNECTED\n    at a very long stack\n    at more");
    };
    const { c } = controller(port);
    expect(await c.check()).toMatchObject({
      state: "error",
      message: "Checking for updates failed: net::ERR_INTERNET_DISCONNECTED",
    });
    port.check = check;
    expect(await c.check()).toMatchObject({ state: "ready" });
  });

  it("answers the updates.* calls, refusing what cannot be done", async () => {
    const { port } = fakePort();
    const { c } = controller(port);
    expect(await c.call("updates.status", {})).toMatchObject({ mode: "auto", state: "idle", currentVersion: "0.1.0" });
    await expect(c.call("updates.install", {})).rejects.toMatchObject({ code: "UPDATE_NOT_READY" });
    expect(await c.call("updates.configure", { mode: "off" })).toMatchObject({ mode: "off" });
    expect(() => c.configure("sometimes" as never)).toThrow(/unknown update mode/);
    expect(await c.call("updates.check", {})).toMatchObject({ state: "ready" });
    await expect(c.call("vaults.list", {})).rejects.toThrow(/not an update method/);
  });

  it("without a port says why updates are unsupported and refuses to check", async () => {
    const { c } = controller(null);
    expect(c.status).toMatchObject({ state: "unsupported", message: "no updates in the local server" });
    await expect(c.call("updates.check", {})).rejects.toMatchObject({ code: "UPDATES_UNSUPPORTED" });
    expect(() => c.install()).toThrow(/no updates in the local server/);
  });

  it("falls back to auto when the settings file is unreadable", () => {
    writeFileSync(path.join(dir, "updates.json"), "{ not json");
    expect(controller(fakePort().port).c.status.mode).toBe("auto");
  });
});
