//! Plugins in a running service: `PUT /api/v1/plugins/{name}/{version}` uploads a component,
//! `GET /api/v1/plugins` lists what is loaded, `GET /api/v1/audit` lists every change.
//!
//! An upload is validated before anything changes: it compiles, exports the WIT world of this
//! API's major version (an incompatible one is refused naming both versions), describes itself
//! sanely, its name and version are the ones in the path, and it passes its self-test (its
//! bundled example evaluates to the example's expected figures within the sandbox limits; a
//! refusal lists the mismatches in `mismatches`). Only then is it stored (so a restart loads
//! it again) and activated; a refused upload leaves the active version untouched.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::auth::Caller;
use super::openapi::{RouteDoc, param};
use super::problem::Problem;
use super::routes::{Route, route};
use super::state::{AppState, blocking};
use crate::eval::rule_data_version;
use crate::lifecycle::install::{self, InstallError};
use crate::lifecycle::rule_data::{self, RuleDataError};
use crate::runtime::{Held, LoadedPlugin};
use crate::store::tokens::Role;

/// The routes of this module: each one's documentation (role, parameters) beside its handler.
pub fn routes() -> Vec<Route> {
    vec![
        route(
            const {
                RouteDoc {
                    method: "PUT",
                    path: "/api/v1/plugins/{name}/{version}",
                    role: Some(Role::Operator),
                    summary: "Upload a plugin component (the body); validated (including its self-test on its bundled example), stored and activated",
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
                }
            },
            upload,
        ),
        route(
            const {
                RouteDoc {
                    method: "POST",
                    path: "/api/v1/plugins/{name}/rollback",
                    role: Some(Role::Operator),
                    summary: "Undo the plugin's most recent activation: that version becomes inactive and products resolve among the versions active before it",
                    params: &[param("name", "path", true, "string", "the plugin's name")],
                    produces: "application/json",
                }
            },
            rollback,
        ),
        route(
            const {
                RouteDoc {
                    method: "POST",
                    path: "/api/v1/plugins/{name}/{version}/activate",
                    role: Some(Role::Operator),
                    summary: "Make a held plugin version active again (as the most recent activation)",
                    params: &[
                        param("name", "path", true, "string", "the plugin's name"),
                        param("version", "path", true, "string", "a held version"),
                    ],
                    produces: "application/json",
                }
            },
            activate,
        ),
        route(
            const {
                RouteDoc {
                    method: "POST",
                    path: "/api/v1/plugins/{name}/{version}/deactivate",
                    role: Some(Role::Operator),
                    summary: "Make a plugin version inactive; it stays held for rollback and past periods",
                    params: &[
                        param("name", "path", true, "string", "the plugin's name"),
                        param("version", "path", true, "string", "a held version"),
                    ],
                    produces: "application/json",
                }
            },
            deactivate,
        ),
        route(
            const {
                RouteDoc {
                    method: "PUT",
                    path: "/api/v1/plugins/{name}/config",
                    role: Some(Role::Operator),
                    summary: "Load rule data (the body, a JSON document with a \"version\") for a plugin; the plugin validates it first",
                    params: &[param("name", "path", true, "string", "the plugin's name")],
                    produces: "application/json",
                }
            },
            put_config,
        ),
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/api/v1/plugins/{name}/config",
                    role: Some(Role::Reader),
                    summary: "A plugin's rule data in force (loaded, or the plugin's default), and the versions of every document loaded for it",
                    params: &[param("name", "path", true, "string", "the plugin's name")],
                    produces: "application/json",
                }
            },
            get_config,
        ),
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/api/v1/plugins",
                    role: Some(Role::Reader),
                    summary: "Every plugin version held: name, version, digest, metrics, whether it is active and its activation order",
                    params: &[],
                    produces: "application/json",
                }
            },
            list,
        ),
        route(
            const {
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
                }
            },
            audit,
        ),
    ]
}

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
    let wanted = semver_parameter(&version)?;
    blocking(move || {
        let plugin = install::install(
            &state.evaluator.store,
            &state.evaluator.runtime,
            &body,
            Some((&name, &wanted)),
            &caller.who(),
        )
        .map_err(|e| candidate_problem(e, &name, &wanted))?;
        let registry = state.evaluator.runtime.registry();
        let held = registry
            .version(plugin.name(), plugin.version())
            .ok_or_else(|| Problem::from(anyhow::anyhow!("{} vanished", plugin.label())))?;
        Ok((StatusCode::CREATED, Json(describe(held))))
    })
    .await
}

