//! The read side every query family shares: a caller's report ([`crate::eval::report`]) kept
//! in memory per (period, scope) until facts, records or plugins change, so a dashboard
//! polling `/products` costs a map lookup; a product's days and a bundle's record as a caller
//! may see them; and the problems evaluation errors make. Query parameters are `params`'.

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
