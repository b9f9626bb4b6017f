//! `GET /api/v1/chargeback?product=…&start=…&end=…[&group_by=…][&approach=…][&offset=…][&limit=…]`:
//! who pays for a product's period quantity (SPEC §4.8) — or, with `bundle=…`, a bundle's,
//! from its members' contributors scaled by their conversions (§4.7.4) — as a flat, paginated list of
//! consumers in the spirit of Flexera's consumption and chargeback API. The group lines are
//! always complete; `lines` is the requested page of consumer lines.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::{Extension, Json};
use serde::Serialize;

use super::auth::Caller;
use super::openapi::{RouteDoc, param};
use super::params::period_of;
use super::problem::Problem;
use super::read::{bundle_record, eval_problem, every_product, product_days};
use super::routes::{Route, route};
use super::state::{AppState, blocking};
use super::usage::SUBJECT_AND_PERIOD;
use crate::eval::chargeback::{self, Chargeback};
use crate::eval::{Detail, bundle, period};
use crate::store::records::{Approach, ChargebackConfig, check_group_by};
use crate::store::tokens::Role;

/// Consumer lines per page unless `limit` says otherwise, and the most a page may hold.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

/// The routes of this module: each one's documentation (role, parameters) beside its handler.
pub fn routes() -> Vec<Route> {
    vec![route(
        const {
            RouteDoc {
                method: "GET",
                path: "/api/v1/chargeback",
                role: Some(Role::Reader),
                summary: "Who pays for a product's or bundle's period quantity: group and consumer lines",
                params: &[
                    SUBJECT_AND_PERIOD[0],
                    SUBJECT_AND_PERIOD[1],
                    SUBJECT_AND_PERIOD[2],
                    SUBJECT_AND_PERIOD[3],
                    param(
                        "group_by",
                        "query",
                        false,
                        "string",
                        "namespace_group, cost_center, location or corporate_unit",
                    ),
                    param(
                        "approach",
                        "query",
                        false,
                        "string",
                        "by_consumption_at_peak, by_own_peak, equal_split or fixed_percentage",
                    ),
                    param(
                        "offset",
                        "query",
                        false,
                        "integer",
                        "consumer lines to skip",
                    ),
                    param(
                        "limit",
                        "query",
                        false,
                        "integer",
                        "consumer lines per page (at most 10000)",
                    ),
                ],
                produces: "application/json",
            }
        },
        chargeback,
    )]
}

/// A page of a product's chargeback.
#[derive(Serialize)]
pub struct Page {
    #[serde(flatten)]
    pub chargeback: Chargeback,
    pub period: period::Period,
    /// Consumer lines in the whole answer.
    pub total_count: usize,
    pub offset: usize,
    pub limit: usize,
}

/// `GET /api/v1/chargeback`: a page of a product's or bundle's chargeback.
pub async fn chargeback(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Page>, Problem> {
    let product = match (q.get("product"), q.get("bundle")) {
        (Some(p), None) => p.clone(),
        (None, Some(_)) => String::new(),
        (Some(_), Some(_)) => {
            return Err(Problem::bad_parameter(
                "bundle",
                "give either product or bundle, not both",
            ));
        }
        (None, None) => return Err(Problem::bad_parameter("product", "is required (or bundle)")),
    };
    let bundle = q.get("bundle").cloned();
    let (start, end) = period_of(&q)?;
    let number = |name: &str, default: usize, max: usize| -> Result<usize, Problem> {
        match q.get(name) {
            None => Ok(default),
            Some(t) => match t.parse::<usize>() {
                Ok(n) if n <= max => Ok(n),
                _ => Err(Problem::bad_parameter(
                    name,
                    format!("{t:?} is not a whole number up to {max}"),
                )),
            },
        }
    };
    let offset = number("offset", 0, usize::MAX)?;
    let limit = number("limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let group_by = match q.get("group_by") {
        Some(g) => {
            check_group_by(g).map_err(|e| Problem::bad_parameter("group_by", e))?;
            Some(g.clone())
        }
        None => None,
    };
    let approach = match q.get("approach") {
        Some(a) => Some(
            a.parse()
                .map_err(|e| Problem::bad_parameter("approach", e))?,
        ),
        None => None,
    };
    let page = move |mut answer: Chargeback, period: period::Period| {
        let total_count = answer.lines.len();
        answer.lines = answer.lines.into_iter().skip(offset).take(limit).collect();
        Json(Page {
            chargeback: answer,
            period,
            total_count,
            offset,
            limit,
        })
    };
    let configure = move |record: Option<ChargebackConfig>| {
        let mut config = record.unwrap_or_default();
        if let Some(g) = group_by {
            config.group_by = Some(g);
        }
        if let Some(a) = approach {
            config.approach = a;
        }
        if config.approach == Approach::FixedPercentage && config.percentages.is_empty() {
            return Err(Problem::bad_parameter(
                "approach",
                "fixed_percentage needs the record's chargeback.percentages, and it has none",
            ));
        }
        Ok(config)
    };
    if let Some(id) = bundle {
        return blocking(move || {
            let record = bundle_record(&state, &id)?;
            let config = configure(record.chargeback.clone())?;
            let (products, results) =
                every_product(&state, caller.scope(), start, end, Detail::All)?;
            let evaluated: Vec<_> = products.iter().zip(&results).collect();
            let members = bundle::members(&id, &evaluated)
                .into_iter()
                .collect::<Result<Vec<_>, _>>()
                .map_err(eval_problem)?;
            let usage = bundle::usage(&record, &members, start, end).map_err(eval_problem)?;
            let answer = chargeback::allocate_bundle(&record, &members, &usage, &config)
                .map_err(eval_problem)?;
            Ok(page(answer, usage.period))
        })
        .await;
    }
    blocking(move || {
        let days = product_days(&state, &caller, &product, start, end, Detail::All)?;
        let config = configure(days.product.chargeback.clone())?;
        let usage =
            period::usage(&days, start, end, None, chrono::Weekday::Mon).map_err(eval_problem)?;
        let answer = chargeback::allocate(&days, &usage, &config).map_err(eval_problem)?;
        Ok(page(answer, usage.period))
    })
    .await
}
