// Draw a loan's fund-flow trace (GET /v1/loans/{id}/flows) as SVG: accounts are boxes in
// columns by hop, transfers are arrows labelled with their amounts. An edge an audit finding
// points at, and an account in a prohibited category, are drawn in a distinct style AND
// carry a text marker ("FLAGGED", "PROHIBITED"), so colour is never the only cue.

import { h, s, table } from "./dom.js";
import { hex, money, shortHex } from "./format.js";

const BOX_W = 215;
const BOX_H = 62;
const GAP_X = 180;
const GAP_Y = 36;
const PAD = 24;
const ARC = 70;
const SOURCE = "lender";

/** Key an edge or a finding's evidence by where it is on chain. */
export function evidenceKey(e) {
  return `${String(e.tx_hash).toLowerCase()}:${e.log_index}`;
}

/** Map each piece of evidence of `findings` to the rules that cite it. */
export function flaggedEvidence(findings) {
  const flagged = new Map();
  for (const finding of findings) {
    for (const e of finding.evidence) {
      const key = evidenceKey(e);
      flagged.set(key, [...(flagged.get(key) || []), finding.rule]);
    }
  }
  return flagged;
}

/** Lay the accounts out: one column per hop, in order of first appearance. */
function layout(trace) {
  const hops = new Map([[SOURCE, 0]]);
  const categories = new Map();
  for (const node of trace.nodes) {
    hops.set(node.account, node.hop);
    categories.set(node.account, node.category);
  }
  for (const edge of trace.edges) {
    if (edge.from_account && !hops.has(edge.from_account)) hops.set(edge.from_account, Math.max(0, edge.hop - 1));
    if (!hops.has(edge.to_account)) hops.set(edge.to_account, edge.hop);
  }
  const columns = new Map();
  for (const [account, hop] of hops) {
    if (!columns.has(hop)) columns.set(hop, []);
    columns.get(hop).push(account);
  }
  const order = [...columns.keys()].sort((a, b) => a - b);
  const boxes = new Map();
  order.forEach((hop, col) => {
    columns.get(hop).forEach((account, row) => {
      boxes.set(account, { x: PAD + col * (BOX_W + GAP_X), y: PAD + row * (BOX_H + GAP_Y), col });
    });
  });
  const rows = Math.max(...[...columns.values()].map((c) => c.length));
  const backwards = trace.edges.some((e) => hops.get(e.to_account) <= hops.get(e.from_account || SOURCE));
  const width = PAD * 2 + order.length * BOX_W + (order.length - 1) * GAP_X;
  const height = PAD * 2 + rows * BOX_H + (rows - 1) * GAP_Y + 16 + (backwards ? ARC : 0);
  return { boxes, categories, width, height };
}

function nodeBox(account, box, category, received, prohibited, currency) {
  const isSource = account === SOURCE;
  const lines = isSource
    ? ["Lender", "loan disbursement"]
    : [category || "unlabelled", shortHex(account), received ? `received ${money(received, currency)}` : ""];
  if (prohibited) lines.push(`⊘ PROHIBITED: ${category}`);
  const height = prohibited ? BOX_H + 16 : BOX_H;
  const group = s(
    "g",
    { class: `node${prohibited ? " prohibited" : ""}${isSource ? " source" : ""}`, transform: `translate(${box.x} ${box.y})` },
    s("rect", { width: BOX_W, height, rx: 6 }),
    lines.map((line, i) =>
      s("text", { x: 10, y: 18 + i * 16, class: i === 0 ? "category" : i === 3 ? "marker" : null }, line),
    ),
  );
  if (isSource) return group;
  const label = `Account ${account}, ${category || "unlabelled"}${prohibited ? ", prohibited destination" : ""}`;
  return s("a", { href: `#/accounts/${account}`, "aria-label": label }, s("title", null, label), group);
}

