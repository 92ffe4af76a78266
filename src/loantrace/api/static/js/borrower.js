// The borrower's page: sign in with the wallet that signed the agreement (EIP-4361 message,
// personal_sign), then read the agreements, schedules and disclosed costs naming that address.

import { call, credential, explain, forget, remember } from "./api.js";
import { certificateButtons } from "./certificate.js";
import { facts, focusOn, h, message, replace, table } from "./dom.js";
import { badge, hex, money, percent, timestamp } from "./format.js";
import { capCheck, remindersTable, scheduleTable, totals } from "./loanview.js";
import { siweMessage, toChecksumAddress, utf8Hex } from "./siwe.js";

const ROLE = "borrower";
const signin = document.getElementById("signin");
const view = document.getElementById("view");

function walletError(error) {
  if (error && error.code === 4001) return "You declined the request in your wallet; nothing was signed.";
  if (error && error.code === -32002) return "Your wallet already has a request open: finish it in the wallet.";
  return explain(error);
}

async function signIn(button, status) {
  button.disabled = true;
  try {
    status.replaceChildren(message("Asking your wallet for your address…"));
    const accounts = await window.ethereum.request({ method: "eth_requestAccounts" });
    if (!accounts || !accounts.length) throw new Error("the wallet shared no account");
    const address = toChecksumAddress(accounts[0]);
    const challenge = await call("/v1/auth/siwe/nonce", { method: "POST" });
    const text = siweMessage(challenge, address);
    status.replaceChildren(message("Sign the sign-in message in your wallet (it sends no transaction)…"));
    const signature = await window.ethereum.request({ method: "personal_sign", params: [utf8Hex(text), address] });
    const session = await call("/v1/auth/siwe", { method: "POST", json: { message: text, signature } });
    remember(ROLE, { token: session.token, address: session.address, expiresAt: session.expires_at });
    await show();
  } catch (error) {
    status.replaceChildren(message(`Sign-in failed: ${walletError(error)}`, "error"));
    button.disabled = false;
  }
}

function showSignIn() {
  replace(view);
  if (!window.ethereum) {
    replace(
      signin,
      h("h2", null, "Sign in with your wallet"),
      message(
        "No Ethereum wallet was found in this browser. Open this page in a browser with a wallet extension (such as MetaMask), or in your wallet app's own browser, using the account that signed your agreement.",
        "error",
      ),
      h("p", null, "You can still check any agreement document without signing in: ", h("a", { href: "/" }, "verify a document"), "."),
    );
    return;
  }
  const button = h("button", { type: "button" }, "Sign in with your wallet");
  const status = h("div", { "aria-live": "polite" });
  button.addEventListener("click", () => signIn(button, status));
  replace(
    signin,
    h("h2", null, "Sign in with your wallet"),
    h("p", null, "Your wallet shows a sign-in message naming this service. Signing it proves you hold the address that signed your agreement."),
    button,
    status,
  );
}

function agreementsSection(agreements, token) {
  if (!agreements.length) return h("p", null, "No agreement names your address.");
  return table(
    "Your agreements",
    [
      { label: "Document digest", value: (a) => hex(a.digest, true) },
      { label: "Status", value: (a) => badge(a.status) },
      { label: "Notarised", value: (a) => timestamp(a.block_timestamp) },
      { label: "Transaction", value: (a) => hex(a.tx_hash, true) },
      {
        label: "Proof",
        value: (a) => [h("a", { href: `/?digest=${a.digest}` }, "Verify"), " ", certificateButtons(a.digest, token)],
      },
    ],
    agreements,
  );
}

function loanSection({ loan, reminders }, number) {
  const c = loan.currency;
  const { cost, repayable } = totals(loan);
  const next = loan.schedule.find((i) => i.status !== "paid");
  return h(
    "section",
    { "aria-labelledby": `loan-${number}` },
    h("h3", { id: `loan-${number}` }, `Loan ${number}: ${money(loan.principal, c)}, ${loan.purpose.toLowerCase()}`),
    h("h4", null, "What you agreed to"),
    facts([
      ["Principal", money(loan.principal, c)],
      ["Annual percentage rate (APR)", capCheck(loan)],
      ["All-in annual cost (interest and fees)", loan.annual_cost_bps === null ? null : percent(loan.annual_cost_bps)],
      ["Total interest and fees", money(cost, c)],
      ["Total to repay", money(repayable, c)],
      ["Instalments", String(loan.schedule.length)],
      ["Agreement document", h("a", { href: `/?digest=${loan.digest}` }, hex(loan.digest, true))],
    ]),
    h("h4", null, "Where it stands"),
    facts([
      ["Status", badge(loan.status)],
      ["Repaid so far", money(loan.repaid, c)],
      ["Still to repay", money(loan.outstanding, c)],
      ["Next instalment", next ? `${money(next.amount - next.paid, c)} due ${next.due_date}` : "none: fully repaid"],
      ["Days past due", loan.days_past_due ? `${loan.days_past_due} (${loan.bucket_label})` : "0"],
    ]),
    scheduleTable(loan),
    remindersTable(reminders, c),
  );
}

async function show() {
  const session = credential(ROLE);
  if (!session) {
    showSignIn();
    return;
  }
  const out = h("button", { type: "button", class: "secondary" }, "Sign out");
  out.addEventListener("click", () => {
    forget(ROLE);
    showSignIn();
    focusOn(signin.querySelector("h2"));
  });
  replace(signin, h("div", { class: "signed-in" }, h("span", null, "Signed in as ", hex(session.address)), out));
  replace(view, h("p", { role: "status" }, "Loading your agreements…"));
  try {
    const [agreements, loans] = await Promise.all([
      call("/v1/me/agreements", { token: session.token }),
      call("/v1/me/loans", { token: session.token }),
    ]);
    replace(
      view,
      h("h2", null, "Your agreements"),
      agreementsSection(agreements, session.token),
      h("h2", null, "Your loans"),
      loans.length ? loans.map((found, i) => loanSection(found, i + 1)) : h("p", null, "No loan is registered on your agreements yet."),
    );
    focusOn(view.querySelector("h2"));
  } catch (error) {
    if (error.status === 401) {
      forget(ROLE);
      showSignIn();
    }
    replace(view, message(explain(error), "error"));
  }
}

show();
