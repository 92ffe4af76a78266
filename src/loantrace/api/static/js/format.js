// Formatting of the API's values: money in integer minor units, rates in basis points,
// chain timestamps in seconds, hex identifiers.

import { h } from "./dom.js";

const MINOR_DIGITS = { JPY: 0, KRW: 0 };

/** Format integer minor units as a decimal amount ("1,234.56"), optionally with a currency. */
export function money(minor, currency) {
  if (minor === null || minor === undefined) return "";
  const digits = MINOR_DIGITS[currency] ?? 2;
  const negative = minor < 0;
  const text = String(Math.abs(minor)).padStart(digits + 1, "0");
  const whole = text.slice(0, text.length - digits).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const fraction = digits ? `.${text.slice(text.length - digits)}` : "";
  return `${negative ? "-" : ""}${currency ? `${currency} ` : ""}${whole}${fraction}`;
}

/** Format basis points as a percentage ("11.50%"). */
export function percent(bps) {
  if (bps === null || bps === undefined) return "";
  return `${(bps / 100).toFixed(2)}%`;
}

/** Format a Unix timestamp (seconds) as an ISO date and time in UTC. */
export function timestamp(seconds) {
  if (seconds === null || seconds === undefined) return "";
  return `${new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19)} UTC`;
}

/** Format an ISO date-time string from the API for reading. */
export function isoTime(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : `${date.toISOString().replace("T", " ").slice(0, 19)} UTC`;
}

/** Shorten a long hex value for tables: 0x1234…cdef. */
export function shortHex(hex) {
  if (typeof hex !== "string" || hex.length <= 14) return hex ?? "";
  return `${hex.slice(0, 8)}…${hex.slice(-4)}`;
}

/** A <code> element with the full value; shortened visibly when `short`. */
export function hex(value, short = false) {
  if (!value) return "";
  return h("code", { class: "hex", title: short ? value : null }, short ? shortHex(value) : value);
}

/** Normalise a user-typed bytes32 (with or without 0x); return null when it is not one. */
export function bytes32(text) {
  const value = String(text || "").trim().toLowerCase().replace(/^0x/, "");
  return /^[0-9a-f]{64}$/.test(value) ? `0x${value}` : null;
}

/** A status badge whose text says the status (colour is only a second cue). */
export function badge(text, kind) {
  return h("span", { class: `badge ${kind || text}` }, String(text).replaceAll("_", " "));
}
