//! OpenText (Micro Focus) ALM Octane's licence API, for clients written against it:
//! `GET /api/shared_spaces/{space}/tenant_licenses` (installed licence types with capacity and
//! consumption) and `GET /api/shared_spaces/{space}/license_usage` (peak usage per licence type
//! and of ALL CONCURRENT, per day, week or month, in the new or the legacy format).
//!
//! One licence type is one product; its logical name is `license_type.<product id>`. A product
//! whose metric counts named users (code name containing `NAMED`) has the model `Named`, every
//! other product `Concurrent` (Octane knows no third model). ALL CONCURRENT adds only products
//! whose metric counts concurrent users (code name containing `CONCURRENT`), per day, and then
//! takes the maximum per bucket (SPEC §1.10) — unless a product counts the aggregate itself
//! (concurrent parameter `license_type = license_type.aggregated.cc.all`, §3.4.1 step 7), whose
//! instant-exact daily peaks are then used. Buckets are keyed by their peak day (§1.11, §3.4.3).

use std::collections::BTreeSet;

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use chrono::{Days, NaiveDate, Weekday};
use licmetric_sdk::Exact;
use licmetric_sdk::calendar::{self, TimeUnit};
use serde_json::{Value, json};

use super::auth::Caller;
use super::openapi::{RouteDoc, param};
use super::params::{self, PeriodDefaults};
use super::problem::Problem;
use super::read::{self, eval_problem};
use super::routes::{Route, route};
use super::state::{AppState, blocking};
use crate::eval::report::{ProductFigures, Report};
use crate::snapshot::numbers::json_number;
use crate::store::tokens::Role;

/// The reserved logical name of the aggregate over every concurrent licence type.
pub const ALL_CONCURRENT: &str = "license_type.aggregated.cc.all";

/// Days of the window `tenant_licenses` reads (today included).
const WINDOW_DAYS: u64 = 30;

const SPACE: super::openapi::Param = param(
    "space",
    "path",
    true,
    "integer",
    "shared space id (licmetric has one space; any integer is accepted and echoed)",
);

/// The routes of this module: each one's documentation (role, parameters) beside its handler.
pub fn routes() -> Vec<Route> {
    vec![
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/api/shared_spaces/{space}/tenant_licenses",
                    role: Some(Role::Reader),
                    summary: "Octane: every licence type with its capacity and current consumption",
                    params: &[SPACE],
                    produces: "application/json",
                }
            },
            tenant_licenses,
        ),
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/api/shared_spaces/{space}/license_usage",
                    role: Some(Role::Reader),
                    summary: "Octane: peak usage per licence type and of ALL CONCURRENT per day, week or month",
                    params: &[
                        SPACE,
                        param(
                            "start_date",
                            "query",
                            false,
                            "date",
                            "first day (YYYY-MM-DD); default 3 days before end_date",
                        ),
                        param(
                            "end_date",
                            "query",
                            false,
                            "date",
                            "last day, included (YYYY-MM-DD); default today (UTC)",
                        ),
                        param(
                            "time_unit",
                            "query",
                            false,
                            "string",
                            "days (default), weeks or months",
                        ),
                        param(
                            "new_format",
                            "query",
                            false,
                            "boolean",
                            "true: grouped by licence type; false (default): legacy ALL CONCURRENT map",
                        ),
                        param(
                            "license_type",
                            "query",
                            false,
                            "array",
                            "logical names to report (repeatable or comma separated; new format)",
                        ),
                        param(
                            "query",
                            "query",
                            false,
                            "string",
                            "Octane filter \"(license_type IN 'a','b')\" (new format)",
                        ),
                    ],
                    produces: "application/json",
                }
            },
            license_usage,
        ),
    ]
}

/// Octane's space ids are numbers.
fn space_id(text: &str) -> Result<u64, Problem> {
    text.parse()
        .map_err(|_| Problem::bad_parameter("space", format!("{text:?} is not an integer")))
}

/// How Octane calls a product's licence type.
pub fn logical_name(product: &str) -> String {
    format!("license_type.{product}")
}

/// `Named` or `Concurrent`, from the code name of the metric the product counts.
fn model(figures: &ProductFigures) -> &'static str {
    let named = match code_name(figures) {
        Some(code) => code.contains("NAMED"),
        // A failed product: its binding is all there is to go by.
        None => figures.record.metric.starts_with("named@"),
    };
    if named { "Named" } else { "Concurrent" }
}

