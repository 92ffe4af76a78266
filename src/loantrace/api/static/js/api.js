// The JSON API as the portal uses it: same origin, bearer credentials kept in sessionStorage
// (gone when the tab closes), errors read from RFC 9457 problem+json bodies.

const STORE = "loantrace.credential.";

/** An error answer of the API, with the problem's detail as its message. */
export class ApiError extends Error {
  constructor(status, detail, problem) {
    super(detail);
    this.status = status;
    this.problem = problem;
  }
}

/** Return the credential stored for a role ("lender", "regulator", "borrower"), or null. */
export function credential(role) {
  const raw = sessionStorage.getItem(STORE + role);
  if (!raw) return null;
  try {
    const value = JSON.parse(raw);
    if (value.expiresAt && Date.parse(value.expiresAt) <= Date.now()) {
      forget(role);
      return null;
    }
    return value;
  } catch {
    forget(role);
    return null;
  }
}

/** Keep a credential for this tab: {token, label?, expiresAt?}. */
export function remember(role, value) {
  sessionStorage.setItem(STORE + role, JSON.stringify(value));
}

/** Forget a role's credential (sign out). */
export function forget(role) {
  sessionStorage.removeItem(STORE + role);
}

async function problemOf(response) {
  const type = response.headers.get("content-type") || "";
  if (type.includes("json")) {
    try {
      const body = await response.json();
      const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
      return [detail || body.title || response.statusText, body];
    } catch {
      /* fall through: an unreadable body */
    }
  }
  return [`${response.status} ${response.statusText}`, null];
}

/**
 * Call the API and return its parsed JSON.
 * options: {method, token, json, form, query, accept}
 */
export async function call(path, options = {}) {
  const headers = { Accept: options.accept || "application/json" };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let body;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  } else if (options.form) {
    body = options.form; // FormData: the browser sets the multipart boundary
  }
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(options.query || {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  let response;
  try {
    response = await fetch(url, { method: options.method || "GET", headers, body });
  } catch (error) {
    throw new ApiError(0, `The service could not be reached (${error.message}).`, null);
  }
  if (!response.ok) {
    const [detail, problem] = await problemOf(response);
    throw new ApiError(response.status, detail, problem);
  }
  if (options.raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

/** Explain an API error to a person, naming what to do for the usual statuses. */
export function explain(error) {
  if (!(error instanceof ApiError)) return `Unexpected error: ${error.message}`;
  switch (error.status) {
    case 0:
      return error.message;
    case 401:
      return `Not signed in, or the key or session is no longer valid: ${error.message}`;
    case 403:
      return `This key's role may not do this: ${error.message}`;
    case 404:
      return `Not found: ${error.message}`;
    case 429:
      return `Too many requests; wait a moment and try again. (${error.message})`;
    case 503:
      return `The chain node or database is unavailable right now: ${error.message}`;
    default:
      return `${error.status}: ${error.message}`;
  }
}

let metaPromise = null;

/** The portal's facts from the server: audit rules and prohibited account categories. */
export function meta() {
  metaPromise ??= call("/portal/meta.json");
  return metaPromise;
}
