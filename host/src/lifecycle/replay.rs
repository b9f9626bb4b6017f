//! The replay harness: fixture folders of facts and expected results, evaluated in a temporary
//! store, compared figure by figure.
//!
//! A fixture folder holds `case.json`, `facts.ndjson` and optionally `late.ndjson` (ingested
//! after a first evaluation checked against `expected_before_late`, to prove back-dated facts
//! recompute the right days). See README.md, "Replay fixtures".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use chrono::{NaiveDate, Weekday};
use licmetric_sdk::Exact;
use licmetric_sdk::calendar::TimeUnit;
use serde::Deserialize;
use serde_json::Value;

use crate::eval::bundle::{self, BundleUsage};
use crate::eval::calendar;
use crate::eval::chargeback;
use crate::eval::period::{self, DailyValue, PartitionPeak, Usage};
use crate::eval::{EvalError, Evaluator};
use crate::runtime::Runtime;
use crate::store::Store;
use crate::store::records::{Bundle, ChargebackConfig, Product};

/// `case.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub title: String,
    pub products: Vec<Product>,
    #[serde(default)]
    pub bundles: Vec<Bundle>,
    #[serde(default)]
    pub rule_data: BTreeMap<String, Value>,
    pub period: CasePeriod,
    /// "Now" for the evaluation (RFC 3339); default: the end of the period.
    #[serde(default)]
    pub run_at: Option<String>,
    /// Week start for week buckets; default Monday (ISO).
    #[serde(default)]
    pub week_start: Option<String>,
    #[serde(default)]
    pub expected_before_late: Vec<Expected>,
    pub expected: Vec<Expected>,
}

/// The period `[start, end)`.
#[derive(Debug, Deserialize)]
pub struct CasePeriod {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

/// One expected figure.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    #[serde(default)]
    pub product: Option<String>,
    #[serde(default)]
    pub bundle: Option<String>,
    pub quantity: Value,
    #[serde(default)]
    pub peak_date: Option<String>,
    /// date → quantity
    #[serde(default)]
    pub daily: Option<BTreeMap<String, Value>>,
    /// `days` | `weeks` | `months` → (bucket key date → quantity)
    #[serde(default)]
    pub buckets: Option<BTreeMap<String, BTreeMap<String, Value>>>,
    /// date → measure → value
    #[serde(default)]
    pub measures: Option<BTreeMap<String, BTreeMap<String, Value>>>,
    /// The period's chargeback lines (SPEC §4.8).
    #[serde(default)]
    pub chargeback: Option<ExpectedChargeback>,
    /// measure → its period value (HWM, or distinct identities for a distinct-union measure).
    #[serde(default)]
    pub period_measures: Option<BTreeMap<String, Value>>,
    /// The licensed quantity and threshold − quantity.
    #[serde(default)]
    pub threshold: Option<Value>,
    #[serde(default)]
    pub threshold_delta: Option<Value>,
    /// Expected error code (the product must fail with it instead of getting a quantity).
    #[serde(default)]
    pub error: Option<String>,
    /// partition → its high-water mark and peak day.
    #[serde(default)]
    pub partitions: Option<BTreeMap<String, ExpectedPartition>>,
    /// Texts that must each appear in an explanation line of the peak day(s).
    #[serde(default)]
    pub explanation: Option<Vec<String>>,
    /// Warning codes the period must carry.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
    /// Bundles: member → measured and converted quantity on the bundle's peak day(s).
    #[serde(default)]
    pub products: Option<BTreeMap<String, ExpectedMember>>,
}

/// Expected chargeback: every group line (`unallocated` included) and optionally consumers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedChargeback {
    /// Overrides the product's `group_by`, as the API's parameter does.
    #[serde(default)]
    pub group_by: Option<String>,
    /// Overrides the product's approach.
    #[serde(default)]
    pub approach: Option<String>,
    pub groups: BTreeMap<String, ExpectedGroup>,
    /// `kind:key` → recharged quantity.
    #[serde(default)]
    pub consumers: Option<BTreeMap<String, Value>>,
}

/// One expected chargeback group line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedGroup {
    pub quantity: Value,
    #[serde(default)]
    pub cost: Option<Value>,
}

/// A partition's expected high-water mark.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedPartition {
    pub hwm: Value,
    #[serde(default)]
    pub peak_date: Option<String>,
}

