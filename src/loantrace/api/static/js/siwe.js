// Sign-In with Ethereum (EIP-4361): the message text, byte for byte as the service renders
// and checks it, and EIP-55 address checksums (wallets often return lower-case addresses).

import { keccak_256 } from "../vendor/noble-hashes/sha3.js";

/** Return `address` with its EIP-55 checksum capitalisation. */
export function toChecksumAddress(address) {
  const lower = String(address).toLowerCase().replace(/^0x/, "");
  if (!/^[0-9a-f]{40}$/.test(lower)) throw new Error(`not an Ethereum address: ${address}`);
  const hash = keccak_256(new TextEncoder().encode(lower));
  let out = "0x";
  for (let i = 0; i < 40; i += 1) {
    const nibble = (hash[i >> 1] >> (i % 2 ? 0 : 4)) & 0x0f;
    out += nibble >= 8 ? lower[i].toUpperCase() : lower[i];
  }
  return out;
}

/**
 * The EIP-4361 message for a challenge from POST /v1/auth/siwe/nonce, signed by `address`.
 * Issued At is the service's own time; no Expiration Time, so the session the service grants
 * lasts its full length (the nonce itself expires at `expires_at` and is single use).
 */
export function siweMessage(challenge, address) {
  const scheme = challenge.uri.split("://")[0];
  const lines = [
    `${scheme}://${challenge.domain} wants you to sign in with your Ethereum account:`,
    toChecksumAddress(address),
    "",
    challenge.statement,
    "",
    `URI: ${challenge.uri}`,
    `Version: ${challenge.version}`,
    `Chain ID: ${challenge.chain_id}`,
    `Nonce: ${challenge.nonce}`,
    `Issued At: ${challenge.issued_at}`,
  ];
  return lines.join("\n");
}

/** Hex-encode a UTF-8 string, as personal_sign expects its message. */
export function utf8Hex(text) {
  return `0x${Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("")}`;
}
