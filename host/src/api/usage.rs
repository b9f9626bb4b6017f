//! `GET /api/v1/usage?product=…&start=…&end=…[&time_unit=days|weeks|months][&week_start=…]`:
//! the period value (high-water mark and peak date), daily values, contributors and
//! explanation. `start` and `end` are dates; the period is `[start, end)`.
//! `GET /api/v1/usage?bundle=…&start=…&end=…`: a bundle's converted daily sums, their
//! high-water mark, and each member's measured and converted quantity on the peak day.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::{Extension, Json};
use chrono::{NaiveDate, Weekday};
use licmetric_sdk::calendar::TimeUnit;

use super::auth::Caller;
use super::openapi::{Param, RouteDoc, param};
use super::params::period_of;
use super::problem::Problem;
use super::read::{bundle_record, eval_problem, every_product, product_days};
use super::routes::{Route, route};
use super::state::{AppState, blocking};
use crate::eval::bundle::{self, BundleUsage};
use crate::eval::period::{self, Usage};
use crate::eval::{Detail, ProductDays};
use crate::store::tokens::Role;

/// What a query is about: a product or a bundle, and the period `[start, end)`.
pub const SUBJECT_AND_PERIOD: [Param; 4] = [
    param(
        "product",
        "query",
        false,
        "string",
        "product id (or bundle)",
    ),
    param("bundle", "query", false, "string", "bundle id (or product)"),
    PERIOD[0],
    PERIOD[1],
];

/// The period of a query: `start` and `end` dates, `[start, end)`.
pub const PERIOD: [Param; 2] = [
    param(
        "start",
        "query",
        true,
        "date",
        "first day of the period (YYYY-MM-DD)",
    ),
    param(
        "end",
        "query",
        true,
        "date",
        "day after the period (YYYY-MM-DD)",
    ),
];

/// The routes of this module: each one's documentation (role, parameters) beside its handler.
pub fn routes() -> Vec<Route> {
    vec![route(
        const {
            RouteDoc {
                method: "GET",
                path: "/api/v1/usage",
                role: Some(Role::Reader),
                summary: "A product's or a bundle's period value, daily values, contributors and explanation",
                params: &[
                    SUBJECT_AND_PERIOD[0],
                    SUBJECT_AND_PERIOD[1],
                    SUBJECT_AND_PERIOD[2],
                    SUBJECT_AND_PERIOD[3],
                    param(
                        "time_unit",
                        "query",
                        false,
                        "string",
                        "days, weeks or months: buckets",
                    ),
                    param(
                        "week_start",
                        "query",
                        false,
                        "string",
                        "first weekday of a week bucket",
                    ),
                ],
                produces: "application/json",
            }
        },
        usage,
    )]
}

/// A product's or a bundle's usage.
#[derive(serde::Serialize)]
#[serde(untagged)]
pub enum Answer {
    Product(Box<Usage>),
    Bundle(Box<BundleUsage>),
}

/// `GET /api/v1/usage`: a product's or a bundle's figures over a period.
pub async fn usage(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Answer>, Problem> {
    let (product, bundle_id) = match (q.get("product"), q.get("bundle")) {
        (Some(p), None) => (p.clone(), None),
        (None, Some(b)) => (String::new(), Some(b.clone())),
        (Some(_), Some(_)) => {
            return Err(Problem::bad_parameter(
                "bundle",
                "give either product or bundle, not both",
            ));
        }
        (None, None) => {
            return Err(Problem::bad_parameter("product", "is required (or bundle)"));
        }
    };
    let (start, end) = period_of(&q)?;
    let (unit, week_start) = buckets(
        q.get("time_unit").map(String::as_str),
        q.get("week_start").map(String::as_str),
    )?;
    if let Some(id) = bundle_id {
        return blocking(move || bundle_usage(&state, &caller, &id, start, end)).await;
    }
    blocking(move || {
        let days = product_days(&state, &caller, &product, start, end, Detail::Peaks)?;
        product_usage(&days, start, end, unit, week_start)
            .map(|u| Json(Answer::Product(Box::new(u))))
    })
    .await
}

/// The buckets of an answer: `time_unit` (none when absent) and `week_start` (Monday when
/// absent), each from its text, or a 400 naming it.
pub fn buckets(
    time_unit: Option<&str>,
    week_start: Option<&str>,
) -> Result<(Option<TimeUnit>, Weekday), Problem> {
    let unit = match time_unit {
        Some(u) => Some(
            u.parse::<TimeUnit>()
                .map_err(|e| Problem::bad_parameter("time_unit", e))?,
        ),
        None => None,
    };
    let week_start = match week_start {
        Some(w) => w
            .parse::<Weekday>()
            .map_err(|_| Problem::bad_parameter("week_start", format!("{w:?} is not a weekday")))?,
        None => Weekday::Mon,
    };
    Ok((unit, week_start))
}

/// A product's usage answer over `[start, end)` from its days (the period rules of
/// [`period::usage`]), or the problem a failed day makes of it. No plugin call.
pub fn product_usage(
    days: &ProductDays,
    start: NaiveDate,
    end: NaiveDate,
    unit: Option<TimeUnit>,
    week_start: Weekday,
) -> Result<Usage, Problem> {
    period::usage(days, start, end, unit, week_start).map_err(eval_problem)
}

/// Evaluates every product (an unconfigured one may join through its facts' claims), then
/// the bundle from its members' days.
fn bundle_usage(
    state: &AppState,
    caller: &Caller,
    id: &str,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Json<Answer>, Problem> {
    let record = bundle_record(state, id)?;
    let (products, results) = every_product(state, caller.scope(), start, end, Detail::None)?;
    let evaluated: Vec<_> = products.iter().zip(&results).collect();
    let members = bundle::members(id, &evaluated)
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(eval_problem)?;
    bundle::usage(&record, &members, start, end)
        .map(|u| Json(Answer::Bundle(Box::new(u))))
        .map_err(eval_problem)
}