function edgePath(from, to, lane) {
  const y1 = from.y + BOX_H / 2 + lane * 8;
  const y2 = to.y + BOX_H / 2 + lane * 8;
  if (to.col > from.col) {
    const x1 = from.x + BOX_W;
    const x2 = to.x;
    const bend = (x2 - x1) / 2;
    return { d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`, mid: [(x1 + x2) / 2, (y1 + y2) / 2] };
  }
  // Back (or sideways) to an earlier column: an arc below the boxes.
  const x1 = from.x + BOX_W / 2 + lane * 10;
  const x2 = to.x + BOX_W / 2 + lane * 10;
  const yb = Math.max(from.y, to.y) + BOX_H;
  const dip = yb + ARC - 10;
  return { d: `M${x1},${from.y + BOX_H} C${x1},${dip} ${x2},${dip} ${x2},${to.y + BOX_H}`, mid: [(x1 + x2) / 2, dip - 8] };
}

function edgeLabel(edge, flaggedBy, currency) {
  const lines = [];
  if (flaggedBy) lines.push("⚠ FLAGGED", flaggedBy.map((r) => r.replaceAll("_", " ")).join(", "));
  lines.push(money(edge.amount, currency));
  if (edge.tainted !== edge.amount) lines.push(`loan money ${money(edge.tainted, currency)}`);
  return lines;
}

/**
 * Build the SVG of a trace. findings: the loan's audit findings; prohibited: a Set of
 * categories. Returns {figure, flaggedCount}.
 */
export function flowGraph(trace, { findings, prohibited, currency }) {
  const flagged = flaggedEvidence(findings);
  const { boxes, categories, width, height } = layout(trace);
  const received = new Map(trace.nodes.map((n) => [n.account, n.tainted_in]));
  const lanes = new Map();
  let flaggedCount = 0;
  const edges = trace.edges.map((edge) => {
    const from = boxes.get(edge.from_account || SOURCE);
    const to = boxes.get(edge.to_account);
    const pair = `${edge.from_account}>${edge.to_account}`;
    const lane = lanes.get(pair) || 0;
    lanes.set(pair, lane + 1);
    const { d, mid } = edgePath(from, to, lane);
    const flaggedBy = flagged.get(evidenceKey(edge.evidence));
    if (flaggedBy) flaggedCount += 1;
    const lines = edgeLabel(edge, flaggedBy, currency);
    const textWidth = Math.max(...lines.map((l) => l.length)) * 6.8;
    const [mx, my] = [mid[0], mid[1] + lane * 16 * lines.length - (lines.length - 1) * 7];
    return s(
      "g",
      { class: `edge${flaggedBy ? " flagged" : ""}`, "data-tx": edge.evidence.tx_hash },
      s("path", { d, "marker-end": `url(#${flaggedBy ? "arrow-flagged" : "arrow"})` }),
      s("rect", { class: "label-bg", x: mx - textWidth / 2 - 4, y: my - 13, width: textWidth + 8, height: lines.length * 15 + 4, rx: 3 }),
      s(
        "text",
        { x: mx, y: my, "text-anchor": "middle" },
        lines.map((line, i) => s("tspan", { x: mx, dy: i ? 15 : 0 }, line)),
      ),
    );
  });
  const nodes = [...boxes].map(([account, box]) => {
    const category = categories.get(account);
    return nodeBox(account, box, category, received.get(account), prohibited.has(category), currency);
  });
  const arrow = (id) =>
    s("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerUnits: "userSpaceOnUse", markerWidth: 12, markerHeight: 12, orient: "auto-start-reverse" }, s("path", { d: "M0,0 L10,5 L0,10 z" }));
  const svg = s(
    "svg",
    { class: "flow", viewBox: `0 0 ${width} ${height}`, width, height, role: "group", "aria-labelledby": "flow-title flow-desc" },
    s("title", { id: "flow-title" }, `Fund flows of loan ${trace.loan_id}`),
    s("desc", { id: "flow-desc" }, `${boxes.size - 1} accounts, ${trace.edges.length} transfers, ${flaggedCount} flagged by the audit. The table below lists the same transfers.`),
    s("defs", null, arrow("arrow"), arrow("arrow-flagged")),
    edges,
    nodes,
  );
  const figure = h(
    "figure",
    { class: "graph" },
    h("div", { class: "graph-scroll", tabindex: "0", role: "region", "aria-label": "Fund-flow graph (scrolls sideways)" }, svg),
    h(
      "figcaption",
      null,
      h(
        "ul",
        { class: "legend" },
        h("li", null, h("span", { class: "swatch" }), "transfer of loan money"),
        h("li", null, h("span", { class: "swatch flagged" }), "⚠ FLAGGED: cited by an audit finding"),
        h("li", null, h("span", { class: "swatch prohibited" }), "⊘ PROHIBITED destination (category)"),
      ),
      trace.truncated ? h("p", null, "The trace was cut at the hop limit: money may go further.") : null,
    ),
  );
  return { figure, flaggedCount };
}

/** The same transfers as a table, flagged rows marked in words. */
export function edgesTable(trace, { findings, prohibited, currency }) {
  const flagged = flaggedEvidence(findings);
  const category = new Map(trace.nodes.map((n) => [n.account, n.category]));
  const account = (a) => (a ? h("a", { href: `#/accounts/${a}` }, hex(a, true)) : "lender (disbursement)");
  return table(
    "Transfers of loan money",
    [
      { label: "Hop", value: (e) => String(e.hop), num: true },
      { label: "Kind", value: (e) => e.kind },
      { label: "From", value: (e) => account(e.from_account) },
      { label: "To", value: (e) => account(e.to_account) },
      {
        label: "Destination category",
        value: (e) => {
          const c = category.get(e.to_account);
          return prohibited.has(c) ? h("span", { class: "flag-text" }, `⊘ PROHIBITED: ${c}`) : c || "unlabelled";
        },
      },
      { label: "Amount", value: (e) => money(e.amount, currency), num: true },
      { label: "Loan money", value: (e) => money(e.tainted, currency), num: true },
      {
        label: "Audit",
        value: (e) => {
          const rules = flagged.get(evidenceKey(e.evidence));
          return rules ? h("span", { class: "flag-text" }, `⚠ FLAGGED: ${rules.join(", ")}`) : "";
        },
      },
      { label: "Transaction", value: (e) => hex(e.evidence.tx_hash, true) },
    ],
    trace.edges,
    (e) => (flagged.has(evidenceKey(e.evidence)) ? "flagged" : null),
  );
}
