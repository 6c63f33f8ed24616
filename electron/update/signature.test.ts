import { afterAll, describe, expect, it } from "vitest";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  generateSigningKeys,
  privateKeyFrom,
  publicKeyFrom,
  sha512File,
  signRelease,
  verifyDownloadedUpdate,
} from "./signature.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "mnemo-sig-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const keys = generateSigningKeys();
const file = path.join(dir, "Mnemo-0.2.0.AppImage");
writeFileSync(file, Buffer.alloc(3 * 2 ** 20, 7)); // bigger than one read chunk

describe("update signatures", () => {
  it("accept the release key's signature over the file and its version", async () => {
    const sig = signRelease(privateKeyFrom(keys.privateKeyPem), "0.2.0", await sha512File(file));
    await expect(
      verifyDownloadedUpdate(publicKeyFrom(keys.publicKeyPem), file, "0.2.0", ["not base64 at all", sig]),
    ).resolves.toBeUndefined();
  });

  it("refuse another key, another file, another version, and no signature", async () => {
    const sha = await sha512File(file);
    const pub = publicKeyFrom(keys.publicKeyPem);
    const foreign = signRelease(privateKeyFrom(generateSigningKeys().privateKeyPem), "0.2.0", sha);
    await expect(verifyDownloadedUpdate(pub, file, "0.2.0", [foreign])).rejects.toThrow(
      /does not carry a valid Mnemo signature/,
    );
    const sig = signRelease(privateKeyFrom(keys.privateKeyPem), "0.2.0", sha);
    await expect(verifyDownloadedUpdate(pub, file, "0.3.0", [sig])).rejects.toThrow(/valid Mnemo signature/);
    const other = path.join(dir, "other.AppImage");
    writeFileSync(other, "something else");
    await expect(verifyDownloadedUpdate(pub, other, "0.2.0", [sig])).rejects.toThrow(/valid Mnemo signature/);
    await expect(verifyDownloadedUpdate(pub, file, "0.2.0", [])).rejects.toThrow(/is not signed/);
  });

  it("take Ed25519 keys only", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 });
    expect(() => publicKeyFrom(rsa.publicKey.export({ type: "spki", format: "pem" }).toString())).toThrow(
      /is rsa, not Ed25519/,
    );
    expect(() => publicKeyFrom("-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n")).toThrow();
  });
});