/// A bundle member's expected figures on the bundle's peak day.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedMember {
    pub measured: Value,
    pub converted: Value,
}

/// The outcome of one fixture.
#[derive(Debug)]
pub struct CaseReport {
    pub dir: PathBuf,
    pub title: String,
    /// One line per mismatch; empty = pass.
    pub mismatches: Vec<String>,
}

impl CaseReport {
    /// True when every expected figure matched.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Replays every fixture folder with the runtime's plugins.
pub fn replay(runtime: &Arc<Runtime>, dirs: &[PathBuf]) -> anyhow::Result<Vec<CaseReport>> {
    dirs.iter().map(|d| replay_one(runtime, d)).collect()
}

/// Every fixture folder (a folder holding `case.json`) under `root`, sorted.
pub fn find_fixtures(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if dir.join("case.json").is_file() {
            found.push(dir.clone());
        }
        if let Ok(entries) = std::fs::read_dir(&dir) {
            stack.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
    }
    found.sort();
    found
}

fn replay_one(runtime: &Arc<Runtime>, dir: &Path) -> anyhow::Result<CaseReport> {
    let case_path = dir.join("case.json");
    let text = std::fs::read_to_string(&case_path)
        .with_context(|| format!("reading {}", case_path.display()))?;
    let case: Case = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a valid case", case_path.display()))?;
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    };
    let facts = read("facts.ndjson")?;
    let late = match dir.join("late.ndjson").is_file() {
        true => Some(read("late.ndjson")?),
        false => None,
    };
    let evaluator = Evaluator::new(Arc::new(Store::temporary()?), runtime.clone());
    let mismatches = run_case(&evaluator, &case, &facts, late.as_deref())
        .with_context(|| format!("{}", dir.display()))?;
    Ok(CaseReport {
        dir: dir.to_path_buf(),
        title: case.title,
        mismatches,
    })
}

/// Runs `case` with `evaluator`, whose store is a fresh one (a temporary store): stores the
/// case's products, bundles and rule data, ingests `facts` (NDJSON), evaluates the period and
/// compares every expected figure; with `late`, first compares `expected_before_late`, then
/// ingests `late` and compares `expected`. Returns one line per mismatch (empty = pass). A
/// product that fails without an expected `error`, or with a plugin failure (trap, timeout,
/// memory or output cap, malformed result), is a mismatch. The shared core of `licmetric
/// replay` and a plugin's self-test; costs one evaluation of the case's products per stage.
pub fn run_case(
    evaluator: &Evaluator,
    case: &Case,
    facts: &str,
    late: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let store = &evaluator.store;
    for p in &case.products {
        p.validate()
            .map_err(|e| anyhow::anyhow!("case.json: product {}: {e}", p.id))?;
        store.put_product(p)?;
    }
    for b in &case.bundles {
        store.put_bundle(b)?;
    }
    for (plugin, doc) in &case.rule_data {
        store.put_rule_data(plugin, &doc.to_string())?;
    }
    let run_at = match &case.run_at {
        Some(t) => crate::store::fact::parse_time(t)
            .map_err(|e| anyhow::anyhow!("case.json: run_at: {e}"))?,
        None => calendar::midnight(chrono_tz::Tz::UTC, case.period.end),
    };
    let week_start = match &case.week_start {
        Some(w) => w
            .parse::<Weekday>()
            .map_err(|_| anyhow::anyhow!("case.json: week_start: {w:?} is not a weekday"))?,
        None => Weekday::Mon,
    };
    let ingest = |name: &str, text: &str| -> anyhow::Result<()> {
        store
            .ingest(text)
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))
    };
    ingest("facts.ndjson", facts)?;
    let mut mismatches = Vec::new();
    if let Some(late) = late {
        compare(
            evaluator,
            case,
            &case.expected_before_late,
            run_at,
            week_start,
            "before late facts: ",
            &mut mismatches,
        )?;
        ingest("late.ndjson", late)?;
    }
    compare(
        evaluator,
        case,
        &case.expected,
        run_at,
        week_start,
        "",
        &mut mismatches,
    )?;
    Ok(mismatches)
}

