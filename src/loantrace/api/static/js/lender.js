// Lender pages: agreements, loans with their schedule, payments and reminders, and webhooks
// with their delivery log. Everything is read with the lender's API key.

import { ApiError, call, explain } from "./api.js";
import { certificateButtons } from "./certificate.js";
import { facts, field, h, message, table } from "./dom.js";
import { badge, bytes32, hex, isoTime, timestamp } from "./format.js";
import { loanSummary, paymentsTable, remindersTable, scheduleTable } from "./loanview.js";
import { go, startRouter } from "./router.js";
import { mountKeySignIn } from "./signin.js";

const RECENT = "loantrace.lender.recent";
const HEX = "(0x[0-9a-fA-F]{64})";

const session = mountKeySignIn(document.getElementById("signin"), {
  role: "lender",
  title: "Sign in as a lender",
  probe: (token) => call("/v1/webhooks", { token }),
  onChange: (signedIn) => {
    document.getElementById("sections").hidden = !signedIn;
    router.refresh();
  },
});
const token = () => session.token();
const get = (path, query) => call(path, { token: token(), query });

/** A lookup form: one labelled text field, its value checked as bytes32, then navigate. */
function lookup(title, id, label, help, toHash) {
  const input = h("input", { type: "text", name: id, autocomplete: "off", spellcheck: "false" });
  const error = h("div");
  const form = h("form", { class: "panel", role: "search", "aria-label": title }, field(id, label, input, help), h("button", { type: "submit" }, "Show"), error);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = bytes32(input.value);
    if (!value) {
      input.setAttribute("aria-invalid", "true");
      error.replaceChildren(message("Enter 64 hex digits, with or without 0x.", "error"));
      input.focus();
      return;
    }
    go(toHash(value), router);
  });
  return form;
}

function recent() {
  try {
    return JSON.parse(sessionStorage.getItem(RECENT) || "[]");
  } catch {
    return [];
  }
}

function rememberAgreement(receipt) {
  const list = recent().filter((r) => r.digest !== receipt.digest);
  list.unshift({ digest: receipt.digest, status: receipt.status, block_timestamp: receipt.block_timestamp });
  sessionStorage.setItem(RECENT, JSON.stringify(list.slice(0, 20)));
}

/** The list route, where the service has one (GET /v1/agreements); null where it has not. */
async function listedAgreements() {
  try {
    const body = await get("/v1/agreements", { limit: 100 });
    const items = Array.isArray(body) ? body : body.agreements || body.items;
    return Array.isArray(items) ? items : null;
  } catch (error) {
    if (error instanceof ApiError && [404, 405].includes(error.status)) return null;
    throw error;
  }
}

function agreementsTable(caption, rows) {
  return table(caption, [
    { label: "Document digest", value: (r) => h("a", { href: `#/agreements/${r.digest}` }, hex(r.digest, true)) },
    { label: "Status", value: (r) => badge(r.status) },
    { label: "Notarised", value: (r) => timestamp(r.block_timestamp) },
  ], rows);
}

async function agreementsView() {
  const listed = await listedAgreements();
  const seen = recent();
  return [
    h("h2", null, "Agreements"),
    lookup("Find an agreement", "agreement-digest", "Agreement document digest", "The SHA-256 of the signed document (from its receipt).", (d) => `#/agreements/${d}`),
    listed ? agreementsTable("Your notarised agreements", listed) : h("p", null, "This service lists no agreements; look one up by its digest."),
    seen.length ? agreementsTable("Looked up in this tab", seen) : null,
  ];
}

async function agreementView(digest) {
  const receipt = await get(`/v1/agreements/${digest}`);
  rememberAgreement(receipt);
  return [
    h("h2", null, "Agreement"),
    facts([
      ["Status", badge(receipt.status)],
      ["Document digest", hex(receipt.digest)],
      ["Agreement id", hex(receipt.agreement_id)],
      ["Mode", receipt.mode],
      ["Chain id", receipt.chain_id],
      ["Registry contract", hex(receipt.contract_address)],
      ["Transaction", hex(receipt.tx_hash)],
      ["Block", receipt.block_number],
      ["Notarised", timestamp(receipt.block_timestamp)],
      ["Superseded by", hex(receipt.superseded_by)],
      ["Revocation reason code", receipt.revoke_reason],
      ["Merkle root", hex(receipt.merkle?.root)],
    ]),
    h(
      "ul",
      null,
      h("li", null, h("a", { href: `#/loans/${receipt.digest}` }, "The loan of this agreement")),
      h("li", null, h("a", { href: `/?digest=${receipt.digest}` }, "Verify publicly")),
    ),
    certificateButtons(receipt.digest, token()),
  ];
}

