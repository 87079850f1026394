//! `KeyDirectory`: one Durable Object per key hash, saying which account the key belongs
//! to, so the Worker can find the account's [`crate::account_meter::AccountMeter`]. A key's
//! account never changes: once the origin has named it, it is stored and never asked again.
//! An unknown key is asked about again every `RECORD_REFRESH_SECONDS` (it may be issued
//! later), and is never stored, so random keys cost no writes.

use crate::origin::{self, Lookup};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;
use tollgate_core::api_key::KeyHash;
use tollgate_core::ids::AccountId;
use worker::{Date, DurableObject, Env, Request, Response, Result, State, durable_object};

const ACCOUNT: &str = "account";
const DEFAULT_REFRESH_SECONDS: u64 = 60;

/// The directory's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "whois", rename_all = "snake_case")]
pub enum Whois {
    /// The key's account.
    Known { account_id: AccountId },
    /// The origin issued no such key.
    Unknown,
    /// An unknown key while the origin cannot be asked.
    OriginUnavailable,
}

#[derive(Default)]
struct Inner {
    loaded: bool,
    account: Option<AccountId>,
    /// For an unknown key: when to ask the origin again (ms since the epoch).
    unknown_until: u64,
}

#[durable_object]
pub struct KeyDirectory {
    state: State,
    env: Env,
    inner: Rc<RefCell<Inner>>,
    refresh_ms: u64,
}

impl DurableObject for KeyDirectory {
    fn new(state: State, env: Env) -> Self {
        let refresh_seconds = env
            .var("RECORD_REFRESH_SECONDS")
            .ok()
            .and_then(|value| value.to_string().parse().ok())
            .unwrap_or(DEFAULT_REFRESH_SECONDS);
        Self { state, env, inner: Rc::default(), refresh_ms: refresh_seconds * 1000 }
    }

    async fn fetch(&self, request: Request) -> Result<Response> {
        let url = request.url()?;
        let hash =
            url.query_pairs().find(|(name, _)| name == "hash").and_then(|(_, value)| KeyHash::parse(&value).ok());
        let Some(hash) = hash else { return Response::error("missing hash", 400) };
        Response::from_json(&self.whois(hash).await?)
    }
}

impl KeyDirectory {
    async fn whois(&self, hash: KeyHash) -> Result<Whois> {
        if let Some(known) = self.known(Date::now().as_millis()) {
            return Ok(known);
        }
        let (inner, env, storage, refresh_ms) =
            (Rc::clone(&self.inner), self.env.clone(), self.state.storage(), self.refresh_ms);
        // Every other event waits for the answer: 200 concurrent first calls ask the origin once.
        self.state
            .block_concurrency_while(async move {
                if !inner.borrow().loaded {
                    let stored: Option<AccountId> = storage.get(ACCOUNT).await?;
                    let mut inner = inner.borrow_mut();
                    (inner.loaded, inner.account) = (true, stored);
                }
                let now = Date::now().as_millis();
                if let Some(account_id) = inner.borrow().account.clone() {
                    return Ok(Whois::Known { account_id });
                }
                if now < inner.borrow().unknown_until {
                    return Ok(Whois::Unknown);
                }
                Ok(match origin::lookup(&env, &hash).await? {
                    Lookup::Found(record) => {
                        storage.put(ACCOUNT, &record.account_id).await?;
                        inner.borrow_mut().account = Some(record.account_id.clone());
                        Whois::Known { account_id: record.account_id }
                    }
                    Lookup::Unknown => {
                        inner.borrow_mut().unknown_until = now + refresh_ms;
                        Whois::Unknown
                    }
                    Lookup::Unreachable => Whois::OriginUnavailable,
                })
            })
            .await
    }

    /// The answer from memory, when there is one.
    fn known(&self, now: u64) -> Option<Whois> {
        let inner = self.inner.borrow();
        match &inner.account {
            Some(account_id) => Some(Whois::Known { account_id: account_id.clone() }),
            None if inner.loaded && now < inner.unknown_until => Some(Whois::Unknown),
            None => None,
        }
    }
}
