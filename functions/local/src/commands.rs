//! The operator's one-shot commands beside `tollgate dev`: a reconciliation and a payout
//! run on the data directory's database, and moving the emulated Stripe's time on.

use crate::config::{DevConfig, StripeAccess, stripe_client};
use crate::dev::open_store;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tollgate_app::SystemClock;
use tollgate_app::payouts::{PayoutReport, PayoutRun};
use tollgate_app::reconcile::{Reconciled, Reconciler};
use tollgate_core::payout::Period;

/// `tollgate reconcile`: one reconciliation on the data directory's database, with the
/// configured Stripe client and alert webhook.
pub async fn reconcile(
    data_dir: &Path,
    addr: SocketAddr,
    config: &DevConfig,
    since: Option<i64>,
) -> Result<Reconciled, Box<dyn std::error::Error>> {
    let stripe = stripe_client(&config.stripe_api(addr).ok_or("reconcile needs STRIPE_SECRET_KEY")?)?;
    let reconciler = Reconciler {
        store: open_store(data_dir)?,
        clock: Arc::new(SystemClock),
        stripe: Arc::new(stripe),
        alerting: config.alerting(Arc::new(tollgate_outbound::HttpClient::new()?)),
    };
    Ok(reconciler.reconcile(since).await?)
}

/// `tollgate payouts run`: one payout run on the data directory's database, with the
/// configured Stripe client and alert webhook.
pub async fn run_payouts(
    data_dir: &Path,
    addr: SocketAddr,
    config: &DevConfig,
    period: Option<Period>,
    dry_run: bool,
) -> Result<PayoutReport, Box<dyn std::error::Error>> {
    let stripe = stripe_client(&config.stripe_api(addr).ok_or("payouts need STRIPE_SECRET_KEY")?)?;
    let payout_run = PayoutRun {
        store: open_store(data_dir)?,
        clock: Arc::new(SystemClock),
        transfers: Arc::new(stripe),
        policy: config.payout_policy,
        alerting: config.alerting(Arc::new(tollgate_outbound::HttpClient::new()?)),
    };
    Ok(payout_run.run(period, dry_run).await?)
}

/// `tollgate stripe advance`: asks the running stack's emulated Stripe to move subscriptions
/// on; answers what it did, as it said it.
pub async fn advance(
    emulated: &StripeAccess,
    by_seconds: i64,
    customer: Option<&str>,
) -> Result<String, Box<dyn std::error::Error>> {
    let by = format!("{by_seconds}s");
    let mut form = vec![("by", by.as_str())];
    form.extend(customer.map(|customer| ("customer", customer)));
    let answer = reqwest::Client::new()
        .post(format!("{}emulator/advance", emulated.base))
        .bearer_auth(secrecy::ExposeSecret::expose_secret(&emulated.key))
        .form(&form)
        .send()
        .await
        .map_err(|error| format!("is `tollgate dev` running at {}? {error}", emulated.base))?;
    let ok = answer.status().is_success();
    let body: serde_json::Value = answer.json().await?;
    if !ok {
        return Err(body["error"]["message"].as_str().unwrap_or("the emulated Stripe refused").into());
    }
    let count = |field: &str| body[field].as_array().map_or(0, Vec::len);
    Ok(format!("renewed {} subscription(s), {} new invoice(s)", count("renewed"), count("invoices")))
}