fn compare(
    evaluator: &Evaluator,
    case: &Case,
    expected: &[Expected],
    run_at: i64,
    week_start: Weekday,
    stage: &str,
    out: &mut Vec<String>,
) -> anyhow::Result<()> {
    let (start, end) = (case.period.start, case.period.end);
    let products: Vec<Product> = case.products.clone();
    // Every day's details: expectations check contributors and chargeback.
    let results = evaluator
        .days_with(&products, start, end, run_at, crate::eval::Detail::All)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let evaluated: Vec<_> = products.iter().zip(&results).collect();
    let bundles = bundles(case, &evaluated, expected, stage, out);
    let figures = Figures::of(&products, results, (start, end), week_start);
    for e in expected {
        let Some(id) = &e.product else {
            let id = e.bundle.clone().unwrap_or_default();
            compare_bundle(&format!("{stage}bundle {id}"), e, bundles.get(&id), out);
            continue;
        };
        compare_product(&format!("{stage}product {id}"), id, e, &figures, out);
    }
    // A product no expectation names must not fail unnoticed.
    for (id, usage) in &figures.usage {
        if let Err(error) = usage
            && !expected.iter().any(|e| e.product.as_ref() == Some(id))
        {
            out.push(format!(
                "{stage}product {id}: failed, and the case expects no error for it: {error}"
            ));
        }
    }
    Ok(())
}

/// Each bundle of the case from its members' days; a bundle's chargeback expectations are
/// checked here, while its members are at hand.
fn bundles(
    case: &Case,
    evaluated: &[(&Product, &Result<crate::eval::ProductDays, EvalError>)],
    expected: &[Expected],
    stage: &str,
    out: &mut Vec<String>,
) -> BTreeMap<String, Result<BundleUsage, String>> {
    let (start, end) = (case.period.start, case.period.end);
    let mut bundles = BTreeMap::new();
    for b in &case.bundles {
        let members: Result<Vec<&crate::eval::ProductDays>, String> =
            bundle::members(&b.id, evaluated)
                .into_iter()
                .map(|r| r.map_err(|e| e.to_string()))
                .collect();
        let usage = members.and_then(|m| {
            let usage = bundle::usage(b, &m, start, end).map_err(|e| e.to_string())?;
            for e in expected
                .iter()
                .filter(|e| e.bundle.as_deref() == Some(b.id.as_str()))
            {
                if let Some(want) = &e.chargeback {
                    let label = format!("{stage}bundle {}", b.id);
                    let base = b.chargeback.clone().unwrap_or_default();
                    compare_chargeback(&label, want, base, out, |config| {
                        chargeback::allocate_bundle(b, &m, &usage, config)
                    });
                }
            }
            Ok(usage)
        });
        bundles.insert(b.id.clone(), usage);
    }
    bundles
}

/// The products' figures a case's expectations are compared with.
struct Figures {
    /// Each product's period figures, or its error.
    usage: BTreeMap<String, Result<Usage, EvalError>>,
    /// The same with buckets, by (product, time unit).
    bucketed: BTreeMap<(String, String), Usage>,
    /// Each evaluated product's days, for its chargeback.
    days: BTreeMap<String, crate::eval::ProductDays>,
}

impl Figures {
    fn of(
        products: &[Product],
        results: Vec<Result<crate::eval::ProductDays, EvalError>>,
        (start, end): (NaiveDate, NaiveDate),
        week_start: Weekday,
    ) -> Figures {
        let mut figures = Figures {
            usage: BTreeMap::new(),
            bucketed: BTreeMap::new(),
            days: BTreeMap::new(),
        };
        for (product, result) in products.iter().zip(results) {
            let usage = result.and_then(|days| {
                for unit in ["days", "weeks", "months"] {
                    let u: TimeUnit = unit.parse().expect("known unit");
                    if let Ok(b) = period::usage(&days, start, end, Some(u), week_start) {
                        figures
                            .bucketed
                            .insert((product.id.clone(), unit.to_string()), b);
                    }
                }
                let usage = period::usage(&days, start, end, None, week_start);
                figures.days.insert(product.id.clone(), days);
                usage
            });
            figures.usage.insert(product.id.clone(), usage);
        }
        figures
    }
}

