//! `GET /api/v1/usage?product=…&start=…&end=…[&time_unit=days|weeks|months][&week_start=…]`:
//! the period value (high-water mark and peak date), daily values, contributors and
//! explanation. `start` and `end` are dates; the period is `[start, end)`.
//! `GET /api/v1/usage?bundle=…&start=…&end=…`: a bundle's converted daily sums, their
//! high-water mark, and each member's measured and converted quantity on the peak day.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::{NaiveDate, Weekday};
use licmetric_sdk::calendar::TimeUnit;

use super::{AppState, Problem, blocking};
use crate::eval::bundle::{self, BundleUsage};
use crate::eval::period::{self, Usage};
use crate::eval::{EvalError, ProductDays};
use crate::store::records::{Bundle, Product};

/// A product's or a bundle's usage.
#[derive(serde::Serialize)]
#[serde(untagged)]
pub enum Answer {
    Product(Box<Usage>),
    Bundle(Box<BundleUsage>),
}

pub async fn usage(
    State(state): State<AppState>,
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
    let unit = match q.get("time_unit") {
        Some(u) => Some(
            u.parse::<TimeUnit>()
                .map_err(|e| Problem::bad_parameter("time_unit", e))?,
        ),
        None => None,
    };
    let week_start = match q.get("week_start") {
        Some(w) => w
            .parse::<Weekday>()
            .map_err(|_| Problem::bad_parameter("week_start", format!("{w:?} is not a weekday")))?,
        None => Weekday::Mon,
    };
    if let Some(id) = bundle_id {
        return blocking(move || bundle_usage(&state, &id, start, end)).await;
    }
    blocking(move || {
        let days = product_days(&state, &product, start, end)?;
        period::usage(&days, start, end, unit, week_start)
            .map(|u| Json(Answer::Product(Box::new(u))))
            .map_err(eval_problem)
    })
    .await
}

/// Evaluates every product (an unconfigured one may join through its facts' claims), then
/// the bundle from its members' days.
fn bundle_usage(
    state: &AppState,
    id: &str,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Json<Answer>, Problem> {
    let record = bundle_record(state, id)?;
    let (products, results) = every_product(state, start, end)?;
    let evaluated: Vec<_> = products.iter().zip(&results).collect();
    let members = bundle::members(id, &evaluated)
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(eval_problem)?;
    bundle::usage(&record, &members, start, end)
        .map(|u| Json(Answer::Bundle(Box::new(u))))
        .map_err(eval_problem)
}

/// A stored product's days over `[start, end)` (404 naming the parameter when unknown).
pub fn product_days(
    state: &AppState,
    id: &str,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<ProductDays, Problem> {
    let evaluator = &state.evaluator;
    let record = evaluator.store.product(id)?.ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-product",
            format!("no product {id:?}"),
        )
        .with("parameter", "product")
    })?;
    let now = chrono::Utc::now().timestamp_millis();
    evaluator
        .days(&[record], start, end, now)
        .map_err(eval_problem)?
        .into_iter()
        .next()
        .expect("one product")
        .map_err(eval_problem)
}

/// A stored bundle record (404 naming the parameter when unknown).
pub fn bundle_record(state: &AppState, id: &str) -> Result<Bundle, Problem> {
    state.evaluator.store.bundle(id)?.ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-bundle",
            format!("no bundle {id:?}"),
        )
        .with("parameter", "bundle")
    })
}

/// Every product with its days: a bundle's members may join through their facts' claims, so
/// all are evaluated.
pub fn every_product(
    state: &AppState,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<(Vec<Product>, Vec<Result<ProductDays, EvalError>>), Problem> {
    let products = state.evaluator.store.products()?;
    let now = chrono::Utc::now().timestamp_millis();
    let results = state
        .evaluator
        .days(&products, start, end, now)
        .map_err(eval_problem)?;
    Ok((products, results))
}

/// The `[start, end)` dates of a query: both required, end after start, at most ten years.
pub fn period_of(q: &HashMap<String, String>) -> Result<(NaiveDate, NaiveDate), Problem> {
    let start = date(q, "start")?;
    let end = date(q, "end")?;
    if end <= start {
        return Err(Problem::bad_parameter(
            "end",
            format!("{end} is not after start {start}"),
        ));
    }
    if (end - start).num_days() > 3660 {
        return Err(Problem::bad_parameter(
            "end",
            "the period is longer than ten years",
        ));
    }
    Ok((start, end))
}

fn date(q: &HashMap<String, String>, name: &str) -> Result<NaiveDate, Problem> {
    let text = q
        .get(name)
        .ok_or_else(|| Problem::bad_parameter(name, "is required (YYYY-MM-DD)"))?;
    text.parse()
        .map_err(|_| Problem::bad_parameter(name, format!("{text:?} is not a date (YYYY-MM-DD)")))
}

/// Plugin-reported errors are 422 (the facts or rules are at fault), plugin failures 502.
pub fn eval_problem(e: EvalError) -> Problem {
    let (status, code) = match &e {
        EvalError::NoPlugin { .. } | EvalError::Product { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "product-unusable")
        }
        EvalError::Rule { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "evaluation-error"),
        EvalError::PluginFailure { .. } => (StatusCode::BAD_GATEWAY, "plugin-failure"),
        EvalError::Storage(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    Problem::new(status, code, e.to_string()).with("error", &e)
}
