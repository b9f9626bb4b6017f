//! What a plugin's [`crate::Metric::evaluate`] returns, and how it crosses the boundary.
//!
//! A plugin builds one [`DayResult`] per product, day and partition, with contributors and
//! explanation lines when [`crate::facts::Facts::is_explaining`] says a reader wants them. The
//! export glue splits that into the contract's two answers: [`quantities`] for `evaluate`
//! (numbers, and interned identities of distinct-union metrics) and [`details`] for `explain`.
//! The host applies the same split to plugins built against `licmetric:plugin@1.0.0`, whose
//! `evaluate` returns everything at once.

use std::collections::HashMap;

use crate::Exact;
use crate::types::{BundleClaim, Contributor, MetricInfo, PeriodRule, PluginError, wire};

/// One product's value on one day in one partition, with who held the peak and why.
#[derive(Debug, Clone)]
pub struct DayResult {
    pub product: String,
    pub date: String,
    /// Code name of the declared metric the quantity counts; "" = the first declared.
    pub metric: String,
    /// `region:2`, `region:none`, or "" when the metric has no partitions.
    pub partition: String,
    /// Exact decimal text.
    pub quantity: String,
    pub peak_at: i64,
    /// Further named quantities (e.g. `denials`), exact decimal text.
    pub measures: Vec<(String, String)>,
    /// Who held the peak. Distinct-union metrics list every identity of the day here, also
    /// when not explaining: the host counts them over the period.
    pub contributors: Vec<Contributor>,
    /// How the number was reached (only needed when explaining).
    pub explanation: Vec<String>,
    pub warnings: Vec<String>,
    /// Every distinct bundle claim the day's facts make for the product (usually none).
    pub bundle_claims: Vec<BundleClaim>,
}

/// Results of the products that succeeded, errors of those that did not.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub days: Vec<DayResult>,
    pub errors: Vec<PluginError>,
}

/// `text` as the contract's exact fraction, or why not.
pub fn exact_of(text: &str) -> Result<wire::Exact, String> {
    let value: Exact = text
        .parse()
        .map_err(|_| format!("{text:?} is not an exact number"))?;
    let (numerator, denominator) = value.parts();
    match (i64::try_from(numerator), i64::try_from(denominator)) {
        (Ok(numerator), Ok(denominator)) => Ok(wire::Exact {
            numerator,
            denominator,
        }),
        _ => Err(format!("{text:?} does not fit a 64-bit fraction")),
    }
}

/// The contract's exact fraction as a number; `None` for a zero or negative denominator.
pub fn exact_from(e: &wire::Exact) -> Option<Exact> {
    (e.denominator > 0).then(|| Exact::ratio(e.numerator as i128, e.denominator as i128))
}

/// The identity a contributor stands for in a distinct-union count: its kind and key.
pub fn identity_name(kind: &str, key: &str) -> String {
    format!("{kind}\u{0}{key}")
}

/// The numbers of `outcome`: what `evaluate` returns. `metrics` are the plugin's declared
/// metrics; days counting a distinct-union metric carry their contributors as identities.
/// A quantity that is no exact number fails its product-day with `invalid-result`.
pub fn quantities(outcome: Outcome, metrics: &[MetricInfo]) -> wire::Outcome {
    let distinct = |metric: &str| {
        let declared = if metric.is_empty() {
            metrics.first()
        } else {
            metrics.iter().find(|m| m.code_name == metric)
        };
        declared.is_some_and(|m| m.period_rule == PeriodRule::DistinctUnion)
    };
    let mut names: Vec<String> = Vec::new();
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut errors = outcome.errors;
    let mut days = Vec::with_capacity(outcome.days.len());
    for d in outcome.days {
        let converted = exact_of(&d.quantity).and_then(|quantity| {
            let measures = d
                .measures
                .iter()
                .map(|(k, v)| Ok((k.clone(), exact_of(v)?)))
                .collect::<Result<Vec<_>, String>>()?;
            Ok((quantity, measures))
        });
        let (quantity, measures) = match converted {
            Ok(c) => c,
            Err(why) => {
                errors.push(PluginError {
                    code: "invalid-result".into(),
                    message: format!("quantity or measure: {why}"),
                    product: Some(d.product.clone()),
                    date: Some(d.date.clone()),
                    fact_kind: None,
                    fact_key: None,
                    attribute: None,
                    at: None,
                    section: None,
                });
                continue;
            }
        };
        let mut identities = Vec::new();
        if distinct(&d.metric) {
            for c in &d.contributors {
                let name = identity_name(&c.kind, &c.key);
                let id = *ids.entry(name.clone()).or_insert_with(|| {
                    names.push(name);
                    names.len() as u32 - 1
                });
                identities.push(id);
            }
            identities.sort_unstable();
            identities.dedup();
        }
        days.push(wire::DayResult {
            product: d.product,
            date: d.date,
            metric: d.metric,
            partition: d.partition,
            quantity,
            peak_at: d.peak_at,
            measures,
            identities,
            warnings: d.warnings,
            bundle_claims: d.bundle_claims,
        });
    }
    wire::Outcome {
        days,
        identity_names: names,
        errors,
    }
}

/// Who held each day's peak and why: what `explain` returns.
pub fn details(outcome: Outcome) -> wire::Explained {
    wire::Explained {
        days: outcome
            .days
            .into_iter()
            .map(|d| wire::DayDetail {
                product: d.product,
                date: d.date,
                metric: d.metric,
                partition: d.partition,
                contributors: d.contributors,
                explanation: d.explanation,
            })
            .collect(),
        errors: outcome.errors,
    }
}
