//! The report read model: every product and bundle over a period as one caller may see them,
//! computed from the stored daily results (a plugin runs only for days the cache lacks). The
//! compatible APIs (ILMT, License Service, Octane, Prometheus), the status page and audit
//! snapshots all format a [`Report`], so their figures agree. Keeping reports between reads
//! is the API's business; this module only computes them.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, Weekday};
use licmetric_sdk::Exact;

use super::bundle::{self, BundleUsage};
use super::membership;
use super::period::{self, Usage};
use super::scope::{self, Scope};
use super::{Detail, Earlier, EvalError, Evaluator, ProductDays};
use crate::store::Store;
use crate::store::numbers::Numbered;
use crate::store::records::{Bundle, Product};

/// Why a report could not be made at all (a product that fails keeps its place in the
/// report with its error).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}")]
    Eval(EvalError),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl From<EvalError> for ReportError {
    fn from(e: EvalError) -> Self {
        ReportError::Eval(e)
    }
}

impl From<sled::Error> for ReportError {
    fn from(e: sled::Error) -> Self {
        ReportError::Store(e.into())
    }
}

/// One product's figures over the report's period, as the caller may see them.
pub struct ProductFigures {
    pub record: Product,
    /// The days the figures were computed from (restricted to the caller's scope), for the
    /// detail a figure alone cannot give: daily rows, chargeback lines, consumers. Reading them
    /// from here keeps every part of one answer on the same facts.
    pub days: Result<ProductDays, EvalError>,
    /// The period result, or why there is none (never a zero in its place).
    pub usage: Result<Usage, EvalError>,
    /// The metric the quantity counts, as the plugin declares it (code name, name, unit).
    pub metric: Option<MetricName>,
    /// The bundle the product belongs to over the period (configured or claimed by its facts).
    pub bundle: Option<BundleLink>,
}

/// How a metric is called.
#[derive(Debug, Clone)]
pub struct MetricName {
    pub code_name: String,
    pub name: String,
    pub unit: String,
}

/// A product's place in a bundle (SPEC §4.7).
#[derive(Debug, Clone)]
pub struct BundleLink {
    pub id: String,
    /// The bundle's stable integer id (always assigned; see `store::numbers`).
    pub numeric_id: u64,
    pub name: Option<String>,
    /// `cloud_pak` or `flexpoint` when the bundle record says.
    pub kind: Option<String>,
    /// Product units : bundle units.
    pub ratio: (u64, u64),
    /// The product's period quantity converted to bundle units, `ceil(q × b / a)`.
    pub contribution: Option<String>,
}

/// One bundle's figures over the period.
pub struct BundleFigures {
    pub record: Bundle,
    pub usage: Result<BundleUsage, EvalError>,
}

/// Every product and bundle over `[start, end)` as one caller may see them.
pub struct Report {
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// When it was computed (RFC 3339).
    pub generated: String,
    /// The newest fact sequence it read.
    pub fact_sequence: u64,
    /// The instant it was evaluated at (open intervals end there), epoch milliseconds.
    pub evaluated_at: i64,
    pub scope: Option<Scope>,
    pub products: Vec<ProductFigures>,
    pub bundles: Vec<BundleFigures>,
}

/// Period figures of a kept report, by product id, for the products whose days come back
/// the same.
pub type Figures = HashMap<String, (Result<Usage, EvalError>, Option<MetricName>)>;

/// What a report evaluated at fact sequence `sequence` hands to the next one: its days (for
/// [`Evaluator::days_after`] to reuse where no fact changed) and its figures.
pub fn earlier(report: Report, sequence: u64) -> (Earlier, Figures) {
    let mut earlier = Earlier {
        sequence,
        run_at: report.evaluated_at,
        products: HashMap::new(),
    };
    let mut figures = Figures::new();
    for p in report.products {
        if let Ok(days) = p.days {
            figures.insert(p.record.id.clone(), (p.usage, p.metric));
            earlier.products.insert(p.record.id, days);
        }
    }
    (earlier, figures)
}

