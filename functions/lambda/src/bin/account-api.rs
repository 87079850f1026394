//! `account-api`: API keys and the account view for their owners (`/api/keys`, `/api/me`,
//! JWT), the edge's signed routes (`/internal/keys/{hash}`, `/internal/usage`), and the
//! admin routes (`/admin/events`, `/admin/accounts/{id}`, `/admin/ledger`,
//! `/admin/workflows…`, `/admin/alerts`, `/admin/metrics`, JWT with `role: "admin"`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber(); // JSON when AWS_LAMBDA_LOG_FORMAT=JSON
    // Settings read once (a missing one fails the cold start); SDK clients built once.
    let router = tollgate_lambda::functions::account_api(&tollgate_lambda::Env::process()).await?;
    tollgate_lambda::serve(router).await
}
