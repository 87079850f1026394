//! Checkout: what a buyer may ask for, in which Stripe mode, and the idempotency keys
//! that make a retried request (or a double click) return what the first one made.

use crate::account::Subscription;
use crate::catalog::{Grant, Item};
use crate::ids::{AccountId, Sku};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The most of one product bought at once.
pub const MAX_QUANTITY: u32 = 100;

/// Stripe Checkout's mode for an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plans and memberships.
    Subscription,
    /// One-off products and credit top-ups.
    Payment,
}

impl Mode {
    /// As Stripe writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Subscription => "subscription",
            Mode::Payment => "payment",
        }
    }
}

/// The mode an item is sold in; `None` for what is not for sale (the free plan).
pub fn mode_for(item: &Item) -> Option<Mode> {
    item.lookup_key.as_ref()?;
    Some(match item.grant {
        Grant::ApiPlan { .. } | Grant::Membership { .. } | Grant::WorkflowSubscription { .. } => Mode::Subscription,
        Grant::Product { .. } | Grant::Credits { .. } | Grant::Balance { .. } => Mode::Payment,
    })
}

/// A request refused, naming the field.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{field} {reason}")]
pub struct InvalidCheckout {
    /// The JSON field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> InvalidCheckout {
    InvalidCheckout { field, reason: reason.into() }
}

/// `POST /api/checkout`'s body, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRequest {
    /// What to buy.
    pub sku: Sku,
    /// How many (1 for subscriptions).
    pub quantity: u32,
    /// The referrer's account id.
    pub referral_code: Option<AccountId>,
    /// Where Stripe sends the buyer after paying (allow-listed).
    pub success_url: Option<String>,
    /// Where Stripe sends the buyer who gives up (allow-listed).
    pub cancel_url: Option<String>,
    /// A workflow subscription's parameters (checked against its `params_schema`).
    pub params: Option<serde_json::Value>,
}

impl CheckoutRequest {
    /// Checks what a buyer asked for, naming the field at fault: `sku` is required,
    /// `quantity` defaults to 1, a referral code must be a user's account id.
    pub fn new(
        sku: Option<&str>,
        quantity: Option<u64>,
        referral_code: Option<&str>,
        success_url: Option<String>,
        cancel_url: Option<String>,
    ) -> Result<Self, InvalidCheckout> {
        let sku = sku.ok_or_else(|| invalid("sku", "is required"))?;
        let sku = Sku::parse(sku).map_err(|e| invalid("sku", e.to_string()))?;
        let quantity = match quantity {
            None => 1,
            Some(quantity) => u32::try_from(quantity)
                .ok()
                .filter(|q| (1..=MAX_QUANTITY).contains(q))
                .ok_or_else(|| invalid("quantity", format!("must be a whole number from 1 to {MAX_QUANTITY}")))?,
        };
        let referral_code = referral_code
            .map(|code| AccountId::parse_user(code).map_err(|_| invalid("referral_code", "is not a referral code")))
            .transpose()?;
        let success_url = success_url.map(|url| plain_url("success_url", url)).transpose()?;
        let cancel_url = cancel_url.map(|url| plain_url("cancel_url", url)).transpose()?;
        Ok(Self { sku, quantity, referral_code, success_url, cancel_url, params: None })
    }
}

/// A URL that can become a `Location` header: a control character would be accepted
/// here and break the redirect after the buyer has paid.
fn plain_url(field: &'static str, url: String) -> Result<String, InvalidCheckout> {
    if url.chars().any(char::is_control) { Err(invalid(field, "must not contain control characters")) } else { Ok(url) }
}

/// The origins (`https://app.example.com`) redirect URLs may point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectAllowList(Vec<String>);

impl RedirectAllowList {
    /// From origins as configured (`CHECKOUT_REDIRECT_ORIGINS`, comma-separated).
    pub fn new(origins: &str) -> Self {
        Self(origins.split(',').map(|o| o.trim().trim_end_matches('/').to_owned()).filter(|o| !o.is_empty()).collect())
    }

    /// The allowed origins, as configured.
    pub fn origins(&self) -> &[String] {
        &self.0
    }

