//! ILMT's v2 query API (`GET /api/sam/v2/license_usage` and its column schema), answered from
//! the shared read model ([`super::read::report`]) so its figures are those of every other API.
//!
//! - `columns[]` (repeatable; absent → product_name, metric_code_name, hwm_quantity),
//!   `criteria` (see [`criteria`]), `order[]` (`column` or `column desc`, several; stable),
//!   `limit`, `offset`, `startdate`, `enddate` (ILMT's enddate is inclusive: the period is
//!   `[startdate, enddate + 1)`; enddate defaults to yesterday (UTC), startdate to enddate − 89
//!   days: 90 days), `computerGroupId` (licmetric has no computer groups: 0 = all computers;
//!   a scoped token's scope plays the part of its user's computer group).
//! - The answer is always `{"total": N, "rows": [...]}` with `total` the rows matching the
//!   criteria before `limit`/`offset`, whatever `countSwitch` says (it is checked, 0/1/true/false,
//!   and otherwise ignored). Each row has the requested columns in the requested order. The
//!   response carries ILMT's `startdate`, `enddate` and `computerGroupId` headers.
//! - Every bad input is a 400 problem naming the parameter (and the column when one is at
//!   fault). `token` and unknown parameters are ignored.

pub mod columns;
pub mod criteria;

use std::cmp::Ordering;

use axum::extract::{Query, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use self::columns::{Cell, Column, Line};
use self::criteria::{Criteria, CriteriaError};
use super::auth::Caller;
use super::openapi::{RouteDoc, param};
use super::params::{PeriodDefaults, inclusive_period};
use super::read::report;
use super::routes::{Route, route};
use crate::api::problem::Problem;
use crate::api::state::{AppState, blocking};
use crate::eval::report::{BundleFigures, ProductFigures};
use crate::store::tokens::Role;

/// The routes of this module: each one's documentation (role, parameters) beside its handler.
pub fn routes() -> Vec<Route> {
    vec![
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/api/sam/v2/license_usage",
                    role: Some(Role::Reader),
                    summary: "ILMT v2: license metric utilization per product (columns, criteria, order, pages)",
                    params: &[
                        param(
                            "columns[]",
                            "query",
                            false,
                            "array",
                            "columns to return (repeatable); default product_name, metric_code_name, hwm_quantity",
                        ),
                        param(
                            "criteria",
                            "query",
                            false,
                            "array",
                            "JSON {\"and\"|\"or\": [[column, operator, value], ...]}, strings in double or \
                 single quotes; repeatable: every one given holds",
                        ),
                        param(
                            "order[]",
                            "query",
                            false,
                            "array",
                            "sort keys: column, or column desc (repeatable)",
                        ),
                        param("limit", "query", false, "integer", "rows to return"),
                        param("offset", "query", false, "integer", "rows to skip"),
                        param(
                            "startdate",
                            "query",
                            false,
                            "date",
                            "first day (YYYY-MM-DD); default enddate - 89 days",
                        ),
                        param(
                            "enddate",
                            "query",
                            false,
                            "date",
                            "last day, inclusive (YYYY-MM-DD); default yesterday (UTC)",
                        ),
                        param(
                            "computerGroupId",
                            "query",
                            false,
                            "integer",
                            "0 (all computers): licmetric has no computer groups",
                        ),
                        param(
                            "countSwitch",
                            "query",
                            false,
                            "boolean",
                            "accepted; the answer always carries total",
                        ),
                    ],
                    produces: "application/json",
                }
            },
            license_usage,
        ),
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/api/sam/v2/schemas/license_usage.json",
                    role: Some(Role::Reader),
                    summary: "ILMT v2: every license_usage column with its type and description",
                    params: &[],
                    produces: "application/json",
                }
            },
            schema,
        ),
    ]
}

