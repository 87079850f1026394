// The operator's console: key figures, charts drawn as SVG here (a few rectangles need no
// chart library), workflows with their controls, the event log, customers and alerts. The
// activity feed is live: Server-Sent Events on the local stack (opened with a single-use
// ticket, since EventSource sends no Authorization header), else `/admin/activity` polled
// every 5 s with its ETag. Whatever arrives also refreshes the figures; on the stream,
// `metric:updated` carries them.
"use strict";

const POLL_MS = 5000;
const KINDS = ["event:received", "payment:received", "workflow:started", "workflow:completed", "workflow:failed", "alert:raised"];
let refreshing = null;
// What the key figures show besides /admin/metrics: runs in flight, failed events, alerts.
let counts = { running: 0, failed: 0, alerts: 0 };

function show(section) {
  for (const element of document.querySelectorAll("[data-section]")) element.hidden = element.dataset.section !== section;
  const loaders = { workflows: loadWorkflows, events: loadEvents, alerts: loadAlerts };
  if (loaders[section]) loaders[section]().catch(showError);
}

function kpi(testid, label, value, detail) {
  return h("div", { class: "kpi", "data-testid": testid }, h("div", { class: "label" }, label), h("div", { class: "value" }, value),
    detail ? h("div", { class: "label" }, detail) : null);
}

// Payments net of refunds, plus workflow earnings.
function revenue(day) {
  return day.subscriptions_cents + day.sales_cents + day.revenue_cents;
}

function sum(days, count, of) {
  return days.slice(0, count).reduce((total, day) => total + of(day), 0);
}

// A row's name: a day, or an hour's or a month's period.
function nameOf(row) {
  return row.day || row.period;
}

// Completed checkouts per started one over the days, as a percentage; "–" with none started.
function conversion(days) {
  const started = sum(days, days.length, (day) => day.checkouts_started);
  const completed = sum(days, days.length, (day) => day.checkouts_completed);
  return started ? (Math.round((completed * 1000) / started) / 10).toFixed(1) + "%" : "–";
}

