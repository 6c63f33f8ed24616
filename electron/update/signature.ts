// Update signatures: our own Ed25519 signature over each release file, checked before anything is
// installed. electron-updater already checks a file against the SHA-512 in latest*.yml, but that
// file comes from the same server as the installer, so a compromised server (or a spoofed one) could
// serve both. The signature is made offline by the release key (docs/RELEASING.md); the app carries
// only the public key, so the update server alone can never make Mnemo install something.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from "node:crypto";
import { createReadStream } from "node:fs";

/** What is signed: a domain tag, the version the release claims, and the file's SHA-512 (base64, as in latest*.yml).
 * Binding the version stops a valid old release from being replayed as a newer one. */
export function signedMessage(version: string, sha512: string): Buffer {
  return Buffer.from(`mnemo-update-v1\n${version}\n${sha512}`, "utf8");
}

export function generateSigningKeys(): { publicKeyPem: string; privateKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  return {
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}

function ed25519(key: KeyObject, what: string): KeyObject {
  if (key.asymmetricKeyType !== "ed25519")
    throw new Error(`the update ${what} key is ${key.asymmetricKeyType ?? "not asymmetric"}, not Ed25519`);
  return key;
}
export const publicKeyFrom = (pem: string) => ed25519(createPublicKey(pem), "public");
export const privateKeyFrom = (pem: string) => ed25519(createPrivateKey(pem), "private");

/** Base64 SHA-512 of a file, streamed (installers are hundreds of MB). */
export async function sha512File(file: string): Promise<string> {
  const hash = createHash("sha512");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("base64");
}

export function signRelease(privateKey: KeyObject, version: string, sha512: string): string {
  return sign(null, signedMessage(version, sha512), privateKey).toString("base64");
}

/** Whether `signature` (base64) is the release key's over this version and SHA-512. */
export function signatureValid(publicKey: KeyObject, version: string, sha512: string, signature: string): boolean {
  const bytes = Buffer.from(signature, "base64");
  return bytes.length === 64 && verify(null, signedMessage(version, sha512), publicKey, bytes);
}

/**
 * Checks a downloaded update: its SHA-512, with the version it was offered as, must carry a valid
 * signature among those offered (one per release file). Throws a message a user can act on otherwise.
 */
export async function verifyDownloadedUpdate(
  publicKey: KeyObject,
  file: string,
  version: string,
  signatures: readonly string[],
): Promise<void> {
  if (!signatures.length) throw new Error(`the update to ${version} is not signed; it was not installed`);
  const sha512 = await sha512File(file);
  if (!signatures.some((s) => signatureValid(publicKey, version, sha512, s)))
    throw new Error(`the update to ${version} does not carry a valid Mnemo signature; it was not installed`);
}