fn code_name(figures: &ProductFigures) -> Option<&str> {
    figures
        .usage
        .as_ref()
        .ok()
        .map(|u| u.metric_code_name.as_str())
        .or(figures.metric.as_ref().map(|m| m.code_name.as_str()))
}

/// True for the product that counts ALL CONCURRENT itself.
fn is_aggregate(figures: &ProductFigures) -> bool {
    figures
        .record
        .parameters
        .get("license_type")
        .and_then(Value::as_str)
        == Some(ALL_CONCURRENT)
}

/// A figure of the report as a JSON number (none when the text is no number, never a zero).
fn figure(text: &str) -> Option<Value> {
    text.parse::<Exact>().ok().map(|q| json_number(&q))
}

fn exact(text: &str) -> Exact {
    text.parse().unwrap_or(Exact::ZERO)
}

/// `GET /api/shared_spaces/{space}/tenant_licenses`: capacity against consumption per licence type.
pub async fn tenant_licenses(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(space): Path<String>,
) -> Result<Json<Value>, Problem> {
    space_id(&space)?;
    let today = chrono::Utc::now().date_naive();
    let start = today - Days::new(WINDOW_DAYS - 1);
    let end = today + Days::new(1);
    let report = blocking(move || read::report(&state, &caller, start, end)).await?;
    let data: Vec<Value> = report
        .products
        .iter()
        .filter(|p| !is_aggregate(p))
        .map(|p| {
            let record = &p.record;
            let model = model(p);
            // Concurrent: in use now (today's daily peak so far); Named: the compliance
            // quantity of the window (allocated users).
            let consumed = p.usage.as_ref().ok().and_then(|u| match model {
                "Named" => figure(&u.quantity),
                _ => u.daily.last().and_then(|d| figure(&d.quantity)),
            });
            let capacity = record
                .entitlement
                .as_ref()
                .and_then(|e| e.quantity.clone())
                .or(record.threshold.clone());
            json!({
                "type": "license",
                "id": record.id,
                "license_id": record.id,
                "expiration_date": null,
                "start_date": null,
                "editions": null,
                "consumed": consumed,
                "license_model": model,
                "license_type": record.name.as_deref().unwrap_or(&record.id),
                "license_type_logical_name": logical_name(&record.id),
                "capacity": capacity,
            })
        })
        .collect();
    Ok(Json(json!({"total_count": data.len(), "data": data})))
}

/// The query of a `license_usage` request.
struct UsageQuery {
    space: u64,
    start: NaiveDate,
    /// Last day, included.
    end: NaiveDate,
    unit: TimeUnit,
    new_format: bool,
    /// Logical names asked for; None = all.
    filter: Option<BTreeSet<String>>,
}

fn single<'a>(q: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, Problem> {
    let mut values = q.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let first = values.next();
    if values.next().is_some() {
        return Err(Problem::bad_parameter(name, "is given more than once"));
    }
    Ok(first)
}

/// Strips one pair of surrounding `quote`s.
fn unquote(text: &str, quote: char) -> &str {
    let t = text.trim();
    t.strip_prefix(quote)
        .and_then(|s| s.strip_suffix(quote))
        .unwrap_or(t)
}

/// Octane's `(license_type IN 'a','b')` (or `license_type = 'a'`) filter.
pub(super) fn parse_filter_query(text: &str) -> Result<Vec<String>, Problem> {
    let bad = || {
        Problem::bad_parameter(
            "query",
            format!("{text:?} is not of the form (license_type IN 'a','b')"),
        )
    };
    let t = unquote(text, '"');
    let t = t
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(t)
        .trim();
    let rest = t.strip_prefix("license_type").ok_or_else(bad)?.trim_start();
    let list = if let Some(r) = rest.strip_prefix('=') {
        r
    } else if rest.len() > 2 && rest.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("in")) {
        &rest[2..]
    } else {
        return Err(bad());
    };
    let names: Vec<String> = list
        .split(',')
        .map(|n| unquote(n, '\'').to_string())
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Err(bad());
    }
    Ok(names)
}

