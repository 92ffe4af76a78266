// Views addressed by the URL fragment (#/loans/0x…), so each view has its own address, the
// back button works, and links can be shared.

import { ApiError, explain } from "./api.js";
import { focusOn, h, message, replace } from "./dom.js";

/**
 * Route fragments to views. routes: [[RegExp, async (container, ...groups) => void], ...];
 * the first matching route renders into `container`; no fragment means `home`.
 * `onDenied(error)` handles a 401.
 */
export function startRouter({ container, routes, tabs, onDenied, enabled, home }) {
  let generation = 0;

  async function run() {
    const given = window.location.hash;
    const anchor = given.length > 1 && !given.startsWith("#/"); // e.g. the skip link's #main
    if (anchor && container.childElementCount) return;
    const hash = !given || anchor || given === "#/" || given === "#" ? home : given;
    for (const link of tabs?.querySelectorAll("a") ?? []) {
      const current =
        hash === link.hash || (hash.startsWith(link.hash) && /^[/?]/.test(hash.slice(link.hash.length)));
      if (current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    if (!enabled()) {
      replace(container);
      return;
    }
    const mine = ++generation;
    for (const [pattern, view] of routes) {
      const match = pattern.exec(hash);
      if (!match) continue;
      replace(container, h("p", { role: "status" }, "Loading…"));
      try {
        const nodes = await view(...match.slice(1));
        if (mine !== generation) return; // a newer navigation won
        replace(container, nodes);
      } catch (error) {
        if (mine !== generation) return;
        if (error instanceof ApiError && error.status === 401 && onDenied) onDenied(error);
        replace(container, h("h2", null, "Something went wrong"), message(explain(error), "error"));
      }
      focusOn(container.querySelector("h2"));
      return;
    }
    replace(container, h("h2", null, "Not found"), message(`There is no view at ${hash}.`, "error"));
  }

  window.addEventListener("hashchange", run);
  run();
  return { refresh: run };
}

/** Navigate to a fragment (re-rendering even if it is the current one). */
export function go(hash, router) {
  if (window.location.hash === hash) router.refresh();
  else window.location.hash = hash;
}
