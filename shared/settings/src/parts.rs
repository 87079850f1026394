//! The parts of the settings, each read by the functions that use it. Every default and
//! every check of a variable is here.

use crate::env::{Env, SettingError};
use secrecy::SecretString;
use tollgate_app::checkout::{CheckoutSettings, DEFAULT_PAYMENT_REQUESTS_PER_MINUTE};
use tollgate_app::ingest::Webhooks;
use tollgate_app::orchestrator::{
    DEFAULT_RETRY_BASE_SECONDS, DEFAULT_RETRY_CAP_SECONDS, DEFAULT_START_TIMEOUT_SECONDS, RevenueAlerts,
    Settings as Orchestration, WorkflowSecret,
};
use tollgate_app::payouts::{PayoutPolicy, PayoutSettings};
use tollgate_app::redelivery::{DEFAULT_RETRY, RetryPolicy};
use tollgate_core::alert::{LOW_REVENUE_CENTS, REVENUE_DROP_PERCENT};
use tollgate_core::catalog::Catalog;
use tollgate_core::checkout::RedirectAllowList;
use tollgate_core::edge::EdgeSecret;
use tollgate_core::meters::MeterName;
use tollgate_core::signature::{DEFAULT_TOLERANCE_SECONDS, Verifier, WebhookSecret};
use tollgate_core::time::BusinessZone;
use tollgate_core::workflow::{Caps, DEFAULT_CONCURRENT_RUNS, DEFAULT_DAILY_STARTS, DEFAULT_RUN_EARNINGS_MAX_CENTS};
use tollgate_http::jwt;

/// Stripe's API: `STRIPE_SECRET_KEY` (never printed) at `STRIPE_API_BASE`.
#[derive(Clone)]
pub struct StripeAccess {
    pub key: SecretString,
    pub base: String,
}

/// `STRIPE_SECRET_KEY`, a secret (`sk_`) or restricted (`rk_`) key, at `STRIPE_API_BASE`
/// (Stripe's own by default).
pub fn stripe(env: &Env) -> Result<StripeAccess, SettingError> {
    let key = env.required("STRIPE_SECRET_KEY")?;
    if !(key.starts_with("sk_") || key.starts_with("rk_")) {
        return Err(SettingError::invalid("STRIPE_SECRET_KEY", "must start with sk_ or rk_"));
    }
    let base = env.optional("STRIPE_API_BASE").unwrap_or_else(|| "https://api.stripe.com".to_owned());
    Ok(StripeAccess { key: SecretString::from(key), base })
}

/// The Stripe endpoint: `STRIPE_WEBHOOK_SECRET` (comma-separated while rotating) and a
/// Connect endpoint's `STRIPE_CONNECT_WEBHOOK_SECRET`, deliveries signed with any of them
/// accepted within `STRIPE_WEBHOOK_TOLERANCE_SECONDS`; live mode when `STRIPE_LIVEMODE` or a
/// live `STRIPE_SECRET_KEY` says so.
pub fn webhooks(env: &Env) -> Result<Webhooks, SettingError> {
    let secrets = |name: &'static str, value: &str| {
        WebhookSecret::parse_list(value).map_err(|error| SettingError::invalid(name, error))
    };
    let mut list = secrets("STRIPE_WEBHOOK_SECRET", &env.required("STRIPE_WEBHOOK_SECRET")?)?;
    if let Some(connect) = env.optional("STRIPE_CONNECT_WEBHOOK_SECRET") {
        list.extend(secrets("STRIPE_CONNECT_WEBHOOK_SECRET", &connect)?);
    }
    let tolerance = env.number("STRIPE_WEBHOOK_TOLERANCE_SECONDS", DEFAULT_TOLERANCE_SECONDS)?;
    let livemode = tollgate_core::stripe::stack_livemode(
        env.optional("STRIPE_SECRET_KEY").as_deref(),
        env.optional("STRIPE_LIVEMODE").as_deref(),
    )
    .map_err(|reason| SettingError::invalid("STRIPE_LIVEMODE", reason))?;
    Ok(Webhooks { verifier: Verifier::new(list, tolerance), livemode })
}