    /// Whether `url` is on an allowed origin: same scheme, host and port, nothing smuggled
    /// in before the path (`https://app.example.com.evil.io`, `https://app.example.com@evil.io`).
    pub fn allows(&self, url: &str) -> bool {
        let Some(rest) = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) else { return false };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let origin = url.get(..url.len().saturating_sub(rest.len()).saturating_add(authority_end)).unwrap_or(url);
        !url.chars().any(|c| c.is_whitespace() || c.is_control()) && self.0.iter().any(|allowed| allowed == origin)
    }
}

/// The checkout mode and the checks that refuse a request before Stripe is called.
pub fn check(item: &Item, request: &CheckoutRequest, active: &[Subscription]) -> Result<Mode, CheckoutRefusal> {
    let mode = mode_for(item).ok_or(CheckoutRefusal::NotForSale)?;
    if mode == Mode::Subscription && request.quantity != 1 {
        return Err(CheckoutRefusal::Invalid(invalid("quantity", "must be 1 for a subscription")));
    }
    let subscribed = active.iter().any(|s| s.sku == item.sku && s.status.grants_access());
    if mode == Mode::Subscription && subscribed {
        return Err(CheckoutRefusal::AlreadySubscribed);
    }
    Ok(mode)
}

/// Why a checkout is refused before Stripe is called.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CheckoutRefusal {
    /// The free plan and anything without a lookup key.
    #[error("this SKU is not for sale")]
    NotForSale,
    /// The same plan is already active.
    #[error("this plan is already active on the account")]
    AlreadySubscribed,
    /// A field is wrong.
    #[error(transparent)]
    Invalid(InvalidCheckout),
}

fn key(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        // Length-prefixed, so no two different requests hash the same parts.
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hex::encode(hash.finalize())
}

/// The idempotency key of a checkout: the same account asking for the same thing in the
/// same hour gets the same session (Stripe replays the first answer), a new hour a new one.
pub fn session_key(account: &AccountId, request: &CheckoutRequest, success: &str, cancel: &str, hour: i64) -> String {
    let quantity = request.quantity.to_string();
    let referral = request.referral_code.as_ref().map_or("", AccountId::as_str);
    let hour = hour.to_string();
    let parts = [account.as_str(), request.sku.as_str(), &quantity, referral, success, cancel, &hour];
    format!("tollgate-checkout-{}", &key(&parts)[..40])
}