function barChart(days, series, label) {
  const width = 600, height = 160, gap = 2;
  const oldestFirst = days.slice().reverse();
  const totals = oldestFirst.map((day) => series.reduce((total, [field]) => total + Math.max(0, day[field]), 0));
  const top = Math.max(1, ...totals);
  const step = width / oldestFirst.length;
  const bars = [];
  oldestFirst.forEach((day, index) => {
    let y = height;
    for (const [field, css] of series) {
      const value = Math.max(0, day[field]);
      const barHeight = (value / top) * (height - 12);
      y -= barHeight;
      if (barHeight > 0) {
        bars.push(svg("rect", { class: css, x: (index * step + gap / 2).toFixed(1), y: y.toFixed(1), width: (step - gap).toFixed(1), height: barHeight.toFixed(1) },
          svg("title", {}, document.createTextNode(nameOf(day) + ": " + value))));
      }
    }
  });
  const first = oldestFirst[0], last = oldestFirst[oldestFirst.length - 1];
  return svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height + 14}`, role: "img", "aria-label": label },
    ...bars,
    svg("text", { x: 0, y: height + 12 }, document.createTextNode(first ? nameOf(first) : "")),
    svg("text", { x: width, y: height + 12, "text-anchor": "end" }, document.createTextNode(last ? nameOf(last) : "")));
}

async function loadOverview() {
  const [metrics, workflows, events, alerts] = await Promise.all([
    api("GET", "/admin/metrics"), api("GET", "/admin/workflows"), api("GET", "/admin/events?limit=500"), api("GET", "/admin/alerts"),
  ]);
  counts = {
    running: workflows.workflows.filter((workflow) => workflow.state === "running").length,
    failed: events.events.filter((event) => event.status === "failed").length,
    alerts: alerts.alerts.filter((alert) => alert.state !== "resolved").length,
  };
  showFigures(metrics);
}

// The figures of /admin/metrics, as loaded or as the stream's `metric:updated` says.
function showFigures(metrics) {
  const days = metrics.revenue_by_day;
  const currency = metrics.currency;
  replace("kpis",
    kpi("kpi-revenue-today", "Revenue today", money(sum(days, 1, revenue), currency)),
    kpi("kpi-revenue-7d", "Revenue 7 days", money(sum(days, 7, revenue), currency)),
    kpi("kpi-revenue-30d", "Revenue 30 days", money(sum(days, 30, revenue), currency)),
    kpi("kpi-mrr", "MRR", money(metrics.mrr_cents, currency)),
    kpi("kpi-subscriptions", "Active subscriptions", metrics.active_subscriptions,
      metrics.subscriptions_by_tier.map((count) => `${count.tier} ${count.kind === "membership" ? "member" : "plan"}: ${count.active}`).join(", ")),
    kpi("kpi-runs-today", "Runs today / daily cap", (days.length ? days[0].starts : 0) + capOf(metrics.daily_run_cap)),
    kpi("kpi-runs-in-flight", "Runs in flight / cap", counts.running + capOf(metrics.concurrent_run_cap)),
    kpi("kpi-conversion-30d", "Checkout conversion 30 days", conversion(days),
      `${sum(days, 30, (day) => day.checkouts_completed)} of ${sum(days, 30, (day) => day.checkouts_started)} checkouts paid`),
    kpi("kpi-active-accounts", "Active accounts today / 30 days", (days.length ? days[0].active_accounts : 0) + " / " + metrics.active_accounts_30d),
    kpi("kpi-failed-events", "Failed events", counts.failed),
    kpi("kpi-alerts", "Open alerts", counts.alerts));
  document.querySelector('[data-testid="kpi-revenue-30d"]').dataset.cents = sum(days, 30, revenue);
  replace("revenue-chart", barChart(days, [["subscriptions_cents", "sub"], ["sales_cents", "sale"], ["revenue_cents", "work"]], "Revenue per day by source, last 30 days"));
  replace("runs-chart", barChart(days, [["completed", "ok"], ["failed", "ko"]], "Runs per day, completed and failed"));
  replace("revenue-hour-chart", barChart(metrics.revenue_by_hour, [["revenue_cents", "work"]], "Revenue per hour, last 48 hours"));
  replace("revenue-month-chart", barChart(metrics.revenue_by_month, [["revenue_cents", "sub"]], "Revenue per month, last 12 months"));
  // Completed checkouts drawn in front of the started ones they are part of.
  const checkouts = days.map((day) => ({ day: day.day, paid: day.checkouts_completed, open: Math.max(0, day.checkouts_started - day.checkouts_completed) }));
  replace("checkouts-chart", barChart(checkouts, [["paid", "ok"], ["open", "sale"]], "Checkouts per day, paid and not"));
  replace("active-chart", barChart(days, [["active_accounts", "sub"]], "Active accounts per day"));
}

function capOf(cap) {
  return cap === null || cap === undefined ? "" : " / " + cap;
}

// Refreshes the figures once for a burst of news.
function refreshSoon() {
  if (refreshing) return;
  refreshing = setTimeout(() => {
    refreshing = null;
    loadOverview().catch(showError);
  }, 250);
}

function activityItem(item, fresh) {
  return h("li", { "data-testid": "activity-item", "data-id": item.id, "data-kind": item.kind, class: fresh ? "fresh" : null },
    h("span", { class: "muted" }, when(item.at) + " "), h("strong", {}, item.kind + " "), item.text);
}

function showItem(item) {
  const feed = document.getElementById("activity");
  const existing = feed.querySelector(`[data-id="${CSS.escape(item.id)}"]`);
  if (existing) existing.remove();
  feed.prepend(activityItem(item, true));
  while (feed.children.length > 50) feed.lastElementChild.remove();
  refreshSoon();
}

async function live() {
  try {
    const { ticket } = await api("POST", "/admin/stream-tickets");
    const source = new EventSource("/admin/stream?ticket=" + encodeURIComponent(ticket));
    source.addEventListener("ready", () => {
      document.getElementById("live").textContent = "· live";
      // What happened between the first load and the stream's start.
      loadActivity().then(refreshSoon).catch(showError);
    });
    for (const kind of KINDS) source.addEventListener(kind, (message) => showItem(JSON.parse(message.data)));
    source.addEventListener("metric:updated", (message) => showFigures(JSON.parse(message.data)));
    source.onerror = () => {
      // A ticket opens the stream once: reconnect with a new one.
      source.close();
      document.getElementById("live").textContent = "· reconnecting";
      setTimeout(live, 1000);
    };
  } catch (error) {
    if (error.status !== 404) throw error;
    poll("");
  }
}

// Where no stream is served (the cloud): the feed every 5 s, answered 304 while unchanged.
async function poll(etag) {
  let next = etag;
  try {
    const headers = { authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY) };
    if (etag) headers["if-none-match"] = etag;
    const response = await fetch("/admin/activity", { headers, cache: "no-store" });
    if (response.status === 200) {
      const feed = await response.json();
      next = response.headers.get("etag") || "";
      replace("activity", feed.items.map((item) => activityItem(item, false)));
      if (etag) refreshSoon();
    }
    document.getElementById("live").textContent = "· every 5 s";
  } catch (error) {
    document.getElementById("live").textContent = "· reconnecting";
  }
  setTimeout(() => poll(next), POLL_MS);
}

async function loadActivity() {
  const feed = await api("GET", "/admin/activity");
  replace("activity", feed.items.map((item) => activityItem(item, false)));
}

async function loadWorkflows() {
  const [{ workflows }, metrics] = await Promise.all([api("GET", "/admin/workflows"), api("GET", "/admin/metrics")]);
  // Execution time over the last 30 days, start to callback, as the server counts it.
  const timing = new Map(metrics.workflows.map((figures) => [figures.workflow_id,
    figures.mean_seconds === null ? "—" : `${figures.mean_seconds} s (p95 ${figures.p95_seconds} s)`]));
  replace("workflows", workflows.map((workflow) => {
    const ended = workflow.totals.completed + workflow.totals.failed;
    const success = ended ? Math.round((workflow.totals.completed * 100) / ended) + "%" : "—";
    const act = (label, testid, run) => h("button", { type: "button", class: "secondary", "data-testid": testid, onclick: () => run().then(loadWorkflows).catch(showError) }, label);
    return h("tr", { "data-testid": "workflow-row", "data-id": workflow.id },
      h("td", {}, h("button", { type: "button", class: "secondary", onclick: () => loadRuns(workflow.id).catch(showError) }, workflow.name || workflow.id)),
      h("td", { class: "optional" }, workflow.schedule ? workflow.schedule.cron + " " + workflow.schedule.timezone : "sold: run by customers"),
      h("td", { class: "optional" }, workflow.enabled ? when(workflow.next_run) : "paused"),
      h("td", {}, workflow.enabled ? workflow.state : "paused"),
      h("td", { class: "optional", "data-role": "last-result" }, "…"),
      h("td", { class: "optional" }, workflow.consecutive_failures),
      h("td", { class: "optional" }, success),
      h("td", { class: "optional", "data-role": "mean-duration" }, timing.get(workflow.id) || "—"),
      h("td", {}, money(workflow.totals.revenue_cents, "usd")),
      h("td", { class: "row" },
        act("Run now", "run-now", () => api("POST", `/admin/workflows/${encodeURIComponent(workflow.id)}/run`)),
        workflow.enabled
          ? act("Pause", "pause", () => api("PATCH", `/admin/workflows/${encodeURIComponent(workflow.id)}`, { enabled: false }))
          : act("Resume", "resume", () => api("PATCH", `/admin/workflows/${encodeURIComponent(workflow.id)}`, { enabled: true }))));
  }));
  for (const workflow of workflows) fillLastResult(workflow.id).catch(() => {});
  const sold = metrics.workflows.filter((figures) => figures.sold);
  replace("sold-workflows", sold.length
    ? sold.map(({ workflow_id: id, sold: figures }) => h("tr", { "data-testid": "sold-" + id },
      h("td", {}, id),
      h("td", { "data-role": "runs-by-day" }, figures.runs_by_day.map((day) => day.runs).join(" · ")),
      h("td", { "data-role": "success" }, figures.success_rate_bp === null ? "—" : (figures.success_rate_bp / 100).toFixed(2) + "%"),
      h("td", { class: "optional", "data-role": "mean-duration" }, figures.mean_seconds === null ? "—" : figures.mean_seconds + " s"),
      h("td", {}, money(figures.revenue_cents, "usd")),
      h("td", { "data-role": "subscribers" }, figures.active_subscribers),
      h("td", { class: "optional", "data-role": "customers" }, figures.customers.map((customer) => `${customer.account_id} (${customer.runs})`).join(", ") || "—")))
    : h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No workflow is sold yet.")));
}

async function fillLastResult(id) {
  const { runs } = await api("GET", `/admin/workflows/${encodeURIComponent(id)}/runs`);
  const row = document.querySelector(`tr[data-testid="workflow-row"][data-id="${CSS.escape(id)}"]`);
  if (!row) return;
  const last = runs.find((run) => run.status === "completed" || run.status === "failed");
  row.querySelector('[data-role="last-result"]').textContent = last ? last.status + (last.reason ? ": " + last.reason : "") : "—";
}

async function loadRuns(id) {
  const { runs } = await api("GET", `/admin/workflows/${encodeURIComponent(id)}/runs`);
  replace("runs", h("h2", {}, "Runs of " + id), h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Run"), h("th", {}, "Status"), h("th", {}, "Duration"), h("th", {}, "Earnings"), h("th", {}, "Reason"))),
    h("tbody", {}, runs.map((run) => h("tr", { "data-testid": "run-row", "data-id": run.id },
      h("td", {}, when(run.created_at)), h("td", {}, run.status),
      h("td", {}, run.finished_at && run.started_at ? run.finished_at - run.started_at + " s" : "—"),
      h("td", {}, money(run.earnings_cents, "usd")), h("td", {}, run.reason || ""))))));
}

async function loadEvents() {
  const { events } = await api("GET", "/admin/events?limit=500");
  const status = document.getElementById("event-status").value;
  const type = document.getElementById("event-type").value.trim();
  replace("events", events
    .filter((event) => (!status || event.status === status) && (!type || event.type.includes(type)))
    .map((event) => h("tr", { "data-testid": "event-row", "data-id": event.id },
      h("td", {}, event.id), h("td", {}, event.type),
      h("td", { class: event.status === "failed" ? "bad" : event.status === "skipped" ? "warn" : null }, event.status),
      h("td", { class: "optional" }, when(event.received_at)), h("td", {}, event.detail || ""))));
}

// Open alerts first, then acknowledged, then resolved; newest first within each.
const ALERT_ORDER = { open: 0, acknowledged: 1, resolved: 2 };

async function loadAlerts() {
  const { alerts } = await api("GET", "/admin/alerts");
  alerts.sort((a, b) => ALERT_ORDER[a.state] - ALERT_ORDER[b.state] || b.created_at - a.created_at);
  const act = (alert, label, testid, path) => h("button", {
    type: "button", class: "secondary", "data-testid": testid,
    onclick: () => api("POST", `/admin/alerts/${encodeURIComponent(alert.id)}/${path}`).then(loadAlerts).catch(showError),
  }, label);
  replace("alerts", alerts.map((alert) => h("tr", { "data-testid": "alert-row", "data-id": alert.id, "data-state": alert.state },
    h("td", {}, when(alert.created_at)), h("td", {}, alert.kind), h("td", {}, alert.message),
    h("td", { class: alert.state === "open" ? "bad" : null }, alert.state + (alert.note ? ": " + alert.note : "")),
    h("td", { class: "row" },
      alert.state === "open" ? act(alert, "Acknowledge", "ack", "ack") : null,
      alert.state !== "resolved" ? act(alert, "Resolve", "resolve", "resolve") : null))));
}

// The emulated Stripe of `tollgate dev` can renew a customer's subscriptions at once.
let emulatedStripe = null;

async function advanceCustomer(customer, account) {
  const { renewed, invoices } = await api("POST", `/admin/customers/${encodeURIComponent(customer)}/advance`);
  await loadAccount(account);
  document.getElementById("advance-result").textContent =
    `Renewed ${renewed.length} subscription(s) with ${invoices.length} invoice(s); their events are on their way.`;
}

async function loadAccount(query) {
  if (emulatedStripe === null) emulatedStripe = (await api("GET", "/api/catalog")).emulated_stripe;
  const id = query.startsWith("cus_")
    ? (await api("GET", `/admin/customers/${encodeURIComponent(query)}`)).account_id
    : query;
  const path = `/admin/accounts/${encodeURIComponent(id)}`;
  const [detail, ledger, standing, keys, purchases, referrals, instances] = await Promise.all([
    api("GET", path), api("GET", `/admin/ledger?account=${encodeURIComponent(id)}`),
    api("GET", path + "/standing"), api("GET", path + "/keys"), api("GET", path + "/purchases"),
    api("GET", path + "/referrals"), api("GET", path + "/workflow-subscriptions"),
  ]);
  const field = (label, value) => h("tr", {}, h("th", {}, label), h("td", {}, value === null || value === undefined ? "—" : value));
  const limit = standing.limits.monthly_requests;
  const bar = limit === null ? null : h("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": limit, "aria-valuenow": standing.used, "aria-label": "Calls used this period" }, h("span", { "data-role": "fill" }));
  const table = (headings, rows) => h("table", {}, h("thead", {}, h("tr", {}, headings.map((heading) => h("th", {}, heading)))), h("tbody", {}, rows));
  const earned = ledger.entries.filter((entry) => entry.kind === "commission" || entry.kind === "commission_reversal");
  replace("account-detail",
    table(["", ""], [
      field("Account", detail.account_id), field("Stripe customer", detail.stripe_customer_id),
      field("Plan", detail.plan), field("Membership", detail.membership),
      field("Subscription", detail.subscription_status),
      field("Period", detail.current_period_start ? when(detail.current_period_start) + " → " + when(detail.current_period_end) : null),
      field("Referred by", detail.referred_by),
      field("Referred", referrals.referred.length ? referrals.referred.join(", ") : null),
      field("Usage", `${standing.used}` + (limit === null ? " (no monthly limit)" : ` of ${limit}`)),
      field("Credits", standing.credits),
      field("Balance", money(standing.balance.amount, standing.balance.currency)),
      field("Referral commissions", money(earned.reduce((total, entry) => total + entry.amount_cents, 0), "usd")),
    ]),
    bar,
    h("h2", {}, "Usage per meter"),
    meterBars(standing.meters),
    emulatedStripe && detail.stripe_customer_id
      ? h("p", {}, h("button", { type: "button", "data-testid": "advance-customer", "data-customer": detail.stripe_customer_id },
          "Advance to the next period (emulated Stripe)"), " ", h("span", { id: "advance-result", role: "status" }))
      : null,
    h("h2", {}, "Keys"),
    table(["Key", "Created", "Last used", "State"], keys.keys.map((key) => h("tr", { "data-id": key.id },
      h("td", {}, h("code", {}, key.prefix + "…")), h("td", {}, when(key.created_at)), h("td", {}, when(key.last_used_at)),
      h("td", {}, key.revoked_at ? "revoked " + when(key.revoked_at) : "active")))),
    h("h2", {}, "Workflow subscriptions"),
    table(["Subscription", "Workflow", "Status", "Next run"], instances.data.map((instance) => h("tr", { "data-testid": "instance-row", "data-id": instance.id, "data-status": instance.status },
      h("td", {}, instance.sku), h("td", {}, instance.workflow_id), h("td", {}, instance.status), h("td", {}, when(instance.next_run))))),
    h("h2", {}, "Purchases"),
    table(["What", "When", "Delivery"], purchases.purchases.map((purchase) => h("tr", { "data-id": purchase.id },
      h("td", {}, purchase.sku), h("td", {}, when(purchase.created_at)), h("td", {}, purchase.revoked ? "revoked" : purchase.delivery)))),
    h("h2", {}, "Ledger"),
    table(["When", "Kind", "Amount", "Payment"], ledger.entries.map((entry) => h("tr", { "data-id": entry.id },
      h("td", {}, when(entry.at)), h("td", {}, entry.kind), h("td", {}, money(entry.amount_cents, entry.currency)),
      h("td", {}, entry.payment_ref)))));
  const advance = document.querySelector('[data-testid="advance-customer"]');
  if (advance) advance.addEventListener("click", () => advanceCustomer(advance.dataset.customer, id).catch(showError));
  const fill = document.querySelector('#account-detail [data-role="fill"]');
  if (fill) fill.style.width = Math.min(100, limit ? (standing.used * 100) / limit : 0) + "%";
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-show]")) button.addEventListener("click", () => show(button.dataset.show));
  document.getElementById("event-status").addEventListener("change", () => loadEvents().catch(showError));
  document.getElementById("event-type").addEventListener("input", () => loadEvents().catch(showError));
  document.getElementById("account-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadAccount(document.getElementById("account-search").value.trim()).catch(showError);
  });
  signIn(async () => {
    await Promise.all([loadOverview(), loadActivity()]);
    await live();
  });
});
