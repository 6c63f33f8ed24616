// The UpdaterPort over electron-updater. electron-updater finds, downloads (resuming, differential
// where it can) and checks the SHA-512 from latest*.yml; the controller then checks our signature
// before anything installs, so electron-updater must never install on its own:
// autoInstallOnAppQuit and autoDownload are off, and the controller calls install().
import { CancellationToken, autoUpdater, type AppUpdater } from "electron-updater";
import type { UpdateOffer, UpdaterPort } from "./controller.js";

/**
 * What the controller needs of electron-updater's updaters (AppImage, deb, NSIS, Mac): a narrow slice, easy to fake.
 */
type Updater = Pick<AppUpdater, "checkForUpdates" | "downloadUpdate" | "on" | "off"> & {
  autoDownload: boolean;
  autoInstallOnAppQuit: boolean;
  allowDowngrade: boolean;
  allowPrerelease: boolean;
  disableWebInstaller: boolean;
  quitAndInstall(isSilent?: boolean, isForceRunAfter?: boolean): void;
};

/** The signatures our release step adds to each file entry of latest*.yml (electron-updater keeps unknown fields). */
function signaturesOf(info: { files?: readonly unknown[] }): string[] {
  return (info.files ?? [])
    .map((f) => (f as { signature?: unknown }).signature)
    .filter((s): s is string => typeof s === "string");
}

export function electronUpdaterPort(updater: Updater): UpdaterPort {
  updater.autoDownload = false;
  updater.autoInstallOnAppQuit = false;
  updater.allowDowngrade = false;
  updater.allowPrerelease = false;
  updater.disableWebInstaller = true; // web installers fetch their payload later, outside our check
  return {
    async check(): Promise<UpdateOffer | null> {
      const result = await updater.checkForUpdates();
      if (!result) throw new Error("the updater is inactive in this build");
      return result.isUpdateAvailable
        ? { version: result.updateInfo.version, signatures: signaturesOf(result.updateInfo) }
        : null;
    },
    async download(onProgress, signal): Promise<string> {
      const token = new CancellationToken();
      const cancel = () => token.cancel();
      const progress = (p: { percent: number }) => onProgress(p.percent);
      // The file comes with the update-downloaded event on every platform; MacUpdater's downloadUpdate
      // resolves to [] when it does not hand the file to Squirrel.Mac at once (autoInstallOnAppQuit off).
      let downloaded: string | undefined;
      const done = (e: { downloadedFile: string }) => {
        downloaded = e.downloadedFile;
      };
      signal.addEventListener("abort", cancel, { once: true });
      updater.on("download-progress", progress);
      updater.on("update-downloaded", done);
      try {
        const files = await updater.downloadUpdate(token);
        const file = downloaded ?? files[0];
        if (!file) throw new Error("the download produced no file");
        return file;
      } finally {
        updater.off("download-progress", progress);
        updater.off("update-downloaded", done);
        signal.removeEventListener("abort", cancel);
      }
    },
    // restart: quit now, run the new version after. Otherwise Mnemo is already quitting: install silently.
    install: (restart) => updater.quitAndInstall(!restart, restart),
  };
}

/** The port over this platform's updater (AppImage or deb on Linux, NSIS on Windows, Squirrel.Mac on macOS).
 * Creating it loads Electron: call it in the Electron main process only. */
export const platformUpdaterPort = (): UpdaterPort => electronUpdaterPort(autoUpdater);
