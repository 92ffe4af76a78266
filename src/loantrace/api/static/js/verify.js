// The public verification page: hash a document locally, or take a digest (a certificate's
// QR code links to /?digest=0x...), and show what the chain says about it.

import { ApiError, call, explain } from "./api.js";
import { facts, focusOn, h, replace } from "./dom.js";
import { bytes32, hex, isoTime, timestamp } from "./format.js";
import { hasWebCrypto, sha256Hex } from "./hash.js";

const VERDICTS = {
  valid: ["Valid", "This exact document is notarised on chain, signed by both parties, and in force."],
  superseded: ["Superseded", "This document was notarised, but a later amendment replaces it."],
  revoked: ["Revoked", "This document was notarised, then revoked by its lender."],
  not_found: [
    "Not found",
    "No notarisation of this exact document is on this chain. Changing even one character of a document changes its fingerprint.",
  ],
  invalid: ["Invalid", "A record exists, but its signatures or its proof do not check out."],
  other_chain: [
    "Other chain",
    "The receipt names another chain or registry than the one this service reads; check it there.",
  ],
};
const FOUND = new Set(["valid", "superseded", "revoked", "invalid"]);

const form = document.getElementById("verify-form");
const documentInput = document.getElementById("document");
const digestInput = document.getElementById("digest");
const receiptInput = document.getElementById("receipt");
const progress = document.getElementById("progress");
const result = document.getElementById("result");
const verdictBox = document.getElementById("verdict");
const evidence = document.getElementById("evidence");
const certificate = document.getElementById("certificate");
const engineNote = document.getElementById("engine");

function say(text, isError = false) {
  progress.textContent = text;
  progress.classList.toggle("error", isError);
}

/** Read the optional receipt or certificate: its Merkle proof, chain and registry. */
async function receiptFields() {
  const file = receiptInput.files[0];
  if (!file) return {};
  let parsed;
  try {
    parsed = JSON.parse(await file.text());
  } catch {
    throw new Error(`${file.name} is not a JSON receipt or certificate.`);
  }
  // A receipt (POST /v1/agreements) is flat; a certificate nests chain and document.
  const receipt = parsed && typeof parsed.receipt === "object" ? parsed.receipt : parsed;
  if (!receipt || typeof receipt !== "object") throw new Error(`${file.name} holds no receipt.`);
  const fields = {};
  const merkle = receipt.merkle;
  if (merkle && typeof merkle === "object") {
    const { root, leaf_types, leaf_values, proof } = merkle;
    fields.merkle = JSON.stringify({ root, leaf_types, leaf_values, proof });
  }
  const chainId = receipt.chain_id ?? receipt.chain?.chain_id;
  const contract = receipt.contract_address ?? receipt.chain?.contract_address;
  if (chainId) fields.chain_id = String(chainId);
  if (contract) fields.contract_address = contract;
  const digest = receipt.digest ?? receipt.document?.digest;
  if (digest) fields.receiptDigest = bytes32(digest);
  return fields;
}

function renderVerdict(report) {
  const [label, meaning] = VERDICTS[report.verdict] || [report.verdict, ""];
  verdictBox.className = `verdict verdict-${report.verdict}`;
  replace(
    verdictBox,
    h("p", { class: "verdict-label", id: "verdict-label" }, label),
    h("p", null, meaning),
    report.explanation ? h("p", null, report.explanation) : null,
  );
  verdictBox.dataset.verdict = report.verdict;
  const yesNo = (value) => (value === null || value === undefined ? null : value ? "yes" : "no");
  replace(
    evidence,
    facts([
      ["Document digest (SHA-256)", hex(report.digest)],
      ["Agreement id", hex(report.agreement_id)],
      ["Mode", report.mode],
      ["Chain id", report.chain_id],
      ["Registry contract", hex(report.contract_address)],
      ["Transaction", hex(report.tx_hash)],
      ["Block", report.block_number],
      ["Notarised at", report.notarised_at ? isoTime(report.notarised_at) : timestamp(report.block_timestamp)],
      ["Confirmations", report.confirmations],
      ["Lender", hex(report.lender)],
      ["Lender recovered from signature", hex(report.recovered_lender)],
      ["Borrower", hex(report.borrower)],
      ["Borrower recovered from signature", hex(report.recovered_borrower)],
      ["Signatures match", yesNo(report.signatures_match)],
      ["Merkle root", hex(report.merkle_root)],
      ["Merkle proof valid", yesNo(report.merkle_proof_valid)],
      ["Superseded by", hex(report.superseded_by)],
      ["Revocation reason code", report.revoke_reason],
      ["Other notarisations of this document", report.records?.length > 1 ? report.records.length : null],
    ]),
  );
  replace(certificate);
  if (FOUND.has(report.verdict)) {
    replace(
      certificate,
      "Party to this agreement? Its signed certificate (PDF with a QR code, or JSON) is issued to its parties: borrowers download it on ",
      h("a", { href: "/borrower" }, "the borrowers' page"),
      ", lenders on ",
      h("a", { href: `/lender#/agreements/${report.digest}` }, "the lenders' page"),
      ".",
    );
  }
}

async function verify() {
  let fields;
  try {
    fields = await receiptFields();
  } catch (error) {
    say(error.message, true);
    return;
  }
  let digest = bytes32(digestInput.value);
  if (!digest && fields.receiptDigest && !documentInput.files.length) digest = fields.receiptDigest;
  if (!digest) {
    say("Choose a document, or enter its SHA-256 digest: 64 hex digits, with or without 0x.", true);
    digestInput.setAttribute("aria-invalid", "true");
    digestInput.focus();
    return;
  }
  digestInput.removeAttribute("aria-invalid");
  const body = new FormData();
  body.set("digest", digest);
  for (const name of ["merkle", "chain_id", "contract_address"]) {
    if (fields[name]) body.set(name, fields[name]);
  }
  say("Checking the chain…");
  result.hidden = true;
  try {
    const report = await call("/v1/verify", { method: "POST", form: body });
    renderVerdict(report);
    result.hidden = false;
    say(`Verdict: ${(VERDICTS[report.verdict] || [report.verdict])[0]}.`);
    focusOn(document.getElementById("result-heading"));
  } catch (error) {
    const invalid = error instanceof ApiError && error.status === 422;
    say(invalid ? `The service refused the input: ${error.message}` : explain(error), true);
  }
}

async function hashChosenFile() {
  const file = documentInput.files[0];
  if (!file) return;
  say(`Computing the fingerprint of ${file.name} in this browser…`);
  try {
    const { digest, engine } = await sha256Hex(await file.arrayBuffer());
    digestInput.value = digest;
    engineNote.textContent = `Fingerprint of ${file.name} (${file.size} bytes), computed here with ${engine}.`;
    await verify();
  } catch (error) {
    say(`The file could not be read: ${error.message}`, true);
  }
}

documentInput.addEventListener("change", hashChosenFile);
form.addEventListener("submit", (event) => {
  event.preventDefault();
  verify();
});

if (!hasWebCrypto()) {
  engineNote.textContent =
    "This page is not served over a secure connection, so the browser's own SHA-256 is unavailable; a bundled implementation (@noble/hashes) computes it instead, still on this device.";
}

const fromLink = new URLSearchParams(window.location.search).get("digest");
if (fromLink) {
  digestInput.value = fromLink;
  verify();
}
