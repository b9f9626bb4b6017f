//! Plugins in a running service: `PUT /api/v1/plugins/{name}/{version}` uploads a component,
//! `GET /api/v1/plugins` lists what is loaded, `GET /api/v1/audit` lists every change.
//!
//! An upload is validated before anything changes: it compiles, exports the WIT world of this
//! API's major version (an incompatible one is refused naming both versions), describes itself
//! sanely, and its name and version are the ones in the path. Only then is it stored (so a
//! restart loads it again) and activated; a refused upload leaves the active version untouched.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::auth::Caller;
use super::openapi::{RouteDoc, param};
use super::{AppState, Problem, blocking};
use crate::runtime::{InstallError, install};
use crate::store::tokens::Role;

/// The routes of this module with their required roles: the API document and the auth table.
pub const DOCS: &[RouteDoc] = &[
    RouteDoc {
        method: "PUT",
        path: "/api/v1/plugins/{name}/{version}",
        role: Some(Role::Operator),
        summary: "Upload a plugin component (the body); validated, stored and activated",
        params: &[
            param(
                "name",
                "path",
                true,
                "string",
                "the plugin's name, as it describes itself",
            ),
            param(
                "version",
                "path",
                true,
                "string",
                "the plugin's semver, as it describes itself",
            ),
        ],
        produces: "application/json",
    },
    RouteDoc {
        method: "GET",
        path: "/api/v1/plugins",
        role: Some(Role::Reader),
        summary: "Loaded plugins: name, version, digest, metrics",
        params: &[],
        produces: "application/json",
    },
    RouteDoc {
        method: "GET",
        path: "/api/v1/audit",
        role: Some(Role::Operator),
        summary: "Every change (who, when, what, which digest), oldest first",
        params: &[
            param(
                "after",
                "query",
                false,
                "integer",
                "entries after this position",
            ),
            param(
                "limit",
                "query",
                false,
                "integer",
                "at most this many (default 1000)",
            ),
        ],
        produces: "application/json",
    },
];

fn refused(reason: impl std::fmt::Display) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid-plugin",
        format!("the plugin was refused and nothing changed: {reason}"),
    )
}

/// `PUT /api/v1/plugins/{name}/{version}`.
pub async fn upload(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((name, version)): Path<(String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let wanted = semver::Version::parse(&version).map_err(|e| {
        Problem::bad_parameter("version", format!("{version:?} is not semver: {e}"))
    })?;
    blocking(move || {
        let plugin = install(
            &state.evaluator.store,
            &state.evaluator.runtime,
            &body,
            Some((&name, &wanted)),
            &caller.who(),
        )
        .map_err(|e| match e {
            InstallError::Invalid(e) => refused(format!("{e:#}")),
            InstallError::Mismatch { described, .. } => refused(format!(
                "it describes itself as {described}, the path says {name}@{wanted}"
            ))
            .with("parameter", "name"),
            InstallError::Storage(e) => Problem::from(e),
        })?;
        Ok((StatusCode::CREATED, Json(describe(&plugin))))
    })
    .await
}

fn describe(p: &crate::runtime::LoadedPlugin) -> Value {
    json!({
        "name": p.name(),
        "version": p.version().to_string(),
        "digest": p.digest(),
        "sdk_version": p.info().sdk_version,
        "metrics": p.info().metrics.iter().map(|m| json!({
            "code_name": m.code_name, "name": m.name, "unit": m.unit,
        })).collect::<Vec<_>>(),
    })
}

/// `GET /api/v1/plugins`.
pub async fn list(State(state): State<AppState>) -> Json<Value> {
    Json(Value::Array(
        state
            .evaluator
            .runtime
            .plugins()
            .iter()
            .map(|p| describe(p))
            .collect(),
    ))
}

/// `GET /api/v1/audit`.
pub async fn audit(
    State(state): State<AppState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<Value>, Problem> {
    let number = |name: &str, default: u64| -> Result<u64, Problem> {
        q.get(name).map_or(Ok(default), |t| {
            t.parse()
                .map_err(|_| Problem::bad_parameter(name, format!("{t:?} is not a whole number")))
        })
    };
    let after = number("after", 0)?;
    let limit = number("limit", 1000)?.min(10_000) as usize;
    blocking(move || {
        let entries = state.evaluator.store.audit_trail(after, limit)?;
        Ok(Json(json!({ "entries": entries })))
    })
    .await
}

/// Loads every stored plugin into the runtime (at start, after the standard ones). A stored
/// plugin that no longer loads is skipped with a warning, not fatal: the service keeps serving.
pub fn restore(evaluator: &crate::eval::Evaluator) -> anyhow::Result<usize> {
    let mut loaded = 0;
    for (record, wasm) in evaluator.store.stored_plugins()? {
        match evaluator.runtime.load(&wasm) {
            Ok(_) => loaded += 1,
            Err(e) => tracing::warn!(
                plugin = %format!("{}@{}", record.name, record.version),
                "a stored plugin no longer loads: {e:#}"
            ),
        }
    }
    Ok(loaded)
}