/// Every product and bundle over `[start, end)` as a caller with `scope` sees them, with the
/// details `detail` asks for. `fact_sequence` is the sequence read before (it dates the
/// report); `earlier` and `before` are a kept report's days and figures, reused for the days no
/// fact changed. Costs one evaluation of every product (mostly cache reads) and the period
/// rules of the products whose days changed.
pub fn compute(
    evaluator: &Evaluator,
    scope: Option<&Scope>,
    (start, end): (NaiveDate, NaiveDate),
    fact_sequence: u64,
    detail: Detail,
    (earlier, mut before): (Earlier, Figures),
) -> Result<Report, ReportError> {
    let now = chrono::Utc::now();
    let generated = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let evaluated_at = now.timestamp_millis();
    let (records, results) = evaluate_all(
        evaluator,
        scope,
        (start, end, evaluated_at),
        detail,
        earlier,
    )?;
    let evaluated: Vec<(&Product, &Result<ProductDays, EvalError>)> =
        records.iter().zip(&results).collect();
    let store = &evaluator.store;
    let mut bundles: BTreeMap<String, Bundle> = store
        .bundles()?
        .into_iter()
        .map(|b| (b.id.clone(), b))
        .collect();
    let mut figures = Vec::with_capacity(records.len());
    for (_, result) in &evaluated {
        figures.push(match result {
            Err(e) => (Err(e.clone()), None, None),
            Ok(days) => {
                // Days that came back the same keep the figures derived from them.
                let (usage, metric) = match before.remove(&days.product.id) {
                    Some(figures) if days.same_as_earlier => figures,
                    _ => {
                        let usage = period::usage(days, start, end, None, Weekday::Mon);
                        let metric = metric_name(days, usage.as_ref().ok());
                        (usage, metric)
                    }
                };
                let link = bundle_link(days, usage.as_ref().ok(), &mut bundles, store)?;
                (usage, metric, link)
            }
        });
    }
    let bundles = bundles
        .into_values()
        .map(|record| {
            let members: Result<Vec<&ProductDays>, EvalError> =
                bundle::members(&record.id, &evaluated)
                    .into_iter()
                    .collect();
            let usage = members.and_then(|m| bundle::usage(&record, &m, start, end));
            BundleFigures { record, usage }
        })
        .collect();
    let products = records
        .into_iter()
        .zip(results)
        .zip(figures)
        .map(|((record, days), (usage, metric, bundle))| ProductFigures {
            record,
            days,
            usage,
            metric,
            bundle,
        })
        .collect();
    Ok(Report {
        start,
        end,
        generated,
        fact_sequence,
        evaluated_at,
        scope: scope.cloned(),
        products,
        bundles,
    })
}

/// How the product's plugin calls the metric `usage` counts. A failed product (no `usage`)
/// keeps its plugin's first declared metric (most declare one) in the descriptive columns:
/// only the figures say the failure (ILMT clients read the code name as text).
fn metric_name(days: &ProductDays, usage: Option<&Usage>) -> Option<MetricName> {
    let metrics = &days.plugin.info().metrics;
    usage
        .and_then(|u| metrics.iter().find(|m| m.code_name == u.metric_code_name))
        .or(metrics.first())
        .map(|m| MetricName {
            code_name: m.code_name.clone(),
            name: m.name.clone(),
            unit: m.unit.clone(),
        })
}

/// The product's bundle; a bundle only its facts claim gets a bare record so it is reported,
/// and its number the first time it is.
fn bundle_link(
    days: &ProductDays,
    usage: Option<&Usage>,
    bundles: &mut BTreeMap<String, Bundle>,
    store: &Store,
) -> anyhow::Result<Option<BundleLink>> {
    let Ok((Some(membership), _)) = membership::membership(days) else {
        return Ok(None);
    };
    let Ok(ratio) = membership::conversion(membership.ratio.as_deref()) else {
        return Ok(None);
    };
    if !bundles.contains_key(&membership.bundle) {
        let numeric_id = Some(store.number(Numbered::Bundle, &membership.bundle)?);
        bundles.insert(
            membership.bundle.clone(),
            Bundle {
                id: membership.bundle.clone(),
                numeric_id,
                name: None,
                kind: None,
                metric_name: None,
                entitlement: None,
                threshold: None,
                chargeback: None,
                rest: Default::default(),
            },
        );
    }
    let record = &bundles[&membership.bundle];
    let contribution = usage.and_then(|u| {
        let q: Exact = u.quantity.parse().ok()?;
        Some(
            Exact::int((q * Exact::int(ratio.1 as i128) / Exact::int(ratio.0 as i128)).ceil())
                .to_string(),
        )
    });
    Ok(Some(BundleLink {
        id: record.id.clone(),
        numeric_id: record.numeric_id.unwrap_or_default(),
        name: record.name.clone(),
        kind: record.kind.clone(),
        ratio,
        contribution,
    }))
}

/// Every product record and its days (or error), in the same order.
pub type Evaluated = (Vec<Product>, Vec<Result<ProductDays, EvalError>>);

/// Every product with its days at `run_at`, restricted to `scope` (details as `detail` asks;
/// all of them for a scoped caller, whose view is cut along contributors), reusing the days
/// of an `earlier` evaluation.
pub fn evaluate_all(
    evaluator: &Evaluator,
    scope: Option<&Scope>,
    (start, end, run_at): (NaiveDate, NaiveDate, i64),
    detail: Detail,
    earlier: Earlier,
) -> Result<Evaluated, ReportError> {
    let products = evaluator.store.products()?;
    let detail = if scope.is_some() { Detail::All } else { detail };
    let results = evaluator.days_after(&products, start, end, run_at, detail, earlier)?;
    Ok((products, restrict_all(results, scope)))
}

/// Each product's days (or error) as a caller with `scope` may see them: restricted to the
/// scope's consumers, errors redacted ([`scope::restrict`], [`scope::redact`]). No plugin call.
pub fn restrict_all(
    results: Vec<Result<ProductDays, EvalError>>,
    scope: Option<&Scope>,
) -> Vec<Result<ProductDays, EvalError>> {
    match scope {
        None => results,
        Some(s) => results
            .into_iter()
            .map(|r| match r {
                Ok(days) => Ok(scope::restrict(days, s)),
                Err(e) => Err(scope::redact(e)),
            })
            .collect(),
    }
}
