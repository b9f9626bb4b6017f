//! Who is calling: every route's required role comes from the route documentation
//! ([`super::openapi`]), so a route cannot be served without saying who may call it.
//!
//! A token is read from the `Token` header (ILMT's), `Authorization: Bearer …`, or the `token`
//! query parameter (which an operator can switch off); a header wins over the query. A missing or
//! unknown token is 401, a token whose role does not allow the route is 403; both are RFC 7807
//! problems that carry no data.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::openapi;
use super::problem::Problem;
use super::state::AppState;
use crate::eval::scope::Scope;
use crate::store::tokens::TokenRecord;

/// The caller of a request, put into the request's extensions by [`authenticate`]. Public
/// routes (health, version, the OpenAPI document) have no token.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub token: Option<TokenRecord>,
}

impl Caller {
    /// The consumers this caller may see; None = all.
    pub fn scope(&self) -> Option<&Scope> {
        self.token.as_ref().and_then(|t| t.scope.as_ref())
    }

    /// Who did something, for logs and audit lines: `token:<id>` or `anonymous`.
    pub fn who(&self) -> String {
        match &self.token {
            Some(t) => format!("token:{}", t.id),
            None => "anonymous".into(),
        }
    }
}

/// The token a request presents: header `Token`, then `Authorization: Bearer`, then (when
/// allowed) the `token` query parameter.
fn presented(request: &Request, token_in_url: bool) -> Option<String> {
    let headers = request.headers();
    if let Some(t) = headers.get("token").and_then(|v| v.to_str().ok()) {
        return Some(t.trim().to_string());
    }
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, rest) = auth.split_once(' ').unwrap_or((auth, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(rest.trim().to_string());
        }
    }
    if token_in_url {
        let query = request.uri().query().unwrap_or("");
        for (k, v) in form_pairs(query) {
            if k == "token" {
                return Some(v);
            }
        }
    }
    None
}

/// The pairs of a query string, repeated keys kept (decoded as axum's `Query` decodes).
pub fn form_pairs(query: &str) -> Vec<(String, String)> {
    let uri = format!("/?{query}").parse().unwrap_or_default();
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|q| q.0)
        .unwrap_or_default()
}

fn unauthorized(detail: &str) -> Response {
    let mut response =
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"licmetric\""),
    );
    response
}

/// Middleware (a route layer, so the matched route is known): checks the caller's token
/// against the role the route's documentation requires.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    // HEAD is GET without the body, so it needs what GET needs; every other method must be
    // documented for the path. Decided here, before any handler, whatever the method.
    let method = request.method().as_str();
    let documented = if method == "HEAD" { "GET" } else { method };
    let Some(route) = openapi::route(&state.routes, documented, &path) else {
        let allowed: Vec<&str> = state
            .routes
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.method)
            .collect();
        if !allowed.is_empty() {
            let mut response = Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                format!(
                    "{method} is not allowed on {path} (it takes {})",
                    allowed.join(", ")
                ),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            return response;
        }
        // A route the document does not list is never served (the test on openapi.json
        // keeps the two in step).
        return Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "undocumented-route",
            format!("{method} {path} is not in the API document"),
        )
        .into_response();
    };
    let Some(required) = route.role else {
        if let Err(refused) = check_query(route, request.uri().query()) {
            return refused;
        }
        request.extensions_mut().insert(Caller::default());
        return next.run(request).await;
    };
    let Some(token) = presented(&request, state.settings.token_in_url) else {
        return unauthorized(
            "this route needs a token: header Token, Authorization: Bearer, or ?token=",
        );
    };
    let store = state.evaluator.store.clone();
    let record = match tokio::task::spawn_blocking(move || store.authenticate(&token)).await {
        Ok(Ok(Some(record))) => record,
        Ok(Ok(None)) => return unauthorized("the token is not valid"),
        Ok(Err(e)) => return Problem::from(e).into_response(),
        Err(e) => {
            return Problem::from(anyhow::anyhow!("authentication panicked: {e}")).into_response();
        }
    };
    if !record.role.allows(required) {
        return Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "a {} token may not call {} {path} (it needs {})",
                record.role.name(),
                request.method(),
                required.name()
            ),
        )
        .into_response();
    }
    if let Err(refused) = check_query(route, request.uri().query()) {
        return refused;
    }
    request.extensions_mut().insert(Caller {
        token: Some(record),
    });
    next.run(request).await
}

/// Refuses, with a 400 naming it, a query parameter the route does not document, or one that
/// takes a single value given twice (issue 15.2): a handler must never silently answer another
/// question than the one asked. `token` is every route's; a list parameter (`columns[]`, an
/// `array`) may repeat, as the compatible APIs document.
fn check_query(route: &openapi::RouteDoc, query: Option<&str>) -> Result<(), Response> {
    let mut seen: Vec<String> = Vec::new();
    for (name, _) in form_pairs(query.unwrap_or("")) {
        if name == "token" {
            continue;
        }
        let documented = route
            .params
            .iter()
            .find(|p| p.location == "query" && p.name == name);
        let Some(param) = documented else {
            let known: Vec<&str> = route
                .params
                .iter()
                .filter(|p| p.location == "query")
                .map(|p| p.name)
                .collect();
            let takes = if known.is_empty() {
                "no query parameters".to_string()
            } else {
                known.join(", ")
            };
            let detail = format!(
                "unknown parameter: {} {} takes {takes} (and token)",
                route.method, route.path
            );
            return Err(Problem::bad_parameter(&name, detail).into_response());
        };
        let repeatable = param.kind == "array" || param.name.ends_with("[]");
        if !repeatable && seen.contains(&name) {
            let detail = "is given twice; it takes one value";
            return Err(Problem::bad_parameter(&name, detail).into_response());
        }
        seen.push(name);
    }
    Ok(())
}
