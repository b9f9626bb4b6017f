//! `GET /metrics`: licence figures in the Prometheus text exposition format (version 0.0.4),
//! for dashboards and alerts: today's daily value (so far) and the last 30 days' high-water
//! mark per product and metric, whether a product's evaluation failed, and the fact sequence.

use std::fmt::Write;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::Days;
use licmetric_sdk::Exact;

use super::auth::Caller;
use super::openapi::RouteDoc;
use super::problem::Problem;
use super::read;
use super::routes::{Route, route};
use super::state::{AppState, blocking};
use crate::eval::report::Report;
use crate::snapshot::numbers::decimal_text;
use crate::store::tokens::Role;

/// The routes of this module: each one's documentation (role, parameters) beside its handler.
pub fn routes() -> Vec<Route> {
    vec![route(
        const {
            RouteDoc {
                method: "GET",
                path: "/metrics",
                role: Some(Role::Reader),
                summary: "Prometheus metrics: daily and 30-day high-water marks per product, failures, fact sequence",
                params: &[],
                produces: "text/plain; version=0.0.4",
            }
        },
        metrics,
    )]
}

/// A label value escaped per the exposition format (`\\`, `\"`, `\n`).
pub fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// An exact quantity as a sample value: its decimal text ([`decimal_text`]: `1/3` →
/// `0.333333`), which Prometheus reads as a float; `NaN` for text that is no number.
fn sample(text: &str) -> String {
    match text.parse::<Exact>() {
        Ok(q) => decimal_text(&q),
        Err(_) => "NaN".into(),
    }
}

/// `GET /metrics`: Prometheus text exposition of the daily and period high-water marks.
pub async fn metrics(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, Problem> {
    let text = blocking(move || {
        let today = chrono::Utc::now().date_naive();
        let tomorrow = today + Days::new(1);
        let day = read::report(&state, &caller, today, tomorrow)?;
        let window = read::report(&state, &caller, today - Days::new(29), tomorrow)?;
        Ok(render(&day, &window))
    })
    .await?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

fn render(day: &Report, window: &Report) -> String {
    let mut out = String::new();
    out.push_str(
        "# HELP licmetric_daily_high_water_mark Today's (UTC) daily value so far per product and metric.\n\
         # TYPE licmetric_daily_high_water_mark gauge\n",
    );
    for p in &day.products {
        if let Ok(u) = &p.usage {
            let _ = writeln!(
                out,
                "licmetric_daily_high_water_mark{{product=\"{}\",metric=\"{}\"}} {}",
                label(&p.record.id),
                label(&u.metric_code_name),
                sample(&u.quantity),
            );
        }
    }
    out.push_str(
        "# HELP licmetric_period_high_water_mark Period value over the last 30 days (today included) per product and metric.\n\
         # TYPE licmetric_period_high_water_mark gauge\n",
    );
    for p in &window.products {
        if let Ok(u) = &p.usage {
            let _ = writeln!(
                out,
                "licmetric_period_high_water_mark{{product=\"{}\",metric=\"{}\",period=\"30d\"}} {}",
                label(&p.record.id),
                label(&u.metric_code_name),
                sample(&u.quantity),
            );
        }
    }
    out.push_str(
        "# HELP licmetric_product_evaluation_failed 1 when a product has no figures for the last 30 days because its evaluation failed.\n\
         # TYPE licmetric_product_evaluation_failed gauge\n",
    );
    for p in &window.products {
        let _ = writeln!(
            out,
            "licmetric_product_evaluation_failed{{product=\"{}\"}} {}",
            label(&p.record.id),
            u8::from(p.usage.is_err()),
        );
    }
    out.push_str(
        "# HELP licmetric_fact_sequence Sequence number of the newest committed fact batch.\n\
         # TYPE licmetric_fact_sequence gauge\n",
    );
    let _ = writeln!(
        out,
        "licmetric_fact_sequence {}",
        window.fact_sequence.max(day.fact_sequence)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_samples() {
        assert_eq!(label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        assert_eq!(sample("12"), "12");
        assert_eq!(sample("0.125"), "0.125");
        assert_eq!(sample("1/3"), "0.333333");
        assert_eq!(sample("x"), "NaN");
    }
}
