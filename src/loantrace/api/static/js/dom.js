// Small DOM helpers: build elements without innerHTML, so nothing from the API is ever parsed
// as markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function setAttributes(node, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.setAttribute("class", value);
    else if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  return node;
}

/** Create an HTML element: h("a", {href: "/"}, "text", child, ...). */
export function h(tag, attrs, ...children) {
  return append(setAttributes(document.createElement(tag), attrs), children);
}

/** Create an SVG element. */
export function s(tag, attrs, ...children) {
  return append(setAttributes(document.createElementNS(SVG_NS, tag), attrs), children);
}

/** Replace the children of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/**
 * A table in a horizontally scrolling box.
 * columns: [{label, value: (row) => node|string, num?: bool}], rows: array.
 */
export function table(caption, columns, rows, rowClass) {
  const head = h("tr", null, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)));
  const body = rows.map((row) =>
    h(
      "tr",
      { class: rowClass ? rowClass(row) : null },
      columns.map((c) => h("td", { class: c.num ? "num" : null }, c.value(row))),
    ),
  );
  const wrap = h("div", { class: "table-wrap", role: "region", "aria-label": caption, tabindex: "0" });
  return append(wrap, [h("table", null, h("caption", null, caption), h("thead", null, head), h("tbody", null, body))]);
}

/** A definition list of [term, value] pairs; pairs whose value is null are left out. */
export function facts(pairs) {
  const list = h("dl", { class: "facts" });
  for (const [term, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    list.append(h("dt", null, term), h("dd", null, value));
  }
  return list;
}

/** A message box; kind "error" is announced assertively. */
export function message(text, kind = "info") {
  return h("div", { class: `message ${kind === "error" ? "error" : ""}`, role: kind === "error" ? "alert" : "status" }, text);
}

/** Move keyboard focus to a heading (or other element) after a view changes. */
export function focusOn(node) {
  if (!node) return;
  if (!node.hasAttribute("tabindex")) node.setAttribute("tabindex", "-1");
  node.focus({ preventScroll: false });
}

/** A labelled form field: a <label for> and its control, with optional help text. */
export function field(id, label, control, help) {
  control.id = id;
  if (help) control.setAttribute("aria-describedby", `${id}-help`);
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    help ? h("p", { class: "help", id: `${id}-help` }, help) : null,
  );
}

/** A <select> with [value, text] options. */
export function select(name, options, selected) {
  return h(
    "select",
    { name },
    options.map(([value, text]) => h("option", { value, selected: value === selected }, text)),
  );
}