/// Bearer tokens: HS256 with `JWT_SECRET`, or an issuer's keys at `JWT_JWKS_URL`; `iss`,
/// `aud` and the role claim from `JWT_ISSUER`, `JWT_AUDIENCE`, `JWT_ROLE_CLAIM`.
pub fn jwt(env: &Env) -> Result<jwt::Settings, SettingError> {
    let secret = env.optional("JWT_SECRET").map(SecretString::from);
    let claims = jwt::Expected {
        issuer: env.optional("JWT_ISSUER"),
        audience: env.optional("JWT_AUDIENCE"),
        role_claim: env.optional("JWT_ROLE_CLAIM"),
    };
    jwt::Settings::new(secret, env.optional("JWT_JWKS_URL"), claims).map_err(|refused| match refused {
        jwt::SettingsError::ShortSecret => {
            SettingError::invalid("JWT_SECRET", format!("must be at least {} bytes", jwt::MIN_SECRET_BYTES))
        }
        jwt::SettingsError::BothModes => SettingError::invalid(
            "JWT_SECRET",
            "and JWT_JWKS_URL are both set: set one (with a key set, HS256 tokens are refused)",
        ),
        other => SettingError::invalid("JWT_SECRET", format!("is not set (or JWT_JWKS_URL): {other}")),
    })
}

/// The key that signs workflow starts and makes callback tokens (`WORKFLOW_SECRET`).
pub fn workflow_secret(env: &Env) -> Result<WorkflowSecret, SettingError> {
    WorkflowSecret::new(&env.required("WORKFLOW_SECRET")?).ok_or(SettingError::Missing("WORKFLOW_SECRET"))
}

/// Orchestration: `WORKFLOW_SECRET`, `CALLBACK_BASE_URL` (where workflows call back), the
/// caps (`DAILY_RUN_CAP`, `CONCURRENT_RUN_CAP`), `WORKFLOW_START_TIMEOUT_SECONDS`,
/// `RUN_EARNINGS_MAX` (dollars) and the [`run_retry`] settings.
pub fn orchestration(env: &Env) -> Result<Orchestration, SettingError> {
    let secret = workflow_secret(env)?;
    let callback_base = env.required_url("CALLBACK_BASE_URL")?;
    let run_earnings_max_cents = match env.optional("RUN_EARNINGS_MAX") {
        None => DEFAULT_RUN_EARNINGS_MAX_CENTS,
        Some(text) => {
            let usd = tollgate_core::money::Currency::parse("usd").expect("usd is a currency");
            tollgate_core::money::parse_major_units(&text, &usd)
                .ok()
                .filter(|cents| (1..=RUN_EARNINGS_MAX_CEILING_CENTS).contains(cents))
                .ok_or_else(|| {
                    SettingError::invalid(
                        "RUN_EARNINGS_MAX",
                        "must be an amount in dollars from 0.01 to 1000000000.00, such as 100000.00",
                    )
                })?
        }
    };
    Ok(Orchestration {
        caps: Caps {
            daily_starts: env.number("DAILY_RUN_CAP", DEFAULT_DAILY_STARTS)?,
            concurrent: env.number("CONCURRENT_RUN_CAP", DEFAULT_CONCURRENT_RUNS)?,
        },
        callback_base,
        secret,
        start_timeout: std::time::Duration::from_secs(
            env.number("WORKFLOW_START_TIMEOUT_SECONDS", DEFAULT_START_TIMEOUT_SECONDS)?,
        ),
        retry: run_retry(env)?,
        run_earnings_max_cents,
        zone: business_zone(env)?,
        revenue_alerts: RevenueAlerts {
            low_cents: env.number_in("LOW_REVENUE_CENTS", LOW_REVENUE_CENTS, 0..=RUN_EARNINGS_MAX_CEILING_CENTS)?,
            drop_percent: u8::try_from(env.number_in(
                "REVENUE_DROP_PERCENT",
                i64::from(REVENUE_DROP_PERCENT),
                0..=100,
            )?)
            .expect("within 0..=100"),
        },
        customer_pool: u32::try_from(env.number_in(
            "CUSTOMER_RUN_CONCURRENCY",
            i64::from(tollgate_core::customer_run::DEFAULT_CUSTOMER_RUN_CONCURRENCY),
            1..=10_000,
        )?)
        .expect("within 1..=10000"),
    })
}

