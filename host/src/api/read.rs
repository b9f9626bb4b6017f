//! The read side every query family shares: a caller's report ([`crate::eval::report`]) kept
//! in memory per (period, scope) until facts, records or plugins change, so a dashboard
//! polling `/products` costs a map lookup; and the query parameters every family reads
//! (periods, dates) with the problems their errors make.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use chrono::NaiveDate;

use super::auth::Caller;
use super::kept::{Entry, Freshness, TODAY_TTL};
use super::problem::Problem;
use super::state::AppState;
use crate::eval::report::{self, Evaluated, Report, ReportError};
use crate::eval::scope::{self, Scope};
use crate::eval::{Detail, EvalError, ProductDays};
use crate::store::records::Bundle;

impl From<ReportError> for Problem {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Eval(e) => eval_problem(e),
            ReportError::Store(e) => e.into(),
        }
    }
}

/// The store's and runtime's state now.
pub fn freshness(state: &AppState) -> anyhow::Result<Freshness> {
    let store = &state.evaluator.store;
    Ok(Freshness {
        fact_sequence: store.committed_sequence()?,
        records_generation: store.records_generation(),
        registry_generation: state.evaluator.runtime.registry().generation(),
    })
}

/// The caller's report for `[start, end)`, from memory when nothing it depends on changed.
/// The facts read may be newer than the sequence it names (an ingest during the computation);
/// the next read then computes it again.
pub fn report(
    state: &AppState,
    caller: &Caller,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Arc<Report>, Problem> {
    let slot = state.reports.slot((start, end, caller.scope().cloned()));
    // A computation that panicked left nothing behind: the next reader computes again.
    let mut slot = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let now = freshness(state)?;
    if let Some(entry) = slot.as_ref()
        && entry.freshness == now
        && entry.expires.is_none_or(|t| Instant::now() < t)
    {
        return Ok(entry.report.clone());
    }
    // Only facts changed since the kept report: the days they did not touch come from it
    // (unscoped reports only: a scoped one holds restricted days).
    let earlier = match slot.take() {
        Some(entry)
            if caller.scope().is_none()
                && entry.freshness.records_generation == now.records_generation
                && entry.freshness.registry_generation == now.registry_generation =>
        {
            // Only when no reader holds the report any more (else the days come from the cache).
            let sequence = entry.freshness.fact_sequence;
            match Arc::try_unwrap(entry.report) {
                Ok(kept) => report::earlier(kept, sequence),
                Err(_) => Default::default(),
            }
        }
        _ => Default::default(),
    };
    let report = Arc::new(report::compute(
        &state.evaluator,
        caller.scope(),
        (start, end),
        now.fact_sequence,
        Detail::None,
        earlier,
    )?);
    let today = chrono::Utc::now().date_naive();
    *slot = Some(Entry {
        report: report.clone(),
        freshness: now,
        expires: (end > today).then(|| Instant::now() + TODAY_TTL),
    });
    Ok(report)
}

/// The caller's report for `[start, end)` with the contributors and explanations `detail`
/// asks for (a snapshot's chargeback needs every day's, the services table the peaks').
/// Computed afresh, not kept: details are read from their own cache, or explained.
pub fn detailed_report(
    state: &AppState,
    caller: &Caller,
    start: NaiveDate,
    end: NaiveDate,
    detail: Detail,
) -> Result<Report, Problem> {
    let sequence = freshness(state)?.fact_sequence;
    Ok(report::compute(
        &state.evaluator,
        caller.scope(),
        (start, end),
        sequence,
        detail,
        Default::default(),
    )?)
}

/// A stored product's days over `[start, end)` with the details `detail` asks for (all of
/// them for a scoped caller, whose view is cut along contributors), restricted to the
/// caller's scope (404 naming the parameter when unknown).
pub fn product_days(
    state: &AppState,
    caller: &Caller,
    id: &str,
    start: NaiveDate,
    end: NaiveDate,
    detail: Detail,
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
    let scope = caller.scope();
    let hide = |e: EvalError| match scope {
        Some(_) => scope::redact(e),
        None => e,
    };
    let detail = if scope.is_some() { Detail::All } else { detail };
    let days = evaluator
        .days_with(&[record], start, end, now, detail)
        .map_err(|e| eval_problem(hide(e)))?
        .into_iter()
        .next()
        .expect("one product")
        .map_err(|e| eval_problem(hide(e)))?;
    Ok(match scope {
        Some(s) => scope::restrict(days, s),
        None => days,
    })
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

/// Every product with its days, restricted to `scope`: a bundle's members may join through
/// their facts' claims, so all are evaluated. Details as `detail` asks (all of them for a
/// scoped caller).
pub fn every_product(
    state: &AppState,
    scope: Option<&Scope>,
    start: NaiveDate,
    end: NaiveDate,
    detail: Detail,
) -> Result<Evaluated, Problem> {
    let now = chrono::Utc::now().timestamp_millis();
    Ok(report::evaluate_all(
        &state.evaluator,
        scope,
        (start, end, now),
        detail,
        Default::default(),
    )?)
}

/// The `[start, end)` dates of a query: both required, end after start, at most ten years.
pub fn period_of(q: &HashMap<String, String>) -> Result<(NaiveDate, NaiveDate), Problem> {
    let start = date(q, "start")?;
    let end = date(q, "end")?;
    check_period("end", start, end)?;
    Ok((start, end))
}

/// Refuses an empty, reversed or over-long period, naming `parameter` (the end's name).
pub fn check_period(parameter: &str, start: NaiveDate, end: NaiveDate) -> Result<(), Problem> {
    if end <= start {
        return Err(Problem::bad_parameter(
            parameter,
            format!("{end} is not after start {start}"),
        ));
    }
    if (end - start).num_days() > 3660 {
        return Err(Problem::bad_parameter(
            parameter,
            "the period is longer than ten years",
        ));
    }
    Ok(())
}

/// A required `YYYY-MM-DD` query parameter.
pub fn date(q: &HashMap<String, String>, name: &str) -> Result<NaiveDate, Problem> {
    let text = q
        .get(name)
        .ok_or_else(|| Problem::bad_parameter(name, "is required (YYYY-MM-DD)"))?;
    parse_date(name, text)
}

/// `text` as a `YYYY-MM-DD` date, or a 400 naming `name`.
pub fn parse_date(name: &str, text: &str) -> Result<NaiveDate, Problem> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
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

/// What an inclusive period defaults to when the client leaves a date out: the last day, and
/// how many days before the last day (the given one or the default) the first day is.
#[derive(Debug, Clone, Copy)]
pub struct PeriodDefaults {
    /// The last day (included) when the end parameter is absent.
    pub last: NaiveDate,
    /// First day = last day − this many days when the start parameter is absent.
    pub start_days_before: u64,
}

/// The `[start, end)` of a query whose dates are both included, as the compatible APIs (License
/// Service, Octane, ILMT, the status page) take them: `start` and `end` are each a parameter's
/// name and its text (`YYYY-MM-DD`) when the client sent one. A last day before the first is a
/// 400 naming the end parameter, showing the dates as sent; then [`check_period`] applies.
pub fn inclusive_period(
    start: (&str, Option<&str>),
    end: (&str, Option<&str>),
    defaults: PeriodDefaults,
) -> Result<(NaiveDate, NaiveDate), Problem> {
    let (start_name, start_text) = start;
    let (end_name, end_text) = end;
    let last = match end_text {
        Some(t) => parse_date(end_name, t)?,
        None => defaults.last,
    };
    let first = match start_text {
        Some(t) => parse_date(start_name, t)?,
        None => last
            .checked_sub_days(chrono::Days::new(defaults.start_days_before))
            .ok_or_else(|| Problem::bad_parameter(end_name, format!("{last} is too early")))?,
    };
    if last < first {
        let shown =
            |text: Option<&str>, date: NaiveDate| text.map_or(date.to_string(), str::to_string);
        return Err(Problem::bad_parameter(
            end_name,
            format!(
                "{} is before {start_name} {}",
                shown(end_text, last),
                shown(start_text, first)
            ),
        ));
    }
    let end = last
        .succ_opt()
        .ok_or_else(|| Problem::bad_parameter(end_name, format!("{last} is too late")))?;
    check_period(end_name, first, end)?;
    Ok((first, end))
}