/// A checked `license_usage` request.
pub struct Request {
    pub columns: Vec<&'static Column>,
    pub criteria: Option<Criteria>,
    /// Sort keys: column and whether descending.
    pub order: Vec<(&'static Column, bool)>,
    pub limit: Option<usize>,
    pub offset: usize,
    /// First day and last day (inclusive).
    pub startdate: NaiveDate,
    pub enddate: NaiveDate,
}

/// Reads the query pairs of a request; `today` gives the default dates.
pub fn parse(pairs: &[(String, String)], today: NaiveDate) -> Result<Request, Problem> {
    let mut columns: Vec<&'static Column> = Vec::new();
    let mut order = Vec::new();
    let mut criteria = Vec::new();
    let (mut limit, mut offset) = (None, 0);
    let (mut startdate, mut enddate) = (None, None);
    for (key, value) in pairs {
        match key.as_str() {
            "columns[]" | "columns" => {
                for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    let column = columns::find(name).ok_or_else(|| unknown(key, name))?;
                    if !columns.iter().any(|c| c.name == column.name) {
                        columns.push(column);
                    }
                }
            }
            "order[]" | "order" => {
                for key_text in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    order.push(sort_key(key, key_text)?);
                }
            }
            // Given more than once, every one holds (ILMT's clients add criteria that way).
            "criteria" => criteria.push(Criteria::parse(value).map_err(criteria_problem)?),
            "limit" => limit = Some(count(key, value)?),
            "offset" => offset = count(key, value)?,
            "startdate" => startdate = Some(value.trim()),
            "enddate" => enddate = Some(value.trim()),
            "computerGroupId" => computer_group(value)?,
            "countSwitch" => {
                if !matches!(value.trim(), "0" | "1" | "true" | "false") {
                    return Err(Problem::bad_parameter(
                        key,
                        format!("{value:?} is not true, false, 1 or 0"),
                    ));
                }
            }
            _ => {}
        }
    }
    if columns.is_empty() {
        columns = columns::defaults();
    }
    let (startdate, end) = inclusive_period(
        ("startdate", startdate),
        ("enddate", enddate),
        PeriodDefaults {
            last: today - Duration::days(1),
            start_days_before: 89,
        },
    )?;
    let enddate = end - Duration::days(1);
    Ok(Request {
        columns,
        criteria: (!criteria.is_empty()).then(|| Criteria::all(criteria)),
        order,
        limit,
        offset,
        startdate,
        enddate,
    })
}

fn unknown(parameter: &str, name: &str) -> Problem {
    Problem::bad_parameter(parameter, format!("no column {name:?}")).with("column", name)
}

fn sort_key(parameter: &str, text: &str) -> Result<(&'static Column, bool), Problem> {
    let mut words = text.split_whitespace();
    let name = words.next().unwrap_or_default();
    let column = columns::find(name).ok_or_else(|| unknown(parameter, name))?;
    if !column.filterable {
        return Err(
            Problem::bad_parameter(parameter, format!("column {name} cannot be sorted"))
                .with("column", name),
        );
    }
    let descending = match words.next().map(str::to_ascii_lowercase).as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(
                Problem::bad_parameter(parameter, format!("{other:?} is not asc or desc"))
                    .with("column", name),
            );
        }
    };
    if let Some(extra) = words.next() {
        return Err(Problem::bad_parameter(
            parameter,
            format!("unexpected {extra:?} after {name}"),
        )
        .with("column", name));
    }
    Ok((column, descending))
}

fn count(parameter: &str, value: &str) -> Result<usize, Problem> {
    value.trim().parse::<usize>().map_err(|_| {
        Problem::bad_parameter(parameter, format!("{value:?} is not a whole number ≥ 0"))
    })
}

/// licmetric has no computer groups: 0 (all computers) is the only one.
fn computer_group(value: &str) -> Result<(), Problem> {
    match value.trim().parse::<i64>() {
        Ok(0) => Ok(()),
        Ok(n) => Err(Problem::bad_parameter(
            "computerGroupId",
            format!(
                "no computer group {n}: licmetric has no computer groups; 0 means all computers \
                 (a scoped token sees its own share)"
            ),
        )),
        Err(_) => Err(Problem::bad_parameter(
            "computerGroupId",
            format!("{value:?} is not an integer"),
        )),
    }
}

fn criteria_problem(e: CriteriaError) -> Problem {
    let mut p = Problem::bad_parameter("criteria", &e.reason);
    if let Some(c) = e.column {
        p = p.with("column", c);
    }
    if let Some(o) = e.operator {
        p = p.with("operator", o);
    }
    p
}

