// Who may talk to the local server: loopback peers only, the Host header naming this server (no DNS
// rebinding), a browser Origin of this server, and the per-run token, compared in constant time.
import { timingSafeEqual } from "node:crypto";

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.startsWith("::ffff:") ? address.slice(7) : address;
  return a === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

export function allowedHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
}

/** An Origin header, when present, must be this server (a web page elsewhere cannot call the API). */
export function originAllowed(origin: string | undefined, port: number): boolean {
  if (origin === undefined) return true;
  return [...allowedHosts(port)].some((h) => origin === `http://${h}`);
}

export function tokenMatches(given: string | null | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given),
    b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
