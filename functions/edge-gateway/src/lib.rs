//! The edge gateway: a Cloudflare Worker in front of `UPSTREAM_URL`. For `/v1/*` it
//! hashes the bearer key and decides the call from a lease the isolate holds for the key
//! ([`leases`]), or else asks its account's Durable Object
//! ([`account_meter::AccountMeter`], found through the key's
//! [`key_directory::KeyDirectory`] once per isolate), which decides by `tollgate-core`'s
//! rules with the account's quotas pooled over all its keys, and may lend the isolate a new
//! lease; allowed calls are forwarded with the account in `X-Tollgate-Account`. The origin
//! pushes revocations to `/internal/revoke`, signed with `EDGE_SECRET`.
//!
//! The rules live in `tollgate-core` (tested natively); this crate is the JS-facing shell.

mod account_meter;
mod key_directory;
mod leases;
mod origin;

use account_meter::{MeterRequest, Verdict};
use key_directory::Whois;
use leases::Held;
use tollgate_core::api_key::{ApiKey, KeyHash};
use tollgate_core::edge;
use tollgate_core::forwarding::{self, PathError};
use tollgate_core::ids::AccountId;
use tollgate_core::metering::lease::Lease;
use tollgate_core::metering::{RateHeaders, Refusal};
use worker::{
    Context, Date, Delay, Env, Fetch, Headers, Method, Request, RequestInit, Response, Result, event, web_sys,
};

/// The Durable Object namespace bindings in `wrangler.toml`.
const ACCOUNT_METERS: &str = "ACCOUNT_METERS";
const KEY_DIRECTORY: &str = "KEY_DIRECTORY";

#[event(fetch)]
async fn fetch(request: Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    let path = request.path();
    if forwarding::is_gateway_path(&path) {
        gateway(request, &env, &ctx).await
    } else if path == edge::REVOKE_PATH && request.method() == Method::Post {
        revoke(request, &env).await.map(Into::into)
    } else if let Some(hash) = path.strip_prefix("/internal/stats/") {
        stats(&request, &env, hash).await.map(Into::into)
    } else {
        json_error(404, "not_found", "no such route").map(Into::into)
    }
}

async fn gateway(mut request: Request, env: &Env, ctx: &Context) -> Result<web_sys::Response> {
    // workerd has resolved plain dot segments already; encoded ones and hidden separators are refused here.
    if let Err(error) = forwarding::forward_path(&request.path()) {
        let response = json_error(PathError::STATUS, PathError::CODE, &error.to_string())?;
        return with_rate_headers(response, RateHeaders::UNKNOWN);
    }
    let bearer = request.headers().get("authorization")?.unwrap_or_default();
    let Ok(key) = ApiKey::from_bearer(&bearer) else {
        // Malformed keys never reach a Durable Object.
        return refusal(Refusal::InvalidKey, RateHeaders::UNKNOWN);
    };
    let hash = key.hash();
    let now = Date::now().as_millis();
    let path = request.path();
    if let Some((account_id, key_id, headers)) = leases::take(hash.as_str(), &path, now) {
        let upstream = forward(&mut request, env, account_id.as_str(), key_id.as_str()).await?;
        return with_rate_headers(upstream, headers);
    }
    let account = match account_of(env, &hash).await? {
        Whois::Known { account_id } => account_id,
        Whois::Unknown => return refusal(Refusal::InvalidKey, RateHeaders::UNKNOWN),
        Whois::OriginUnavailable => return origin_unavailable(),
    };
    let want_lease = leases::ask(hash.as_str());
    let settle = MeterRequest { settle: leases::finished(hash.as_str(), now), want_lease };
    let verdict = meter(env, &account, &hash, &format!("/decide?path={}", encode(&path)), &settle).await;
    if want_lease {
        leases::answered(hash.as_str());
    }
    let verdict = verdict?.json::<Verdict>().await?;
    let (account_id, key_id, headers) = match verdict {
        Verdict::Allowed { account_id, key_id, headers, lease, routes } => {
            if let Some(lease) = lease {
                let held =
                    Held { lease, account_id: account_id.clone(), key_id: key_id.clone(), headers, routes, used: 0 };
                leases::keep(hash.as_str(), held);
                ctx.wait_until(settle_at_expiry(env.clone(), account.clone(), hash, lease));
            }
            (account_id, key_id, headers)
        }
        Verdict::Refused { refusal: why, headers } => return refusal(why, headers),
        Verdict::OriginUnavailable => return origin_unavailable(),
    };
    let upstream = forward(&mut request, env, account_id.as_str(), key_id.as_str()).await?;
    with_rate_headers(upstream, headers)
}

