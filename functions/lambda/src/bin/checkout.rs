//! `checkout`: Checkout Sessions and billing-portal links for signed-in buyers
//! (`POST /api/checkout`, `POST /api/portal`), and what they bought
//! (`GET /api/me/purchases`, `GET /api/me/entitlements`), behind an HS256 JWT (`sub` = account).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber(); // JSON when AWS_LAMBDA_LOG_FORMAT=JSON
    // Settings read once (a missing one fails the cold start); SDK clients built once.
    let router = tollgate_lambda::functions::checkout(&tollgate_lambda::Env::process()).await?;
    tollgate_lambda::serve(router).await
}
