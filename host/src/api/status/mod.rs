//! IBM License Service style service pages: `GET /` and `GET /version` (public, for probes
//! and load balancers), `GET /health` (License Service's data-quality answer: workloads whose
//! licensing data is incomplete) and `GET /status`, an HTML page a person can read: every
//! product's period figures, data freshness, the loaded plugins, warnings and errors.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

pub mod chart;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, http::HeaderValue};
use chrono::NaiveDate;
use serde_json::{Value, json};

use super::auth::Caller;
use super::openapi::{RouteDoc, param};
use super::read::{self, PeriodDefaults, Report};
use super::{AppState, Problem, blocking};
use crate::store::Store;
use crate::store::timeline::{Interner, Window};
use crate::store::tokens::Role;

/// The routes of this module with their required roles: the API document and the auth table.
pub const DOCS: &[RouteDoc] = &[
    RouteDoc {
        method: "GET",
        path: "/",
        role: None,
        summary: "Liveness probe (no token), as License Service's",
        params: &[],
        produces: "application/json",
    },
    RouteDoc {
        method: "GET",
        path: "/health",
        role: Some(Role::Reader),
        summary: "License Service: pods whose licensing data is incomplete (incompleteAnnotations)",
        params: &[],
        produces: "application/json",
    },
    RouteDoc {
        method: "GET",
        path: "/version",
        role: None,
        summary: "licmetric's version and plugin API version (no token)",
        params: &[],
        produces: "application/json",
    },
    RouteDoc {
        method: "GET",
        path: "/status",
        role: Some(Role::Reader),
        summary: "Status page (HTML): products, data freshness, plugins, warnings, errors",
        params: &[
            param(
                "startDate",
                "query",
                false,
                "date",
                "first day (YYYY-MM-DD); default 29 days before endDate",
            ),
            param(
                "endDate",
                "query",
                false,
                "date",
                "last day, included (YYYY-MM-DD); default today (UTC)",
            ),
        ],
        produces: "text/html",
    },
];

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

/// The `[start, end)` of a status request (`endDate` included; default the 30 days to today).
fn period(q: &HashMap<String, String>) -> Result<(NaiveDate, NaiveDate), Problem> {
    read::inclusive_period(
        ("startDate", q.get("startDate").map(String::as_str)),
        ("endDate", q.get("endDate").map(String::as_str)),
        PeriodDefaults {
            last: chrono::Utc::now().date_naive(),
            start_days_before: 29,
        },
    )
}

/// `GET /status`: an HTML page a person reads: products, peaks, freshness, plugins, warnings.
pub async fn status(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    let (start, end) = period(&q)?;
    let page = blocking(move || {
        let report = read::report(&state, &caller, start, end)?;
        // Warnings name consumers: a scoped caller sees none.
        let warnings = match caller.scope() {
            None => Some(state.evaluator.store.warnings()?),
            Some(_) => None,
        };
        Ok(render(&state, &report, warnings.as_deref()))
    })
    .await?;
    let mut response = page.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Ok(response)
}

fn cell(out: &mut String, text: &str) {
    let _ = write!(out, "<td>{}</td>", escape(text));
}

