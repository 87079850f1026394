//! What `tollgate dev` prints at start: where it listens, the ready console and account
//! links, and the development secrets it generated.

use crate::config::{DevConfig, Origin, StripeSetup};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// The account the printed account link signs in as.
const DEMO_USER: &str = "user_demo";

pub(crate) fn greet(
    addr: SocketAddr,
    public: &str,
    data_dir: &Path,
    tick: Duration,
    config: &DevConfig,
    stripe_chaos: bool,
    (health_urls, health_every): (&[String], Duration),
) {
    println!("tollgate dev is listening on http://{addr}");
    if !addr.ip().is_loopback() {
        // Development secrets and ready admin links are printed below: fine on loopback only.
        println!("  WARNING:   listening beyond loopback: whoever reaches http://{addr} can use the development");
        println!("             secrets and the admin link below; links use {public} (set PUBLIC_URL to the address");
        println!("             others reach this stack at)");
        tracing::warn!(%addr, public, "tollgate dev listens beyond loopback");
    }
    // Ready links (the token in the fragment, which the browser never sends) only with the
    // generated development secret; with a configured one, the pages ask for a token.
    if config.jwt_secret_origin == Origin::Generated {
        let admin = config.token("operator", Some("admin"), 12 * 3600).unwrap_or_default();
        let demo = config.token(DEMO_USER, None, 12 * 3600).unwrap_or_default();
        println!("  console:   {public}/console#token={admin}");
        println!("  account:   {public}/account#token={demo}   ({DEMO_USER})");
    } else {
        println!("  console:   {public}/console   account: {public}/account   (sign in with a token)");
    }
    println!("  data:      {}", data_dir.display());
    println!("  workflows: ticking every {} s; callbacks on {public}/webhooks/workflows/{{runId}}", tick.as_secs());
    println!(
        "  health:    {} every {} s (two failures in a row: endpoint_down)",
        health_urls.join(", "),
        health_every.as_secs()
    );
    println!("  webhooks:  {public}/webhooks/stripe");
    println!("             stripe listen --forward-to {public}/webhooks/stripe");
    if config.webhook_secret_origin == Origin::Generated {
        let secret = config.signing_secret.expose();
        println!("  STRIPE_WEBHOOK_SECRET is not set; using a development secret:");
        println!("             {secret}");
        println!("             (set STRIPE_WEBHOOK_SECRET to the whsec_ that `stripe listen` prints to use its)");
    }
    println!("  API keys:  POST {public}/api/keys (JWT), then call {public}/v1/… with the key");
    match &config.upstream_url {
        Some(upstream) => println!("             allowed /v1 calls are forwarded to {upstream}"),
        None => println!("             UPSTREAM_URL is not set: allowed /v1 calls are answered here"),
    }
    if config.edge_secret_origin == Origin::Generated {
        println!(
            "  EDGE_SECRET is not set; a development secret is kept in {}",
            data_dir.join("edge-secret").display()
        );
    }
    if config.jwt_secret_origin == Origin::Generated {
        println!("  JWT_SECRET is not set; a development secret is kept in {}", data_dir.join("jwt-secret").display());
        println!("  admin token (1 h):  {}", config.token("operator", Some("admin"), 3600).unwrap_or_default());
        println!("             curl -H \"Authorization: Bearer $(tollgate token --role admin)\" {public}/admin/events");
    }
    match &config.stripe {
        StripeSetup::Emulated { .. } => {
            println!(
                "  Stripe:    pay with 4242 4242 4242 4242 on the local Checkout; 4000 0000 0000 0002 is declined"
            );
            println!("             tollgate stripe advance 31d · tollgate stripe refund pi_… · tollgate payouts run");
            if stripe_chaos {
                println!("             chaos: every event is delivered twice, out of order");
            }
            println!("  Stripe API: emulated at {public}/stripe/ (no account, no network; --stripe real for Stripe)");
        }
        StripeSetup::Real(Some(stripe)) => {
            println!("  Stripe API: {} (checkout: {public}/api/checkout)", stripe.base)
        }
        StripeSetup::Real(None) => {
            println!("  Stripe API: not configured (STRIPE_SECRET_KEY is not set; /api/checkout is off)")
        }
    }
}