/// One answer row: the requested columns in the requested order.
pub struct Row(Vec<(&'static str, Value)>);

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// The answer: rows matching the criteria (before paging) and the requested page.
#[derive(serde::Serialize)]
pub struct Answer {
    pub total: usize,
    pub rows: Vec<Row>,
}

/// Filters, sorts and pages the report's rows (its products, then each bundle's parent row).
pub fn answer(
    products: &[ProductFigures],
    bundles: &[BundleFigures],
    request: &Request,
    now: DateTime<Utc>,
) -> Answer {
    let lines = Line::all(products, bundles);
    let mut matched: Vec<&Line> = lines
        .iter()
        .filter(|p| {
            request
                .criteria
                .as_ref()
                .is_none_or(|c| c.matches(&|column: &Column| (column.read)(p), now))
        })
        .collect();
    if !request.order.is_empty() {
        // Read each sort cell once; sort_by is stable, so ties keep the report's order.
        let mut keyed: Vec<(Vec<Cell>, &Line)> = matched
            .into_iter()
            .map(|p| (request.order.iter().map(|(c, _)| (c.read)(p)).collect(), p))
            .collect();
        keyed.sort_by(|(a, _), (b, _)| {
            request
                .order
                .iter()
                .zip(a.iter().zip(b))
                .map(|((_, desc), (x, y))| sort_cells(x, y, *desc))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        });
        matched = keyed.into_iter().map(|(_, p)| p).collect();
    }
    let total = matched.len();
    let rows = matched
        .into_iter()
        .skip(request.offset)
        .take(request.limit.unwrap_or(usize::MAX))
        .map(|p| {
            Row(request
                .columns
                .iter()
                .map(|c| (c.name, (c.read)(p).to_json()))
                .collect())
        })
        .collect();
    Answer { total, rows }
}

/// ILMT's not-measured markers sort last in either direction.
fn sort_cells(a: &Cell, b: &Cell, descending: bool) -> Ordering {
    match (a, b) {
        (Cell::Unmeasured(_), Cell::Unmeasured(_)) => Ordering::Equal,
        (Cell::Unmeasured(_), _) => Ordering::Greater,
        (_, Cell::Unmeasured(_)) => Ordering::Less,
        _ if descending => criteria::order(b, a),
        _ => criteria::order(a, b),
    }
}

/// `GET /api/sam/v2/license_usage`.
pub async fn license_usage(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, Problem> {
    let now = Utc::now();
    let request = parse(&pairs, now.date_naive())?;
    let (start, end) = (request.startdate, request.enddate);
    let answer = blocking(move || {
        let report = report(&state, &caller, start, end + Duration::days(1))?;
        Ok(answer(&report.products, &report.bundles, &request, now))
    })
    .await?;
    let mut response = Json(answer).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        ("startdate", start.to_string()),
        ("enddate", end.to_string()),
        ("computerGroupId", "0".to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    Ok(response)
}

/// `GET /api/sam/v2/schemas/license_usage.json`.
pub async fn schema() -> Json<Value> {
    Json(columns::schema())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
    }

    #[test]
    fn defaults_cover_the_ninety_days_up_to_yesterday() {
        let r = parse(&[], today()).unwrap();
        assert_eq!(r.enddate.to_string(), "2026-11-30");
        assert_eq!(r.startdate.to_string(), "2026-09-02");
        assert_eq!((r.enddate - r.startdate).num_days() + 1, 90);
        let names: Vec<&str> = r.columns.iter().map(|c| c.name).collect();
        assert_eq!(names, ["product_name", "metric_code_name", "hwm_quantity"]);
    }

    #[test]
    fn bad_parameters_are_named() {
        for (q, parameter) in [
            (vec![("columns[]", "colour")], "columns[]"),
            (vec![("order[]", "colour desc")], "order[]"),
            (vec![("order[]", "product_name sideways")], "order[]"),
            (vec![("order[]", "is_reaggregation_needed")], "order[]"),
            (vec![("limit", "-1")], "limit"),
            (vec![("offset", "x")], "offset"),
            (vec![("startdate", "2026-13-01")], "startdate"),
            (
                vec![("startdate", "2026-11-10"), ("enddate", "2026-11-09")],
                "enddate",
            ),
            (vec![("computerGroupId", "5")], "computerGroupId"),
            (vec![("computerGroupId", "all")], "computerGroupId"),
            (vec![("countSwitch", "maybe")], "countSwitch"),
            (vec![("criteria", "{}")], "criteria"),
        ] {
            let e = parse(&pairs(&q), today()).err().expect("an error");
            assert_eq!(e.status, 400);
            assert_eq!(e.extensions["parameter"], parameter, "{q:?}: {}", e.detail);
        }
        assert!(parse(&pairs(&[("computerGroupId", "0"), ("token", "x")]), today()).is_ok());
    }
}
