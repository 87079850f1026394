//! The console (`/console`, for operators) and the account page (`/account`, for users):
//! static pages whose scripts call this same API with the bearer token the browser keeps.
//! Static rather than server-rendered because every request from the page must carry the
//! token in a header, which a page navigation cannot. The assets are compiled into the
//! binary (no CDN, no build step at run time) and served under `default-src 'self'`.

use axum::Router;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};

use crate::error::ApiError;

/// Scripts, styles and images only from this origin; no inline script or style.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: [Asset; 5] = [
    Asset { name: "app.css", content_type: "text/css; charset=utf-8", body: include_str!("../assets/app.css") },
    Asset {
        name: "common.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/common.js"),
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/console.js"),
    },
    Asset {
        name: "account.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/account.js"),
    },
    Asset { name: "favicon.svg", content_type: "image/svg+xml", body: include_str!("../assets/favicon.svg") },
];

const CONSOLE: &str = include_str!("../assets/console.html");
const ACCOUNT: &str = include_str!("../assets/account.html");

/// The console, the account page and their assets.
pub fn router() -> Router {
    Router::new()
        .route("/console", get(|| async { page(CONSOLE) }))
        .route("/account", get(|| async { page(ACCOUNT) }))
        .route("/assets/{name}", get(asset))
        // Checkout's default success and cancel URLs land back on the account page.
        .route("/checkout/success", get(|| async { Redirect::to("/account?checkout=success") }))
        .route("/checkout/cancel", get(|| async { Redirect::to("/account?checkout=cancel") }))
}

fn page(html: &'static str) -> Response {
    served("text/html; charset=utf-8", html)
}

async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    let asset = ASSETS.iter().find(|asset| asset.name == name).ok_or(ApiError::NotFound("asset"))?;
    Ok(served(asset.content_type, asset.body))
}

fn served(content_type: &'static str, body: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // The assets change with the binary: revalidate, never serve a stale script.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes a first load of each page transfers (the page and every asset it links).
    fn first_load_bytes() -> [(&'static str, usize); 2] {
        let shared: usize = ["app.css", "common.js", "favicon.svg"]
            .iter()
            .filter_map(|name| ASSETS.iter().find(|asset| asset.name == *name))
            .map(|asset| asset.body.len())
            .sum();
        let script = |name: &str| ASSETS.iter().find(|asset| asset.name == name).map_or(0, |asset| asset.body.len());
        [
            ("console", CONSOLE.len() + shared + script("console.js")),
            ("account", ACCOUNT.len() + shared + script("account.js")),
        ]
    }

    #[test]
    fn every_asset_a_page_links_is_served_and_nothing_is_inline() {
        for html in [CONSOLE, ACCOUNT] {
            for linked in html.split("/assets/").skip(1).map(|rest| rest.split('"').next().unwrap()) {
                assert!(ASSETS.iter().any(|asset| asset.name == linked), "{linked} is linked but not served");
            }
            assert!(!html.contains("style=\""), "an inline style breaks under default-src 'self'");
            assert!(!html.contains("<script>"), "an inline script breaks under default-src 'self'");
            assert!(!html.contains("onclick="), "an inline handler breaks under default-src 'self'");
        }
    }

    #[test]
    fn each_first_load_is_under_200_kb() {
        for (page, bytes) in first_load_bytes() {
            assert!(bytes < 200 * 1024, "{page}: {bytes} bytes");
        }
    }
}
