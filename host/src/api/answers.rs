//! Answers kept for repeated reads: a dashboard or a script polling `/products` or ILMT's
//! `license_usage` asks the same question again and again, and the answer only changes when
//! facts, records or plugins do (or, for a period reaching today, as the day goes on).
//!
//! A middleware between authentication and the handlers keeps the bytes of successful `GET`
//! answers of the report-based routes, keyed by path, query (without `token`) and the caller's
//! scope, and serves them again while the store's [`Freshness`] is unchanged and the answer is
//! younger than [`MAX_AGE`] — the same staleness the report cache allows. A hit costs a map
//! lookup and a reference-counted body; a miss runs the handler as usual.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::{Caller, form_pairs};
use super::kept::{AnswerKey, Kept, MAX_BYTES};
use super::read::freshness;
use super::state::AppState;

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
    let key: AnswerKey = (request_key(&request), scope);
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
