//! `POST /api/v1/plugins/{name}/{version}/dry-run?start=…&end=…`: what a candidate plugin or
//! rule-data document would make of the stored facts, next to what is served now, before
//! anything is activated.
//!
//! The candidate is the body: a component (it starts with `\0asm`), validated exactly as an
//! upload is ([`install::validate`]); nothing, to try the held (e.g. inactive) version
//! `name@version`; or a JSON rule-data document, validated by that held version as
//! `PUT /api/v1/plugins/{name}/config` validates ([`rule_data::validate`]). Every product bound
//! to plugin `name` is evaluated twice over the days `start` to `end` (both included): as
//! served now (the daily-result cache helps), and with the candidate (afresh, never cached).
//! Nothing is stored, activated or audited.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{NaiveDate, Weekday};
use licmetric_sdk::Exact;
use serde_json::{Value, json};

use super::auth::Caller;
use super::openapi::{Param, RouteDoc, param};
use super::params::{PeriodDefaults, inclusive_period};
use super::plugins::{candidate_problem, rule_data_problem, semver_parameter};
use super::problem::Problem;
use super::read::eval_problem;
use super::routes::{Route, route};
use super::state::{AppState, blocking};
use crate::eval::period::{self, Usage};
use crate::eval::report::restrict_all;
use crate::eval::{Detail, EvalError, Evaluator, ProductDays};
use crate::lifecycle::install;
use crate::lifecycle::rule_data;
use crate::runtime::{LoadedPlugin, Registry};
use crate::store::records::Product;
use crate::store::tokens::Role;

const PARAMS: [Param; 4] = [
    param("name", "path", true, "string", "the plugin's name"),
    param(
        "version",
        "path",
        true,
        "string",
        "the candidate's version (a component in the body must describe itself so); with rule data or no body, a held version",
    ),
    param(
        "start",
        "query",
        true,
        "date",
        "first day evaluated (YYYY-MM-DD)",
    ),
    param(
        "end",
        "query",
        true,
        "date",
        "last day evaluated, included (YYYY-MM-DD)",
    ),
];

/// The routes of this module: each one's documentation (role, parameters) beside its handler.
pub fn routes() -> Vec<Route> {
    vec![route(
        const {
            RouteDoc {
                method: "POST",
                path: "/api/v1/plugins/{name}/{version}/dry-run",
                role: Some(Role::Operator),
                summary: "Evaluate a candidate (body: a component, a rule-data document, or nothing for the held version) on the stored facts: per product bound to the plugin, the current and the candidate high-water mark side by side; nothing is stored or activated",
                params: &PARAMS,
                produces: "application/json",
            }
        },
        dry_run,
    )]
}

/// What is tried.
enum Candidate {
    /// A plugin version, from the body or held.
    Plugin {
        plugin: Arc<LoadedPlugin>,
        source: &'static str,
    },
    /// A rule-data document, validated by the held plugin version.
    RuleData {
        plugin: Arc<LoadedPlugin>,
        document: String,
        validated: rule_data::Validated,
    },
}

/// `POST /api/v1/plugins/{name}/{version}/dry-run`.
pub async fn dry_run(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((name, version)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Json<Value>, Problem> {
    let version = semver_parameter(&version)?;
    let required = |n: &'static str| {
        q.get(n)
            .map(String::as_str)
            .ok_or_else(|| Problem::bad_parameter(n, "is required (YYYY-MM-DD)"))
    };
    let (start, end) = inclusive_period(
        ("start", Some(required("start")?)),
        ("end", Some(required("end")?)),
        // Never used: both dates are required.
        PeriodDefaults {
            last: NaiveDate::MIN,
            start_days_before: 0,
        },
    )?;
    blocking(move || {
        let candidate = candidate(&state, &name, &version, &body)?;
        let answer = compare(&state, &caller, &name, &candidate, start, end)?;
        Ok(Json(answer))
    })
    .await
}

/// The candidate the body makes, validated; 404 when the version it needs is not held.
fn candidate(
    state: &AppState,
    name: &str,
    version: &semver::Version,
    body: &[u8],
) -> Result<Candidate, Problem> {
    let evaluator = &state.evaluator;
    if body.starts_with(b"\0asm") {
        let plugin = install::validate(&evaluator.runtime, body, Some((name, version)))
            .map_err(|e| candidate_problem(e, name, version))?;
        return Ok(Candidate::Plugin {
            plugin,
            source: "body",
        });
    }
    let held = held(&evaluator.runtime.registry(), name, version)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Candidate::Plugin {
            plugin: held,
            source: "held",
        });
    }
    let document = String::from_utf8(body.to_vec()).map_err(|_| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-candidate",
            "the body is neither a component (\\0asm…) nor a UTF-8 JSON rule-data document",
        )
        .with("field", "body")
    })?;
    let validated =
        rule_data::validate(&evaluator.store, &held, &document).map_err(rule_data_problem)?;
    Ok(Candidate::RuleData {
        plugin: held,
        document,
        validated,
    })
}

