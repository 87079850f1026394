// The signed-in user's account: plan and usage, API keys (a new key shown once), the
// workflows it may run (a form built from each one's input schema), its recent runs, where
// their results are delivered and how those deliveries went, plans and products to buy
// through Stripe Checkout, the billing portal, purchases and entitlements, the referral link
// and what it earned. Arriving through someone's referral link
// (`/account?ref=<account>`) makes the next purchase credit them.
"use strict";

const REFERRAL_KEY = "tollgate-referral";
const referredBy = new URLSearchParams(location.search).get("ref");
if (referredBy) sessionStorage.setItem(REFERRAL_KEY, referredBy);

function copyButton(id, source) {
  document.getElementById(id).addEventListener("click", () => {
    navigator.clipboard.writeText(document.getElementById(source).textContent).catch(() => {});
  });
}

async function loadStanding() {
  const me = await api("GET", "/api/me");
  const limit = me.limits.monthly_requests;
  replace("plan", h("p", {}, h("strong", {}, me.plan), " · billing period " + when(me.billing_period.start) + " → " + when(me.billing_period.end)));
  const usage = replace("usage",
    h("p", {}, `${me.used} calls used` + (limit === null ? " (no monthly limit)" : ` of ${limit} · ${me.remaining} left`) + ` · ${me.credits} credits`),
    limit === null ? null : h("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": limit, "aria-valuenow": me.used, "aria-label": "Calls used this period" }, h("span", { id: "usage-fill" })));
  usage.dataset.used = me.used;
  usage.dataset.limit = limit === null ? "" : limit;
  const fill = document.getElementById("usage-fill");
  if (fill) fill.style.width = Math.min(100, limit ? (me.used * 100) / limit : 0) + "%";
  replace("meters", meterBars(me.meters));
  replace("balance", h("p", { "data-testid": "balance", "data-amount-micros": me.balance.amount_micros }, "Balance: " + money(me.balance.amount, me.balance.currency)));
  replace("referral-link", `${location.origin}/account?ref=${encodeURIComponent(me.account_id)}`);
  return me;
}

// The first key an API plan's subscription made is shown here once, as a new key is.
async function loadKeys() {
  const { keys, first_key_waiting: firstKeyWaiting } = await api("GET", "/api/keys");
  if (firstKeyWaiting) {
    const first = await api("POST", "/api/keys/first").catch(() => null);
    if (first) {
      replace("new-key", first.key);
      document.getElementById("new-key-box").hidden = false;
    }
  }
  replace("keys", keys.map((key) => h("tr", { "data-testid": "key-row", "data-id": key.id },
    h("td", {}, h("code", {}, key.prefix + "…")),
    h("td", { class: "optional" }, when(key.created_at)),
    h("td", {}, when(key.last_used_at)),
    h("td", {}, key.revoked_at ? "revoked" : "active"),
    h("td", {}, key.revoked_at ? null : h("button", { type: "button", class: "secondary", "data-testid": "revoke", onclick: () => revoke(key.id) }, "Revoke")))));
}

async function revoke(id) {
  try {
    await api("DELETE", `/api/keys/${encodeURIComponent(id)}`);
    await loadKeys();
  } catch (error) {
    showError(error);
  }
}

async function createKey() {
  try {
    const created = await api("POST", "/api/keys");
    replace("new-key", created.key);
    document.getElementById("new-key-box").hidden = false;
    await loadKeys();
  } catch (error) {
    showError(error);
  }
}

// One field per property of a workflow's input schema: a text box for a string, a number
// box for a number or an integer, a checkbox for a boolean, a list for an enum, and a JSON
// text area for anything else. `read` gives the input back, typed as the schema says.
function inputField(name, schema, required) {
  const id = "input-" + name + "-" + Math.random().toString(36).slice(2, 8);
  const label = h("label", { for: id }, name + (required ? " *" : ""));
  if (Array.isArray(schema.enum)) {
    const select = h("select", { id, name }, schema.enum.map((value) => h("option", { value: JSON.stringify(value) }, String(value))));
    return { element: h("div", { class: "row" }, label, select), read: () => JSON.parse(select.value) };
  }
  if (schema.type === "boolean") {
    const box = h("input", { id, name, type: "checkbox" });
    return { element: h("div", { class: "row" }, label, box), read: () => box.checked };
  }
  if (schema.type === "number" || schema.type === "integer") {
    const box = h("input", { id, name, type: "number", step: schema.type === "integer" ? "1" : "any", required });
    return { element: h("div", { class: "row" }, label, box), read: () => (box.value === "" ? undefined : Number(box.value)) };
  }
  if (schema.type === "string") {
    const box = h("input", { id, name, type: "text", required });
    return { element: h("div", { class: "row" }, label, box), read: () => (box.value === "" ? undefined : box.value) };
  }
  const area = h("textarea", { id, name, rows: 2, placeholder: "JSON" });
  return { element: h("div", { class: "row" }, label, area), read: () => (area.value.trim() === "" ? undefined : JSON.parse(area.value)) };
}

