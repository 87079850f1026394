//! Configuration of the local stack: read once, from the environment, with
//! development secrets generated (and kept in the data directory) where none are set.

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use thiserror::Error;
use tollgate_app::orchestrator::{Settings, SettingsError, WorkflowSecret};
use tollgate_app::payouts::PayoutPolicy;
use tollgate_app::{Clock, SystemClock};
use tollgate_core::catalog::{Catalog, CatalogError};
use tollgate_core::edge::EdgeSecret;
use tollgate_core::signature::{self, DEFAULT_TOLERANCE_SECONDS, SecretError, WebhookSecret};
use tollgate_core::workflow::WebhookUrl;
use tollgate_http::jwt;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("STRIPE_WEBHOOK_SECRET: {0}")]
    WebhookSecret(#[from] SecretError),
    #[error("STRIPE_WEBHOOK_TOLERANCE_SECONDS must be a whole number of seconds")]
    Tolerance,
    #[error("STRIPE_SECRET_KEY must start with sk_ or rk_")]
    StripeKey,
    #[error("reading CATALOG_PATH {path}: {source}")]
    CatalogFile { path: PathBuf, source: std::io::Error },
    #[error("CATALOG_PATH: {0}")]
    Catalog(#[from] CatalogError),
    #[error("data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Orchestration(#[from] SettingsError),
    #[error("{0} must be an http:// or https:// URL, without spaces, control characters or credentials")]
    NotAUrl(&'static str),
    #[error("USAGE_FLUSH_SECONDS must be a whole number of seconds, at least 1")]
    FlushSeconds,
    #[error(transparent)]
    Jwt(#[from] jwt::SettingsError),
    #[error("{0}")]
    StripeMode(&'static str),
    #[error("with JWT_JWKS_URL set, tokens come from the issuer: set JWT_SECRET to mint them here")]
    NoSigningKey,
    #[error(transparent)]
    Payouts(#[from] tollgate_app::checkout::SettingError),
}

/// Where a secret came from: only generated ones are ever printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Environment,
    Generated,
}

/// Which Stripe `tollgate dev` talks to (`--stripe`, `TOLLGATE_STRIPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StripeMode {
    /// The emulator built into `tollgate dev`, under `/stripe/` on its own address.
    Emulated,
    /// Stripe (or a stand-in) at `STRIPE_API_BASE` with `STRIPE_SECRET_KEY`; without a key, none.
    Real,
}

/// What the stack's Stripe calls go to.
pub enum StripeSetup {
    /// `None`: no Stripe (real mode without `STRIPE_SECRET_KEY`).
    Real(Option<StripeAccess>),
    /// The emulator, with the secret key kept in the data directory.
    Emulated { key: SecretString },
}

/// A Stripe secret key and the API it is for. The key is never printed.
#[derive(Clone)]
pub struct StripeAccess {
    pub key: SecretString,
    pub base: String,
}

impl StripeAccess {
    pub fn client(&self) -> Result<tollgate_stripe::StripeApi, tollgate_app::ports::checkouts::PaymentsError> {
        tollgate_stripe::StripeApi::new(&self.key, &self.base)
    }
}

pub struct DevConfig {
    pub webhook_secrets: Vec<WebhookSecret>,
    pub webhook_secret_origin: Origin,
    pub tolerance_seconds: i64,
    pub jwt: jwt::Settings,
    pub jwt_secret_origin: Origin,
    /// Live-mode stack (`STRIPE_LIVEMODE`, or a live `STRIPE_SECRET_KEY`): events of the other mode are skipped.
    pub livemode: bool,
    /// Stripe API calls: the emulator, or `STRIPE_SECRET_KEY` at `STRIPE_API_BASE`.
    pub stripe: StripeSetup,
    pub catalog: Catalog,
    /// Signs workflow starts and makes callback tokens (`WORKFLOW_SECRET`, else generated).
    pub workflow_secret: WorkflowSecret,
    /// Where workflows call back (`CALLBACK_BASE_URL`); `None`: this stack's public address.
    pub callback_base: Option<String>,
    /// The address others reach this stack at (`PUBLIC_URL`), for the links it prints and
    /// hands out (Checkout pages, redirects, callbacks); `None`: the address it listens on.
    pub public_url: Option<String>,
    /// Signs the link with a Worker run by `wrangler dev` (`EDGE_SECRET`, else generated).
    pub edge_secret: EdgeSecret,
    pub edge_secret_origin: Origin,
    /// Where a `wrangler dev` Worker listens, to push revocations to (`EDGE_URL`).
    pub edge_url: Option<String>,
    /// Where the native gateway forwards allowed `/v1/*` calls (`UPSTREAM_URL`); `None`:
    /// it answers them itself with what it decided (a demo without an API behind it).
    pub upstream_url: Option<String>,
    /// How often the native gateway flushes its counts (`USAGE_FLUSH_SECONDS`, default 10).
    pub usage_flush: std::time::Duration,
    /// The Stripe Billing meter overage is reported to (`STRIPE_METER_EVENT_NAME`).
    pub meter_event_name: String,
    /// When partners' earnings are paid (`PAYOUT_HOLD_DAYS`, `PAYOUT_MINIMUM_CENTS`).
    pub payout_policy: PayoutPolicy,
    /// Where the emulated Stripe posts events (`STRIPE_EMULATOR_WEBHOOK_URL`); `None`: this
    /// stack's own `/webhooks/stripe`.
    pub emulator_webhook_url: Option<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.trim().is_empty())
}

impl DevConfig {
    /// `stripe`: the mode asked for; by default the emulator unless `STRIPE_SECRET_KEY` is set.
    pub fn load(data_dir: &Path, stripe: Option<StripeMode>) -> Result<Self, ConfigError> {
        let stripe_mode =
            stripe.unwrap_or(if env("STRIPE_SECRET_KEY").is_some() { StripeMode::Real } else { StripeMode::Emulated });
        private_dir(data_dir).map_err(|source| ConfigError::DataDir { path: data_dir.into(), source })?;
        let (webhook, webhook_secret_origin) = match env("STRIPE_WEBHOOK_SECRET") {
            Some(value) => (value, Origin::Environment),
            None => (dev_secret(data_dir, "webhook-secret", "whsec_dev_")?, Origin::Generated),
        };
        let (jwt, jwt_secret_origin) = if env("JWT_SECRET").is_some() || env("JWT_JWKS_URL").is_some() {
            (jwt::Settings::read(env)?, Origin::Environment)
        } else {
            let generated = dev_secret(data_dir, "jwt-secret", "")?;
            let settings =
                jwt::Settings::read(|name| if name == "JWT_SECRET" { Some(generated.clone()) } else { env(name) })?;
            (settings, Origin::Generated)
        };
        let stripe = match stripe_mode {
            StripeMode::Emulated => StripeSetup::Emulated {
                key: SecretString::from(dev_secret(data_dir, "stripe-emulator-key", "sk_test_emulated_")?),
            },
            StripeMode::Real => match env("STRIPE_SECRET_KEY") {
                Some(key) if !(key.starts_with("sk_") || key.starts_with("rk_")) => {
                    return Err(ConfigError::StripeKey);
                }
                Some(key) => StripeSetup::Real(Some(StripeAccess {
                    key: SecretString::from(key),
                    base: env("STRIPE_API_BASE").unwrap_or_else(|| "https://api.stripe.com".to_owned()),
                })),
                None => StripeSetup::Real(None),
            },
        };
        let key_in_use = match &stripe {
            StripeSetup::Emulated { key } => Some(key),
            StripeSetup::Real(access) => access.as_ref().map(|access| &access.key),
        };
        let livemode = tollgate_core::stripe::stack_livemode(
            key_in_use.map(ExposeSecret::expose_secret),
            env("STRIPE_LIVEMODE").as_deref(),
        )
        .map_err(ConfigError::StripeMode)?;
        let tolerance_seconds = env("STRIPE_WEBHOOK_TOLERANCE_SECONDS")
            .map(|value| value.parse().map_err(|_| ConfigError::Tolerance))
            .transpose()?
            .unwrap_or(DEFAULT_TOLERANCE_SECONDS);
        let catalog = match env("CATALOG_PATH") {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| ConfigError::CatalogFile { path: path.into(), source })?;
                Catalog::parse(&text)?
            }
            None => Catalog::default_catalog(),
        };
        let workflow_secret = match env("WORKFLOW_SECRET") {
            Some(value) => value,
            None => dev_secret(data_dir, "workflow-secret", "")?,
        };
        let workflow_secret = WorkflowSecret::new(&workflow_secret).ok_or(SettingsError::Missing("WORKFLOW_SECRET"))?;
        let (edge_secret, edge_secret_origin) = match env("EDGE_SECRET") {
            Some(value) => (value, Origin::Environment),
            None => (dev_secret(data_dir, "edge-secret", "")?, Origin::Generated),
        };
        let url = |name: &'static str| match env(name) {
            Some(value) if WebhookUrl::parse(&value).is_err() => Err(ConfigError::NotAUrl(name)),
            other => Ok(other),
        };
        let usage_flush = match env("USAGE_FLUSH_SECONDS") {
            Some(value) => {
                value.parse::<u64>().ok().filter(|&seconds| seconds >= 1).ok_or(ConfigError::FlushSeconds)?
            }
            None => tollgate_core::metering::DEFAULT_FLUSH_SECONDS,
        };
        let mut webhook_secrets = WebhookSecret::parse_list(&webhook)?;
        // A Connect endpoint (account.updated) signs with its own secret: both are accepted.
        if let Some(connect) = env("STRIPE_CONNECT_WEBHOOK_SECRET") {
            webhook_secrets.extend(WebhookSecret::parse_list(&connect)?);
        }
        Ok(Self {
            edge_secret: EdgeSecret::new(&edge_secret).ok_or(SettingsError::Missing("EDGE_SECRET"))?,
            edge_secret_origin,
            edge_url: url("EDGE_URL")?,
            upstream_url: url("UPSTREAM_URL")?,
            usage_flush: std::time::Duration::from_secs(usage_flush),
            meter_event_name: env("STRIPE_METER_EVENT_NAME")
                .unwrap_or_else(|| tollgate_app::usage_meter::DEFAULT_METER_EVENT_NAME.to_owned()),
            // The emulator settles at once: unless told otherwise, earnings are paid without a hold.
            payout_policy: PayoutPolicy::read(|name| match (name, &stripe) {
                ("PAYOUT_HOLD_DAYS", StripeSetup::Emulated { .. }) => env(name).or_else(|| Some("0".to_owned())),
                _ => env(name),
            })?,
            emulator_webhook_url: url("STRIPE_EMULATOR_WEBHOOK_URL")?,
            workflow_secret,
            callback_base: url("CALLBACK_BASE_URL")?,
            public_url: url("PUBLIC_URL")?.map(|url| url.trim_end_matches('/').to_owned()),
            webhook_secrets,
            webhook_secret_origin,
            tolerance_seconds,
            jwt,
            jwt_secret_origin,
            livemode,
            stripe,
            catalog,
        })
    }

    /// Where Stripe calls go for a stack on `addr`: the emulator under `/stripe/` there, or
    /// the configured Stripe; `None` without one.
    pub fn stripe_api(&self, addr: std::net::SocketAddr) -> Option<StripeAccess> {
        match &self.stripe {
            StripeSetup::Emulated { key } => {
                Some(StripeAccess { key: key.clone(), base: format!("http://{addr}/stripe/") })
            }
            StripeSetup::Real(access) => access.clone(),
        }
    }

    /// The emulated Stripe of a stack on `addr`; `None` when Stripe is real.
    pub fn emulated_stripe(&self, addr: std::net::SocketAddr) -> Option<StripeAccess> {
        matches!(self.stripe, StripeSetup::Emulated { .. }).then(|| self.stripe_api(addr)).flatten()
    }

    /// The base of every link a stack listening on `addr` hands out: `PUBLIC_URL`, else the
    /// address itself, with an unspecified address (`0.0.0.0`, `::`) read as loopback, the
    /// one host that can open such a link for sure.
    pub fn public_base(&self, addr: std::net::SocketAddr) -> String {
        if let Some(public) = &self.public_url {
            return public.clone();
        }
        let mut shown = addr;
        if addr.ip().is_unspecified() {
            shown.set_ip(if addr.is_ipv4() { Ipv4Addr::LOCALHOST.into() } else { Ipv6Addr::LOCALHOST.into() });
        }
        format!("http://{shown}")
    }

    /// The orchestration settings, calling back on `public_base` unless `CALLBACK_BASE_URL` says otherwise.
    pub fn orchestration(&self, public_base: &str) -> Result<Settings, ConfigError> {
        let callback_base = self.callback_base.clone().unwrap_or_else(|| public_base.to_owned());
        Ok(Settings::read(self.workflow_secret.clone(), callback_base, |name| std::env::var(name).ok())?)
    }

    /// Where alerts are posted (`ALERT_WEBHOOK_URL`), read as the orchestrator reads it, for
    /// the one-shot commands that raise alerts without running the stack.
    pub fn alert_webhook(&self) -> Result<Option<String>, ConfigError> {
        // The callback address plays no part in it.
        Ok(self.orchestration("http://127.0.0.1")?.alert_webhook)
    }

    pub fn sign(&self, payload: &[u8]) -> String {
        signature::sign(&self.webhook_secrets[0], SystemClock.now(), payload)
    }

    /// A token for `sub`, with `iss` and `aud` when they are set; only with an HS256 secret.
    pub fn token(&self, sub: &str, role: Option<&str>, ttl: i64) -> Result<String, ConfigError> {
        let exp = SystemClock.now().plus_seconds(ttl).0;
        self.jwt
            .mint(&jwt::Claims { sub: sub.to_owned(), role: role.map(str::to_owned), exp })
            .ok_or(ConfigError::NoSigningKey)
    }
}

/// A random secret kept in the data directory, readable by its owner only, so that a
/// restart keeps the same secret (and `stripe listen`, tokens and scripts keep working).
fn dev_secret(data_dir: &Path, name: &str, prefix: &str) -> Result<String, ConfigError> {
    let path = data_dir.join(name);
    let io_error = |source| ConfigError::DataDir { path: path.clone(), source };
    if let Ok(existing) = std::fs::read_to_string(&path) {
        // Kept from a run that may predate private files.
        make_private(&path, 0o600).map_err(io_error)?;
        return Ok(existing.trim().to_owned());
    }
    let secret = format!("{prefix}{}", hex::encode(rand::rng().random::<[u8; 32]>()));
    write_private(&path, &secret).map_err(io_error)?;
    Ok(secret)
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// The data directory, readable by its owner only (0700), even if it already existed.
fn private_dir(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(path)?;
    make_private(path, 0o700)
}

#[cfg(unix)]
fn make_private(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn make_private(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}
