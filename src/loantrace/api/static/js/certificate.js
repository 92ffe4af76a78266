// Certificates of notarised agreements: GET /v1/agreements/{digest}/certificate answers only
// the agreement's parties (its lender, its borrower), so the portal fetches it with the
// signed-in bearer credential and saves the answer as a file.

import { call, explain } from "./api.js";
import { h } from "./dom.js";

const KINDS = {
  pdf: { accept: "application/pdf", extension: "pdf", label: "PDF" },
  json: { accept: "application/json", extension: "json", label: "JSON" },
};

function filenameOf(response, digest, extension) {
  const disposition = response.headers.get("content-disposition") || "";
  const named = /filename="?([^";]+)"?/i.exec(disposition);
  return named ? named[1] : `certificate-${digest.slice(2, 18)}.${extension}`;
}

/** Fetch a certificate as the signed-in party and save it; throw an ApiError on refusal. */
export async function downloadCertificate(digest, token, kind) {
  const { accept, extension } = KINDS[kind];
  const response = await call(`/v1/agreements/${digest}/certificate`, { token, accept, raw: true });
  const url = URL.createObjectURL(await response.blob());
  const link = h("a", { href: url, download: filenameOf(response, digest, extension) });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Buttons downloading an agreement's certificate as PDF or JSON, with their own status line. */
export function certificateButtons(digest, token) {
  const status = h("span", { role: "status" });
  const buttons = Object.entries(KINDS).map(([kind, { label }]) => {
    const button = h("button", { type: "button", class: "secondary" }, `Certificate (${label})`);
    button.addEventListener("click", async () => {
      button.disabled = true;
      status.textContent = "";
      try {
        await downloadCertificate(digest, token, kind);
        status.textContent = `Certificate (${label}) downloaded.`;
      } catch (error) {
        status.textContent = `No certificate: ${explain(error)}`;
      } finally {
        button.disabled = false;
      }
    });
    return button;
  });
  return h("span", { class: "actions" }, buttons, status);
}
