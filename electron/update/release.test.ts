import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse, stringify } from "yaml";
import { keygen, signFeeds } from "./release.js";
import { generateSigningKeys, publicKeyFrom, sha512File, verifyDownloadedUpdate } from "./signature.js";

const root = mkdtempSync(path.join(os.tmpdir(), "mnemo-release-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A dist/ as electron-builder leaves it: an installer and latest-linux.yml naming it with its SHA-512. */
async function dist(name: string, entry: Partial<{ url: string; sha512: string }> = {}): Promise<string> {
  const dir = path.join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "Mnemo-0.2.0.AppImage"), "installer bytes");
  const sha512 = await sha512File(path.join(dir, "Mnemo-0.2.0.AppImage"));
  writeFileSync(
    path.join(dir, "latest-linux.yml"),
    stringify({
      version: "0.2.0",
      files: [{ url: "Mnemo-0.2.0.AppImage", sha512, size: 15, ...entry }],
      path: "Mnemo-0.2.0.AppImage",
      sha512,
      releaseDate: "2026-11-24T00:00:00.000Z",
    }),
  );
  return dir;
}

describe("release signing", () => {
  it("keygen writes a public key and refuses to replace it without --force", () => {
    const pub = path.join(root, "update-signing-key.pem");
    const privatePem = keygen(pub);
    expect(privatePem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(() => publicKeyFrom(readFileSync(pub, "utf8"))).not.toThrow();
    expect(() => keygen(pub)).toThrow(/trust only that key/);
    expect(keygen(pub, true)).not.toBe(privatePem);
  });

  it("signs every listed file, keeping the feed's other fields, so the app's check passes", async () => {
    const keys = generateSigningKeys();
    const dir = await dist("ok");
    expect(await signFeeds(dir, keys.privateKeyPem, keys.publicKeyPem)).toEqual(["Mnemo-0.2.0.AppImage"]);
    const feed = parse(readFileSync(path.join(dir, "latest-linux.yml"), "utf8"));
    expect(feed).toMatchObject({
      version: "0.2.0",
      path: "Mnemo-0.2.0.AppImage",
      releaseDate: "2026-11-24T00:00:00.000Z",
    });
    await verifyDownloadedUpdate(publicKeyFrom(keys.publicKeyPem), path.join(dir, "Mnemo-0.2.0.AppImage"), "0.2.0", [
      feed.files[0].signature,
    ]);
  });

  it("refuses a private key that does not pair with the app's public key, a wrong hash, a missing file and a path", async () => {
    const keys = generateSigningKeys(),
      other = generateSigningKeys();
    await expect(signFeeds(await dist("pair"), keys.privateKeyPem, other.publicKeyPem)).rejects.toThrow(
      /valid Mnemo signature/,
    );
    await expect(
      signFeeds(await dist("hash", { sha512: "AAAA" }), keys.privateKeyPem, keys.publicKeyPem),
    ).rejects.toThrow(/the feed says AAAA/);
    await expect(
      signFeeds(await dist("missing", { url: "Mnemo-9.AppImage" }), keys.privateKeyPem, keys.publicKeyPem),
    ).rejects.toThrow(/not in/);
    await expect(
      signFeeds(await dist("path", { url: "../x.AppImage" }), keys.privateKeyPem, keys.publicKeyPem),
    ).rejects.toThrow(/not a plain file name/);
    const empty = path.join(root, "empty");
    mkdirSync(empty);
    await expect(signFeeds(empty, keys.privateKeyPem, keys.publicKeyPem)).rejects.toThrow(/no latest\*\.yml/);
  });

  it("runs as a command: sign needs the secret, then signs", async () => {
    const keys = generateSigningKeys();
    const dir = await dist("cli");
    const pub = path.join(dir, "key.pem");
    writeFileSync(pub, keys.publicKeyPem);
    const script = path.resolve(import.meta.dirname, "../../out/update/release.js");
    expect(existsSync(script), "run tsc -b first").toBe(true);
    const env = { ...process.env };
    delete env.MNEMO_UPDATE_SIGNING_KEY;
    const without = spawnSync(process.execPath, [script, "sign", "--dist", dir, "--public", pub], {
      encoding: "utf8",
      env,
    });
    expect(without.status).toBe(1);
    expect(without.stderr).toMatch(/set MNEMO_UPDATE_SIGNING_KEY/);
    const ok = spawnSync(process.execPath, [script, "sign", "--dist", dir, "--public", pub], {
      encoding: "utf8",
      env: { ...env, MNEMO_UPDATE_SIGNING_KEY: keys.privateKeyPem },
    });
    expect(ok.stderr).toBe("");
    expect(ok.stdout).toMatch(/Signed 1 file\(s\): Mnemo-0\.2\.0\.AppImage/);
  });
});
