// Regulator pages: portfolio findings with filters and live overdue figures, a fund-flow
// graph per loan, and the movements of each account.

import { call, explain, meta } from "./api.js";
import { facts, field, h, message, select, table } from "./dom.js";
import { badge, bytes32, hex, money } from "./format.js";
import { edgesTable, flowGraph } from "./flowgraph.js";
import { loanSummary } from "./loanview.js";
import { go, startRouter } from "./router.js";
import { mountKeySignIn } from "./signin.js";

const HEX = "(0x[0-9a-fA-F]{64})";
const PAGE = 50;
const OVERDUE_REFRESH_MS = 30_000;

const session = mountKeySignIn(document.getElementById("signin"), {
  role: "regulator",
  title: "Sign in as a regulator",
  probe: (token) => call("/v1/audit/findings", { token, query: { limit: 1 } }),
  onChange: (signedIn) => {
    document.getElementById("sections").hidden = !signedIn;
    router.refresh();
  },
});
const token = () => session.token();
const get = (path, query) => call(path, { token: token(), query });
let overdueTimer = null;

function params(query) {
  return Object.fromEntries(new URLSearchParams(query || ""));
}

function hashWith(base, values) {
  const query = new URLSearchParams(Object.entries(values).filter(([, v]) => v !== "" && v !== null && v !== undefined));
  return query.size ? `${base}?${query}` : base;
}

/** Overdue loans now (the audit computes them at chain time on every call). */
async function overdueFigures(lender) {
  const box = h("section", { class: "panel", "aria-labelledby": "overdue-heading" });
  async function refresh() {
    try {
      const page = await get("/v1/audit/findings", { rule: "overdue", lender, limit: 1000 });
      const loans = new Set(page.findings.map((f) => f.loan_id));
      const amount = page.findings.reduce((sum, f) => sum + f.amount, 0);
      const by = (severity) => page.findings.filter((f) => f.severity === severity).length;
      const refreshButton = h("button", { type: "button", class: "secondary" }, "Refresh now");
      refreshButton.addEventListener("click", refresh);
      box.replaceChildren(
        h("h2", { id: "overdue-heading" }, "Overdue now"),
        h(
          "ul",
          { class: "figures" },
          h("li", null, h("span", { class: "figure", id: "overdue-loans" }, String(loans.size)), "overdue loans"),
          h("li", null, h("span", { class: "figure" }, money(amount)), "overdue amount"),
          h("li", null, h("span", { class: "figure" }, String(by("low"))), "1–30 days past due"),
          h("li", null, h("span", { class: "figure" }, String(by("medium"))), "31–60 days"),
          h("li", null, h("span", { class: "figure" }, String(by("high"))), "over 60 days"),
        ),
        h("p", { class: "actions" }, `As of ${new Date().toLocaleTimeString()}; refreshed every 30 seconds.`, refreshButton),
      );
    } catch (error) {
      box.replaceChildren(h("h2", { id: "overdue-heading" }, "Overdue now"), message(explain(error), "error"));
    }
  }
  await refresh();
  clearInterval(overdueTimer);
  overdueTimer = setInterval(() => (box.isConnected ? refresh() : clearInterval(overdueTimer)), OVERDUE_REFRESH_MS);
  return box;
}

function filtersForm(rules, current) {
  const rule = select("rule", [["", "any kind"], ...rules.map((r) => [r, r.replaceAll("_", " ")])], current.rule || "");
  const severity = select("severity", [["", "any severity"], ["high", "high"], ["medium", "medium"], ["low", "low"]], current.severity || "");
  const lender = h("input", { type: "text", name: "lender", value: current.lender || "", autocomplete: "off", spellcheck: "false" });
  const form = h(
    "form",
    { class: "panel", role: "search", "aria-label": "Filter findings" },
    h(
      "div",
      { class: "row" },
      field("filter-rule", "Kind of finding", rule),
      field("filter-severity", "Severity", severity),
      field("filter-lender", "Lender address", lender, "0x and 40 hex digits; empty for every lender."),
    ),
    h("button", { type: "submit" }, "Apply filters"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go(hashWith("#/findings", { rule: rule.value, severity: severity.value, lender: lender.value.trim() }), router);
  });
  return form;
}