fn origin_unavailable() -> Result<web_sys::Response> {
    let response = json_error(503, "origin_unavailable", "the key cannot be checked right now; retry shortly")?;
    with_rate_headers(response, RateHeaders::UNKNOWN)
}

/// A path as a query value: it is already a valid URL path, so only what would end or
/// split the value is escaped.
fn encode(path: &str) -> String {
    path.replace('%', "%25").replace('&', "%26").replace('#', "%23").replace('+', "%2B").replace('?', "%3F")
}

/// Settles a lease once it has expired, if no later call of this isolate has: a key that
/// goes quiet still has its calls counted within the lease's grace, not in full.
async fn settle_at_expiry(env: Env, account: AccountId, hash: KeyHash, lease: Lease) {
    let wait = lease.expires_at_ms.saturating_sub(Date::now().as_millis()) + 1;
    Delay::from(std::time::Duration::from_millis(wait)).await;
    let settle = MeterRequest { settle: leases::finished(hash.as_str(), Date::now().as_millis()), want_lease: false };
    if !settle.settle.is_empty()
        && let Err(error) = meter(&env, &account, &hash, "/settle", &settle).await
    {
        worker::console_error!("a lease could not be settled: {error}");
    }
}

/// The account of the key with `hash`: remembered by this isolate, else named by the key's directory.
async fn account_of(env: &Env, hash: &KeyHash) -> Result<Whois> {
    if let Some(account_id) = leases::account_of(hash.as_str()) {
        return Ok(Whois::Known { account_id });
    }
    let stub = env.durable_object(KEY_DIRECTORY)?.id_from_name(hash.as_str())?.get_stub()?;
    let whois = stub.fetch_with_str(&format!("https://key-directory/whois?hash={hash}")).await?.json::<Whois>().await?;
    if let Whois::Known { account_id } = &whois {
        leases::remember(hash.as_str(), account_id);
    }
    Ok(whois)
}

/// Asks the Durable Object of `account` about the key with `hash`, handing back the leases in `settle`.
async fn meter(env: &Env, account: &AccountId, hash: &KeyHash, path: &str, settle: &MeterRequest) -> Result<Response> {
    let stub = env.durable_object(ACCOUNT_METERS)?.id_from_name(account.as_str())?.get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(serde_json::to_string(settle)?.into()));
    let separator = if path.contains('?') { '&' } else { '?' };
    let request = Request::new_with_init(&format!("https://account-meter{path}{separator}hash={hash}"), &init)?;
    stub.fetch_with_request(request).await
}

