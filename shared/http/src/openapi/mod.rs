//! The OpenAPI 3.1 document of every route, generated from the handlers' annotations and
//! the DTOs. `GET /openapi.json` serves it; `docs/openapi.json` is this document, kept
//! equal by a test (regenerate with `tollgate openapi > docs/openapi.json`).

use crate::error::{ErrorDetail, ErrorResponse};
use crate::keys::{NewKeyRequest, UsageUpload};
use crate::views::{RunList, RunView, WorkflowList, WorkflowView};
use crate::{
    admin, buyer, customer_runs, endpoints, keys, live, payouts, stripe_history, webhooks, workflow_subscriptions,
    workflows,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

mod constraints;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tollgate",
        description = "Stripe webhooks, checkout, API keys and metering, paid workflows. Every error is `{\"error\":{\"code\",\"message\",\"request_id\",\"field\"?}}`; a known route with another method is `405 method_not_allowed` with `Allow`.",
        license(name = "MIT")
    ),
    paths(
        webhooks::stripe,
        webhooks::callback,
        buyer::checkout,
        buyer::portal,
        buyer::purchases,
        buyer::entitlements,
        buyer::premium_workflows,
        workflow_subscriptions::list,
        workflow_subscriptions::change,
        workflow_subscriptions::of_account,
        buyer::choose_premium_workflows,
        buyer::catalog,
        live::activity,
        live::stream_ticket,
        live::stream,
        keys::create,
        keys::list,
        keys::reveal_first,
        keys::revoke,
        keys::standing,
        keys::limits,
        endpoints::set,
        endpoints::get,
        endpoints::remove,
        keys::key_record,
        keys::usage,
        admin::events,
        admin::alerts,
        admin::acknowledge,
        admin::resolve,
        admin::metrics,
        admin::account,
        admin::account_standing,
        admin::account_keys,
        admin::account_purchases,
        admin::account_referrals,
        admin::customer,
        admin::advance_customer,
        admin::ledger,
        workflows::register,
        workflows::list_workflows,
        workflows::workflow,
        workflows::change,
        workflows::runs,
        workflows::start_now,
        customer_runs::offers,
        customer_runs::order,
        customer_runs::list,
        customer_runs::read,
        customer_runs::cancel,
        customer_runs::deliveries,
        customer_runs::retry,
        stripe_history::reconcile,
        stripe_history::replay,
        payouts::onboard,
        payouts::payout_standing,
        payouts::run_payouts,
    ),
    components(schemas(ErrorResponse, ErrorDetail, NewKeyRequest, UsageUpload, WorkflowView, RunView, WorkflowList, RunList)),
    modifiers(&Security)
)]
struct Document;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        components.add_security_scheme(
            "stripe_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("Stripe-Signature"))),
        );
        components.add_security_scheme(
            "tollgate_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("Tollgate-Signature"))),
        );
    }
}

/// The document, as `GET /openapi.json` serves it: utoipa's, with what the validators
/// enforce on identifiers and ranges stated ([`constraints`]) and the links from each
/// creating operation to those that take its id.
pub fn document() -> serde_json::Value {
    let mut document = serde_json::to_value(Document::openapi()).expect("an OpenAPI document is JSON");
    constraints::apply(&mut document);
    document
}

/// The document as one deployment serves it: the checkout body names the SKUs its catalog
/// sells and the origins its redirects may use.
pub fn served(catalog: &tollgate_core::catalog::Catalog, redirect_origins: &[String]) -> serde_json::Value {
    let mut document = document();
    constraints::checkout_body(&mut document, catalog, redirect_origins);
    document
}

/// `GET /openapi.json`: `document`, serialized once when the router is built; every
/// request shares the bytes.
pub fn router(document: serde_json::Value) -> axum::Router {
    let body = axum::body::Bytes::from(serde_json::to_vec(&document).expect("a JSON value serialises"));
    let json = [(http::header::CONTENT_TYPE, "application/json")];
    axum::Router::new().route("/openapi.json", axum::routing::get(move || async move { (json, body.clone()) }))
}

/// The document as pretty JSON, as committed in `docs/openapi.json`.
pub fn document_json() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_document_is_the_generated_one() {
        let committed = include_str!("../../../../docs/openapi.json");
        assert!(
            committed == super::document_json(),
            "docs/openapi.json is stale: run `cargo run -q -p tollgate-local -- openapi > docs/openapi.json`"
        );
    }
}
