//! Signed calls between the edge and the origin (`ORIGIN_URL`, `EDGE_SECRET`).

use tollgate_core::api_key::KeyHash;
use tollgate_core::edge::{self, EdgeSecret};
use tollgate_core::metering::{KeyRecord, UsageBatch};
use tollgate_core::signing::Purpose;
use tollgate_core::time::Timestamp;
use worker::{Date, Delay, Env, Fetch, Headers, Method, Request, RequestInit, Response, Result};

/// An origin that has not answered by then is treated as down.
const ORIGIN_TIMEOUT_MS: u64 = 3_000;

/// What the origin said about a key.
pub enum Lookup {
    Found(Box<KeyRecord>),
    Unknown,
    /// No answer (down, slow, or an error): the caller keeps what it had.
    Unreachable,
}

fn secret(env: &Env) -> Result<EdgeSecret> {
    let value = env.secret("EDGE_SECRET")?.to_string();
    EdgeSecret::new(&value).ok_or_else(|| worker::Error::RustError("EDGE_SECRET is empty".into()))
}

fn now() -> Timestamp {
    Timestamp((Date::now().as_millis() / 1000) as i64)
}

/// Checks a request from the origin; `Err(response)` is the refusal to send back.
pub fn check_signature(
    request: &Request,
    env: &Env,
    path: &str,
    body: &[u8],
) -> Result<std::result::Result<(), Response>> {
    let header = request.headers().get(edge::SIGNATURE_HEADER)?;
    let method = request.method().to_string();
    match edge::verify(&secret(env)?, header.as_deref(), &method, path, body, now()) {
        Ok(()) => Ok(Ok(())),
        Err(error) => {
            let body =
                serde_json::json!({"error": {"code": error.code(), "message": error.message("Tollgate-Signature")}});
            Ok(Err(Response::from_json(&body)?.with_status(401)))
        }
    }
}

/// The signature of a customer's call forwarded to the origin's own routes.
pub fn sign_call(env: &Env, method: &str, path_and_query: &str, account: &str, body: &[u8]) -> Result<String> {
    Ok(edge::sign_call(&secret(env)?, now(), method, path_and_query, account, body))
}

async fn signed(env: &Env, purpose: Purpose, method: Method, path: &str, body: Vec<u8>) -> Result<Option<Response>> {
    let origin = env.var("ORIGIN_URL")?.to_string();
    let headers = Headers::new();
    headers.set(edge::SIGNATURE_HEADER, &edge::sign(&secret(env)?, purpose, now(), method.as_ref(), path, &body))?;
    headers.set("content-type", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers);
    if !body.is_empty() {
        init.with_body(Some(worker::js_sys::Uint8Array::from(body.as_slice()).into()));
    }
    let request = Request::new_with_init(&format!("{}{path}", origin.trim_end_matches('/')), &init)?;
    let call = Fetch::Request(request);
    let sent = std::pin::pin!(call.send());
    let timeout = std::pin::pin!(Delay::from(std::time::Duration::from_millis(ORIGIN_TIMEOUT_MS)));
    match futures_util::future::select(sent, timeout).await {
        futures_util::future::Either::Left((Ok(response), _)) => Ok(Some(response)),
        futures_util::future::Either::Left((Err(error), _)) => {
            worker::console_warn!("origin unreachable: {error}");
            Ok(None)
        }
        futures_util::future::Either::Right(_) => {
            worker::console_warn!("origin did not answer within {ORIGIN_TIMEOUT_MS} ms");
            Ok(None)
        }
    }
}

/// `GET /internal/keys/{hash}`.
pub async fn lookup(env: &Env, hash: &KeyHash) -> Result<Lookup> {
    let Some(mut response) =
        signed(env, Purpose::EdgeLookup, Method::Get, &format!("{}{hash}", edge::KEYS_PATH), Vec::new()).await?
    else {
        return Ok(Lookup::Unreachable);
    };
    Ok(match response.status_code() {
        200 => response.json::<KeyRecord>().await.map_or(Lookup::Unreachable, |record| Lookup::Found(Box::new(record))),
        404 => Lookup::Unknown,
        status => {
            worker::console_warn!("origin answered {status} for a key record");
            Lookup::Unreachable
        }
    })
}

/// `POST /internal/usage`: the ids the origin accepted (none when it could not be reached).
pub async fn send_usage(env: &Env, batches: &[UsageBatch]) -> Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Accepted {
        accepted: Vec<String>,
    }
    let body = serde_json::to_vec(&serde_json::json!({ "batches": batches }))?;
    let Some(mut response) = signed(env, Purpose::UsageBatch, Method::Post, edge::USAGE_PATH, body).await? else {
        return Ok(Vec::new());
    };
    if response.status_code() != 200 {
        worker::console_warn!("origin refused usage batches: {}", response.status_code());
        return Ok(Vec::new());
    }
    Ok(response.json::<Accepted>().await.map(|accepted| accepted.accepted).unwrap_or_default())
}