function loansView() {
  return [
    h("h2", null, "Loans"),
    lookup("Find a loan", "loan-id", "Loan id or agreement digest", "A loan is found by its id or by the digest of its agreement document.", (d) => `#/loans/${d}`),
  ];
}

async function loanView(id) {
  const [loan, reminders] = await Promise.all([
    get(`/v1/loans/${id}`),
    get(`/v1/loans/${id}/reminders`).catch((error) => error),
  ]);
  const agreement = (digest) => h("a", { href: `#/agreements/${digest}` }, hex(digest));
  return [
    h("h2", null, "Loan"),
    loanSummary(loan, agreement),
    h("h3", null, "Schedule"),
    scheduleTable(loan),
    h("h3", null, "Payments"),
    paymentsTable(loan),
    h("h3", null, "Reminder history"),
    reminders instanceof Error ? message(explain(reminders), "error") : remindersTable(reminders, loan.currency),
  ];
}

function webhookForm(onRegistered) {
  const input = h("input", { type: "url", name: "url", required: true, placeholder: "https://lender.example/hooks/loantrace" });
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "panel", "aria-labelledby": "webhook-form-heading" }, h("h3", { id: "webhook-form-heading" }, "Register a webhook"), field("webhook-url", "Endpoint URL", input, "Reminders are POSTed here, HMAC-signed."), h("button", { type: "submit" }, "Register"), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const hook = await call("/v1/webhooks", { method: "POST", token: token(), json: { url: input.value.trim() } });
      out.replaceChildren(
        message(`Webhook ${hook.id} registered. Its signing secret is shown this once; store it now:`),
        h("p", null, hex(hook.secret)),
      );
      input.value = "";
      await onRegistered();
    } catch (error) {
      out.replaceChildren(message(explain(error), "error"));
    }
  });
  return form;
}

function webhooksTable(hooks) {
  if (!hooks.length) return h("p", null, "No webhook is registered: reminders are recorded, but sent nowhere.");
  return table("Your active webhooks", [
    { label: "Id", value: (w) => String(w.id), num: true },
    { label: "URL", value: (w) => h("code", null, w.url) },
    { label: "Active", value: (w) => (w.active ? "yes" : "no") },
    { label: "Created", value: (w) => isoTime(w.created_at) },
    { label: "Deliveries", value: (w) => h("a", { href: `#/webhooks/${w.id}` }, `Delivery log of webhook ${w.id}`) },
  ], hooks);
}

async function webhooksView() {
  const list = h("div", null, webhooksTable(await get("/v1/webhooks")));
  const refresh = async () => list.replaceChildren(webhooksTable(await get("/v1/webhooks")));
  return [h("h2", null, "Webhooks"), list, webhookForm(refresh)];
}

async function deliveriesView(id) {
  const log = await get(`/v1/webhooks/${id}/deliveries`, { limit: 200 });
  return [
    h("h2", null, `Delivery log of webhook ${id}`),
    log.deliveries.length
      ? table("Deliveries, oldest first", [
          { label: "Status", value: (d) => badge(d.status, d.status === "delivered" ? "ok" : d.status === "dead" ? "high" : "medium") },
          { label: "Reminder", value: (d) => `${(d.reminder.stage_name || "").replaceAll("_", " ")}, instalment ${(d.reminder.instalment ?? 0) + 1}` },
          { label: "Loan", value: (d) => (d.reminder.loan_id ? h("a", { href: `#/loans/${d.reminder.loan_id}` }, hex(d.reminder.loan_id, true)) : "") },
          { label: "Attempts", value: (d) => String(d.attempts), num: true },
          { label: "Last answer", value: (d) => (d.last_status_code ? String(d.last_status_code) : d.last_error || "") },
          { label: "Delivered", value: (d) => isoTime(d.delivered_at) || "not yet" },
          { label: "Next attempt", value: (d) => (d.status === "pending" ? isoTime(d.next_attempt_at) : "") },
        ], log.deliveries)
      : h("p", null, "Nothing has been sent to this webhook yet."),
    h("p", null, h("a", { href: "#/webhooks" }, "All webhooks")),
  ];
}

const router = startRouter({
  container: document.getElementById("view"),
  tabs: document.getElementById("sections"),
  enabled: () => Boolean(token()),
  onDenied: (error) => session.expire(error),
  home: "#/agreements",
  routes: [
    [/^#\/agreements$/, agreementsView],
    [new RegExp(`^#/agreements/${HEX}$`), agreementView],
    [/^#\/loans$/, loansView],
    [new RegExp(`^#/loans/${HEX}$`), loanView],
    [/^#\/webhooks$/, webhooksView],
    [/^#\/webhooks\/(\d{1,10})$/, deliveriesView],
  ],
});
document.getElementById("sections").hidden = !token();