/// The idempotency key of an account's Stripe customer: concurrent first checkouts ask
/// Stripe for one customer, whoever asks first.
pub fn customer_key(account: &AccountId) -> String {
    format!("tollgate-customer-{}", &key(&[account.as_str()])[..40])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{SubscriptionKind, SubscriptionStatus};
    use crate::catalog::Catalog;
    use crate::time::Timestamp;

    #[test]
    fn requests_are_checked_and_name_the_field() {
        let ok = CheckoutRequest::new(Some("template_budget_tracker"), Some(2), Some("user_bob"), None, None).unwrap();
        assert_eq!((ok.quantity, ok.referral_code.unwrap().as_str()), (2, "user_bob"));
        assert_eq!(CheckoutRequest::new(Some("api_pro"), None, None, None, None).unwrap().quantity, 1);
        for (sku, quantity, code, field) in [
            (None, Some(1), None, "sku"),
            (Some("a b"), None, None, "sku"),
            (Some("api_pro"), Some(0), None, "quantity"),
            (Some("api_pro"), Some(101), None, "quantity"),
            (Some("api_pro"), Some(u64::from(u32::MAX) + 2), None, "quantity"),
            (Some("api_pro"), None, Some("a b"), "referral_code"),
            (Some("api_pro"), None, Some("workflow:daily"), "referral_code"),
        ] {
            let refused = CheckoutRequest::new(sku, quantity, code, None, None).unwrap_err();
            assert_eq!(refused.field, field, "{sku:?} {quantity:?} {code:?}");
        }
    }

    #[test]
    fn redirect_urls_with_control_characters_are_refused_by_name() {
        let url = |text: &str| Some(format!("https://app.example.com/{text}"));
        for control in ["\u{1}", "\0", "\u{1b}", "\u{7f}", "\n"] {
            let refused = CheckoutRequest::new(Some("api_pro"), None, None, url(control), None).unwrap_err();
            assert_eq!(refused.field, "success_url", "{control:?}");
            let refused = CheckoutRequest::new(Some("api_pro"), None, None, None, url(control)).unwrap_err();
            assert_eq!(refused.field, "cancel_url", "{control:?}");
            assert!(!RedirectAllowList::new("https://app.example.com").allows(&url(control).unwrap()));
        }
        assert!(CheckoutRequest::new(Some("api_pro"), None, None, url("thanks?x=%01"), None).is_ok());
    }

    #[test]
    fn redirects_must_stay_on_an_allowed_origin() {
        let allowed = RedirectAllowList::new("https://app.example.com, http://127.0.0.1:3000/");
        assert!(allowed.allows("https://app.example.com/thanks?session={CHECKOUT_SESSION_ID}"));
        assert!(allowed.allows("https://app.example.com"));
        assert!(allowed.allows("http://127.0.0.1:3000/done"));
        for url in [
            "https://app.example.com.evil.io/",
            "https://app.example.com@evil.io/",
            "http://app.example.com/",
            "https://evil.io/?next=https://app.example.com",
            "javascript:alert(1)",
            "https://app.example.com/a b",
        ] {
            assert!(!allowed.allows(url), "{url}");
        }
    }

    #[test]
    fn modes_follow_the_catalog_and_the_free_plan_is_not_sold() {
        let catalog = Catalog::default_catalog();
        let mode = |sku: &str| mode_for(catalog.by_sku(&Sku::parse(sku).unwrap()).unwrap());
        assert_eq!(mode("api_pro"), Some(Mode::Subscription));
        assert_eq!(mode("member_elite"), Some(Mode::Subscription));
        assert_eq!(mode("template_budget_tracker"), Some(Mode::Payment));
        assert_eq!(mode("credits_1000"), Some(Mode::Payment));
        assert_eq!(mode("api_free"), None);
    }

    #[test]
    fn the_same_active_plan_is_refused() {
        let catalog = Catalog::default_catalog();
        let pro = catalog.by_sku(&Sku::parse("api_pro").unwrap()).unwrap();
        let subscription = |status: &str| Subscription {
            id: crate::ids::SubscriptionId::parse("sub_1").unwrap(),
            sku: pro.sku.clone(),
            kind: SubscriptionKind::ApiPlan,
            tier: "pro".into(),
            status: SubscriptionStatus(status.into()),
            current_period_start: None,
            current_period_end: None,
            event_created: Timestamp(1),
        };
        let request = CheckoutRequest::new(Some("api_pro"), None, None, None, None).unwrap();
        assert_eq!(check(pro, &request, &[subscription("active")]), Err(CheckoutRefusal::AlreadySubscribed));
        assert_eq!(check(pro, &request, &[subscription("canceled")]), Ok(Mode::Subscription));
        let two = CheckoutRequest { quantity: 2, ..request };
        assert!(matches!(
            check(pro, &two, &[]),
            Err(CheckoutRefusal::Invalid(InvalidCheckout { field: "quantity", .. }))
        ));
    }

    #[test]
    fn keys_repeat_for_a_retry_and_differ_for_anything_else() {
        let account = AccountId::parse("user_alice").unwrap();
        let request = CheckoutRequest::new(Some("api_pro"), None, None, None, None).unwrap();
        let base = session_key(&account, &request, "https://a/s", "https://a/c", 7);
        assert_eq!(base, session_key(&account, &request, "https://a/s", "https://a/c", 7));
        assert!(base.len() <= 255 && base.starts_with("tollgate-checkout-"));
        assert_ne!(base, session_key(&account, &request, "https://a/s", "https://a/c", 8));
        assert_ne!(
            base,
            session_key(&AccountId::parse("user_bob").unwrap(), &request, "https://a/s", "https://a/c", 7)
        );
        let more = CheckoutRequest { quantity: 2, ..request.clone() };
        assert_ne!(base, session_key(&account, &more, "https://a/s", "https://a/c", 7));
        assert_ne!(base, session_key(&account, &request, "https://a/sc", "https://a/", 7), "length-prefixed parts");
        assert_eq!(customer_key(&account), customer_key(&AccountId::parse("user_alice").unwrap()));
    }
}