/// One product's expectation against its figures.
fn compare_product(label: &str, id: &str, e: &Expected, figures: &Figures, out: &mut Vec<String>) {
    let usage = match figures.usage.get(id) {
        None => {
            out.push(format!("{label}: not among the case's products"));
            return;
        }
        Some(Err(error)) => {
            let message = error.to_string();
            if let Some(code) = &e.error {
                if !expected_error(code, error) {
                    out.push(format!("{label}: expected error {code}, got: {message}"));
                }
            } else {
                out.push(format!(
                    "{label}: expected quantity {}, got error: {message}",
                    text(&e.quantity)
                ));
            }
            return;
        }
        Some(Ok(u)) => u,
    };
    if let Some(code) = &e.error {
        out.push(format!(
            "{label}: expected error {code}, got quantity {}",
            usage.quantity
        ));
        return;
    }
    compare_figures(
        label,
        e,
        &usage.quantity,
        usage.peak_date.as_deref(),
        &usage.daily,
        &format!("; {}", usage.explanation.join(" | ")),
        out,
    );
    compare_measures(label, e, usage, out);
    compare_buckets(label, id, e, figures, out);
    compare_partitions(label, e, &usage.partitions, out);
    for want in e.explanation.iter().flatten() {
        if !usage
            .explanation
            .iter()
            .any(|line| line.contains(want.as_str()))
        {
            out.push(format!(
                "{label}: explanation lacks {want:?}; it reads: {}",
                usage.explanation.join(" | ")
            ));
        }
    }
    compare_warnings(label, e, &usage.warnings, out);
    compare_threshold(label, e, &usage.threshold, &usage.threshold_delta, out);
    if let (Some(want), Some(days)) = (&e.chargeback, figures.days.get(id)) {
        let base = days.product.chargeback.clone().unwrap_or_default();
        compare_chargeback(label, want, base, out, |config| {
            chargeback::allocate(days, usage, config)
        });
    }
}

/// Daily measures (`denials` …) on the days the case names, and period measures.
fn compare_measures(label: &str, e: &Expected, usage: &Usage, out: &mut Vec<String>) {
    for (date, measures) in e.measures.iter().flatten() {
        let day = usage.daily.iter().find(|d| &d.date == date);
        for (name, want) in measures {
            let got = day
                .and_then(|d| d.measures.get(name))
                .map(String::as_str)
                .unwrap_or("-");
            if !same(want, got) {
                out.push(format!(
                    "{label}: {date}: measure {name} expected {}, got {got}",
                    text(want)
                ));
            }
        }
    }
    for (name, want) in e.period_measures.iter().flatten() {
        let got = usage.measures.get(name).map(String::as_str).unwrap_or("-");
        if !same(want, got) {
            out.push(format!(
                "{label}: period measure {name} expected {}, got {got}",
                text(want)
            ));
        }
    }
}

/// Buckets per time unit the case names, keyed by date.
fn compare_buckets(label: &str, id: &str, e: &Expected, figures: &Figures, out: &mut Vec<String>) {
    for (unit, want) in e.buckets.iter().flatten() {
        let got: BTreeMap<String, String> = figures
            .bucketed
            .get(&(id.to_string(), unit.clone()))
            .and_then(|u| u.buckets.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|b| (b.date, b.quantity))
            .collect();
        let want_text: BTreeMap<String, String> =
            want.iter().map(|(k, v)| (k.clone(), text(v))).collect();
        let matches = got.len() == want.len()
            && want
                .iter()
                .all(|(k, v)| got.get(k).is_some_and(|g| same(v, g)));
        if !matches {
            out.push(format!(
                "{label}: {unit} buckets expected {want_text:?}, got {got:?}"
            ));
        }
    }
}

/// Whether a product's error is the one a case expects: its SPEC §5.3 code appears in the
/// message. A plugin failure (trap, timeout, caps, malformed result) is never expected.
fn expected_error(code: &str, error: &EvalError) -> bool {
    !matches!(error, EvalError::PluginFailure { .. }) && error.to_string().contains(code)
}