/// The held version `name@version`, or a 404 naming the parameter at fault.
fn held(
    registry: &Registry,
    name: &str,
    version: &semver::Version,
) -> Result<Arc<LoadedPlugin>, Problem> {
    if let Some(held) = registry.version(name, version) {
        return Ok(held.plugin.clone());
    }
    let (parameter, detail) = if registry.held().any(|h| h.plugin.name() == name) {
        (
            "version",
            format!("no plugin {name}@{version} is held; send the component as the body"),
        )
    } else {
        ("name", format!("no plugin {name:?} is held"))
    };
    Err(Problem::new(StatusCode::NOT_FOUND, "unknown-plugin", detail).with("parameter", parameter))
}

/// Evaluates the products bound to `name` as served now and with the candidate.
fn compare(
    state: &AppState,
    caller: &Caller,
    name: &str,
    candidate: &Candidate,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Value, Problem> {
    let evaluator = &state.evaluator;
    let products: Vec<Product> = evaluator
        .store
        .products()?
        .into_iter()
        .filter(|p| p.binding().is_ok_and(|(n, _)| n == name))
        .collect();
    let registry = evaluator.runtime.registry();
    let (trial, affected, described): (Evaluator, Vec<bool>, Value) = match candidate {
        Candidate::Plugin { plugin, source } => {
            let affected = products
                .iter()
                .map(|p| {
                    p.binding()
                        .is_ok_and(|(_, req)| req.matches(plugin.version()))
                })
                .collect();
            (
                evaluator.with_candidate_plugin(plugin.clone()),
                affected,
                json!({
                    "kind": "plugin",
                    "source": source,
                    "plugin": plugin.label(),
                    "digest": plugin.digest(),
                    "active": registry.version(plugin.name(), plugin.version()).is_some_and(|h| h.active && h.plugin.digest() == plugin.digest()),
                }),
            )
        }
        Candidate::RuleData {
            plugin,
            document,
            validated,
        } => {
            // Rule data is per plugin name: a product resolves as now (to the held version
            // when its requirement matches it) and every one that resolves gets the document.
            let mut pins = BTreeMap::new();
            let document: Arc<str> = document.as_str().into();
            for p in &products {
                let Ok((n, req)) = p.binding() else { continue };
                let resolved = if req.matches(plugin.version()) {
                    Some(plugin.clone())
                } else {
                    registry.resolve(&n, &req)
                };
                if let Some(resolved) = resolved {
                    pins.insert(p.id.clone(), (resolved, document.clone()));
                }
            }
            let affected = products.iter().map(|p| pins.contains_key(&p.id)).collect();
            (
                evaluator.with_pinned(pins),
                affected,
                json!({
                    "kind": "rule_data",
                    "version": validated.version,
                    "digest": validated.digest,
                    "validated_by": plugin.label(),
                }),
            )
        }
    };
    let now = chrono::Utc::now().timestamp_millis();
    let scope = caller.scope();
    // A scoped caller's view is cut along contributors.
    let detail = if scope.is_some() {
        Detail::All
    } else {
        Detail::None
    };
    let current = evaluator
        .days_with(&products, start, end, now, detail)
        .map_err(eval_problem)?;
    let proposed = trial
        .days_with(&products, start, end, now, detail)
        .map_err(eval_problem)?;
    let rows: Vec<Value> = products
        .iter()
        .zip(restrict_all(current, scope))
        .zip(restrict_all(proposed, scope))
        .zip(affected)
        .map(|(((product, current), proposed), affected)| {
            let current = usage(&current, start, end);
            let proposed = usage(&proposed, start, end);
            let difference = match (&current, &proposed) {
                (Ok(c), Ok(p)) => Some(exact(&p.quantity) - exact(&c.quantity)),
                _ => None,
            };
            json!({
                "product": product.id,
                "metric": product.metric,
                "affected": affected,
                "current": figures(&current),
                "candidate": figures(&proposed),
                "difference": difference.map(|d| d.to_string()),
            })
        })
        .collect();
    Ok(json!({
        "plugin": name,
        "candidate": described,
        "period": {
            "first_day": start.to_string(),
            "last_day": end.pred_opt().unwrap_or(end).to_string(),
        },
        "products": rows,
    }))
}

fn usage(
    days: &Result<ProductDays, EvalError>,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Usage, EvalError> {
    days.as_ref()
        .map_err(Clone::clone)
        .and_then(|d| period::usage(d, start, end, None, Weekday::Mon))
}

fn exact(text: &str) -> Exact {
    text.parse().unwrap_or(Exact::ZERO)
}

/// A product's period figures as the usage answer gives them, or why there are none.
fn figures(usage: &Result<Usage, EvalError>) -> Value {
    match usage {
        Ok(u) => json!({
            "quantity": u.quantity,
            "peak_date": u.peak_date,
            "plugin": u.plugin,
            "plugin_digest": u.plugin_digest,
            "rule_data_version": u.rule_data_version,
        }),
        Err(e) => json!({"error": e, "detail": e.to_string()}),
    }
}