function workflowCard(workflow) {
  const schema = workflow.input_schema || {};
  const required = new Set(schema.required || []);
  const fields = Object.entries(schema.properties || {}).map(([name, property]) => [name, inputField(name, property || {}, required.has(name))]);
  const form = h("form", { "data-workflow": workflow.id },
    fields.map(([, field]) => field.element),
    h("button", { type: "submit", "data-testid": "run-" + workflow.id }, "Run"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const input = {};
      for (const [name, field] of fields) {
        const value = field.read();
        if (value !== undefined) input[name] = value;
      }
      await api("POST", `/v1/workflows/${encodeURIComponent(workflow.id)}/runs`, { input });
    } catch (error) {
      showError(error);
    }
    await loadRuns();
  });
  return h("div", { class: "card", "data-testid": "workflow-" + workflow.id },
    h("strong", {}, workflow.name),
    h("span", { class: "muted" }, `${workflow.cost} ${workflow.meter} a run`),
    form);
}

async function loadWorkflows() {
  const { data } = await api("GET", "/v1/workflows");
  document.getElementById("workflows-empty").hidden = data.length > 0;
  replace("workflows", data.map(workflowCard));
}

// A membership that opens a number of premium workflows lets the member choose them; a
// change counts at once, so the workflows on offer are read again.
async function loadPremium() {
  const premium = await api("GET", "/api/me/premium-workflows");
  const open = premium.workflows.filter((workflow) => workflow.open).map((workflow) => workflow.id);
  replace("premium-summary", premium.membership === null
    ? "A membership opens premium workflows."
    : premium.limit === null
      ? `Your ${premium.membership} membership opens every premium workflow.`
      : `Your ${premium.membership} membership opens ${premium.limit} premium workflows of your choice: ${open.length} chosen.`);
  const choose = async (workflows) => {
    try {
      await api("PUT", "/api/me/premium-workflows", { workflows });
    } catch (error) {
      showError(error);
    }
    await Promise.all([loadPremium(), loadWorkflows()]);
  };
  replace("premium", premium.workflows.length
    ? premium.workflows.map((workflow) => h("tr", { "data-testid": "premium-" + workflow.id, "data-open": String(workflow.open) },
      h("td", {}, workflow.name),
      h("td", {}, workflow.open ? "yes" : "no"),
      h("td", {}, premium.limit === null || premium.membership === null ? null : h("button", {
        type: "button",
        class: workflow.open ? "secondary" : "",
        onclick: () => choose(workflow.open ? open.filter((id) => id !== workflow.id) : [...open, workflow.id]),
      }, workflow.open ? "Unchoose" : "Choose"))))
    : h("tr", {}, h("td", { colspan: 3, class: "muted" }, "No premium workflow yet.")));
}