fn parse_usage_query(space: &str, q: &[(String, String)]) -> Result<UsageQuery, Problem> {
    let space = space_id(space)?;
    let (start, end) = params::inclusive_period(
        ("start_date", single(q, "start_date")?),
        ("end_date", single(q, "end_date")?),
        PeriodDefaults {
            last: chrono::Utc::now().date_naive(),
            start_days_before: 3,
        },
    )?;
    // The last day, included.
    let end = end - Days::new(1);
    let unit = match single(q, "time_unit")? {
        None | Some("days") => TimeUnit::Days,
        Some("weeks") => TimeUnit::Weeks,
        Some("months") => TimeUnit::Months,
        Some(other) => {
            return Err(Problem::bad_parameter(
                "time_unit",
                format!("{other:?} is not one of days, weeks, months"),
            ));
        }
    };
    let new_format = match single(q, "new_format")? {
        None => false,
        Some(t) => t.parse::<bool>().map_err(|_| {
            Problem::bad_parameter("new_format", format!("{t:?} is not true or false"))
        })?,
    };
    let mut names: Vec<String> = Vec::new();
    for (k, v) in q {
        match k.as_str() {
            "license_type" => names.extend(
                v.split(',')
                    .map(|n| unquote(unquote(n, '"'), '\'').to_string())
                    .filter(|n| !n.is_empty()),
            ),
            "query" => names.extend(parse_filter_query(v)?),
            _ => {}
        }
    }
    Ok(UsageQuery {
        space,
        start,
        end,
        unit,
        new_format,
        filter: (!names.is_empty()).then(|| names.into_iter().collect()),
    })
}

/// Daily values `(date, value)` grouped into buckets, each keyed by its peak day (the earliest
/// day reaching the bucket's maximum, SPEC §1.11). Buckets cut by the period hold only its days.
pub fn peaks(daily: &[(NaiveDate, Exact)], unit: TimeUnit) -> Vec<(NaiveDate, Exact)> {
    let dates: Vec<NaiveDate> = daily.iter().map(|(d, _)| *d).collect();
    calendar::group(&dates, unit, Weekday::Mon)
        .into_iter()
        .filter_map(|(_, members)| {
            members.into_iter().map(|i| daily[i]).reduce(
                |best, next| {
                    if next.1 > best.1 { next } else { best }
                },
            )
        })
        .collect()
}

/// A product's daily values, or why it has none.
fn daily_of(figures: &ProductFigures) -> Result<Vec<(NaiveDate, Exact)>, Problem> {
    let usage = figures
        .usage
        .as_ref()
        .map_err(|e| eval_problem(e.clone()))?;
    Ok(usage
        .daily
        .iter()
        .filter_map(|d| Some((d.date.parse().ok()?, exact(&d.quantity))))
        .collect())
}

/// ALL CONCURRENT's daily values: the aggregate product's when one is configured, else the
/// per-day sum of the concurrent products' daily values (SPEC §1.10: sum first, then max).
fn all_concurrent(report: &Report) -> Result<Vec<(NaiveDate, Exact)>, Problem> {
    if let Some(aggregate) = report.products.iter().find(|p| is_aggregate(p)) {
        return daily_of(aggregate);
    }
    let mut sums: std::collections::BTreeMap<NaiveDate, Exact> = report
        .start
        .iter_days()
        .take_while(|d| *d < report.end)
        .map(|d| (d, Exact::ZERO))
        .collect();
    for p in report
        .products
        .iter()
        .filter(|p| counts_concurrent_users(p))
    {
        for (date, q) in daily_of(p)? {
            if let Some(sum) = sums.get_mut(&date) {
                *sum = *sum + q;
            }
        }
    }
    Ok(sums.into_iter().collect())
}

/// True when the product counts concurrent users. A failed product bound to the concurrent
/// plugin counts too, so the aggregate fails instead of silently leaving it out.
fn counts_concurrent_users(figures: &ProductFigures) -> bool {
    match &figures.usage {
        Ok(u) => u.metric_code_name.contains("CONCURRENT"),
        Err(_) => figures.record.metric.starts_with("concurrent@"),
    }
}

fn point(date: NaiveDate) -> String {
    format!("{date}T00:00:00Z")
}

fn usage_peaks(daily: &[(NaiveDate, Exact)], unit: TimeUnit) -> Value {
    peaks(daily, unit)
        .into_iter()
        .map(|(d, q)| json!({"point": point(d), "max_peak": json_number(&q)}))
        .collect()
}

fn unit_name(unit: TimeUnit) -> &'static str {
    match unit {
        TimeUnit::Days => "Days",
        TimeUnit::Weeks => "Weeks",
        TimeUnit::Months => "Months",
    }
}