/// Compares the chargeback `allocate` gives under the record's configuration `config` with
/// the expectation's overrides applied.
fn compare_chargeback(
    label: &str,
    want: &ExpectedChargeback,
    mut config: ChargebackConfig,
    out: &mut Vec<String>,
    allocate: impl FnOnce(&ChargebackConfig) -> Result<chargeback::Chargeback, crate::eval::EvalError>,
) {
    if let Some(g) = &want.group_by {
        config.group_by = Some(g.clone());
    }
    if let Some(a) = &want.approach {
        match a.parse() {
            Ok(a) => config.approach = a,
            Err(e) => return out.push(format!("{label}: chargeback approach: {e}")),
        }
    }
    let got = match allocate(&config) {
        Ok(c) => c,
        Err(e) => return out.push(format!("{label}: chargeback failed: {e}")),
    };
    let shown: Vec<String> = got
        .groups
        .iter()
        .map(|g| {
            format!(
                "{} {} {}",
                g.group,
                g.quantity,
                g.cost.as_deref().unwrap_or("")
            )
        })
        .collect();
    let names: Vec<&String> = got.groups.iter().map(|g| &g.group).collect();
    if names.len() != want.groups.len() || !want.groups.keys().all(|k| names.contains(&k)) {
        out.push(format!(
            "{label}: chargeback groups expected {:?}, got {}",
            want.groups.keys().collect::<Vec<_>>(),
            shown.join(" | ")
        ));
    }
    for (group, w) in &want.groups {
        let Some(g) = got.groups.iter().find(|g| &g.group == group) else {
            continue;
        };
        if !same(&w.quantity, &g.quantity) {
            out.push(format!(
                "{label}: chargeback {group}: quantity expected {}, got {} ({})",
                text(&w.quantity),
                g.quantity,
                shown.join(" | ")
            ));
        }
        if let Some(cost) = &w.cost {
            let g_cost = g.cost.as_deref().unwrap_or("-");
            if !same(cost, g_cost) {
                out.push(format!(
                    "{label}: chargeback {group}: cost expected {}, got {g_cost}",
                    text(cost)
                ));
            }
        }
    }
    for (consumer, w) in want.consumers.iter().flatten() {
        let got_line = got.lines.iter().find(|l| {
            l.consumer
                .as_ref()
                .is_some_and(|c| format!("{}:{}", c.kind, c.key) == *consumer)
        });
        match got_line {
            Some(l) if same(w, &l.recharged_consumption) => {}
            Some(l) => out.push(format!(
                "{label}: chargeback consumer {consumer}: expected {}, got {}",
                text(w),
                l.recharged_consumption
            )),
            None => out.push(format!("{label}: chargeback consumer {consumer}: no line")),
        }
    }
}

/// Quantity, peak date and daily values, the same for products and bundles. `context` is
/// appended to a wrong quantity's line (the explanation, for a product).
fn compare_figures(
    label: &str,
    e: &Expected,
    quantity: &str,
    peak_date: Option<&str>,
    daily: &[DailyValue],
    context: &str,
    out: &mut Vec<String>,
) {
    if !same(&e.quantity, quantity) {
        out.push(format!(
            "{label}: quantity expected {}, got {quantity} (peak {}{context})",
            text(&e.quantity),
            peak_date.unwrap_or("-"),
        ));
    }
    if let Some(peak) = &e.peak_date {
        if peak_date != Some(peak.as_str()) {
            out.push(format!(
                "{label}: peak date expected {peak}, got {}",
                peak_date.unwrap_or("-")
            ));
        }
    }
    for (date, want) in e.daily.iter().flatten() {
        match daily.iter().find(|d| &d.date == date) {
            Some(d) if same(want, &d.quantity) => {}
            Some(d) => out.push(format!(
                "{label}: {date}: expected {}, got {}",
                text(want),
                d.quantity
            )),
            None => out.push(format!("{label}: {date}: not in the period")),
        }
    }
}

