// The updater in the Electron main process: which builds may update themselves, where the release
// public key and the user's choice live, and the controller over electron-updater. The policy and
// the signature check are in ../update/ (tested in Node); this file only reads Electron's paths.
import { app } from "electron";
import type { KeyObject } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import type { UpdateStatus } from "../shared/api.js";
import { UpdateController } from "../update/controller.js";
import { platformUpdaterPort } from "../update/electron-port.js";
import { publicKeyFrom, verifyDownloadedUpdate } from "../update/signature.js";

/** Copied into resources/ by electron-builder (extraResources) when build/update-signing-key.pem exists. */
const KEY_FILE = "update-signing-key.pem";

/** Why this build cannot update itself, or null when it can. */
function unsupportedReason(): string | null {
  if (!app.isPackaged) return "This is a development run: only installed builds update themselves.";
  if (!existsSync(path.join(process.resourcesPath, "app-update.yml")))
    return "This build has no update server configured.";
  if (!existsSync(path.join(process.resourcesPath, KEY_FILE)))
    return "This build carries no update signing key, so it cannot verify updates; install new versions by hand.";
  if (
    process.platform === "linux" &&
    !process.env.APPIMAGE &&
    !existsSync(path.join(process.resourcesPath, "package-type"))
  ) {
    return "Only the AppImage and the .deb package update themselves.";
  }
  return null;
}

/** The release public key, or why there is none usable (a damaged key must not keep the window from opening). */
function releaseKey(): { key: KeyObject } | { reason: string } {
  const reason = unsupportedReason();
  if (reason) return { reason };
  try {
    return { key: publicKeyFrom(readFileSync(path.join(process.resourcesPath, KEY_FILE), "utf8")) };
  } catch (e) {
    return {
      reason: `This build's update key cannot be read (${(e as Error).message}); install new versions by hand.`,
    };
  }
}

export function createUpdates(onStatus: (status: UpdateStatus) => void): UpdateController {
  const found = releaseKey();
  const publicKey = "key" in found ? found.key : null;
  const reason = "reason" in found ? found.reason : null;
  return new UpdateController({
    currentVersion: app.getVersion(),
    port: publicKey ? platformUpdaterPort() : null,
    ...(reason ? { unsupportedReason: reason } : {}),
    verify: (file, offer) => verifyDownloadedUpdate(publicKey!, file, offer.version, offer.signatures),
    settingsFile: path.join(app.getPath("userData"), "updates.json"),
    onStatus,
  });
}
