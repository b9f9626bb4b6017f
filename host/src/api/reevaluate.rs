//! `POST /api/v1/reevaluate`: a past period evaluated again with the plugin and rule-data
//! versions recorded for it, whatever is active or in force now.
//!
//! The body names the period as a usage answer's `period` does (`start`, `end`, the end not
//! included) and, per product, the provenance its usage answer carried:
//! `{"product", "plugin_digest", "rule_data_version"}`. A digest resolves to a held plugin
//! version, else to a stored component (compiled again, or read from the compile cache); a
//! rule-data version to the document loaded under it for that plugin's name, else the
//! plugin's default when that carries the version. The answer is one usage answer per product,
//! formatted as `GET /api/v1/usage` formats it. Scoped readers see their scope's share, as in
//! every read. Days are computed afresh and never cached.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::NaiveDate;
use serde_json::{Value, json};

use super::auth::Caller;
use super::openapi::RouteDoc;
use super::params::check_period;
use super::problem::Problem;
use super::read::eval_problem;
use super::routes::{Route, route};
use super::state::{AppState, blocking};
use super::usage::{buckets, product_usage};
use crate::eval::report::restrict_all;
use crate::eval::{Detail, rule_data_version};
use crate::runtime::LoadedPlugin;
use crate::store::records::Product;
use crate::store::tokens::Role;

/// The routes of this module: each one's documentation (role, parameters) beside its handler.
pub fn routes() -> Vec<Route> {
    vec![route(
        const {
            RouteDoc {
                method: "POST",
                path: "/api/v1/reevaluate",
                role: Some(Role::Reader),
                summary: "Evaluate a past period again with the plugin digest and rule-data version recorded per product (body: {start, end, products: [{product, plugin_digest, rule_data_version}]}); answers each product's usage as /api/v1/usage does",
                params: &[],
                produces: "application/json",
            }
        },
        reevaluate,
    )]
}

/// One product of the request, resolved.
struct Pinned {
    product: Product,
    plugin: Arc<LoadedPlugin>,
    rule_data: String,
}

/// `POST /api/v1/reevaluate`.
pub async fn reevaluate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: String,
) -> Result<Json<Value>, Problem> {
    let request: Value =
        serde_json::from_str(&body).map_err(|e| bad_field("body", format!("not JSON: {e}")))?;
    let text = |field: &str| -> Result<Option<&str>, Problem> {
        match request.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(bad_field(field, format!("{other} is not a string"))),
        }
    };
    let date = |field: &str| -> Result<NaiveDate, Problem> {
        let t = text(field)?.ok_or_else(|| bad_field(field, "is required (YYYY-MM-DD)"))?;
        NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map_err(|_| bad_field(field, format!("{t:?} is not a date (YYYY-MM-DD)")))
    };
    let (start, end) = (date("start")?, date("end")?);
    check_period("end", start, end)?;
    let (unit, week_start) = buckets(text("time_unit")?, text("week_start")?)?;
    let wanted = provenance(&request)?;
    blocking(move || {
        let pinned = wanted
            .iter()
            .enumerate()
            .map(|(i, w)| resolve(&state, i, w))
            .collect::<Result<Vec<_>, _>>()?;
        let products: Vec<Product> = pinned.iter().map(|p| p.product.clone()).collect();
        let pins = pinned
            .into_iter()
            .map(|p| (p.product.id, (p.plugin, p.rule_data.into())))
            .collect();
        let now = chrono::Utc::now().timestamp_millis();
        // As /api/v1/usage: the peaks' contributors (every day's for a scoped caller).
        let detail = match caller.scope() {
            Some(_) => Detail::All,
            None => Detail::Peaks,
        };
        let results = state
            .evaluator
            .with_pinned(pins)
            .days_with(&products, start, end, now, detail)
            .map_err(eval_problem)?;
        let answers: Vec<Value> = products
            .iter()
            .zip(restrict_all(results, caller.scope()))
            .map(|(product, days)| {
                match days
                    .map_err(eval_problem)
                    .and_then(|d| product_usage(&d, start, end, unit, week_start))
                {
                    Ok(usage) => serde_json::to_value(usage).unwrap_or(Value::Null),
                    Err(problem) => json!({"product": product.id, "problem": problem}),
                }
            })
            .collect();
        Ok(Json(json!({
            "period": {"start": start.to_string(), "end": end.to_string()},
            "products": answers,
        })))
    })
    .await
}

