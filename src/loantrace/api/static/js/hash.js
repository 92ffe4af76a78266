// SHA-256 of a document, computed in the browser: the document never leaves the machine.
// crypto.subtle exists only in secure contexts (https, or http on localhost / 127.0.0.1);
// elsewhere the vendored @noble/hashes implementation computes the same digest.

function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether the browser's own SHA-256 (Web Crypto) is available here. */
export function hasWebCrypto() {
  return Boolean(globalThis.isSecureContext && globalThis.crypto && crypto.subtle);
}

/** SHA-256 with the vendored @noble/hashes (for pages served over plain http). */
export async function sha256WithNoble(bytes) {
  const { sha256 } = await import("../vendor/noble-hashes/sha2.js");
  return `0x${toHex(sha256(new Uint8Array(bytes)))}`;
}

/** SHA-256 with Web Crypto. */
export async function sha256WithWebCrypto(bytes) {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return `0x${toHex(new Uint8Array(digest))}`;
}

/** Return the 0x-prefixed SHA-256 hex digest of an ArrayBuffer, and which engine made it. */
export async function sha256Hex(bytes) {
  if (hasWebCrypto()) return { digest: await sha256WithWebCrypto(bytes), engine: "Web Crypto" };
  return { digest: await sha256WithNoble(bytes), engine: "@noble/hashes" };
}