/// `GET /api/shared_spaces/{space}/license_usage`: peaks per time unit, new or legacy format.
pub async fn license_usage(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(space): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, Problem> {
    let query = parse_usage_query(&space, &q)?;
    let (start, end) = (query.start, query.end + Days::new(1));
    let report = blocking(move || read::report(&state, &caller, start, end)).await?;
    if !query.new_format {
        let all = all_concurrent(&report)?;
        let points: serde_json::Map<String, Value> = peaks(&all, query.unit)
            .into_iter()
            .map(|(d, q)| (format!("{d}:00:00.000+0000"), json_number(&q)))
            .collect();
        return Ok(Json(json!({
            "license_usage": points,
            "space_id": query.space,
            "start_date": query.start.to_string(),
            "end_date": query.end.to_string(),
        })));
    }
    let concurrent: Vec<&ProductFigures> = report
        .products
        .iter()
        .filter(|p| !is_aggregate(p) && model(p) == "Concurrent")
        .collect();
    if let Some(filter) = &query.filter {
        let known: BTreeSet<String> = concurrent
            .iter()
            .map(|p| logical_name(&p.record.id))
            .chain([ALL_CONCURRENT.to_string()])
            .collect();
        if let Some(unknown) = filter.iter().find(|n| !known.contains(*n)) {
            return Err(Problem::bad_parameter(
                "license_type",
                format!("{unknown:?} is not the logical name of a concurrent licence type"),
            ));
        }
    }
    let wanted = |name: &str| query.filter.as_ref().is_none_or(|f| f.contains(name));
    let mut entries: Vec<Value> = Vec::new();
    for p in concurrent {
        let name = logical_name(&p.record.id);
        if !wanted(&name) {
            continue;
        }
        let mut entry = json!({
            "license_type_display_name": p.record.name.as_deref().unwrap_or(&p.record.id),
            "license_type_logical_name": name,
        });
        match daily_of(p) {
            Ok(daily) => entry["usage_peaks"] = usage_peaks(&daily, query.unit),
            Err(problem) => {
                // Never a zero in place of a failed evaluation (SPEC §5.3).
                entry["usage_peaks"] = json!([]);
                entry["error"] = json!(problem.detail);
            }
        }
        entries.push(entry);
    }
    if wanted(ALL_CONCURRENT) {
        let mut entry = json!({
            "license_type_display_name": "ALL CONCURRENT",
            "license_type_logical_name": ALL_CONCURRENT,
        });
        match all_concurrent(&report) {
            Ok(daily) => entry["usage_peaks"] = usage_peaks(&daily, query.unit),
            Err(problem) => {
                entry["usage_peaks"] = json!([]);
                entry["error"] = json!(problem.detail);
            }
        }
        entries.push(entry);
    }
    Ok(Json(json!({
        "license_usage": entries,
        "start_date": query.start.to_string(),
        "end_date": query.end.to_string(),
        "space_id": query.space,
        "time_unit": unit_name(query.unit),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn cc_a_buckets_are_keyed_by_their_peak_day() {
        // SPEC §3.4.3 CC-A.
        let daily: Vec<(NaiveDate, Exact)> = [
            ("2019-10-17", 61),
            ("2019-10-18", 72),
            ("2019-10-19", 53),
            ("2019-10-20", 64),
            ("2019-10-21", 74),
        ]
        .iter()
        .map(|(s, q)| (d(s), Exact::int(*q)))
        .collect();
        let weeks = peaks(&daily, TimeUnit::Weeks);
        assert_eq!(
            weeks,
            vec![
                (d("2019-10-18"), Exact::int(72)),
                (d("2019-10-21"), Exact::int(74))
            ]
        );
        assert_eq!(
            peaks(&daily, TimeUnit::Months),
            vec![(d("2019-10-21"), Exact::int(74))]
        );
        assert_eq!(peaks(&daily, TimeUnit::Days).len(), 5);
    }

    #[test]
    fn octane_filter_query_forms() {
        assert_eq!(
            parse_filter_query("\"(license_type IN 'a.b','c')\"").unwrap(),
            vec!["a.b", "c"]
        );
        assert_eq!(parse_filter_query("license_type = 'x'").unwrap(), vec!["x"]);
        assert!(parse_filter_query("(user IN 'a')").is_err());
    }
}