/// Forwards an allowed call: tollgate's own routes (workflows sold as APIs) to the origin,
/// signed with `EDGE_SECRET` and naming the account; every other call to `UPSTREAM_URL`.
async fn forward(request: &mut Request, env: &Env, account: &str, key_id: &str) -> Result<Response> {
    let url = request.url()?;
    let own = edge::is_origin_path(url.path());
    let base = env.var(if own { "ORIGIN_URL" } else { "UPSTREAM_URL" })?.to_string();
    let path_and_query = format!("{}{}", url.path(), url.query().map(|q| format!("?{q}")).unwrap_or_default());
    let target = format!("{}{path_and_query}", base.trim_end_matches('/'));
    // The new request copies the caller's headers inside the runtime, with no header crossing
    // into wasm; what must not go upstream is then taken out of the copy.
    let mut init = RequestInit::new();
    init.with_method(request.method()).with_headers(Headers(request.headers().0.clone()));
    let body =
        if matches!(request.method(), Method::Get | Method::Head) { Vec::new() } else { request.bytes().await? };
    if !body.is_empty() {
        init.with_body(Some(worker::js_sys::Uint8Array::from(body.as_slice()).into()));
    }
    let upstream = Request::new_with_init(&target, &init)?;
    let headers = upstream.headers();
    for name in request.headers().keys().filter(|name| !forwarding::forwards_header(name)) {
        headers.delete(&name)?;
    }
    headers.set(edge::ACCOUNT_HEADER, account)?;
    headers.set("x-tollgate-key", key_id)?;
    if own {
        // The origin answers for the account the signature names: the key never goes on.
        headers.delete("authorization")?;
        let method = request.method().to_string();
        headers.set(edge::SIGNATURE_HEADER, &origin::sign_call(env, &method, &path_and_query, account, &body)?)?;
    }
    match Fetch::Request(upstream).send().await {
        Ok(response) => Ok(response),
        Err(error) => {
            worker::console_error!("upstream unreachable: {error}");
            json_error(502, "upstream_unavailable", "the API behind the gateway did not answer")
        }
    }
}

/// `POST /internal/revoke {"key_hash"}`, signed by the origin: this isolate drops its
/// leases of the key and its Durable Object refuses it from the very next call. Other
/// isolates' leases run out within their life (at most a second).
async fn revoke(mut request: Request, env: &Env) -> Result<Response> {
    let body = request.bytes().await?;
    if let Err(response) = origin::check_signature(&request, env, edge::REVOKE_PATH, &body)? {
        return Ok(response);
    }
    #[derive(serde::Deserialize)]
    struct Revocation {
        key_hash: KeyHash,
    }
    let Ok(revocation) = serde_json::from_slice::<Revocation>(&body) else {
        return json_error(400, "invalid_request", "the body must be {\"key_hash\": <sha256 hex>}");
    };
    let settle = MeterRequest { settle: leases::drop_all(revocation.key_hash.as_str()), want_lease: false };
    match account_of(env, &revocation.key_hash).await? {
        Whois::Known { account_id } => meter(env, &account_id, &revocation.key_hash, "/revoke", &settle).await,
        // A key the origin does not know has nothing to revoke here.
        Whois::Unknown => Response::from_json(&serde_json::json!({ "revoked": true })),
        Whois::OriginUnavailable => {
            json_error(503, "origin_unavailable", "the key's account cannot be found right now")
        }
    }
}

/// `GET /internal/stats/{hash}`, signed: the storage writes and pending counts of the
/// key's account's Durable Object (benchmarks, operators).
async fn stats(request: &Request, env: &Env, hash: &str) -> Result<Response> {
    if let Err(response) = origin::check_signature(request, env, &request.path(), b"")? {
        return Ok(response);
    }
    let Ok(hash) = KeyHash::parse(hash) else { return json_error(400, "invalid_request", "not a key hash") };
    match account_of(env, &hash).await? {
        Whois::Known { account_id } => meter(env, &account_id, &hash, "/stats", &MeterRequest::default()).await,
        Whois::Unknown | Whois::OriginUnavailable => json_error(404, "not_found", "no account is known for this key"),
    }
}

fn refusal(refusal: Refusal, headers: RateHeaders) -> Result<web_sys::Response> {
    let response = Response::from_json(&refusal.body())?.with_status(refusal.status());
    if let Refusal::RateLimited { retry_after } = &refusal {
        response.headers().set("retry-after", &retry_after.to_string())?;
    }
    with_rate_headers(response, headers)
}

/// The answer with the rate headers, as one new JS response: it copies the upstream's
/// (immutable) headers natively, and its own copy takes ours.
fn with_rate_headers(response: Response, headers: RateHeaders) -> Result<web_sys::Response> {
    let answer = web_sys::Response::from(response);
    let out = answer.headers();
    for (name, value) in headers.pairs() {
        out.set(name, &value)?;
    }
    Ok(answer)
}

fn json_error(status: u16, code: &str, message: &str) -> Result<Response> {
    Ok(Response::from_json(&serde_json::json!({"error": {"code": code, "message": message}}))?.with_status(status))
}
