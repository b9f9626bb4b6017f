//! IBM License Service compatible data endpoints: `GET /products`, `/bundled_products`,
//! `/services` and the audit snapshot `GET /snapshot` (also at `/api/v1/snapshot`).
//!
//! Parameters as License Service's: `startDate` and `endDate` (YYYY-MM-DD, both inclusive;
//! default the 30 days ending today, UTC), `metricName` (a metric code name), `groupName`
//! (each product's, bundled product's or service's part in that chargeback group, by each
//! product's chargeback configuration) and `format` (`json`,
//! default, or `csv`: the same fields as columns under a header row). The rows themselves are
//! built by [`crate::snapshot::tables`] from the caller's report, so a scoped reader sees only
//! its scope's consumers here as everywhere.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::NaiveDate;

use super::auth::Caller;
use super::openapi::{Param, RouteDoc, param};
use super::params::{END_DATE, START_DATE, start_and_end_dates};
use super::problem::Problem;
use super::read::{detailed_report, report};
use super::routes::{Route, route};
use super::state::{AppState, blocking};
use crate::eval::Detail;
use crate::snapshot::{self, PluginLine, tables};
use crate::store::tokens::Role;

const METRIC: Param = param(
    "metricName",
    "query",
    false,
    "string",
    "only this metric code name (e.g. VIRTUAL_PROCESSOR_CORE)",
);
const FORMAT: Param = param("format", "query", false, "string", "json (default) or csv");
const GROUP: Param = param(
    "groupName",
    "query",
    false,
    "string",
    "only this chargeback group's part (each product's chargeback configuration says which \
     consumer attribute groups: cost_center by default)",
);

/// The routes of this module: each one's documentation (role, parameters) beside its handler.
pub fn routes() -> Vec<Route> {
    vec![
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/products",
                    role: Some(Role::Reader),
                    summary: "License Service: each product's peak quantity and peak day over the period",
                    params: &[START_DATE, END_DATE, METRIC, GROUP, FORMAT],
                    produces: "application/json",
                }
            },
            products,
        ),
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/bundled_products",
                    role: Some(Role::Reader),
                    summary: "License Service: bundle (Cloud Pak) members' measured and converted quantity \
                  on the bundle's peak day",
                    params: &[START_DATE, END_DATE, METRIC, GROUP, FORMAT],
                    produces: "application/json",
                }
            },
            bundled_products,
        ),
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/services",
                    role: Some(Role::Reader),
                    summary: "License Service: what each consumer of a bundled product contributed on the \
                  bundle's peak day",
                    params: &[START_DATE, END_DATE, METRIC, GROUP, FORMAT],
                    produces: "application/json",
                }
            },
            services,
        ),
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/snapshot",
                    role: Some(Role::Reader),
                    summary: "License Service: signed audit snapshot (zip of CSV reports) for the period",
                    params: &[START_DATE, END_DATE, METRIC],
                    produces: "application/zip",
                }
            },
            snapshot,
        ),
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/api/v1/snapshot",
                    role: Some(Role::Reader),
                    summary: "Signed audit snapshot (zip of CSV reports) for the period",
                    params: &[START_DATE, END_DATE, METRIC],
                    produces: "application/zip",
                }
            },
            snapshot,
        ),
    ]
}

/// A License Service query, parsed.
struct Request {
    /// `[start, end)`: `end` is the day after `endDate`.
    start: NaiveDate,
    end: NaiveDate,
    metric: Option<String>,
    group: Option<String>,
    csv: bool,
}

fn parse(q: &HashMap<String, String>) -> Result<Request, Problem> {
    let (start, end) = start_and_end_dates(q)?;
    let text = |name: &str| -> Result<Option<String>, Problem> {
        match q.get(name) {
            Some(v) if v.trim().is_empty() => Err(Problem::bad_parameter(name, "is empty")),
            other => Ok(other.cloned()),
        }
    };
    let group = text("groupName")?;
    let csv = match q.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(Problem::bad_parameter(
                "format",
                format!("{other:?} is not json or csv"),
            ));
        }
    };
    Ok(Request {
        start,
        end,
        metric: text("metricName")?,
        group,
        csv,
    })
}

fn answer(table: tables::Table, csv: bool) -> Response {
    if csv {
        (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            table.to_csv(),
        )
            .into_response()
    } else {
        Json(table.to_json()).into_response()
    }
}

/// `GET /products`.
pub async fn products(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    let r = parse(&q)?;
    blocking(move || {
        let table = match &r.group {
            None => {
                let report = report(&state, &caller, r.start, r.end)?;
                tables::products(&report, r.metric.as_deref(), false)
            }
            // A group's part is a chargeback: it splits every day among its contributors.
            Some(group) => {
                let report = detailed_report(&state, &caller, r.start, r.end, Detail::All)?;
                let days = tables::days_by_id(&report);
                tables::products_in_group(&report, &days, r.metric.as_deref(), group)
            }
        };
        Ok(answer(table, r.csv))
    })
    .await
}

/// `GET /bundled_products`.
pub async fn bundled_products(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    let r = parse(&q)?;
    blocking(move || {
        let table = match &r.group {
            None => {
                let report = report(&state, &caller, r.start, r.end)?;
                tables::bundled_products(&report, r.metric.as_deref(), None)
            }
            // Who belongs to a group is read from every day's consumers.
            Some(name) => {
                let report = detailed_report(&state, &caller, r.start, r.end, Detail::All)?;
                let days = tables::days_by_id(&report);
                let group = tables::Group { name, days: &days };
                tables::bundled_products(&report, r.metric.as_deref(), Some(&group))
            }
        };
        Ok(answer(table, r.csv))
    })
    .await
}

/// `GET /services`.
pub async fn services(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    let r = parse(&q)?;
    blocking(move || {
        // A group is read from every day's consumers.
        let detail = match r.group {
            None => Detail::Peaks,
            Some(_) => Detail::All,
        };
        let report = detailed_report(&state, &caller, r.start, r.end, detail)?;
        let days = tables::days_by_id(&report);
        Ok(answer(
            tables::services(&report, &days, r.metric.as_deref(), r.group.as_deref()),
            r.csv,
        ))
    })
    .await
}

/// `GET /snapshot` and `GET /api/v1/snapshot`: the signed zip for the caller's view.
pub async fn snapshot(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    for name in ["groupName", "format"] {
        if q.contains_key(name) {
            return Err(Problem::bad_parameter(
                name,
                "a snapshot covers every product (or one metric's); give startDate, endDate and \
                 metricName only",
            ));
        }
    }
    let r = parse(&q)?;
    blocking(move || {
        let report = detailed_report(&state, &caller, r.start, r.end, Detail::All)?;
        let days = tables::days_by_id(&report);
        let plugins: Vec<PluginLine> = state
            .evaluator
            .runtime
            .plugins()
            .iter()
            .map(|p| PluginLine {
                name: p.name().to_string(),
                version: p.version().to_string(),
                digest: p.digest().to_string(),
            })
            .collect();
        let key = state.evaluator.store.snapshot_signing_key()?;
        let bytes = snapshot::build(&report, &days, &plugins, r.metric.as_deref(), &key)?;
        let disposition = format!("attachment; filename=\"{}\"", snapshot::file_name(&report));
        Ok((
            [
                (header::CONTENT_TYPE, "application/zip".to_string()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            bytes,
        )
            .into_response())
    })
    .await
}
