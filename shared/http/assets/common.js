// Shared by the console and the account page: the bearer token (from the URL fragment
// `#token=…`, never sent to the server in a URL, or the sign-in box), kept in
// sessionStorage; a fetch that sends it; and a DOM builder that only ever sets text, so no
// value from the API is ever read as HTML.
"use strict";

const TOKEN_KEY = "tollgate-token";

function takeTokenFromFragment() {
  const match = /(?:^|&)token=([^&]+)/.exec(location.hash.slice(1));
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function svg(tag, attributes, ...children) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes || {})) element.setAttribute(name, String(value));
  for (const child of children.flat()) if (child) element.append(child);
  return element;
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || "HTTP " + status);
    this.status = status;
    this.code = body && body.error && body.error.code;
  }
}

async function api(method, path, body) {
  const headers = { authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY) };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

function money(cents, currency) {
  const digits = ["jpy", "krw"].includes(currency) ? 0 : 2;
  const sign = cents < 0 ? "-" : "";
  const units = Math.abs(cents) / Math.pow(10, digits);
  return sign + units.toFixed(digits) + " " + (currency || "usd").toUpperCase();
}

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC" : "—";
}

// One bar per meter of a standing (`/api/me`'s `meters`): `data-testid="meter-<name>"` with
// `data-used` and `data-quota` (empty when unlimited). Widths are set through the CSSOM,
// which the content security policy allows, never as inline style attributes.
function meterBars(meters) {
  return meters.map((meter) => {
    const units = meter.unit + (meter.quota === 1 ? "" : "s");
    const per = { day: "a day", month: "a month", period: "this billing period" }[meter.per] || meter.per;
    const label = meter.quota === null
      ? `${meter.used} ${units} used (no limit)`
      : `${meter.used} of ${meter.quota} ${units} ${per} · ${meter.remaining} left · resets ${when(meter.resets_at)}`;
    const fill = h("span", {});
    fill.style.width = (meter.quota ? Math.min(100, (meter.used * 100) / meter.quota) : 0) + "%";
    return h("div", { class: "meter", "data-testid": "meter-" + meter.meter, "data-used": meter.used, "data-quota": meter.quota === null ? "" : meter.quota },
      h("p", {}, h("strong", {}, meter.meter), " · " + label + (meter.overage === "block" ? "" : ` · past it: ${meter.overage}`)),
      meter.quota === null ? null : h("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": meter.quota, "aria-valuenow": meter.used, "aria-label": meter.meter + " used" }, fill));
  });
}

function replace(id, ...children) {
  const target = document.getElementById(id);
  target.replaceChildren(...children.flat());
  return target;
}

// Shows the sign-in box until a token is known; `start` runs once one is.
function signIn(start) {
  const form = document.getElementById("sign-in");
  const main = document.getElementById("main");
  const begin = () => {
    form.hidden = true;
    main.hidden = false;
    start().catch(showError);
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, form.elements.token.value.trim());
    begin();
  });
  document.getElementById("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    location.reload();
  });
  if (takeTokenFromFragment()) begin();
  else {
    form.hidden = false;
    form.elements.token.focus();
  }
}

function showError(error) {
  const status = document.getElementById("status");
  status.textContent = error.status === 401 || error.status === 403 ? "Sign in again: " + error.message : String(error.message || error);
  status.hidden = false;
}
