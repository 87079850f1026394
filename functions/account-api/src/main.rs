//! `account-api`: API keys and the account view for their owners (`/api/keys`, `/api/me`,
//! JWT), the edge's signed routes (`/internal/keys/{hash}`, `/internal/usage`), and the
//! admin routes (`/admin/events`, `/admin/accounts/{id}`, `/admin/ledger`,
//! `/admin/workflows…`, `/admin/alerts`, `/admin/metrics`, JWT with `role: "admin"`).

use std::sync::Arc;
use tollgate_http::Api;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber(); // JSON when AWS_LAMBDA_LOG_FORMAT=JSON
    let jwt = tollgate_lambda::jwt_verifier().await?; // a missing secret fails the cold start
    let app = Arc::new(tollgate_lambda::app_from_env().await?); // SDK clients built once
    let orchestrator = Arc::new(tollgate_lambda::orchestrator_from_env(Arc::clone(&app))?);
    let edge = Arc::new(tollgate_lambda::edge_link_from_env()?);
    let api = Api::new(app, None, Some(jwt)).with_orchestrator(orchestrator).with_keys(edge);
    tollgate_lambda::serve(api.router()).await
}
