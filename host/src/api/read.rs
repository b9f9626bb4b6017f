//! The read side every query family shares: a caller's view of the products and bundles over a
//! period, computed from the stored daily results (a plugin runs only for days the cache lacks).
//!
//! [`report`] is what the compatible APIs (ILMT, License Service, Octane, Prometheus, the
//! status page, audit snapshots) format. Reports are kept in memory per (period, scope) until
//! facts, records or plugins change, so a dashboard polling `/products` costs a map lookup.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use chrono::{NaiveDate, Weekday};
use licmetric_sdk::Exact;

use super::auth::Caller;
use super::{AppState, Problem};
use crate::eval::bundle::{self, BundleUsage};
use crate::eval::membership;
use crate::eval::period::{self, Usage};
use crate::eval::scope::{self, Scope};
use crate::eval::{Detail, Earlier, EvalError, ProductDays};
use crate::store::Store;
use crate::store::numbers::Numbered;
use crate::store::records::{Bundle, Product};

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

/// What a report depends on besides its period and scope: facts, records and the loaded
/// plugins. Cheap to read (a sled lookup and the plugin list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freshness {
    fact_sequence: u64,
    records_generation: u64,
    /// Changes with every plugin activation, deactivation or rollback.
    registry_generation: u64,
}

/// A computed report and when it stops being fresh.
struct Entry {
    report: Arc<Report>,
    freshness: Freshness,
    expires: Option<Instant>,
}

type Key = (NaiveDate, NaiveDate, Option<Scope>);
type Slot = Arc<Mutex<Option<Entry>>>;

/// Reports kept in memory; one computation per key at a time (concurrent readers of the same
/// period wait for it instead of each evaluating). Holds at most [`CACHED_REPORTS`] periods;
/// the least recently read goes first.
#[derive(Default)]
pub struct ReportCache {
    entries: Mutex<HashMap<Key, (Slot, Instant)>>,
}

/// Most reports kept. A report holds every product's days, so this bounds memory at about
/// this many times (products × days) day records.
const CACHED_REPORTS: usize = 16;
/// A period that reaches today changes as the day goes on (open sessions end "now").
const TODAY_TTL: Duration = Duration::from_secs(30);

/// The store's and runtime's state now.
pub fn freshness(state: &AppState) -> anyhow::Result<Freshness> {
    let store = &state.evaluator.store;
    Ok(Freshness {
        fact_sequence: store.committed_sequence()?,
        records_generation: store.records_generation(),
        registry_generation: state.evaluator.runtime.registry().generation(),
    })
}

/// Makes room for `key` in a map that holds at most `capacity` entries: when it is full and
/// `key` is new, the entry least recently used (by `used`) goes.
pub(super) fn make_room<K: Eq + std::hash::Hash + Clone, V>(
    entries: &mut HashMap<K, V>,
    key: &K,
    capacity: usize,
    used: impl Fn(&V) -> Instant,
) {
    if entries.len() >= capacity
        && !entries.contains_key(key)
        && let Some(oldest) = entries
            .iter()
            .min_by_key(|(_, v)| used(v))
            .map(|(k, _)| k.clone())
    {
        entries.remove(&oldest);
    }
}

impl ReportCache {
    /// The slot of `key`, made (and the least recently read one evicted) when missing.
    fn slot(&self, key: Key) -> Slot {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        make_room(&mut entries, &key, CACHED_REPORTS, |(_, used)| *used);
        let entry = entries
            .entry(key)
            .or_insert_with(|| (Slot::default(), Instant::now()));
        entry.1 = Instant::now();
        entry.0.clone()
    }
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
            earlier_days(entry)
        }
        _ => Default::default(),
    };
    let report = Arc::new(compute(
        state,
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
    compute(
        state,
        caller.scope(),
        (start, end),
        sequence,
        detail,
        Default::default(),
    )
}

/// Period figures of a kept report, by product id, for the products whose days come back
/// the same.
type Figures = HashMap<String, (Result<Usage, EvalError>, Option<MetricName>)>;

/// A kept report's days and figures, when no reader holds the report any more (else nothing:
/// the next report reads its days from the cache).
fn earlier_days(entry: Entry) -> (Earlier, Figures) {
    let Ok(report) = Arc::try_unwrap(entry.report) else {
        return Default::default();
    };
    let mut earlier = Earlier {
        sequence: entry.freshness.fact_sequence,
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

fn compute(
    state: &AppState,
    scope: Option<&Scope>,
    (start, end): (NaiveDate, NaiveDate),
    fact_sequence: u64,
    detail: Detail,
    (earlier, mut before): (Earlier, Figures),
) -> Result<Report, Problem> {
    let now = chrono::Utc::now();
    let generated = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let evaluated_at = now.timestamp_millis();
    let (records, results) =
        evaluate_all(state, scope, (start, end, evaluated_at), detail, earlier)?;
    let evaluated: Vec<(&Product, &Result<ProductDays, EvalError>)> =
        records.iter().zip(&results).collect();
    let store = &state.evaluator.store;
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
    evaluate_all(state, scope, (start, end, now), detail, Earlier::default())
}

/// Every product record and its days (or error), in the same order.
type Evaluated = (Vec<Product>, Vec<Result<ProductDays, EvalError>>);

/// [`every_product`] at `run_at`, reusing the days of an `earlier` evaluation.
fn evaluate_all(
    state: &AppState,
    scope: Option<&Scope>,
    (start, end, run_at): (NaiveDate, NaiveDate, i64),
    detail: Detail,
    earlier: Earlier,
) -> Result<Evaluated, Problem> {
    let products = state.evaluator.store.products()?;
    let detail = if scope.is_some() { Detail::All } else { detail };
    let results = state
        .evaluator
        .days_after(&products, start, end, run_at, detail, earlier)
        .map_err(eval_problem)?;
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
