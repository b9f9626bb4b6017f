//! Health, version and the 404 answer.

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::{Extension, Json};
use serde_json::{Map, Value, json};

use super::auth::Caller;
use super::openapi::RouteDoc;
use super::problem::Problem;
use super::routes::{Route, route};
use super::state::{AppState, blocking};
use crate::runtime::wit::API_VERSION;
use crate::store::tokens::Role;

/// The routes of this module: each one's documentation (role, parameters) beside its handler.
pub fn routes() -> Vec<Route> {
    vec![
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/api/v1/health",
                    role: Some(Role::Reader),
                    summary: "Liveness, fact sequence, loaded plugins and the newest data-quality warnings",
                    params: &[],
                    produces: "application/json",
                }
            },
            health,
        ),
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/api/v1/version",
                    role: None,
                    summary: "licmetric's version, plugin API version and loaded plugins",
                    params: &[],
                    produces: "application/json",
                }
            },
            version,
        ),
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/api/openapi.json",
                    role: None,
                    summary: "This document",
                    params: &[],
                    produces: "application/json",
                }
            },
            openapi_document,
        ),
    ]
}

/// `GET /api/v1/health`: liveness, fact sequence, plugins and (unscoped) data-quality warnings.
pub async fn health(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, Problem> {
    blocking(move || {
        let store = &state.evaluator.store;
        // Warnings name servers and consumers of every scope: a scoped reader gets none.
        let warnings = match caller.scope() {
            None => store.warnings()?,
            Some(_) => Vec::new(),
        };
        Ok(Json(json!({
            "status": "ok",
            "uptime_s": state.started.elapsed().as_secs(),
            "fact_sequence": store.committed_sequence()?,
            "plugins": state.evaluator.runtime.plugins().iter().map(|p| json!({
                "name": p.name(), "version": p.version().to_string(), "digest": p.digest(),
            })).collect::<Vec<_>>(),
            // Data-quality warnings of the evaluated days, newest per product and code.
            "warnings": warnings,
        })))
    })
    .await
}

/// licmetric's name, version and plugin API version: what both `/version` routes say.
/// licmetric records no build date, so none is claimed.
pub fn version_fields() -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("name".into(), json!("licmetric"));
    fields.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    fields.insert(
        "plugin_api".into(),
        json!(format!("licmetric:plugin@{API_VERSION}")),
    );
    fields
}

/// [`version_fields`] and the loaded plugins.
pub async fn version(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    let store = state.evaluator.store.clone();
    // The key that verifies this service's snapshots, so `snapshot verify --public-key` need
    // not trust the key a zip carries.
    let key = blocking(move || Ok(store.snapshot_signing_key()?)).await?;
    let mut fields = version_fields();
    fields.insert(
        "snapshot_public_key".into(),
        json!(hex::encode(key.verifying_key().to_bytes())),
    );
    fields.insert(
        "plugins".into(),
        state
            .evaluator
            .runtime
            .plugins()
            .iter()
            .map(|p| {
                json!({
                    "name": p.name(), "version": p.version().to_string(), "digest": p.digest(),
                    "sdk_version": p.info().sdk_version,
                })
            })
            .collect(),
    );
    Ok(Json(Value::Object(fields)))
}

/// The answer for a path no route serves: a 404 problem.
pub async fn not_found(uri: Uri) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        format!("no route for {}", uri.path()),
    )
}

/// `GET /api/openapi.json`: the document of the routes this service serves.
pub async fn openapi_document(State(state): State<AppState>) -> Json<Value> {
    Json(super::openapi::document(&state.routes))
}
