// Sign in with an API key (lenders, regulators): the key is checked with one harmless read
// and kept in sessionStorage for this tab only.

import { ApiError, credential, explain, forget, remember } from "./api.js";
import { field, focusOn, h, message, replace } from "./dom.js";

/**
 * Show a sign-in form in `container` until a key passes `probe(token)`, then a signed-in bar.
 * options: {role, title, probe, onChange(signedIn: boolean)}
 */
export function mountKeySignIn(container, { role, title, probe, onChange }) {
  function showForm(error) {
    const input = h("input", { type: "password", name: "api_key", autocomplete: "off", spellcheck: "false", required: true });
    const form = h(
      "form",
      { class: "panel", "aria-labelledby": `${role}-signin-heading` },
      h("h2", { id: `${role}-signin-heading` }, title),
      field(
        `${role}-key`,
        "API key",
        input,
        `Your ${role} API key (lt_…), from your administrator. It is kept only in this browser tab and sent only to this service.`,
      ),
      h("button", { type: "submit" }, "Sign in"),
      error ? message(error, "error") : null,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (!token) {
        showForm("Enter your API key.");
        const again = container.querySelector("input");
        again.setAttribute("aria-invalid", "true");
        focusOn(again);
        return;
      }
      const button = form.querySelector("button");
      button.disabled = true;
      try {
        await probe(token);
        remember(role, { token });
        showSignedIn();
        onChange(true);
      } catch (error_) {
        const rejected = error_ instanceof ApiError && (error_.status === 401 || error_.status === 403);
        showForm(rejected ? `This key was not accepted for the ${role} pages. ${explain(error_)}` : explain(error_));
        focusOn(container.querySelector("input"));
      }
    });
    replace(container, form);
  }

  function showSignedIn() {
    const out = h("button", { type: "button", class: "secondary" }, "Sign out");
    out.addEventListener("click", () => {
      forget(role);
      showForm();
      onChange(false);
      focusOn(container.querySelector("input"));
    });
    replace(container, h("div", { class: "signed-in" }, h("span", null, `Signed in with a ${role} key.`), out));
  }

  /** Sign out after the API refused the stored key (expired or revoked meanwhile). */
  function expire(error) {
    forget(role);
    showForm(explain(error));
    onChange(false);
  }

  if (credential(role)) showSignedIn();
  else showForm();
  return { expire, token: () => credential(role)?.token ?? null };
}
