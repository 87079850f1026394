//! `tollgate`: every tollgate function in one process on SQLite, and the operator commands.

mod commands;
mod compose;
mod config;
mod dev;
mod gateway;
mod greeting;
mod serve;
mod worker;

use clap::{Args, Parser, Subcommand};
use config::{DevConfig, StripeMode};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "tollgate", version, about = "tollgate: API keys, Stripe billing and paid workflows")]
struct Cli {
    /// Which Stripe to talk to: `tollgate dev`'s emulated one, or Stripe at `STRIPE_API_BASE`
    /// with `STRIPE_SECRET_KEY` (default: real when that key is set, else emulated).
    #[arg(long, env = "TOLLGATE_STRIPE", global = true, value_enum)]
    stripe: Option<StripeMode>,
    #[command(subcommand)]
    command: Command,
}

/// Where a running `tollgate dev` keeps its data and answers (its emulated Stripe is there).
#[derive(Args)]
struct Stack {
    #[arg(long, env = "TOLLGATE_DATA_DIR", default_value = ".tollgate")]
    data_dir: PathBuf,
    /// The address `tollgate dev` listens on.
    #[arg(long, env = "TOLLGATE_ADDR", default_value = "127.0.0.1:8080")]
    addr: std::net::SocketAddr,
}

#[derive(Subcommand)]
enum Command {
    /// Run every function on one address, on SQLite under the data directory.
    Dev {
        /// Address to listen on.
        #[arg(long, env = "TOLLGATE_ADDR", default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// Where the database and generated development secrets live.
        #[arg(long, env = "TOLLGATE_DATA_DIR", default_value = ".tollgate")]
        data_dir: PathBuf,
        /// Seconds between orchestrator ticks (EventBridge ticks every minute in the cloud).
        #[arg(long, env = "TOLLGATE_TICK_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
        tick: u64,
        /// The emulated Stripe delivers every event twice, out of order.
        #[arg(long, env = "TOLLGATE_STRIPE_CHAOS")]
        stripe_chaos: bool,
    },
    /// Print a `Stripe-Signature` header for a payload file, signed now with the webhook secret
    /// (`STRIPE_WEBHOOK_SECRET`, else the development one), to try deliveries with curl.
    Sign {
        payload: PathBuf,
        #[arg(long, env = "TOLLGATE_DATA_DIR", default_value = ".tollgate")]
        data_dir: PathBuf,
    },
    /// Operator commands on the catalog file.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Print a signed JWT for calling the API (admin endpoints need `--role admin`).
    Token {
        /// The account id (`sub`).
        #[arg(long, default_value = "operator")]
        sub: String,
        #[arg(long)]
        role: Option<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
        /// Where `tollgate dev` keeps its generated secrets, used when JWT_SECRET is not set.
        #[arg(long, env = "TOLLGATE_DATA_DIR", default_value = ".tollgate")]
        data_dir: PathBuf,
    },
    /// Print the OpenAPI 3.1 document of the HTTP API (what `GET /openapi.json` serves).
    Openapi,
    /// List Stripe's events and queue those no webhook delivered; a running `tollgate dev`
    /// applies them (else its next start does).
    Reconcile {
        /// How far back to list (`72h`, `30m`, `7d`); default: from where the last run stopped, less an hour.
        #[arg(long, value_parser = tollgate_app::reconcile::parse_since)]
        since: Option<i64>,
        #[command(flatten)]
        stack: Stack,
    },
    /// The emulated Stripe of a running `tollgate dev`.
    Stripe {
        #[command(subcommand)]
        command: StripeCommand,
    },
    /// Partners' payouts through Stripe Connect.
    Payouts {
        #[command(subcommand)]
        command: PayoutsCommand,
    },
}

#[derive(Subcommand)]
enum PayoutsCommand {
    /// Pay every partner with payouts enabled their available balance (at least
    /// `PAYOUT_MINIMUM_CENTS`), one transfer each, once per period; a rerun pays nobody twice.
    Run {
        /// The month paid for, `YYYY-MM`; default the current one.
        #[arg(long, value_parser = |text: &str| tollgate_core::payout::Period::parse(text).map_err(|e| e.to_string()))]
        period: Option<tollgate_core::payout::Period>,
        /// Print what would be paid, and pay nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        stack: Stack,
    },
}