/// What the request asks for one product.
struct Wanted {
    product: String,
    plugin_digest: String,
    rule_data_version: String,
}

/// The request's `products`, each with its three provenance fields (400 naming the first at
/// fault; a product listed twice is refused).
fn provenance(request: &Value) -> Result<Vec<Wanted>, Problem> {
    let list = match request.get("products") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        Some(Value::Array(_)) => return Err(bad_field("products", "lists no product")),
        Some(_) => return Err(bad_field("products", "is not an array")),
        None => return Err(bad_field("products", "is required")),
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let field = |name: &str| -> Result<String, Problem> {
            match item.get(name) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                Some(other) => Err(bad_field(
                    &format!("products[{i}].{name}"),
                    format!("{other} is not a non-empty string"),
                )),
                None => Err(bad_field(&format!("products[{i}].{name}"), "is required")),
            }
        };
        let wanted = Wanted {
            product: field("product")?,
            plugin_digest: field("plugin_digest")?,
            rule_data_version: field("rule_data_version")?,
        };
        if !seen.insert(wanted.product.clone()) {
            return Err(bad_field(
                &format!("products[{i}].product"),
                format!("product {:?} is listed twice", wanted.product),
            ));
        }
        out.push(wanted);
    }
    Ok(out)
}

/// The product record, the plugin with the recorded digest and the document with the recorded
/// version; 422 naming the product and the field when one is unknown.
fn resolve(state: &AppState, i: usize, wanted: &Wanted) -> Result<Pinned, Problem> {
    let evaluator = &state.evaluator;
    let unknown = |field: &str, code: &str, detail: String| {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
            .with("product", &wanted.product)
            .with("field", format!("products[{i}].{field}"))
    };
    let product = evaluator.store.product(&wanted.product)?.ok_or_else(|| {
        unknown(
            "product",
            "unknown-product",
            format!("no product {:?}", wanted.product),
        )
    })?;
    let digest = &wanted.plugin_digest;
    let plugin = match evaluator.runtime.registry().by_digest(digest) {
        Some(held) => held,
        None => {
            let wasm = evaluator.store.plugin_blob(digest)?.ok_or_else(|| {
                unknown(
                    "plugin_digest",
                    "unknown-plugin-digest",
                    format!(
                        "product {:?}: no plugin with digest {digest} is held or stored",
                        wanted.product
                    ),
                )
            })?;
            evaluator.runtime.prepare(&wasm).map_err(|e| {
                unknown(
                    "plugin_digest",
                    "plugin-unusable",
                    format!(
                        "product {:?}: the stored plugin {digest} no longer loads: {e:#}",
                        wanted.product
                    ),
                )
            })?
        }
    };
    let bound = product.binding().map(|(name, _)| name).unwrap_or_default();
    if plugin.name() != bound {
        return Err(unknown(
            "plugin_digest",
            "wrong-plugin",
            format!(
                "product {:?}: {digest} is {}, but the product is bound to plugin {bound:?}",
                wanted.product,
                plugin.label()
            ),
        ));
    }
    let version = &wanted.rule_data_version;
    let default = &plugin.info().default_rule_data;
    let rule_data = match evaluator.store.rule_data_version(plugin.name(), version)? {
        Some(kept) => kept,
        None if rule_data_version(default) == *version => default.clone(),
        None => {
            return Err(unknown(
                "rule_data_version",
                "unknown-rule-data-version",
                format!(
                    "product {:?}: no rule data {version:?} was loaded for plugin {:?}, nor is it the default of {}",
                    wanted.product,
                    plugin.name(),
                    plugin.label()
                ),
            ));
        }
    };
    Ok(Pinned {
        product,
        plugin,
        rule_data,
    })
}

/// 400 naming a field of the request body.
fn bad_field(field: &str, reason: impl std::fmt::Display) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid-field",
        format!("{field}: {reason}"),
    )
    .with("field", field)
}
