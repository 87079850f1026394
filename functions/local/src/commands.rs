//! The operator's one-shot commands beside `tollgate dev`: a reconciliation and a payout
//! run on the data directory's database, and moving the emulated Stripe's time on.

use crate::compose::{Paid, UseCases};
use crate::config::{DevConfig, StripeAccess, stripe_client};
use crate::dev::open_store;
use std::error::Error;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tollgate_app::payouts::PayoutReport;
use tollgate_app::reconcile::Reconciled;
use tollgate_core::payout::Period;

/// The use cases that call Stripe, as `tollgate dev` builds them, on the data directory's
/// database and the configured Stripe; `needs` says why there is none.
fn paid(data_dir: &Path, addr: SocketAddr, config: &DevConfig, needs: &'static str) -> Result<Paid, Box<dyn Error>> {
    let stripe = Arc::new(stripe_client(&config.stripe_api(addr).ok_or(needs)?)?);
    let use_cases = UseCases::build(config, &config.public_base(addr), &open_store(data_dir)?, Some(&stripe))?;
    Ok(use_cases.paid.ok_or(needs)?)
}

/// `tollgate reconcile`: one reconciliation on the data directory's database, with the
/// configured Stripe client and alert webhook.
pub async fn reconcile(
    data_dir: &Path,
    addr: SocketAddr,
    config: &DevConfig,
    since: Option<i64>,
) -> Result<Reconciled, Box<dyn Error>> {
    let paid = paid(data_dir, addr, config, "reconcile needs STRIPE_SECRET_KEY")?;
    Ok(paid.reconciler.reconcile(since).await?)
}

/// `tollgate payouts run`: one payout run on the data directory's database, with the
/// configured Stripe client and alert webhook.
pub async fn run_payouts(
    data_dir: &Path,
    addr: SocketAddr,
    config: &DevConfig,
    period: Option<Period>,
    dry_run: bool,
) -> Result<PayoutReport, Box<dyn Error>> {
    let paid = paid(data_dir, addr, config, "payouts need STRIPE_SECRET_KEY")?;
    Ok(paid.payout_run.run(period, dry_run).await?)
}

/// `tollgate stripe advance`: asks the running stack's emulated Stripe to move subscriptions
/// on; answers what it did, as it said it.
pub async fn advance(
    emulated: &StripeAccess,
    by_seconds: i64,
    customer: Option<&str>,
) -> Result<String, Box<dyn Error>> {
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
