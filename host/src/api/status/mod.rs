//! IBM License Service style service pages: `GET /` and `GET /version` (public, for probes
//! and load balancers), `GET /health` (License Service's data-quality answer: workloads whose
//! licensing data is incomplete) and `GET /status`, an HTML page a person can read: every
//! product's period figures, data freshness, the loaded plugins, warnings and errors.

use std::collections::{HashMap, HashSet};

pub mod chart;
mod drill;
mod page;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, http::HeaderValue};
use serde_json::{Value, json};

use super::auth::Caller;
use super::openapi::{RouteDoc, param};
use super::params::{END_DATE, START_DATE, start_and_end_dates};
use super::read;
use super::routes::{Route, route};
use crate::api::problem::Problem;
use crate::api::state::{AppState, blocking};
use crate::store::Store;
use crate::store::timeline::{Interner, Window};
use crate::store::tokens::Role;

/// The routes of this module: each one's documentation (role, parameters) beside its handler.
pub fn routes() -> Vec<Route> {
    vec![
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/",
                    role: None,
                    summary: "Liveness probe (no token), as License Service's",
                    params: &[],
                    produces: "application/json",
                }
            },
            liveness,
        ),
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/health",
                    role: Some(Role::Reader),
                    summary: "License Service: pods whose licensing data is incomplete (incompleteAnnotations)",
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
                    path: "/version",
                    role: None,
                    summary: "licmetric's version and plugin API version (no token)",
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
                    path: "/status",
                    role: Some(Role::Reader),
                    summary: "Status page (HTML): compliance, usage charts, freshness, warnings, plugins",
                    params: &[START_DATE, END_DATE],
                    produces: "text/html",
                }
            },
            status,
        ),
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/status/products/{id}",
                    role: Some(Role::Reader),
                    summary: "A product's peak day (HTML): explanation, top consumers with their groups, \
                  chargeback lines; one table as CSV with table and format=csv",
                    params: &[
                        START_DATE,
                        END_DATE,
                        param("id", "path", true, "string", "product id"),
                        param(
                            "table",
                            "query",
                            false,
                            "string",
                            "with format=csv: consumers or chargeback",
                        ),
                        param("format", "query", false, "string", "html (default) or csv"),
                    ],
                    produces: "text/html",
                }
            },
            product,
        ),
    ]
}

/// The service answers; nothing else is said without a token.
pub async fn liveness() -> Json<Value> {
    Json(json!({"status": "UP"}))
}

/// `GET /health`: License Service's `{"incompleteAnnotations": {"pods": [{name, namespace}],
/// "count"}}`, the pods present now whose licensing data licmetric cannot count as sent: a
/// `product` that names no product record, or half a bundle (`bundle` without `ratio` or the
/// reverse). Costs one read of the pods' current states.
pub async fn health(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    blocking(move || {
        let pods = incomplete_pods(&state.evaluator.store)?;
        let count = pods.len();
        let pods: Vec<Value> = pods
            .into_iter()
            .map(|(name, namespace)| json!({"name": name, "namespace": namespace}))
            .collect();
        Ok(Json(
            json!({"incompleteAnnotations": {"pods": pods, "count": count}}),
        ))
    })
    .await
}

/// (key, namespace) of each pod present now with incomplete licensing data, by key.
fn incomplete_pods(store: &Store) -> anyhow::Result<Vec<(String, String)>> {
    use licmetric_sdk::facts::{ABSENT, Strings, request};
    use licmetric_sdk::types::{Selection, ValueType};
    let now = chrono::Utc::now().timestamp_millis();
    let attributes = [
        ("namespace", ValueType::Text),
        ("product", ValueType::Text),
        ("bundle", ValueType::Text),
        ("ratio", ValueType::Text),
    ];
    let mut interner = Interner::default();
    let pods = store
        .timelines(
            &[request("pod", &attributes, Selection::States)],
            Window {
                start: now,
                end: now + 1,
            },
            &mut interner,
        )?
        .remove(0);
    let table = interner.table();
    let strings = Strings::new(&table);
    let text = |column: usize, i: usize| {
        let v = pods.columns[column][i];
        (v != ABSENT).then(|| strings.get(v as u32))
    };
    let products: HashSet<String> = store.products()?.into_iter().map(|p| p.id).collect();
    let mut out = Vec::new();
    for i in 0..pods.entity.len() {
        if !(pods.from[i] <= now && now < pods.to[i]) {
            continue;
        }
        let known = text(1, i).is_some_and(|p| products.contains(p));
        if !known || text(2, i).is_some() != text(3, i).is_some() {
            out.push((
                strings.get(pods.entity[i]).to_string(),
                text(0, i).unwrap_or("").to_string(),
            ));
        }
    }
    out.sort();
    Ok(out)
}

