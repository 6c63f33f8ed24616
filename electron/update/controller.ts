// The update policy, independent of Electron: when to ask the server, what to download, and the rule
// that nothing is installed before its signature checks out. The Electron main process feeds it an
// UpdaterPort over electron-updater (./electron-port.ts); tests feed it fakes and a local feed.
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { AppError } from "../shared/errors.js";
import { UPDATE_MODES, type UpdateMode, type UpdateStatus } from "../shared/api.js";
import type { Method } from "../shared/ipc.js";

/** A release the server offers: its version and the release key's signatures over its files. */
export interface UpdateOffer {
  version: string;
  signatures: string[];
}

export interface UpdaterPort {
  /** Asks the server; null when the running version is the newest. */
  check(): Promise<UpdateOffer | null>;
  /** Downloads the offered release (checked against the feed's SHA-512) and resolves to the file. */
  download(onProgress: (percent: number) => void, signal: AbortSignal): Promise<string>;
  /** Installs the downloaded release: now, restarting Mnemo, or silently as Mnemo quits. */
  install(restart: boolean): void;
}

export interface UpdateControllerOptions {
  currentVersion: string;
  /** null: this build cannot update itself, and `unsupportedReason` says why. */
  port: UpdaterPort | null;
  unsupportedReason?: string;
  /** Throws unless the downloaded file is the offer, signed by the release key (./signature.ts). */
  verify: (file: string, offer: UpdateOffer) => Promise<void>;
  /** Where the user's choice (auto/off) is kept: a small JSON file in the app's data folder. */
  settingsFile: string;
  onStatus: (status: UpdateStatus) => void;
  /** First automatic check this long after start, so start-up does not wait on the network. */
  firstCheckMs?: number;
  /** Then every intervalMs while Mnemo runs. */
  intervalMs?: number;
  now?: () => number;
}

const FIRST_CHECK_MS = 15_000;
const INTERVAL_MS = 6 * 3600_000;

/** The first line of an error, short enough for the settings dialog (electron-updater's can hold whole YAML files). */
function briefly(e: unknown): string {
  const line = String((e as Error)?.message ?? e)
    .split("\n")[0]!
    .trim();
  return line.length > 300 ? line.slice(0, 297) + "…" : line;
}

export class UpdateController {
  private current: UpdateStatus;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running: Promise<UpdateStatus> | null = null;
  private abort: AbortController | null = null;
  private installing = false;

  constructor(private readonly o: UpdateControllerOptions) {
    const mode = this.loadMode();
    this.current = o.port
      ? { mode, state: "idle", currentVersion: o.currentVersion }
      : {
          mode,
          state: "unsupported",
          currentVersion: o.currentVersion,
          message: o.unsupportedReason ?? "This build does not update itself.",
        };
  }

  get status(): UpdateStatus {
    return { ...this.current };
  }

  /** Begins automatic checking if the user wants it. */
  start(): void {
    this.schedule(this.o.firstCheckMs ?? FIRST_CHECK_MS);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.abort?.abort();
  }

