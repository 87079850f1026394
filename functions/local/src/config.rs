//! Configuration of the local stack: the same settings parts the Lambda functions read
//! (`tollgate-settings`), read once from the environment over the stack's own defaults —
//! development secrets generated and kept in the data directory, the emulated Stripe's key,
//! and the stack's public address for every link it hands out — plus the few settings only
//! the local stack has.

use rand::Rng;
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;
use tollgate_app::alerting::Alerting;
use tollgate_app::ingest::Webhooks;
use tollgate_app::payouts::PayoutPolicy;
use tollgate_app::ports::outbound::Outbound;
use tollgate_app::{Clock, SystemClock};
use tollgate_core::catalog::Catalog;
use tollgate_core::signature::{self, WebhookSecret};
use tollgate_http::jwt;
use tollgate_settings::{EdgeSettings, Env, SettingError};

pub use tollgate_settings::StripeAccess;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error("data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("with JWT_JWKS_URL set, tokens come from the issuer: set JWT_SECRET to mint them here")]
    NoSigningKey,
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

/// The Stripe client for `access`.
pub fn stripe_client(
    access: &StripeAccess,
) -> Result<tollgate_stripe::StripeApi, tollgate_app::ports::checkouts::PaymentsError> {
    tollgate_stripe::StripeApi::new(&access.key, &access.base)
}

/// What the stack's Stripe calls go to.
pub enum StripeSetup {
    /// `None`: no Stripe (real mode without `STRIPE_SECRET_KEY`).
    Real(Option<StripeAccess>),
    /// The emulator, with the secret key kept in the data directory.
    Emulated { key: SecretString },
}

/// The stack's settings: the environment over what the stack stands in with. `forced`
/// values win over the environment (the emulator's key in emulated mode); `defaults` only
/// fill what it leaves unset.
#[derive(Clone, Default)]
pub struct Layers {
    forced: BTreeMap<&'static str, String>,
    defaults: BTreeMap<&'static str, String>,
}

impl Layers {
    fn lookup(&self, name: &str) -> Option<String> {
        self.forced.get(name).cloned().or_else(|| env(name)).or_else(|| self.defaults.get(name).cloned())
    }

    /// Reads `part` of the settings through these layers.
    pub fn read<T>(&self, part: impl FnOnce(&Env) -> Result<T, SettingError>) -> Result<T, SettingError> {
        let lookup = |name: &str| self.lookup(name);
        part(&Env::from(&lookup))
    }
}

pub struct DevConfig {
    layers: Layers,
    /// The Stripe endpoint (`STRIPE_WEBHOOK_SECRET`, else generated).
    pub webhooks: Webhooks,
    /// The secret the stack signs with where it stands in for Stripe (the emulator,
    /// `tollgate sign`): the first of `STRIPE_WEBHOOK_SECRET`.
    pub signing_secret: WebhookSecret,
    pub webhook_secret_origin: Origin,
    pub jwt: jwt::Settings,
    pub jwt_secret_origin: Origin,
    /// Stripe API calls: the emulator, or `STRIPE_SECRET_KEY` at `STRIPE_API_BASE`.
    pub stripe: StripeSetup,
    pub catalog: Catalog,
    /// Signs the link with a Worker run by `wrangler dev` (`EDGE_SECRET`, else generated),
    /// and where it listens for revocations (`EDGE_URL`).
    pub edge: EdgeSettings,
    pub edge_secret_origin: Origin,
    /// The address others reach this stack at (`PUBLIC_URL`), for the links it prints and
    /// hands out (Checkout pages, redirects, callbacks); `None`: the address it listens on.
    pub public_url: Option<String>,
    /// Where the native gateway forwards allowed `/v1/*` calls (`UPSTREAM_URL`); `None`:
    /// it answers them itself with what it decided (a demo without an API behind it).
    pub upstream_url: Option<String>,
    /// How often the native gateway flushes its counts (`USAGE_FLUSH_SECONDS`, default 10).
    pub usage_flush: std::time::Duration,
    /// When partners' earnings are paid (`PAYOUT_HOLD_DAYS`, `PAYOUT_MINIMUM_CENTS`).
    pub payout_policy: PayoutPolicy,
    /// Where alerts are posted besides the alerts table (`ALERT_WEBHOOK_URL`).
    pub alert_webhook: Option<String>,
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
        let mut layers = Layers::default();
        let mut generated = |names: &[&str], name: &'static str, file: &str, prefix: &str| {
            if names.iter().any(|name| env(name).is_some()) {
                return Ok(Origin::Environment);
            }
            layers.defaults.insert(name, dev_secret(data_dir, file, prefix)?);
            Ok::<_, ConfigError>(Origin::Generated)
        };
        let webhook_secret_origin =
            generated(&["STRIPE_WEBHOOK_SECRET"], "STRIPE_WEBHOOK_SECRET", "webhook-secret", "whsec_dev_")?;
        let jwt_secret_origin = generated(&["JWT_SECRET", "JWT_JWKS_URL"], "JWT_SECRET", "jwt-secret", "")?;
        generated(&["WORKFLOW_SECRET"], "WORKFLOW_SECRET", "workflow-secret", "")?;
        let edge_secret_origin = generated(&["EDGE_SECRET"], "EDGE_SECRET", "edge-secret", "")?;
        let stripe = match stripe_mode {
            StripeMode::Emulated => {
                let key = dev_secret(data_dir, "stripe-emulator-key", "sk_test_emulated_")?;
                layers.forced.insert("STRIPE_SECRET_KEY", key.clone());
                // The emulator settles at once: unless told otherwise, earnings are paid without a hold.
                layers.defaults.insert("PAYOUT_HOLD_DAYS", "0".to_owned());
                StripeSetup::Emulated { key: SecretString::from(key) }
            }
            StripeMode::Real if env("STRIPE_SECRET_KEY").is_some() => {
                StripeSetup::Real(Some(layers.read(tollgate_settings::stripe)?))
            }
            StripeMode::Real => StripeSetup::Real(None),
        };
        let usage_flush = layers.read(|env| {
            env.number_in("USAGE_FLUSH_SECONDS", tollgate_core::metering::DEFAULT_FLUSH_SECONDS as i64, 1..=86_400)
        })?;
        let webhooks = layers.read(tollgate_settings::webhooks)?;
        let signing_secret =
            webhooks.verifier.signing_secret().cloned().ok_or(SettingError::Missing("STRIPE_WEBHOOK_SECRET"))?;
        Ok(Self {
            webhooks,
            signing_secret,
            webhook_secret_origin,
            jwt: layers.read(tollgate_settings::jwt)?,
            jwt_secret_origin,
            stripe,
            catalog: layers.read(tollgate_settings::catalog)?,
            edge: layers.read(tollgate_settings::edge)?,
            edge_secret_origin,
            public_url: layers.read(|env| env.url("PUBLIC_URL"))?.map(|url| url.trim_end_matches('/').to_owned()),
            upstream_url: layers.read(|env| env.url("UPSTREAM_URL"))?,
            usage_flush: std::time::Duration::from_secs(u64::try_from(usage_flush).unwrap_or(1)),
            payout_policy: layers.read(tollgate_settings::payout_policy)?,
            alert_webhook: layers.read(tollgate_settings::alert_webhook)?,
            emulator_webhook_url: layers.read(|env| env.url("STRIPE_EMULATOR_WEBHOOK_URL"))?,
            layers,
        })
    }

    /// The settings of a stack whose links start with `public_base`: workflows call back
    /// there, and Checkout, the portal and onboarding send people back there, unless the
    /// environment says otherwise.
    pub fn at(&self, public_base: &str) -> Layers {
        let mut layers = self.layers.clone();
        for (name, path) in [
            ("CALLBACK_BASE_URL", ""),
            ("CHECKOUT_SUCCESS_URL", "/checkout/success"),
            ("CHECKOUT_CANCEL_URL", "/checkout/cancel"),
            ("PORTAL_RETURN_URL", "/account"),
            ("PAYOUTS_RETURN_URL", "/account"),
        ] {
            layers.defaults.insert(name, format!("{public_base}{path}"));
        }
        layers
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

    /// Alerts as every use case raises them: stored, and posted to `ALERT_WEBHOOK_URL`.
    pub fn alerting(&self, outbound: Arc<dyn Outbound>) -> Alerting {
        Alerting { outbound, webhook: self.alert_webhook.clone() }
    }

    pub fn sign(&self, payload: &[u8]) -> String {
        signature::sign(&self.signing_secret, SystemClock.now(), payload)
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