fn compare_partitions(label: &str, e: &Expected, got: &[PartitionPeak], out: &mut Vec<String>) {
    for (name, want) in e.partitions.iter().flatten() {
        match got.iter().find(|p| &p.partition == name) {
            None => out.push(format!(
                "{label}: partition {name}: missing (partitions: {})",
                got.iter()
                    .map(|p| p.partition.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Some(p) => {
                if !same(&want.hwm, &p.hwm) {
                    out.push(format!(
                        "{label}: partition {name}: HWM expected {}, got {}",
                        text(&want.hwm),
                        p.hwm
                    ));
                }
                if let Some(d) = &want.peak_date {
                    if p.peak_date.as_deref() != Some(d.as_str()) {
                        out.push(format!(
                            "{label}: partition {name}: peak date expected {d}, got {}",
                            p.peak_date.as_deref().unwrap_or("-")
                        ));
                    }
                }
            }
        }
    }
}

fn compare_warnings(label: &str, e: &Expected, got: &[String], out: &mut Vec<String>) {
    for code in e.warnings.iter().flatten() {
        if !got
            .iter()
            .any(|w| w.split(':').next() == Some(code.as_str()))
        {
            out.push(format!(
                "{label}: warning {code} expected; got: {}",
                if got.is_empty() {
                    "none".to_string()
                } else {
                    got.join(" | ")
                }
            ));
        }
    }
}

fn compare_threshold(
    label: &str,
    e: &Expected,
    threshold: &Option<String>,
    delta: &Option<String>,
    out: &mut Vec<String>,
) {
    for (what, want, got) in [
        ("threshold", &e.threshold, threshold),
        ("threshold_delta", &e.threshold_delta, delta),
    ] {
        if let Some(want) = want {
            let got = got.as_deref().unwrap_or("-");
            if !same(want, got) {
                out.push(format!(
                    "{label}: {what} expected {}, got {got}",
                    text(want)
                ));
            }
        }
    }
}

fn compare_bundle(
    label: &str,
    e: &Expected,
    got: Option<&Result<BundleUsage, String>>,
    out: &mut Vec<String>,
) {
    let usage = match got {
        None => {
            out.push(format!("{label}: not among the case's bundles"));
            return;
        }
        Some(Err(message)) => {
            match &e.error {
                Some(code) if message.contains(code.as_str()) => {}
                _ => out.push(format!(
                    "{label}: expected a quantity, got error: {message}"
                )),
            }
            return;
        }
        Some(Ok(u)) => u,
    };
    if let Some(code) = &e.error {
        out.push(format!(
            "{label}: expected error {code}, got quantity {}",
            usage.quantity
        ));
        return;
    }
    compare_figures(
        label,
        e,
        &usage.quantity,
        usage.peak_date.as_deref(),
        &usage.daily,
        "",
        out,
    );
    compare_partitions(label, e, &usage.partitions, out);
    compare_warnings(label, e, &usage.warnings, out);
    compare_threshold(label, e, &usage.threshold, &usage.threshold_delta, out);
    // A figure a bundle answer does not have must not pass unchecked.
    for (field, given) in [
        ("measures", e.measures.is_some()),
        ("period_measures", e.period_measures.is_some()),
        ("buckets", e.buckets.is_some()),
        ("explanation", e.explanation.is_some()),
    ] {
        if given {
            out.push(format!("{label}: {field} is not reported for bundles"));
        }
    }
    for (product, want) in e.products.iter().flatten() {
        let sum = |f: fn(&bundle::BundledProduct) -> &str| -> Option<Exact> {
            let parts: Vec<Exact> = usage
                .products
                .iter()
                .filter(|p| &p.product == product)
                .filter_map(|p| f(p).parse().ok())
                .collect();
            (!parts.is_empty()).then(|| parts.into_iter().sum())
        };
        let measured = sum(|p| &p.measured).map(|q| q.to_string());
        let converted = sum(|p| &p.converted).map(|q| q.to_string());
        let ok = measured.as_deref().is_some_and(|m| same(&want.measured, m))
            && converted
                .as_deref()
                .is_some_and(|c| same(&want.converted, c));
        if !ok {
            out.push(format!(
                "{label}: {product} on the peak day: expected measured {} converted {}, got measured {} converted {}",
                text(&want.measured),
                text(&want.converted),
                measured.as_deref().unwrap_or("-"),
                converted.as_deref().unwrap_or("-")
            ));
        }
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn same(want: &Value, got: &str) -> bool {
    match (text(want).parse::<Exact>(), got.parse::<Exact>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => text(want) == got,
    }
}

/// Prints reports as a readable diff; returns the number of failed cases.
pub fn print(reports: &[CaseReport]) -> usize {
    let mut failed = 0;
    for r in reports {
        if r.passed() {
            println!("PASS {} — {}", r.dir.display(), r.title);
        } else {
            failed += 1;
            println!("FAIL {} — {}", r.dir.display(), r.title);
            for m in &r.mismatches {
                println!("    {m}");
            }
        }
    }
    println!("{} passed, {} failed", reports.len() - failed, failed);
    failed
}