/// `BUSINESS_TIMEZONE` (IANA, default UTC): where the business's days and months start.
pub fn business_zone(env: &Env) -> Result<BusinessZone, SettingError> {
    match env.optional("BUSINESS_TIMEZONE") {
        None => Ok(BusinessZone::UTC),
        Some(name) => {
            BusinessZone::parse(&name).map_err(|error| SettingError::invalid("BUSINESS_TIMEZONE", error.to_string()))
        }
    }
}

/// `LOW_BALANCE_CENTS` (default 100, minor units of the catalog's currency): an account's
/// money balance under it raises `balance_low`, once until topped up.
pub fn low_balance_cents(env: &Env) -> Result<i64, SettingError> {
    env.number_in("LOW_BALANCE_CENTS", 100, 0..=1_000_000_000)
}

/// `REVOKE_KEYS_ON_CANCEL` (`true` or `false`, default `false`): an account's API keys are
/// revoked when its last paid API plan is deleted.
pub fn revoke_keys_on_cancel(env: &Env) -> Result<bool, SettingError> {
    match env.optional("REVOKE_KEYS_ON_CANCEL").as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(SettingError::invalid("REVOKE_KEYS_ON_CANCEL", "must be true or false")),
    }
}

/// The largest `RUN_EARNINGS_MAX`: 40 runs a day at this much add up for thousands of
/// years before a day's or a workflow's total could overflow.
const RUN_EARNINGS_MAX_CEILING_CENTS: i64 = 100_000_000_000;

/// How workflow starts and fulfillment posts are retried: `RUN_RETRY_BASE_SECONDS`,
/// `RUN_RETRY_CAP_SECONDS`, `RUNS_MAX_RECEIVES`.
pub fn run_retry(env: &Env) -> Result<RetryPolicy, SettingError> {
    Ok(RetryPolicy {
        base_seconds: env.number("RUN_RETRY_BASE_SECONDS", DEFAULT_RETRY_BASE_SECONDS)?,
        cap_seconds: env.number("RUN_RETRY_CAP_SECONDS", DEFAULT_RETRY_CAP_SECONDS)?,
        max_receives: env.number("RUNS_MAX_RECEIVES", tollgate_app::DEFAULT_MAX_RECEIVES)?,
    })
}

/// How Stripe's events and usage batches are retried: up to `EVENTS_MAX_RECEIVES`
/// deliveries, which must match the queues' redrive policy.
pub fn retry(env: &Env) -> Result<RetryPolicy, SettingError> {
    Ok(RetryPolicy {
        max_receives: env.number("EVENTS_MAX_RECEIVES", tollgate_app::DEFAULT_MAX_RECEIVES)?,
        ..DEFAULT_RETRY
    })
}

/// Checkout's redirects: `CHECKOUT_SUCCESS_URL`, `CHECKOUT_CANCEL_URL`, `PORTAL_RETURN_URL`,
/// all on an origin of `CHECKOUT_REDIRECT_ORIGINS` (default: the origins of those three),
/// and `PAYMENT_RATE_LIMIT_PER_MINUTE`.
pub fn checkout(env: &Env) -> Result<CheckoutSettings, SettingError> {
    let success_url = env.required_url("CHECKOUT_SUCCESS_URL")?;
    let cancel_url = env.required_url("CHECKOUT_CANCEL_URL")?;
    let portal_return_url = env.required_url("PORTAL_RETURN_URL")?;
    let origins = env
        .optional("CHECKOUT_REDIRECT_ORIGINS")
        .unwrap_or_else(|| [&success_url, &cancel_url, &portal_return_url].map(|url| origin_of(url)).join(","));
    let redirects = RedirectAllowList::new(&origins);
    for (name, url) in [
        ("CHECKOUT_SUCCESS_URL", &success_url),
        ("CHECKOUT_CANCEL_URL", &cancel_url),
        ("PORTAL_RETURN_URL", &portal_return_url),
    ] {
        if !redirects.allows(url) {
            return Err(SettingError::invalid(name, "is not on an origin of CHECKOUT_REDIRECT_ORIGINS"));
        }
    }
    let per_minute = env.number("PAYMENT_RATE_LIMIT_PER_MINUTE", DEFAULT_PAYMENT_REQUESTS_PER_MINUTE)?;
    Ok(CheckoutSettings {
        redirects,
        success_url,
        cancel_url,
        portal_return_url,
        per_minute,
        zone: business_zone(env)?,
    })
}

