//! Answers kept for repeated reads: a dashboard or a script polling `/products` or ILMT's
//! `license_usage` asks the same question again and again, and the answer only changes when
//! facts, records or plugins do (or, for a period reaching today, as the day goes on).
//!
//! A middleware between authentication and the handlers keeps the bytes of successful `GET`
//! answers of the report-based routes, keyed by path, query (without `token`) and the caller's
//! scope, and serves them again while the store's [`Freshness`] is unchanged and the answer is
//! younger than [`MAX_AGE`] — the same staleness the report cache allows. A hit costs a map
//! lookup and a reference-counted body; a miss runs the handler as usual.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::{Caller, form_pairs};
use super::read::{Freshness, freshness, make_room};
use crate::eval::scope::Scope;

/// Routes whose `GET` answer is a function of the query, the caller's scope and the store.
const CACHEABLE: &[&str] = &[
    "/products",
    "/bundled_products",
    "/services",
    "/api/sam/v2/license_usage",
    "/api/shared_spaces/{space}/tenant_licenses",
    "/api/shared_spaces/{space}/license_usage",
    "/api/v1/usage",
    "/api/v1/chargeback",
];

/// How long an answer is served again while nothing changed (an answer about today changes as
/// the day goes on; the report cache allows the same).
pub const MAX_AGE: Duration = Duration::from_secs(30);
/// Most answers kept; the least recently read goes first.
const KEPT: usize = 256;
/// Larger answers are not kept.
const MAX_BYTES: usize = 8 << 20;

type Key = (String, Option<Scope>);

struct Kept {
    freshness: Freshness,
    made: Instant,
    used: Instant,
    headers: HeaderMap,
    body: Bytes,
}

/// The kept answers of one service.
#[derive(Default)]
pub struct AnswerCache {
    entries: Mutex<HashMap<Key, Kept>>,
}

impl AnswerCache {
    fn get(&self, key: &Key, now: &Freshness) -> Option<(HeaderMap, Bytes)> {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept = entries.get_mut(key)?;
        if kept.freshness != *now || kept.made.elapsed() > MAX_AGE {
            entries.remove(key);
            return None;
        }
        kept.used = Instant::now();
        Some((kept.headers.clone(), kept.body.clone()))
    }

    fn put(&self, key: Key, kept: Kept) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        make_room(&mut entries, &key, KEPT, |k| k.used);
        entries.insert(key, kept);
    }
}

/// The request's path and decoded query pairs without the `token` parameter (which must not
/// split the cache per token, nor be kept), written unambiguously: a decoded `&` or `=` inside
/// a name or value cannot make two different queries share a key (issue 15.2).
fn request_key(request: &Request) -> String {
    let uri = request.uri();
    let query: Vec<(String, String)> = form_pairs(uri.query().unwrap_or(""))
        .into_iter()
        .filter(|(k, _)| k != "token")
        .collect();
    let query = serde_json::to_string(&query).unwrap_or_default();
    format!("{} {query}", uri.path())
}

/// Middleware: serves a kept answer when it is still fresh, keeps a new successful one.
pub async fn keep(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let cacheable = state.settings.keep_answers
        && request.method() == Method::GET
        && request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|m| CACHEABLE.contains(&m.as_str()));
    if !cacheable {
        return next.run(request).await;
    }
    let scope = request
        .extensions()
        .get::<Caller>()
        .and_then(|c| c.scope().cloned());
    let key: Key = (request_key(&request), scope);
    let store_state = state.clone();
    let Ok(Ok(now)) = tokio::task::spawn_blocking(move || freshness(&store_state)).await else {
        return next.run(request).await;
    };
    if let Some((headers, body)) = state.answers.get(&key, &now) {
        let mut response = Body::from(body).into_response();
        *response.headers_mut() = headers;
        return response;
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if bytes.len() <= MAX_BYTES {
        let made = Instant::now();
        state.answers.put(
            key,
            Kept {
                freshness: now,
                made,
                used: made,
                headers: parts.headers.clone(),
                body: bytes.clone(),
            },
        );
    }
    Response::from_parts(parts, Body::from(bytes))
}