/// A refused candidate plugin (an upload or a dry run of `name@version`) as a problem: 400
/// naming why (the `name` parameter when it describes itself otherwise), 409 for a held
/// version with other content.
pub(super) fn candidate_problem(e: InstallError, name: &str, version: &semver::Version) -> Problem {
    match e {
        InstallError::Invalid(e) => refused(format!("{e:#}")),
        InstallError::Mismatch { described, .. } => refused(format!(
            "it describes itself as {described}, the path says {name}@{version}"
        ))
        .with("parameter", "name"),
        other => lifecycle_problem(other),
    }
}

/// A refused lifecycle change as a problem: 409 when the state forbids it, 404 when nothing
/// is held under that name and version.
fn lifecycle_problem(e: InstallError) -> Problem {
    match e {
        InstallError::Conflict { .. } => {
            Problem::new(StatusCode::CONFLICT, "version-exists", e.to_string())
                .with("parameter", "version")
        }
        InstallError::NotHeld { .. } => {
            Problem::new(StatusCode::NOT_FOUND, "unknown-plugin", e.to_string())
                .with("parameter", "version")
        }
        InstallError::Refused(reason) => Problem::new(StatusCode::CONFLICT, "refused", reason),
        InstallError::Storage(e) => Problem::from(e),
        InstallError::Invalid(e) => refused(format!("{e:#}")),
        InstallError::Mismatch { .. } => refused(e.to_string()),
        InstallError::SelfTest(e) => {
            let mismatches = e.mismatches().to_vec();
            refused(e).with("mismatches", mismatches)
        }
    }
}

fn describe(held: &Held) -> Value {
    let p = &held.plugin;
    json!({
        "name": p.name(),
        "version": p.version().to_string(),
        "digest": p.digest(),
        "active": held.active,
        "activated": held.activated,
        "sdk_version": p.info().sdk_version,
        "metrics": p.info().metrics.iter().map(|m| json!({
            "code_name": m.code_name, "name": m.name, "unit": m.unit,
        })).collect::<Vec<_>>(),
    })
}

/// `GET /api/v1/plugins`: every version held, active or not.
pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let registry = state.evaluator.runtime.registry();
    Json(Value::Array(registry.held().map(describe).collect()))
}

pub(super) fn semver_parameter(version: &str) -> Result<semver::Version, Problem> {
    semver::Version::parse(version)
        .map_err(|e| Problem::bad_parameter("version", format!("{version:?} is not semver: {e}")))
}

