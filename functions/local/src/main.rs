//! `tollgate`: every tollgate function in one process on SQLite, and the operator commands.

mod config;
mod dev;
mod gateway;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "tollgate", version, about = "tollgate: API keys, Stripe billing and paid workflows")]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    /// List Stripe's events (`STRIPE_SECRET_KEY` at `STRIPE_API_BASE`) and queue those no
    /// webhook delivered; a running `tollgate dev` applies them (else its next start does).
    Reconcile {
        /// How far back to list (`72h`, `30m`, `7d`); default: from where the last run stopped, less an hour.
        #[arg(long, value_parser = tollgate_app::reconcile::parse_since)]
        since: Option<i64>,
        #[arg(long, env = "TOLLGATE_DATA_DIR", default_value = ".tollgate")]
        data_dir: PathBuf,
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
        #[arg(long, env = "TOLLGATE_DATA_DIR", default_value = ".tollgate")]
        data_dir: PathBuf,
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
        #[arg(long, env = "TOLLGATE_DATA_DIR", default_value = ".tollgate")]
        data_dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Dev { addr, data_dir, tick } => {
            let config = config::DevConfig::load(&data_dir)?;
            dev::run(addr, &data_dir, std::time::Duration::from_secs(tick), config).await?;
        }
        Command::Sign { payload, data_dir } => {
            let config = config::DevConfig::load(&data_dir)?;
            println!("{}", config.sign(&std::fs::read(payload)?));
        }
        Command::Catalog { command: CatalogCommand::Sync { dry_run, data_dir } } => {
            let config = config::DevConfig::load(&data_dir)?;
            let stripe = config.stripe_api.as_ref().ok_or("catalog sync needs STRIPE_SECRET_KEY")?.client()?;
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
        Command::Reconcile { since, data_dir } => {
            let config = config::DevConfig::load(&data_dir)?;
            let found = dev::reconcile(&data_dir, &config, since).await?;
            println!("listed {}, new {}, already had {}", found.listed, found.new, found.already_had);
            if found.window.truncated {
                println!("Stripe keeps events for 30 days: older ones are out of reach and were not checked");
            }
        }
        Command::Payouts { command: PayoutsCommand::Run { period, dry_run, data_dir } } => {
            let config = config::DevConfig::load(&data_dir)?;
            let report = dev::run_payouts(&data_dir, &config, period, dry_run).await?;
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
        Command::Token { sub, role, ttl, data_dir } => {
            let config = config::DevConfig::load(&data_dir)?;
            println!("{}", config.token(&sub, role.as_deref(), ttl)?);
        }
    }
    Ok(())
}
