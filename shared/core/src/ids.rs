//! Identifiers that are checked once, where they enter the system.

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid {kind}: {reason}")]
/// An identifier refused at parse time.
pub struct InvalidId {
    /// Which kind of identifier.
    pub kind: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Identifiers end up in storage keys and URLs, so they are kept short and plain.
fn check(kind: &'static str, value: &str, prefix: &str) -> Result<(), InvalidId> {
    if value.is_empty() || value.len() > MAX_ID_LEN {
        return Err(InvalidId { kind, reason: "must be 1 to 255 characters" });
    }
    if !value.starts_with(prefix) {
        return Err(InvalidId { kind, reason: "has the wrong prefix" });
    }
    if !value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.@:".contains(&b)) {
        return Err(InvalidId { kind, reason: "may hold only letters, digits and _ - . @ :" });
    }
    // Ids become path segments and storage keys: `.`, `..` and `a..b` never mean anything else.
    if value.bytes().all(|b| b == b'.') || value.contains("..") {
        return Err(InvalidId { kind, reason: "may not be or hold a dot-dot segment" });
    }
    Ok(())
}

/// The longest identifier.
pub const MAX_ID_LEN: usize = 255;

/// The JSON Schema `pattern` of the identifiers that start with `prefix`: exactly the
/// characters and dots [`check`] accepts (its length rule is [`MAX_ID_LEN`]), so an API
/// document can state what the validator enforces. Each step takes one character, so a
/// regex engine never backtracks over it.
pub fn id_pattern(prefix: &str) -> String {
    let rest = if prefix.is_empty() { "+" } else { "*" };
    format!("^{prefix}(?:\\.?[A-Za-z0-9_@:-]){rest}\\.?$")
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// What every such id starts with (`evt_`, `cus_`; empty for most).
            pub const PREFIX: &'static str = $prefix;

            /// Checks and wraps `value`.
            pub fn parse(value: &str) -> Result<Self, InvalidId> {
                check($kind, value, $prefix).map(|()| Self(value.to_owned()))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                check($kind, &value, $prefix).map(|()| Self(value))
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A Stripe event id (`evt_…`), the key of the event log.
    EventId, "event id", "evt_"
);
id_type!(
    /// Our own account id: the JWT `sub` of a user. A referral code is, for now, the referrer's account id.
    AccountId, "account id", ""
);
/// Ledger accounts tollgate keeps for itself, beside its users' (`workflow:<id>` holds a
/// workflow's revenue). No user id may start with one.
const INTERNAL_ACCOUNT_PREFIXES: [&str; 1] = ["workflow:"];

impl AccountId {
    /// An account id that came from a user or a payload (a JWT `sub`, a checkout's
    /// `client_reference_id`, a referral code): refused if it names an internal account.
    pub fn parse_user(value: &str) -> Result<Self, InvalidId> {
        if INTERNAL_ACCOUNT_PREFIXES.iter().any(|prefix| value.starts_with(prefix)) {
            return Err(InvalidId { kind: "account id", reason: "is reserved for tollgate's own accounts" });
        }
        Self::parse(value)
    }

    /// The ledger account that holds a workflow's revenue.
    pub fn of_workflow(workflow: &WorkflowId) -> Self {
        Self(format!("workflow:{workflow}"))
    }
}

id_type!(
    /// A Stripe customer id (`cus_…`).
    CustomerId, "customer id", "cus_"
);
id_type!(
    /// A Stripe subscription id (`sub_…`).
    SubscriptionId, "subscription id", "sub_"
);
id_type!(
    /// A catalog SKU (`api_pro`, `member_elite`, …).
    Sku, "sku", ""
);

id_type!(
    /// A workflow's id, chosen by the operator (`daily_shorts`).
    WorkflowId, "workflow id", ""
);
id_type!(
    /// One run of a workflow (`run_…`), named by the orchestrator.
    RunId, "run id", "run_"
);
id_type!(
    /// An API key's public id (`key_…`): what lists show and `DELETE /api/keys/{id}` takes.
    KeyId, "key id", "key_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_on_parse() {
        assert!(EventId::parse("evt_1Pgc76B7WZ01zgkWwyRHS12y").is_ok());
        assert!(EventId::parse("cus_123").is_err());
        assert!(AccountId::parse("").is_err());
        assert!(AccountId::parse("user/../../etc").is_err());
        assert!(AccountId::parse("user_42").is_ok());
        for dots in [".", "..", "...", "a..b", "user@example..com"] {
            assert!(AccountId::parse(dots).is_err(), "{dots}");
        }
        assert!(AccountId::parse("first.last@example.com").is_ok());
    }

    #[test]
    fn user_ids_cannot_name_internal_accounts() {
        let workflow = WorkflowId::parse("daily").unwrap();
        let internal = AccountId::of_workflow(&workflow);
        assert_eq!(internal.as_str(), "workflow:daily");
        assert_eq!(AccountId::parse("workflow:daily"), Ok(internal));
        assert!(AccountId::parse_user("workflow:daily").is_err());
        assert!(AccountId::parse_user("user_42").is_ok());
        assert!(AccountId::parse_user("google-oauth2:1234").is_ok());
        assert!(serde_json::from_str::<CustomerId>("\"sub_1\"").is_err());
    }

    proptest::proptest! {
        /// The documented pattern and the validator agree on every string over the id
        /// alphabet, dots in any place, and a few characters outside it.
        #[test]
        fn the_documented_pattern_is_exactly_what_parses(value in "(evt_)?[a-z0-9_.:@ /-]{0,12}") {
            for (prefix, parses) in [
                (EventId::PREFIX, EventId::parse(&value).is_ok()),
                (AccountId::PREFIX, AccountId::parse(&value).is_ok()),
            ] {
                let pattern = regex::Regex::new(&id_pattern(prefix)).unwrap();
                proptest::prop_assert_eq!(pattern.is_match(&value), parses, "{:?} with prefix {:?}", value, prefix);
            }
        }
    }
}
