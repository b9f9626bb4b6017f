//! `GET /api/v1/usage?product=…&start=…&end=…[&time_unit=days|weeks|months][&week_start=…]`:
//! the period value (high-water mark and peak date), daily values, contributors and
//! explanation. `start` and `end` are dates; the period is `[start, end)`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::{NaiveDate, Weekday};
use licmetric_sdk::calendar::TimeUnit;

use super::{AppState, Problem, blocking};
use crate::eval::EvalError;
use crate::eval::period::{self, Usage};

pub async fn usage(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Usage>, Problem> {
    let product = q
        .get("product")
        .cloned()
        .ok_or_else(|| Problem::bad_parameter("product", "is required"))?;
    let start = date(&q, "start")?;
    let end = date(&q, "end")?;
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
    blocking(move || {
        let evaluator = &state.evaluator;
        let record = evaluator.store.product(&product)?.ok_or_else(|| {
            Problem::new(
                StatusCode::NOT_FOUND,
                "unknown-product",
                format!("no product {product:?}"),
            )
            .with("parameter", "product")
        })?;
        let now = chrono::Utc::now().timestamp_millis();
        let days = evaluator
            .days(&[record], start, end, now)
            .map_err(eval_problem)?;
        let days = days
            .into_iter()
            .next()
            .expect("one product")
            .map_err(eval_problem)?;
        period::usage(&days, start, end, unit, week_start)
            .map(Json)
            .map_err(eval_problem)
    })
    .await
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