#[derive(Subcommand)]
enum StripeCommand {
    /// Move subscriptions whose period ends within BY (`31d`, `1h`) on to their next period
    /// now: renewals, invoices, quota resets and commissions, in a minute.
    Advance {
        #[arg(value_parser = tollgate_app::reconcile::parse_since)]
        by: i64,
        /// Only this customer's subscriptions (`cus_…`).
        #[arg(long)]
        customer: Option<String>,
        #[command(flatten)]
        stack: Stack,
    },
    /// Refund a payment (`pi_…` or `ch_…`): all that is left of it, or `--amount` cents.
    Refund {
        payment: String,
        #[arg(long)]
        amount: Option<i64>,
        #[command(flatten)]
        stack: Stack,
    },
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Create or update Stripe products and prices from the catalog (`CATALOG_PATH`), keyed
    /// by lookup key, with `STRIPE_SECRET_KEY` at `STRIPE_API_BASE`. A second run changes nothing.
    Sync {
        /// Print the changes without making them.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        stack: Stack,
    },
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let load = |data_dir: &std::path::Path| DevConfig::load(data_dir, cli.stripe);
    match cli.command {
        Command::Dev { addr, data_dir, tick, stripe_chaos } => {
            let config = load(&data_dir)?;
            dev::run(addr, &data_dir, std::time::Duration::from_secs(tick), config, stripe_chaos).await?;
        }
        Command::Sign { payload, data_dir } => {
            let config = load(&data_dir)?;
            println!("{}", config.sign(&std::fs::read(payload)?));
        }
        Command::Catalog { command: CatalogCommand::Sync { dry_run, stack } } => {
            let config = load(&stack.data_dir)?;
            let stripe =
                config::stripe_client(&config.stripe_api(stack.addr).ok_or("catalog sync needs STRIPE_SECRET_KEY")?)?;
            let actions = tollgate_app::catalog_sync::sync_catalog(&stripe, &config.catalog, dry_run).await?;
            let verb = if dry_run { "would" } else { "did" };
            if actions.is_empty() {
                println!("the catalog and Stripe already match: nothing to change");
            }
            for action in &actions {
                println!("{verb}: {action}");
            }
        }
        Command::Openapi => print!("{}", tollgate_http::openapi::document_json()),
        Command::Reconcile { since, stack } => {
            let config = load(&stack.data_dir)?;
            let found = commands::reconcile(&stack.data_dir, stack.addr, &config, since).await?;
            println!("listed {}, new {}, already had {}", found.listed, found.new, found.already_had);
            if found.window.truncated {
                println!("Stripe keeps events for 30 days: older ones are out of reach and were not checked");
            }
        }
        Command::Payouts { command: PayoutsCommand::Run { period, dry_run, stack } } => {
            let config = load(&stack.data_dir)?;
            let report = commands::run_payouts(&stack.data_dir, stack.addr, &config, period, dry_run).await?;
            let verb = if dry_run { "would pay" } else { "paid" };
            println!("payouts for {}", report.period);
            for paid in &report.paid {
                let amount = &paid.amount;
                let transfer = paid.transfer.as_deref().unwrap_or("-");
                let healed = if paid.healed { " (made by an earlier run; recorded now)" } else { "" };
                println!("{verb} {} {} {} {transfer}{healed}", paid.account, amount.amount, amount.currency.as_str());
            }
            for skipped in &report.skipped {
                println!("skipped {}: {}", skipped.account, skipped.reason.as_str());
            }
            for failed in &report.failed {
                println!("failed {}: {}", failed.account, failed.reason);
            }
            if !report.failed.is_empty() {
                return Err(format!("{} payout(s) failed; the next run tries again", report.failed.len()).into());
            }
        }
        Command::Stripe { command } => {
            let stack = match &command {
                StripeCommand::Advance { stack, .. } | StripeCommand::Refund { stack, .. } => stack,
            };
            let config = load(&stack.data_dir)?;
            let emulated = config
                .emulated_stripe(stack.addr)
                .ok_or("`tollgate stripe` works on the emulated Stripe only (--stripe emulated)")?;
            match command {
                StripeCommand::Advance { by, customer, .. } => {
                    let advanced = commands::advance(&emulated, by, customer.as_deref()).await?;
                    println!("{advanced}");
                }
                StripeCommand::Refund { payment, amount, .. } => {
                    let (refund, refunded) = config::stripe_client(&emulated)?.refund(&payment, amount).await?;
                    println!("refunded {refunded} of {payment}: {refund}");
                }
            }
        }
        Command::Token { sub, role, ttl, data_dir } => {
            let config = load(&data_dir)?;
            println!("{}", config.token(&sub, role.as_deref(), ttl)?);
        }
    }
    Ok(())
}