fn render(state: &AppState, report: &Report, warnings: Option<&[Value]>) -> String {
    let mut out = String::new();
    let last = report.end.pred_opt().unwrap_or(report.end);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>licmetric status</title>\
         <style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #999;padding:2px 6px;text-align:left}}.error{{color:#b00}}</style>\
         </head><body>\n<h1>licmetric {} status</h1>\n<p>Period {} to {} (included)</p>\n",
        escape(env!("CARGO_PKG_VERSION")),
        report.start,
        last,
    );

    out.push_str("<h2>Data freshness</h2>\n<table>\n");
    let _ = write!(
        out,
        "<tr><th>Newest fact sequence</th><td>{}</td></tr>\n\
         <tr><th>Report generated</th><td>{}</td></tr>\n",
        report.fact_sequence,
        escape(&report.generated),
    );
    let today = chrono::Utc::now().date_naive();
    if report.end > today {
        let _ = write!(
            out,
            "<tr><th>Day in progress</th><td>{today}: its figures grow until the day ends</td></tr>\n"
        );
    }
    out.push_str("</table>\n");

    out.push_str(
        "<h2>Products</h2>\n<table>\n<tr><th>Product</th><th>Name</th><th>Metric</th>\
         <th>Quantity</th><th>Peak date</th><th>Threshold</th><th>Delta</th><th>Bundle</th>\
         <th>Error</th></tr>\n",
    );
    for p in &report.products {
        out.push_str("<tr>");
        cell(&mut out, &p.record.id);
        cell(&mut out, p.record.name.as_deref().unwrap_or(""));
        let metric = match &p.metric {
            Some(m) => format!("{} ({})", m.name, m.code_name),
            None => p.record.metric.clone(),
        };
        cell(&mut out, &metric);
        let bundle = p.bundle.as_ref().map(|b| b.id.as_str()).unwrap_or("");
        match &p.usage {
            Ok(u) => {
                cell(&mut out, &u.quantity);
                cell(&mut out, u.peak_date.as_deref().unwrap_or(""));
                cell(&mut out, u.threshold.as_deref().unwrap_or(""));
                cell(&mut out, u.threshold_delta.as_deref().unwrap_or(""));
                cell(&mut out, bundle);
                cell(&mut out, "");
            }
            Err(e) => {
                for _ in 0..4 {
                    cell(&mut out, "");
                }
                cell(&mut out, bundle);
                let _ = write!(out, "<td class=\"error\">{}</td>", escape(&e.to_string()));
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");

    if !report.bundles.is_empty() {
        out.push_str(
            "<h2>Bundles</h2>\n<table>\n<tr><th>Bundle</th><th>Name</th><th>Quantity</th>\
             <th>Peak date</th><th>Threshold</th><th>Error</th></tr>\n",
        );
        for b in &report.bundles {
            out.push_str("<tr>");
            cell(&mut out, &b.record.id);
            cell(&mut out, b.record.name.as_deref().unwrap_or(""));
            match &b.usage {
                Ok(u) => {
                    cell(&mut out, &u.quantity);
                    cell(&mut out, u.peak_date.as_deref().unwrap_or(""));
                    cell(&mut out, u.threshold.as_deref().unwrap_or(""));
                    cell(&mut out, "");
                }
                Err(e) => {
                    for _ in 0..3 {
                        cell(&mut out, "");
                    }
                    let _ = write!(out, "<td class=\"error\">{}</td>", escape(&e.to_string()));
                }
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
    }

    out.push_str(
        "<h2>Plugins</h2>\n<table>\n<tr><th>Name</th><th>Version</th><th>Digest</th></tr>\n",
    );
    for plugin in state.evaluator.runtime.plugins() {
        out.push_str("<tr>");
        cell(&mut out, plugin.name());
        cell(&mut out, &plugin.version().to_string());
        cell(&mut out, plugin.digest());
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");

    out.push_str("<h2>Warnings</h2>\n");
    match warnings {
        None => out.push_str("<p>Not shown to a scoped token (they name consumers).</p>\n"),
        Some([]) => out.push_str("<p>None.</p>\n"),
        Some(list) => {
            out.push_str(
                "<table>\n<tr><th>Product</th><th>Code</th><th>Date</th><th>Message</th></tr>\n",
            );
            for w in list {
                out.push_str("<tr>");
                for field in ["product", "code", "date", "message"] {
                    cell(&mut out, w.get(field).and_then(Value::as_str).unwrap_or(""));
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</table>\n");
        }
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    fn period(pairs: &[(&str, &str)]) -> Result<(String, String), String> {
        let q: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        super::period(&q)
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