fn origin_of(url: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let end = url[scheme_end..].find(['/', '?', '#']).map_or(url.len(), |i| scheme_end + i);
    url[..end].to_owned()
}

/// Where Stripe sends a partner back after onboarding (`PAYOUTS_RETURN_URL`).
pub fn payouts_return(env: &Env) -> Result<PayoutSettings, SettingError> {
    Ok(PayoutSettings { return_url: env.required_url("PAYOUTS_RETURN_URL")? })
}

/// When earnings are paid: `PAYOUT_HOLD_DAYS` (0 to 365) after their payment, in transfers
/// of at least `PAYOUT_MINIMUM_CENTS`.
pub fn payout_policy(env: &Env) -> Result<PayoutPolicy, SettingError> {
    let hold_days = env.number_in("PAYOUT_HOLD_DAYS", i64::from(tollgate_core::payout::DEFAULT_HOLD_DAYS), 0..=365)?;
    Ok(PayoutPolicy {
        hold_days: u32::try_from(hold_days).unwrap_or(tollgate_core::payout::DEFAULT_HOLD_DAYS),
        minimum_cents: env.number_in(
            "PAYOUT_MINIMUM_CENTS",
            tollgate_core::payout::DEFAULT_MINIMUM_CENTS,
            1..=i64::MAX,
        )?,
    })
}

/// The origin's side of the edge link: `EDGE_SECRET`, and `EDGE_URL` (where a deployed
/// Worker listens for revocations).
pub struct EdgeSettings {
    pub secret: EdgeSecret,
    pub url: Option<String>,
}

pub fn edge(env: &Env) -> Result<EdgeSettings, SettingError> {
    let secret = EdgeSecret::new(&env.required("EDGE_SECRET")?).ok_or(SettingError::Missing("EDGE_SECRET"))?;
    Ok(EdgeSettings { secret, url: env.url("EDGE_URL")? })
}

/// The catalog at `CATALOG_PATH`, else the built-in one.
/// `STRIPE_METER_EVENT_NAME`, when set, names the `requests` meter's Stripe event instead,
/// so catalog sync makes the meter the usage meter reports to.
pub fn catalog(env: &Env) -> Result<Catalog, SettingError> {
    let catalog = match env.optional("CATALOG_PATH") {
        None => Catalog::default_catalog(),
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|source| SettingError::File {
                name: "CATALOG_PATH",
                path: path.clone(),
                source,
            })?;
            Catalog::parse(&text).map_err(|error| SettingError::invalid("CATALOG_PATH", format!("{path}: {error}")))?
        }
    };
    Ok(match env.optional("STRIPE_METER_EVENT_NAME") {
        Some(event_name) => catalog.with_event_name(&MeterName::requests(), event_name),
        None => catalog,
    })
}

/// Where alerts are posted besides the alerts table (`ALERT_WEBHOOK_URL`, Slack-compatible).
pub fn alert_webhook(env: &Env) -> Result<Option<String>, SettingError> {
    env.url("ALERT_WEBHOOK_URL")
}

/// What the monitor checks, and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthChecks {
    pub urls: Vec<String>,
    pub interval: std::time::Duration,
}