/// What is running (the fields of `/api/v1/version` without the plugin list).
pub async fn version() -> Json<Value> {
    Json(Value::Object(super::meta::version_fields()))
}

/// `text` with `& < > " '` replaced by character references, safe in HTML text and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `&token=…` for links when the page was asked for with `?token=` (License Service's way), so
/// a browser that holds no header keeps its access while following them.
fn token_query(q: &HashMap<String, String>) -> String {
    q.get("token")
        .map(|t| format!("&token={}", url_escape(t)))
        .unwrap_or_default()
}

fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn html(page: String) -> Response {
    let mut response = page.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// `GET /status`: the page a licence manager reads at a glance ([`page`]).
pub async fn status(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    let (start, end) = start_and_end_dates(&q)?;
    let token_query = token_query(&q);
    let page = blocking(move || {
        let report = read::report(&state, &caller, start, end)?;
        let store = &state.evaluator.store;
        // Warnings and sources name consumers and collectors: a scoped caller sees neither.
        let (warnings, sources) = match caller.scope() {
            None => (Some(store.warnings()?), store.source_tallies()?),
            Some(_) => (None, Vec::new()),
        };
        let plugins = state
            .evaluator
            .runtime
            .plugins()
            .iter()
            .map(|p| {
                (
                    p.name().to_string(),
                    p.version().to_string(),
                    p.digest().to_string(),
                )
            })
            .collect();
        let context = page::Context {
            warnings: warnings.as_deref(),
            plugins,
            sources: &sources,
            today: chrono::Utc::now().date_naive(),
            token_query,
        };
        Ok(page::render(&report, &context))
    })
    .await?;
    Ok(html(page))
}

/// `GET /status/products/{id}`: the drill-down from a product's figure ([`drill`]).
pub async fn product(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(id): axum::extract::Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    let (start, end) = start_and_end_dates(&q)?;
    let csv = match q.get("format").map(String::as_str) {
        None | Some("html") => None,
        Some("csv") => Some(match q.get("table").map(String::as_str) {
            Some("consumers") => drill::Table::Consumers,
            Some("chargeback") => drill::Table::Chargeback,
            other => {
                return Err(Problem::bad_parameter(
                    "table",
                    format!("{other:?}: give consumers or chargeback with format=csv"),
                ));
            }
        }),
        Some(other) => {
            return Err(Problem::bad_parameter(
                "format",
                format!("{other:?} is not html or csv"),
            ));
        }
    };
    let token_query = token_query(&q);
    blocking(move || {
        let days = read::product_days(&state, &caller, &id, start, end, crate::eval::Detail::All)?;
        let view = drill::View::of(&days, start, end);
        Ok(match csv {
            Some(table) => (
                [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
                view.csv(table),
            )
                .into_response(),
            None => html(view.render(&token_query)),
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    fn period(pairs: &[(&str, &str)]) -> Result<(String, String), String> {
        let q: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        super::start_and_end_dates(&q)
            .map(|(s, e)| (s.to_string(), e.to_string()))
            .map_err(|p| format!("{} {}", p.status, p.detail))
    }

    #[test]
    fn period_includes_end_date_and_names_it_when_reversed() {
        assert_eq!(
            period(&[("startDate", "2026-03-01"), ("endDate", "2026-03-31")]),
            Ok(("2026-03-01".into(), "2026-04-01".into()))
        );
        assert_eq!(
            period(&[("endDate", "2026-03-31")]),
            Ok(("2026-03-02".into(), "2026-04-01".into()))
        );
        let e = period(&[("startDate", "2026-03-05"), ("endDate", "2026-03-04")]).unwrap_err();
        // Named by the end parameter, with the dates as sent (not the exclusive end).
        assert_eq!(
            e,
            "400 parameter endDate: 2026-03-04 is before startDate 2026-03-05"
        );
    }

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            super::escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