  /** Checks now, and downloads and verifies what it finds. Concurrent calls share one run. */
  check(): Promise<UpdateStatus> {
    if (!this.o.port || this.current.state === "ready") return Promise.resolve(this.status);
    this.running ??= this.run(this.o.port).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  configure(mode: UpdateMode): UpdateStatus {
    if (!UPDATE_MODES.includes(mode))
      throw new AppError("INVALID_ARGUMENT", `unknown update mode ${JSON.stringify(mode)}`);
    this.saveMode(mode);
    this.set({ mode });
    if (mode === "off")
      this.stop(); // off means no network: a download under way stops too
    else this.schedule(this.o.firstCheckMs ?? FIRST_CHECK_MS);
    return this.status;
  }

  /** Restarts into the verified update; refuses anything else. */
  install(): UpdateStatus {
    if (this.current.state !== "ready") {
      throw new AppError(
        "UPDATE_NOT_READY",
        this.o.port ? "no verified update is ready to install" : (this.current.message ?? "updates are unsupported"),
      );
    }
    this.installing = true;
    this.o.port!.install(true);
    return this.status;
  }

  /** Mnemo is quitting: in auto mode a verified update installs now, silently. */
  onQuit(): void {
    this.stop();
    if (this.current.state === "ready" && this.current.mode === "auto" && !this.installing) {
      this.installing = true;
      this.o.port!.install(false);
    }
  }

  /** The updates.* methods of the AppApi, for the process that owns the updater. */
  async call(method: Method, params: unknown): Promise<UpdateStatus> {
    switch (method) {
      case "updates.status":
        return this.status;
      case "updates.check":
        if (!this.o.port) throw new AppError("UPDATES_UNSUPPORTED", this.current.message ?? "updates are unsupported");
        return this.check();
      case "updates.configure":
        return this.configure((params as { mode: UpdateMode }).mode);
      case "updates.install":
        return this.install();
      default:
        throw new AppError("INVALID_ARGUMENT", `${method} is not an update method`);
    }
  }

  private async run(port: UpdaterPort): Promise<UpdateStatus> {
    const abort = (this.abort = new AbortController());
    let phase = "Checking for updates";
    try {
      this.set({ state: "checking", message: undefined, percent: undefined });
      const offer = await port.check();
      this.set({ lastChecked: (this.o.now ?? Date.now)() });
      if (abort.signal.aborted) throw new Error("stopped");
      if (!offer) return this.set({ state: "up-to-date", version: undefined });
      phase = `Downloading ${offer.version}`;
      this.set({ state: "downloading", version: offer.version, percent: 0 });
      const file = await port.download((raw) => {
        const percent = Math.max(0, Math.min(100, Math.round(raw)));
        if (percent !== this.current.percent) this.set({ percent }); // one event per whole percent, not per chunk
      }, abort.signal);
      if (abort.signal.aborted) throw new Error("stopped");
      phase = `Checking the signature of ${offer.version}`;
      this.set({ state: "verifying" });
      try {
        await this.o.verify(file, offer);
      } catch (e) {
        rmSync(file, { force: true }); // never leave an unverified installer where an installer is looked for
        throw e;
      }
      return this.set({ state: "ready", percent: 100 });
    } catch (e) {
      if (abort.signal.aborted)
        return this.set({
          state: "idle",
          version: undefined,
          percent: undefined,
          message: "Stopped: updates are off.",
        });
      return this.set({ state: "error", percent: undefined, message: `${phase} failed: ${briefly(e)}` });
    } finally {
      if (this.abort === abort) this.abort = null;
    }
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.o.port || this.current.mode !== "auto") return;
    this.timer = setTimeout(() => {
      void this.check().finally(() => this.schedule(this.o.intervalMs ?? INTERVAL_MS));
    }, delayMs);
    this.timer.unref?.();
  }

  private set(change: Partial<{ [K in keyof UpdateStatus]: UpdateStatus[K] | undefined }>): UpdateStatus {
    const next = { ...this.current, ...change } as Record<string, unknown>;
    for (const k of Object.keys(next)) if (next[k] === undefined) delete next[k];
    this.current = next as unknown as UpdateStatus;
    this.o.onStatus(this.status);
    return this.status;
  }

  private loadMode(): UpdateMode {
    try {
      const mode = (JSON.parse(readFileSync(this.o.settingsFile, "utf8")) as { mode?: unknown }).mode;
      return UPDATE_MODES.includes(mode as UpdateMode) ? (mode as UpdateMode) : "auto";
    } catch {
      return "auto"; // no file yet (first run) or unreadable: the default
    }
  }

  private saveMode(mode: UpdateMode): void {
    const tmp = `${this.o.settingsFile}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify({ mode }) + "\n");
      renameSync(tmp, this.o.settingsFile); // atomic: a crash leaves the old choice or the new one
    } catch (e) {
      throw new AppError("IO_ERROR", `could not save the update setting: ${briefly(e)}`);
    }
  }
}
