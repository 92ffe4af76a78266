// How a loan is shown, to lenders, regulators and borrowers alike: its terms and costs, the
// schedule with each instalment's state, the money moved, and the reminders raised.

import { facts, h, table } from "./dom.js";
import { badge, hex, isoTime, money, percent, timestamp } from "./format.js";

/** The plan's totals: interest and fees over all instalments, and everything repayable. */
export function totals(loan) {
  const cost = loan.schedule.reduce((sum, i) => sum + i.interest + i.fees, 0);
  const repayable = loan.schedule.reduce((sum, i) => sum + i.amount, 0);
  return { cost, repayable };
}

/** The APR against the cap, said in words (not by colour alone). */
export function capCheck(loan) {
  const within = loan.apr_bps <= loan.rate_cap_bps;
  return h(
    "span",
    null,
    `${percent(loan.apr_bps)} `,
    badge(within ? "within the cap" : "above the cap", within ? "ok" : "high"),
    ` (cap ${percent(loan.rate_cap_bps)}: 4 × the one-year LPR)`,
  );
}

/** The key facts of a loan; `link(loanOrDigest)` makes the agreement link, if any. */
export function loanSummary(loan, agreementLink) {
  const c = loan.currency;
  const { cost, repayable } = totals(loan);
  return facts([
    ["Loan id", hex(loan.loan_id)],
    ["Agreement document", agreementLink ? agreementLink(loan.digest) : hex(loan.digest)],
    ["Status", badge(loan.status)],
    ["Principal", money(loan.principal, c)],
    ["Declared APR", capCheck(loan)],
    ["All-in annual cost of the signed plan", loan.annual_cost_bps === null ? "not computable" : percent(loan.annual_cost_bps)],
    ["All-in annual cost of the money actually lent", loan.actual_cost_bps === null ? null : percent(loan.actual_cost_bps)],
    ["Total interest and fees", money(cost, c)],
    ["Total repayable", money(repayable, c)],
    ["Purpose", loan.purpose],
    ["Repayment method", loan.repayment_method.replaceAll("_", " ")],
    ["Start", timestamp(loan.start_at)],
    ["Disbursed", money(loan.disbursed, c)],
    ["Repaid", money(loan.repaid, c)],
    ["Outstanding", money(loan.outstanding, c)],
    ["Days past due", String(loan.days_past_due)],
    ["Delinquency", loan.bucket ? loan.bucket_label : "none"],
    ["As of (chain time)", isoTime(loan.as_of)],
    ["Registered in transaction", hex(loan.registered_tx)],
  ]);
}

/** The repayment schedule with each instalment's state. */
export function scheduleTable(loan) {
  const c = loan.currency;
  return table(
    "Repayment schedule",
    [
      { label: "#", value: (i) => String(i.index + 1), num: true },
      { label: "Due", value: (i) => i.due_date },
      { label: "Principal", value: (i) => money(i.principal, c), num: true },
      { label: "Interest", value: (i) => money(i.interest, c), num: true },
      { label: "Fees", value: (i) => money(i.fees, c), num: true },
      { label: "Amount", value: (i) => money(i.amount, c), num: true },
      { label: "Paid", value: (i) => money(i.paid, c), num: true },
      { label: "Status", value: (i) => badge(i.status) },
      { label: "Days past due", value: (i) => String(i.days_past_due), num: true },
    ],
    loan.schedule,
  );
}

/** Disbursements and repayments, each with its transaction. */
export function paymentsTable(loan) {
  if (!loan.movements.length) return h("p", null, "No disbursement or repayment recorded yet.");
  return table(
    "Disbursements and repayments",
    [
      { label: "Kind", value: (m) => m.kind },
      { label: "Amount", value: (m) => money(m.amount, loan.currency), num: true },
      { label: "Account commitment", value: (m) => hex(m.account, true) },
      { label: "Bank reference", value: (m) => m.external_ref ?? "(recorded elsewhere)" },
      { label: "When", value: (m) => timestamp(m.block_timestamp) },
      { label: "Transaction", value: (m) => hex(m.tx_hash, true) },
      { label: "Block", value: (m) => String(m.block_number), num: true },
    ],
    loan.movements,
  );
}

/** The reminders the ledger raised, with their on-chain evidence. */
export function remindersTable(reminders, currency) {
  if (!reminders.length) return h("p", null, "The ledger has raised no reminder for this loan.");
  return table(
    "Reminders raised by the ledger",
    [
      { label: "Instalment", value: (r) => String(r.instalment + 1), num: true },
      { label: "Stage", value: (r) => r.stage_name.replaceAll("_", " ") },
      { label: "Due", value: (r) => timestamp(r.due_at) },
      { label: "Amount due", value: (r) => money(r.amount_due, currency), num: true },
      { label: "Days past due", value: (r) => String(r.days_past_due), num: true },
      { label: "Transaction", value: (r) => hex(r.tx_hash, true) },
      { label: "Block", value: (r) => String(r.block_number), num: true },
    ],
    reminders,
  );
}