async function downloadCsv(filters) {
  const response = await call("/v1/audit/findings", { token: token(), query: { ...filters, format: "csv" }, accept: "text/csv", raw: true });
  const url = URL.createObjectURL(await response.blob());
  const link = h("a", { href: url, download: "findings.csv" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function findingsView(query) {
  const current = params(query);
  const offset = Number(current.offset || 0);
  const filters = { rule: current.rule, severity: current.severity, lender: current.lender };
  const [info, page, overdue] = await Promise.all([
    meta(),
    get("/v1/audit/findings", { ...filters, limit: PAGE, offset }),
    overdueFigures(current.lender),
  ]);
  const pager = h("p", { class: "actions" }, `${page.total} findings; showing ${page.total ? offset + 1 : 0}–${offset + page.findings.length}.`);
  if (offset > 0) pager.append(h("a", { href: hashWith("#/findings", { ...filters, offset: Math.max(0, offset - PAGE) }) }, "Previous page"));
  if (offset + PAGE < page.total) pager.append(h("a", { href: hashWith("#/findings", { ...filters, offset: offset + PAGE }) }, "Next page"));
  const csv = h("button", { type: "button", class: "secondary" }, "Export all as CSV");
  csv.addEventListener("click", () => downloadCsv(filters).catch((error) => pager.append(message(explain(error), "error"))));
  pager.append(csv);
  return [
    h("h2", null, "Portfolio findings"),
    overdue,
    filtersForm(info.rules, current),
    pager,
    page.findings.length
      ? table("Audit findings", [
          { label: "Severity", value: (f) => badge(f.severity) },
          { label: "Kind", value: (f) => f.rule.replaceAll("_", " ") },
          { label: "Loan", value: (f) => h("a", { href: `#/loans/${f.loan_id}` }, hex(f.loan_id, true)) },
          { label: "Amount", value: (f) => money(f.amount), num: true },
          { label: "Explanation", value: (f) => f.explanation },
          { label: "Evidence", value: (f) => f.evidence.map((e) => h("div", null, hex(e.tx_hash, true), ` block ${e.block_number}`)) },
        ], page.findings)
      : h("p", null, "No finding matches these filters."),
  ];
}

function lookupView(title, id, label, base) {
  const input = h("input", { type: "text", name: id, autocomplete: "off", spellcheck: "false" });
  const error = h("div");
  const form = h("form", { class: "panel", role: "search", "aria-label": `Find: ${title}` }, field(id, label, input, "64 hex digits, with or without 0x."), h("button", { type: "submit" }, "Show"), error);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = bytes32(input.value);
    if (!value) {
      input.setAttribute("aria-invalid", "true");
      error.replaceChildren(message("Enter 64 hex digits, with or without 0x.", "error"));
      input.focus();
      return;
    }
    go(`${base}/${value}`, router);
  });
  return [h("h2", null, title), form];
}

function traceForm(loanId, current) {
  const policy = select("policy", [["fifo", "FIFO (first in, first out)"], ["haircut", "haircut (pro rata)"], ["poison", "poison (all of it)"]], current.policy || "fifo");
  const hops = h("input", { type: "number", name: "max_hops", min: "1", max: "12", value: current.max_hops || "6" });
  const form = h(
    "form",
    { class: "panel", "aria-label": "Tracing options" },
    h("div", { class: "row" }, field("trace-policy", "Tracing policy", policy), field("trace-hops", "Most hops to follow", hops)),
    h("button", { type: "submit" }, "Trace again"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go(hashWith(`#/loans/${loanId}`, { policy: policy.value, max_hops: hops.value }), router);
  });
  return form;
}

async function loanView(id, query) {
  const current = params(query);
  const [info, loan, trace, findings] = await Promise.all([
    meta(),
    get(`/v1/loans/${id}`),
    get(`/v1/loans/${id}/flows`, { policy: current.policy || "fifo", max_hops: current.max_hops || 6 }),
    get(`/v1/loans/${id}/audit`),
  ]);
  const context = { findings, prohibited: new Set(info.prohibited_categories), currency: loan.currency };
  const { figure, flaggedCount } = flowGraph(trace, context);
  return [
    h("h2", null, "Where the loan's money went"),
    h("p", null, `${trace.edges.length} transfers traced under the ${trace.policy} policy; ${flaggedCount} flagged by the audit.`),
    traceForm(id, current),
    figure,
    edgesTable(trace, context),
    h("h3", null, "Audit findings of this loan"),
    findings.length
      ? h("ul", null, findings.map((f) => h("li", null, badge(f.severity), ` ${f.rule.replaceAll("_", " ")}: ${f.explanation}`)))
      : h("p", null, "No finding."),
    h("h3", null, "The loan"),
    loanSummary(loan),
  ];
}

async function accountView(account) {
  const [info, flows] = await Promise.all([meta(), get(`/v1/accounts/${account}/flows`)]);
  const prohibited = info.prohibited_categories.includes(flows.category);
  const other = (m) => (m.to_account === flows.account ? m.from_account : m.to_account);
  return [
    h("h2", null, "Account"),
    facts([
      ["Account commitment", hex(flows.account)],
      [
        "Category",
        prohibited ? h("span", { class: "flag-text" }, `⊘ PROHIBITED: ${flows.category}`) : flows.category || "unlabelled",
      ],
      ["Movements", String(flows.movements.length)],
    ]),
    flows.movements.length
      ? table("Movements into and out of this account", [
          { label: "Direction", value: (m) => (m.to_account === flows.account ? "in" : "out") },
          { label: "Kind", value: (m) => m.kind },
          { label: "Counterparty", value: (m) => (other(m) ? h("a", { href: `#/accounts/${other(m)}` }, hex(other(m), true)) : "lender") },
          { label: "Loan", value: (m) => (m.loan_id ? h("a", { href: `#/loans/${m.loan_id}` }, hex(m.loan_id, true)) : "") },
          { label: "Amount", value: (m) => money(m.amount), num: true },
          { label: "Transaction", value: (m) => hex(m.evidence.tx_hash, true) },
          { label: "Block", value: (m) => String(m.evidence.block_number), num: true },
        ], flows.movements)
      : h("p", null, "No movement recorded."),
  ];
}

const router = startRouter({
  container: document.getElementById("view"),
  tabs: document.getElementById("sections"),
  enabled: () => Boolean(token()),
  onDenied: (error) => session.expire(error),
  home: "#/findings",
  routes: [
    [/^#\/findings(?:\?(.*))?$/, findingsView],
    [/^#\/loans$/, () => lookupView("Loan fund flows", "loan-id", "Loan id or agreement digest", "#/loans")],
    [new RegExp(`^#/loans/${HEX}(?:\\?(.*))?$`), loanView],
    [/^#\/accounts$/, () => lookupView("Accounts", "account", "Account commitment", "#/accounts")],
    [new RegExp(`^#/accounts/${HEX}$`), accountView],
  ],
});
document.getElementById("sections").hidden = !token();
