//! `checkout`: Checkout Sessions and billing-portal links for signed-in buyers
//! (`POST /api/checkout`, `POST /api/portal`), and what they bought
//! (`GET /api/me/purchases`, `GET /api/me/entitlements`), behind an HS256 JWT (`sub` = account).

use std::sync::Arc;
use tollgate_http::Api;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber(); // JSON when AWS_LAMBDA_LOG_FORMAT=JSON
    let jwt = tollgate_lambda::jwt_verifier().await?; // a missing secret fails the cold start
    let app = Arc::new(tollgate_lambda::app_from_env().await?); // SDK clients built once
    let checkout = Arc::new(tollgate_lambda::checkout_from_env(Arc::clone(&app))?);
    let api = Api::new(app, None, Some(jwt)).with_checkout(checkout);
    tollgate_lambda::serve(api.router()).await
}