// A workflow subscription bought with parameters runs on its schedule; its subscriber pauses
// and resumes it here (its runs show among the recent runs).
async function loadInstances() {
  const { data } = await api("GET", "/api/me/workflow-subscriptions");
  const toggle = async (instance) => {
    try {
      await api("PATCH", `/api/me/workflow-subscriptions/${encodeURIComponent(instance.id)}`, { paused: !instance.paused });
    } catch (error) {
      showError(error);
    }
    await loadInstances();
  };
  replace("instances", data.length
    ? data.map((instance) => h("tr", { "data-testid": "instance-" + instance.id, "data-status": instance.status },
      h("td", {}, instance.sku),
      h("td", {}, h("code", {}, JSON.stringify(instance.params))),
      h("td", {}, instance.status),
      h("td", { class: "optional" }, when(instance.next_run)),
      h("td", {}, instance.status === "stopped" ? null : h("button", { type: "button", class: "secondary", onclick: () => toggle(instance) }, instance.paused ? "Resume" : "Pause"))))
    : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No workflow subscription.")));
}

// While a run is queued or started, the list is read again every second, until all have ended.
let runsPoll = null;

async function loadRuns() {
  const { data } = await api("GET", "/v1/runs?limit=10");
  clearTimeout(runsPoll);
  if (data.some((run) => run.status === "queued" || run.status === "started")) {
    runsPoll = setTimeout(() => loadRuns().catch(showError), 1000);
  }
  replace("customer-runs", data.length
    ? data.map((run) => h("tr", { "data-testid": "customer-run-row", "data-id": run.run_id, "data-status": run.status },
      h("td", {}, run.workflow_id),
      h("td", {}, run.status),
      h("td", {}, h("code", { "data-testid": "run-output" }, run.output === null ? (run.error || "—") : JSON.stringify(run.output))),
      h("td", { class: "optional" }, when(run.created_at))))
    : h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No runs yet.")));
}

async function loadEndpoint() {
  const { endpoint, data } = await api("GET", "/api/me/webhook-deliveries");
  document.getElementById("endpoint-url").value = endpoint || "";
  document.getElementById("remove-endpoint").hidden = !endpoint;
  replace("deliveries", data.length
    ? data.map((delivery) => h("tr", { "data-testid": "delivery-row", "data-status": delivery.status },
      h("td", {}, delivery.event),
      h("td", {}, `${delivery.status} (${delivery.attempts})`),
      h("td", { class: "optional" }, delivery.last_response || "—"),
      h("td", {}, delivery.status === "succeeded" ? null
        : h("button", { type: "button", class: "secondary", onclick: () => retryDelivery(delivery.id) }, "Send again"))))
    : h("tr", {}, h("td", { colspan: 4, class: "muted" }, "Nothing delivered yet.")));
}

async function setEndpoint(event) {
  event.preventDefault();
  try {
    const set = await api("PUT", "/api/me/webhook-endpoint", { url: document.getElementById("endpoint-url").value.trim() });
    replace("endpoint-secret", set.secret);
    document.getElementById("endpoint-secret-box").hidden = false;
    await loadEndpoint();
  } catch (error) {
    showError(error);
  }
}

async function removeEndpoint() {
  try {
    await api("DELETE", "/api/me/webhook-endpoint");
    document.getElementById("endpoint-secret-box").hidden = true;
    await loadEndpoint();
  } catch (error) {
    showError(error);
  }
}

async function retryDelivery(id) {
  try {
    await api("POST", `/api/me/webhook-deliveries/${encodeURIComponent(id)}/retry`);
    await loadEndpoint();
  } catch (error) {
    showError(error);
  }
}

async function loadShop(me, catalog) {
  replace("plans", catalog.plans.map((plan) => planCard(plan, plan.tier === me.plan, catalog.buying)));
  if (!catalog.buying) {
    replace("shop", h("p", { class: "muted" }, "Buying is off here: no Stripe API is configured."));
    document.getElementById("portal").hidden = true;
    return;
  }
  document.getElementById("emulated-stripe").hidden = !catalog.emulated_stripe;
  const entitlements = await api("GET", "/api/me/entitlements");
  const current = new Set([me.plan, entitlements.membership].filter(Boolean));
  replace("shop", catalog.items.filter((item) => item.kind !== "api_plan").map((item) => {
    const isCurrent = item.tier && current.has(item.tier);
    return h("div", { class: "card" },
      h("strong", {}, item.name),
      h("span", {}, money(item.price_cents, item.currency) + (item.interval ? " / " + item.interval : "")),
      isCurrent
        ? h("span", { class: "good", "data-testid": "current-" + item.sku }, "Current plan")
        : h("button", { type: "button", "data-testid": "buy-" + item.sku, onclick: () => buy(item.sku) }, item.interval ? "Subscribe" : "Buy"));
  }));
}

// A plan in the comparison: its price, each meter's quota, the current one marked, and an
// upgrade button on the others that are for sale (where this deployment sells).
function planCard(plan, isCurrent, buying) {
  const quota = (meter) => meter.quota === null
    ? `${meter.display}: unlimited`
    : `${meter.display}: ${meter.quota} ${meter.unit}${meter.quota === 1 ? "" : "s"} ${{ day: "a day", month: "a month", period: "a period" }[meter.per]}`
      + (meter.overage === "block" ? "" : `, then ${meter.unit_amount_decimal}¢ each (${meter.overage === "bill" ? "invoiced" : "from the balance"})`);
  return h("div", { class: "card", "data-testid": "plan-card-" + plan.sku, "data-current": isCurrent ? "true" : "false" },
    h("strong", {}, plan.name),
    h("span", {}, money(plan.price_cents, plan.currency) + (plan.interval ? " / " + plan.interval : "")),
    h("ul", {}, plan.meters.map((meter) => h("li", { "data-meter": meter.meter }, quota(meter)))),
    isCurrent
      ? h("span", { class: "good", "data-testid": "current-" + plan.sku }, "Current plan")
      : plan.for_sale && buying ? h("button", { type: "button", "data-testid": "buy-" + plan.sku, onclick: () => buy(plan.sku) }, "Upgrade") : null);
}

async function buy(sku) {
  try {
    const referral = sessionStorage.getItem(REFERRAL_KEY);
    const session = await api("POST", "/api/checkout", referral ? { sku, referral_code: referral } : { sku });
    location.assign(session.url);
  } catch (error) {
    showError(error);
  }
}

async function portal() {
  try {
    location.assign((await api("POST", "/api/portal")).url);
  } catch (error) {
    showError(error);
  }
}

async function loadPurchases() {
  const [{ purchases }, entitlements] = await Promise.all([api("GET", "/api/me/purchases"), api("GET", "/api/me/entitlements")]);
  replace("purchases", purchases.length
    ? purchases.map((purchase) => h("tr", { "data-id": purchase.id },
      h("td", {}, purchase.sku + (purchase.quantity > 1 ? " × " + purchase.quantity : "")),
      h("td", {}, when(purchase.created_at)),
      h("td", {}, purchase.revoked ? "revoked" : purchase.delivery,
        purchase.download_url ? [" · ", h("a", { href: purchase.download_url, rel: "noopener noreferrer", "data-testid": "download-link" }, "Download")] : null)))
    : h("tr", {}, h("td", { colspan: 3, class: "muted" }, "Nothing bought yet.")));
  const open = entitlements.all_premium_workflows ? "every premium workflow" : (entitlements.premium_workflows || []).join(", ") || "no premium workflows";
  replace("entitlements", "Open to you: " + open + (entitlements.community ? " · the community" : "") + (entitlements.priority_support ? " · priority support" : ""));
}

async function loadEarnings(catalog) {
  if (!catalog.payouts) return;
  const payouts = await api("GET", "/api/me/payouts");
  const balance = payouts.balance;
  replace("earnings", h("p", { "data-testid": "commissions" },
    `Earned and held: ${money(balance.pending, payouts.currency)} · available: ${money(balance.available, payouts.currency)} · paid out: ${money(balance.paid, payouts.currency)}`
    + (balance.owed_back ? ` · owed back: ${money(balance.owed_back, payouts.currency)}` : "")),
    payouts.payouts_enabled || !catalog.buying ? null : h("button", { type: "button", class: "secondary", onclick: onboard }, payouts.connected ? "Finish payout setup" : "Set up payouts"));
}

async function onboard() {
  try {
    location.assign((await api("POST", "/api/me/payouts/onboarding")).url);
  } catch (error) {
    showError(error);
  }
}

// Back from Checkout: the plan arrives with Stripe's webhook, a moment after the redirect.
async function afterCheckout() {
  const outcome = new URLSearchParams(location.search).get("checkout");
  if (!outcome) return;
  const notice = document.getElementById("checkout-notice");
  notice.hidden = false;
  if (outcome !== "success") {
    notice.textContent = "Checkout was cancelled: nothing was charged.";
    return;
  }
  notice.textContent = "Payment received. Your purchase appears here as soon as Stripe confirms it.";
  for (let attempt = 0; attempt < 10; attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await Promise.all([loadStanding(), loadPurchases()]);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("create-key").addEventListener("click", createKey);
  document.getElementById("portal").addEventListener("click", portal);
  copyButton("copy-key", "new-key");
  copyButton("copy-referral", "referral-link");
  copyButton("copy-endpoint-secret", "endpoint-secret");
  document.getElementById("endpoint-form").addEventListener("submit", setEndpoint);
  document.getElementById("remove-endpoint").addEventListener("click", removeEndpoint);
  signIn(async () => {
    const [me, catalog] = await Promise.all([loadStanding(), api("GET", "/api/catalog")]);
    await Promise.all([
      loadKeys(), loadWorkflows(), loadPremium(), loadInstances(), loadRuns(), loadEndpoint(), loadShop(me, catalog), loadPurchases(),
      loadEarnings(catalog),
    ]);
    await afterCheckout();
  });
});