/// `HEALTH_CHECK_URLS` (comma-separated), by default the stack's own `/health` (at
/// `own_base`) and, when `UPSTREAM_URL` is set, the upstream's; probed every
/// `HEALTH_CHECK_INTERVAL_SECONDS` (default 300, at least 1).
pub fn health_checks(env: &Env, own_base: &str) -> Result<HealthChecks, SettingError> {
    let urls = match env.optional("HEALTH_CHECK_URLS") {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(|url| match tollgate_core::workflow::WebhookUrl::parse(url) {
                Ok(_) => Ok(url.to_owned()),
                Err(_) => Err(SettingError::invalid(
                    "HEALTH_CHECK_URLS",
                    format!("{url:?} is not an http:// or https:// URL without credentials"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => {
            let health = |base: &str| format!("{}/health", base.trim_end_matches('/'));
            let mut urls = vec![health(own_base)];
            urls.extend(env.url("UPSTREAM_URL")?.as_deref().map(health));
            urls
        }
    };
    let seconds = env.number_in(
        "HEALTH_CHECK_INTERVAL_SECONDS",
        i64::try_from(tollgate_core::health::DEFAULT_INTERVAL_SECONDS).unwrap_or(i64::MAX),
        1..=86_400,
    )?;
    Ok(HealthChecks { urls, interval: std::time::Duration::from_secs(seconds.unsigned_abs()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_checks_default_to_the_stack_and_its_upstream() {
        let checks = read(&[], |env| health_checks(env, "https://api.example.com/")).unwrap();
        assert_eq!(checks.urls, ["https://api.example.com/health"]);
        assert_eq!(checks.interval, std::time::Duration::from_secs(300));
        let upstream = [("UPSTREAM_URL", "https://upstream.example.com"), ("HEALTH_CHECK_INTERVAL_SECONDS", "60")];
        let checks = read(&upstream, |env| health_checks(env, "https://api.example.com")).unwrap();
        assert_eq!(checks.urls, ["https://api.example.com/health", "https://upstream.example.com/health"]);
        assert_eq!(checks.interval.as_secs(), 60);
        let listed = [("HEALTH_CHECK_URLS", " https://a.example.com/up , https://b.example.com/ping,")];
        let checks = read(&listed, |env| health_checks(env, "https://api.example.com")).unwrap();
        assert_eq!(checks.urls, ["https://a.example.com/up", "https://b.example.com/ping"]);
        let bad = read(&[("HEALTH_CHECK_URLS", "https://ok.example.com,ftp://no")], |env| health_checks(env, "x"));
        assert!(matches!(bad, Err(SettingError::Invalid { name: "HEALTH_CHECK_URLS", .. })));
        let never = read(&[("HEALTH_CHECK_INTERVAL_SECONDS", "0")], |env| health_checks(env, "https://a.example.com"));
        assert!(matches!(never, Err(SettingError::Invalid { name: "HEALTH_CHECK_INTERVAL_SECONDS", .. })));
    }

    fn read<T>(pairs: &[(&str, &str)], part: impl Fn(&Env) -> Result<T, SettingError>) -> Result<T, SettingError> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        let lookup = move |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        part(&Env::from(&lookup))
    }

    const URLS: [(&str, &str); 3] = [
        ("CHECKOUT_SUCCESS_URL", "https://app.example.com/thanks"),
        ("CHECKOUT_CANCEL_URL", "https://app.example.com/pricing"),
        ("PORTAL_RETURN_URL", "https://app.example.com/account"),
    ];

    #[test]
    fn checkout_redirects_stay_on_their_origins() {
        let settings = read(&URLS, checkout).unwrap();
        assert!(settings.redirects.allows("https://app.example.com/other"));
        assert!(!settings.redirects.allows("https://evil.example.com/"));
        assert_eq!(settings.per_minute, DEFAULT_PAYMENT_REQUESTS_PER_MINUTE);
        assert!(matches!(read(&[], checkout), Err(SettingError::Missing("CHECKOUT_SUCCESS_URL"))));
        let mut outside = URLS.to_vec();
        outside[0].1 = "https://elsewhere.example.com/";
        outside.push(("CHECKOUT_REDIRECT_ORIGINS", "https://app.example.com"));
        let refused = read(&outside, checkout).unwrap_err().to_string();
        assert_eq!(refused, "CHECKOUT_SUCCESS_URL is not on an origin of CHECKOUT_REDIRECT_ORIGINS");
    }

    #[test]
    fn the_business_zone_is_an_iana_name_and_utc_by_default() {
        assert_eq!(read(&[], business_zone).unwrap(), BusinessZone::UTC);
        assert_eq!(read(&[("BUSINESS_TIMEZONE", "America/La_Paz")], business_zone).unwrap().name(), "America/La_Paz");
        let refused = read(&[("BUSINESS_TIMEZONE", "GMT-4ish")], business_zone).unwrap_err();
        assert!(matches!(refused, SettingError::Invalid { name: "BUSINESS_TIMEZONE", .. }), "{refused}");
    }

    #[test]
    fn stripe_meter_event_name_renames_the_requests_meter_only() {
        let renamed = read(&[("STRIPE_METER_EVENT_NAME", "calls_v2")], catalog).unwrap();
        assert_eq!(renamed.meter(&MeterName::requests()).unwrap().stripe_event_name, "calls_v2");
        let shipped = read(&[], catalog).unwrap();
        assert_eq!(shipped.meter(&MeterName::requests()).unwrap().stripe_event_name, "api_requests");
    }

    #[test]
    fn the_payouts_return_url_is_a_plain_url() {
        let read_url = |url: &str| read(&[("PAYOUTS_RETURN_URL", url)], payouts_return);
        assert_eq!(read_url("https://app.example.com/account").unwrap().return_url, "https://app.example.com/account");
        for bad in ["https://app.example.com/\u{1}", "app.example.com/account", "https://user:pw@app.example.com/"] {
            let error = read_url(bad).unwrap_err();
            assert!(matches!(error, SettingError::Invalid { name: "PAYOUTS_RETURN_URL", .. }), "{bad:?}");
        }
    }

    #[test]
    fn jwt_refusals_name_the_variable() {
        let refused = |pairs: &[(&str, &str)]| read(pairs, jwt).unwrap_err().to_string();
        assert_eq!(refused(&[("JWT_SECRET", "short")]), "JWT_SECRET must be at least 32 bytes");
        assert!(refused(&[]).starts_with("JWT_SECRET is not set"));
        let both =
            [("JWT_SECRET", "a-secret-of-at-least-thirty-two-bytes"), ("JWT_JWKS_URL", "http://127.0.0.1:1/jwks")];
        assert!(refused(&both).contains("JWT_JWKS_URL"));
    }

    #[test]
    fn orchestration_reads_dollars_and_refuses_a_callback_that_is_not_a_url() {
        let base = [("WORKFLOW_SECRET", "s"), ("CALLBACK_BASE_URL", "https://api.example.com")];
        let read_with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            read(&pairs, orchestration)
        };
        assert_eq!(read_with(&[]).unwrap().run_earnings_max_cents, DEFAULT_RUN_EARNINGS_MAX_CENTS);
        assert_eq!(read_with(&[("RUN_EARNINGS_MAX", "2.50")]).unwrap().run_earnings_max_cents, 250);
        assert!(read_with(&[("RUN_EARNINGS_MAX", "0")]).is_err());
        assert_eq!(
            read_with(&[("DAILY_RUN_CAP", "many")]).unwrap_err().to_string(),
            "DAILY_RUN_CAP must be a whole number"
        );
        let not_a_url = read(&[("WORKFLOW_SECRET", "s"), ("CALLBACK_BASE_URL", "api.example.com")], orchestration);
        assert!(matches!(not_a_url, Err(SettingError::Invalid { name: "CALLBACK_BASE_URL", .. })));
        assert!(matches!(read(&base[..1], orchestration), Err(SettingError::Missing("CALLBACK_BASE_URL"))));
    }

    #[test]
    fn the_payout_policy_is_bounded() {
        assert_eq!(read(&[("PAYOUT_HOLD_DAYS", "0")], payout_policy).unwrap().hold_days, 0);
        assert!(read(&[("PAYOUT_HOLD_DAYS", "366")], payout_policy).is_err());
        assert!(read(&[("PAYOUT_MINIMUM_CENTS", "0")], payout_policy).is_err());
    }
}