/// `POST /api/v1/plugins/{name}/rollback`.
pub async fn rollback(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Value>, Problem> {
    blocking(move || {
        let evaluator = &state.evaluator;
        let (rolled_back, now) =
            install::rollback(&evaluator.store, &evaluator.runtime, &name, &caller.who())
                .map_err(lifecycle_problem)?;
        Ok(Json(
            json!({"rolled_back": describe(&rolled_back), "current": describe(&now)}),
        ))
    })
    .await
}

/// `POST /api/v1/plugins/{name}/{version}/activate`.
pub async fn activate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, Problem> {
    change_state(state, caller, name, version, install::activate).await
}

/// `POST /api/v1/plugins/{name}/{version}/deactivate`.
pub async fn deactivate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, Problem> {
    change_state(state, caller, name, version, install::deactivate).await
}

/// The signature of [`install::activate`] and [`install::deactivate`].
type StateChange = fn(
    &crate::store::Store,
    &crate::runtime::Runtime,
    &str,
    &semver::Version,
    &str,
) -> Result<Held, InstallError>;

async fn change_state(
    state: AppState,
    caller: Caller,
    name: String,
    version: String,
    change: StateChange,
) -> Result<Json<Value>, Problem> {
    let version = semver_parameter(&version)?;
    blocking(move || {
        let evaluator = &state.evaluator;
        let held = change(
            &evaluator.store,
            &evaluator.runtime,
            &name,
            &version,
            &caller.who(),
        )
        .map_err(lifecycle_problem)?;
        Ok(Json(describe(&held)))
    })
    .await
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

/// The highest loaded version of plugin `name`, or a 404 naming the parameter.
fn loaded_plugin(state: &AppState, name: &str) -> Result<Arc<LoadedPlugin>, Problem> {
    state
        .evaluator
        .runtime
        .resolve(name, &semver::VersionReq::STAR)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::NOT_FOUND,
                "unknown-plugin",
                format!("no loaded plugin {name:?}"),
            )
            .with("parameter", "name")
        })
}

/// `PUT /api/v1/plugins/{name}/config`: the highest loaded version of the plugin validates the
/// document (its `prepare` parses it and names the JSON pointer at fault) before it is stored
/// (see [`rule_data::load`]). Cached results are keyed by the document's `version`, so a
/// changed document must carry a new one.
pub async fn put_config(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: String,
) -> Result<Json<Value>, Problem> {
    blocking(move || {
        let plugin = loaded_plugin(&state, &name)?;
        let loaded = rule_data::load(&state.evaluator.store, &plugin, &body, &caller.who())
            .map_err(rule_data_problem)?;
        Ok(Json(json!({
            "plugin": name,
            "validated_by": plugin.label(),
            "version": loaded.version,
            "digest": loaded.digest,
        })))
    })
    .await
}

/// A refused rule-data document as a problem: 400 naming the field or the plugin's error
/// code, 502 when the plugin failed while checking it.
pub(super) fn rule_data_problem(e: RuleDataError) -> Problem {
    let invalid = |e: &RuleDataError| {
        Problem::new(StatusCode::BAD_REQUEST, "rule-data-invalid", e.to_string())
    };
    match e {
        RuleDataError::NotJson(_) => invalid(&e).with("field", "body"),
        RuleDataError::VersionReused { .. } => invalid(&e).with("field", "/version"),
        RuleDataError::Refused { ref code, .. } => {
            let code = code.clone();
            invalid(&e).with("code", code)
        }
        RuleDataError::Failure(failure) => Problem::new(
            StatusCode::BAD_GATEWAY,
            "plugin-failure",
            failure.to_string(),
        ),
        RuleDataError::Storage(e) => Problem::from(e),
    }
}

/// `GET /api/v1/plugins/{name}/config`.
pub async fn get_config(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, Problem> {
    blocking(move || {
        let plugin = loaded_plugin(&state, &name)?;
        let (document, loaded) = state.evaluator.rule_data_in_force(&plugin)?;
        let source = if loaded { "loaded" } else { "default" };
        let version = rule_data_version(&document);
        let document: Value = serde_json::from_str(&document).unwrap_or(Value::String(document));
        let kept = state.evaluator.store.rule_data_versions(&name)?;
        Ok(Json(json!({
            "plugin": name,
            "source": source,
            "version": version,
            "rule_data": document,
            "loaded_versions": kept,
        })))
    })
    .await
}

/// Loads every stored plugin into the runtime with its recorded state (at start, after the
/// standard ones); see [`install::restore`].
pub fn restore(evaluator: &crate::eval::Evaluator) -> anyhow::Result<usize> {
    install::restore(&evaluator.store, &evaluator.runtime)
}
