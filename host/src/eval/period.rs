//! Period rules (SPEC §1.9–§1.11): high-water mark with peak day, partition sums, buckets.
//! Generic: the same for every metric; the plugin only says which rule applies.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{NaiveDate, Weekday};
use licmetric_sdk::Exact;
use licmetric_sdk::calendar::{self, TimeUnit};
use licmetric_sdk::result::identity_name;
use licmetric_sdk::types::{MetricInfo, PeriodRule};
use serde::Serialize;

use super::{EvalError, ProductDays};
use crate::store::results::{Contributor, DayRecord};

/// A partition's high-water mark.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PartitionPeak {
    pub partition: String,
    pub hwm: String,
    pub peak_date: Option<String>,
    pub peak_at: Option<String>,
}

/// One day's value (summed over partitions) and, when partitioned, each partition's.
#[derive(Debug, Clone, Serialize)]
pub struct DailyValue {
    pub date: String,
    pub quantity: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub partitions: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub measures: BTreeMap<String, String>,
}

/// One bucket of a `days | weeks | months` answer, keyed by its peak day (§1.11).
#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    pub date: String,
    pub quantity: String,
}

/// A product's figures for a period (SPEC §5.2).
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    pub product: String,
    /// The product record's stable integer id (ILMT's `product_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numeric_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub metric: String,
    /// Code name of the metric the quantity counts (e.g. `PROCESSOR_VALUE_UNIT`).
    pub metric_code_name: String,
    pub plugin: String,
    pub plugin_digest: String,
    pub rule_data_version: String,
    pub period: Period,
    /// The period value: the HWM, or the sum of partition HWMs.
    pub quantity: String,
    pub peak_date: Option<String>,
    pub peak_at: Option<String>,
    pub partitions: Vec<PartitionPeak>,
    /// Each measure over the period: the high-water mark of its daily values, or the
    /// distinct identities when it is named like a distinct-union metric (SPEC §1.9).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub measures: BTreeMap<String, String>,
    /// The licensed quantity (`threshold`, else the entitlement's) and what is left of it
    /// (threshold − quantity; negative = over-used), as ILMT's threshold_delta.
    pub threshold: Option<String>,
    pub threshold_delta: Option<String>,
    pub daily: Vec<DailyValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buckets: Option<Vec<Bucket>>,
    /// Consumers at the peak day's peak (per partition, each at its peak day).
    pub contributors: Vec<Contributor>,
    /// How the peak day's number was reached.
    pub explanation: Vec<String>,
    pub warnings: Vec<String>,
}

/// `[start, end)`.
#[derive(Debug, Clone, Serialize)]
pub struct Period {
    pub start: String,
    pub end: String,
}

/// The error a product reports when some of its days failed: a plugin or store failure, else
/// the one SPEC §4.10.12 ranks first (unknown reference, inconsistent facts, missing
/// attribute, invalid value, other); then the earliest day's.
pub fn first_error(days: &ProductDays) -> Option<&EvalError> {
    // A failure of the plugin or the store is no rule's and outranks them all.
    let rank = |e: &EvalError| match e {
        EvalError::Rule { code, .. } => 1 + licmetric_sdk::fail::precedence(code),
        _ => 0,
    };
    days.days
        .iter()
        .filter_map(|(_, r)| r.as_ref().err())
        .enumerate()
        .min_by_key(|(i, e)| (rank(e), *i))
        .map(|(_, e)| e)
}

/// Applies the plugin's period rule to a product's days. Fails when any day failed: a product
/// never gets a quantity computed over missing days.
pub fn usage(
    days: &ProductDays,
    start: NaiveDate,
    end: NaiveDate,
    unit: Option<TimeUnit>,
    week_start: Weekday,
) -> Result<Usage, EvalError> {
    if let Some(e) = first_error(days) {
        return Err(e.clone());
    }
    let mut records: Vec<&DayRecord> = Vec::with_capacity(days.days.len());
    for (_, result) in &days.days {
        records.extend(result.as_ref().map_err(Clone::clone)?.iter());
    }
    let metric = metric_of(days, &records);
    let rule = metric
        .map(|m| m.period_rule)
        .unwrap_or(PeriodRule::HighWaterMark);
    let counted = Counted::of(&records);
    records.retain(|r| counted.counts(r));
    let peaks = partition_peaks(&records);
    let daily = daily_values(days, &counted)?;
    let (quantity, peak) = period_value(rule, &peaks, &records, &daily);
    let at_peak = at_peak(rule, &peaks, peak, &records);
    let (_, bundle_warnings) = super::membership::membership(days)?;
    let mut warnings: Vec<String> = records
        .iter()
        .flat_map(|r| r.warnings.iter().cloned())
        .chain(bundle_warnings)
        .collect();
    warnings.sort();
    warnings.dedup();
    let buckets = unit.map(|unit| buckets(rule, &daily, &records, unit, week_start));
    let measures = period_measures(days, &records, &daily);
    let threshold = days.product.threshold();
    Ok(Usage {
        product: days.product.id.clone(),
        numeric_id: days.product.numeric_id,
        name: days.product.name.clone(),
        metric: days.product.metric.clone(),
        metric_code_name: metric.map(|m| m.code_name.clone()).unwrap_or_default(),
        measures,
        threshold: threshold.map(|t| t.to_string()),
        threshold_delta: threshold.map(|t| (t - quantity).to_string()),
        plugin: days.plugin.label(),
        plugin_digest: days.plugin.digest().to_string(),
        rule_data_version: days.rule_version.clone(),
        period: Period {
            start: start.to_string(),
            end: end.to_string(),
        },
        quantity: quantity.to_string(),
        peak_date: peak.map(|r| r.date.clone()),
        peak_at: peak.map(|r| r.peak_at.clone()),
        partitions: peaks
            .iter()
            .map(|(p, (r, q))| PartitionPeak {
                partition: p.to_string(),
                // A distinct-union product has one partition: its period value.
                hwm: if rule == PeriodRule::DistinctUnion {
                    quantity.to_string()
                } else {
                    q.to_string()
                },
                peak_date: Some(r.date.clone()),
                peak_at: Some(r.peak_at.clone()),
            })
            .collect(),
        daily,
        buckets,
        contributors: at_peak
            .iter()
            .flat_map(|r| r.contributors.iter().cloned())
            .collect(),
        explanation: at_peak
            .iter()
            .flat_map(|r| r.explanation.iter().cloned())
            .collect(),
        warnings,
    })
}

/// A day record's quantity (0 when it is none, which stored records always are).
fn quantity_of(r: &DayRecord) -> Exact {
    r.quantity.parse().unwrap_or(Exact::ZERO)
}

/// The partitions that count (SPEC §4.10.2): only those where something was counted. A day
/// without consumption still names a partition (the plugin's `region:none` of 0), which must
/// not become one, nor move the peak date, when another partition counted something. Only when
/// nothing was counted in the whole period do the zero records stand.
struct Counted<'r> {
    consumed: BTreeSet<&'r str>,
}

impl<'r> Counted<'r> {
    fn of(records: &[&'r DayRecord]) -> Counted<'r> {
        Counted {
            consumed: records
                .iter()
                .filter(|r| !quantity_of(r).is_zero())
                .map(|r| r.partition.as_str())
                .collect(),
        }
    }

    fn counts(&self, r: &DayRecord) -> bool {
        self.consumed.is_empty() || self.consumed.contains(r.partition.as_str())
    }
}

/// Each partition's high-water mark: the earliest day reaching the maximum.
fn partition_peaks<'r>(records: &[&'r DayRecord]) -> BTreeMap<&'r str, (&'r DayRecord, Exact)> {
    let mut peaks: BTreeMap<&str, (&DayRecord, Exact)> = BTreeMap::new();
    for r in records {
        let q = quantity_of(r);
        match peaks.get(r.partition.as_str()) {
            Some((_, best)) if *best >= q => {}
            _ => {
                peaks.insert(&r.partition, (r, q));
            }
        }
    }
    peaks
}

/// Each day's value: the sum over its counted partitions, each partition's value when
/// partitioned, and each measure's sum.
fn daily_values(days: &ProductDays, counted: &Counted) -> Result<Vec<DailyValue>, EvalError> {
    let mut daily: Vec<DailyValue> = Vec::with_capacity(days.days.len());
    for (day, result) in &days.days {
        let list: Vec<&DayRecord> = result
            .as_ref()
            .map_err(Clone::clone)?
            .iter()
            .filter(|r| counted.counts(r))
            .collect();
        let total: Exact = list.iter().map(|r| quantity_of(r)).sum();
        let partitioned = list.iter().any(|r| !r.partition.is_empty());
        let mut measures: BTreeMap<String, String> = BTreeMap::new();
        for r in &list {
            for (k, v) in &r.measures {
                let sum = measures
                    .get(k)
                    .and_then(|s| s.parse::<Exact>().ok())
                    .unwrap_or(Exact::ZERO)
                    + v.parse().unwrap_or(Exact::ZERO);
                measures.insert(k.clone(), sum.to_string());
            }
        }
        daily.push(DailyValue {
            date: day.date.clone(),
            quantity: total.to_string(),
            partitions: if partitioned {
                list.iter()
                    .map(|r| (r.partition.clone(), r.quantity.clone()))
                    .collect()
            } else {
                BTreeMap::new()
            },
            measures,
        });
    }
    Ok(daily)
}

/// The period value and the record of its peak day, by the metric's period rule.
fn period_value<'r>(
    rule: PeriodRule,
    peaks: &BTreeMap<&'r str, (&'r DayRecord, Exact)>,
    records: &[&'r DayRecord],
    daily: &[DailyValue],
) -> (Exact, Option<&'r DayRecord>) {
    match rule {
        PeriodRule::PartitionSum => {
            let sum = peaks.values().map(|(_, q)| *q).sum();
            let first = peaks
                .values()
                .map(|(r, _)| *r)
                .min_by(|a, b| a.date.cmp(&b.date));
            (sum, first)
        }
        // Distinct identities over the period; the peak day is the busiest day (informative).
        PeriodRule::DistinctUnion => {
            let best = busiest_day(daily);
            (
                distinct_identities(records.iter().copied()),
                best.and_then(|i| records.iter().copied().find(|r| r.date == daily[i].date)),
            )
        }
        PeriodRule::HighWaterMark => {
            // Sum first, then maximum (§1.10): the HWM of the daily totals.
            match busiest_day(daily) {
                Some(i) => (
                    daily[i].quantity.parse().unwrap_or(Exact::ZERO),
                    records.iter().copied().find(|r| r.date == daily[i].date),
                ),
                None => (Exact::ZERO, None),
            }
        }
    }
}

/// The records of the peak day (each partition's own peak day, for a partition sum): their
/// contributors and explanations are the period's.
fn at_peak<'r>(
    rule: PeriodRule,
    peaks: &BTreeMap<&'r str, (&'r DayRecord, Exact)>,
    peak: Option<&'r DayRecord>,
    records: &[&'r DayRecord],
) -> Vec<&'r DayRecord> {
    let peak_dates: Vec<&str> = match rule {
        PeriodRule::PartitionSum => peaks.values().map(|(r, _)| r.date.as_str()).collect(),
        _ => peak.map(|r| vec![r.date.as_str()]).unwrap_or_default(),
    };
    records
        .iter()
        .copied()
        .filter(|r| match rule {
            PeriodRule::PartitionSum => peaks
                .get(r.partition.as_str())
                .is_some_and(|(p, _)| p.date == r.date),
            _ => peak_dates.contains(&r.date.as_str()),
        })
        .collect()
}

/// The period's days grouped by `unit` (SPEC §1.11), each bucket's value by the period rule.
fn buckets(
    rule: PeriodRule,
    daily: &[DailyValue],
    records: &[&DayRecord],
    unit: TimeUnit,
    week_start: Weekday,
) -> Vec<Bucket> {
    let dates: Vec<NaiveDate> = daily.iter().filter_map(|d| d.date.parse().ok()).collect();
    let value = |k: usize| daily[k].quantity.parse::<Exact>().unwrap_or(Exact::ZERO);
    calendar::group(&dates, unit, week_start)
        .into_iter()
        .map(|(_, members)| match rule {
            // Partitioned: keyed by the bucket's first day; Σ of each partition's maximum.
            PeriodRule::PartitionSum => {
                let mut maxima: BTreeMap<&str, Exact> = BTreeMap::new();
                for &i in &members {
                    for (p, q) in &daily[i].partitions {
                        let q: Exact = q.parse().unwrap_or(Exact::ZERO);
                        let m = maxima.entry(p.as_str()).or_insert(q);
                        *m = (*m).max(q);
                    }
                }
                let sum: Exact = if maxima.is_empty() {
                    members
                        .iter()
                        .map(|&i| value(i))
                        .max()
                        .unwrap_or(Exact::ZERO)
                } else {
                    maxima.values().copied().sum()
                };
                Bucket {
                    date: daily[members[0]].date.clone(),
                    quantity: sum.to_string(),
                }
            }
            // Keyed by its first day: the distinct identities of the bucket's days.
            PeriodRule::DistinctUnion => {
                let dates: BTreeSet<&str> =
                    members.iter().map(|&i| daily[i].date.as_str()).collect();
                Bucket {
                    date: daily[members[0]].date.clone(),
                    quantity: distinct_identities(
                        records
                            .iter()
                            .copied()
                            .filter(|r| dates.contains(r.date.as_str())),
                    )
                    .to_string(),
                }
            }
            // Keyed by its peak day: the earliest day with the bucket's maximum.
            PeriodRule::HighWaterMark => {
                let best = members
                    .iter()
                    .copied()
                    .fold(members[0], |b, i| if value(i) > value(b) { i } else { b });
                Bucket {
                    date: daily[best].date.clone(),
                    quantity: daily[best].quantity.clone(),
                }
            }
        })
        .collect()
}

/// The declared metric the product's quantity counts: the one its newest day names.
pub fn metric_of<'a>(days: &'a ProductDays, records: &[&DayRecord]) -> Option<&'a MetricInfo> {
    let declared = &days.plugin.info().metrics;
    records
        .iter()
        .max_by(|a, b| a.date.cmp(&b.date))
        .and_then(|r| declared.iter().find(|m| m.code_name == r.metric))
        .or(declared.first())
}

/// Distinct identities among the records (SPEC §3.5.1 step 2): a distinct-union plugin names
/// every identity of a day (`kind` NUL `key`). A record without identities (a scoped one, or
/// one a test built) counts its contributors, whatever their weight.
pub fn distinct_identities<'a>(records: impl Iterator<Item = &'a DayRecord>) -> Exact {
    let mut set: HashSet<Cow<'a, str>> = HashSet::new();
    for r in records {
        if r.identities.is_empty() {
            set.extend(
                r.contributors
                    .iter()
                    .map(|c| Cow::Owned(identity_name(&c.kind, &c.key))),
            );
        } else {
            set.extend(r.identities.iter().map(|i| Cow::Borrowed(i.as_str())));
        }
    }
    Exact::int(set.len() as i128)
}

/// The dates whose contributors a period's answer shows: the peak day, or each partition's
/// peak day under a partition sum. Empty when a day failed (the answer is an error then).
pub fn peak_dates(days: &ProductDays) -> BTreeSet<String> {
    let Ok(usage) = usage(days, NaiveDate::MIN, NaiveDate::MIN, None, Weekday::Mon) else {
        return BTreeSet::new();
    };
    let records: Vec<&DayRecord> = days
        .days
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .flatten()
        .collect();
    match metric_of(days, &records).map(|m| m.period_rule) {
        Some(PeriodRule::PartitionSum) => usage
            .partitions
            .into_iter()
            .filter_map(|p| p.peak_date)
            .collect(),
        _ => usage.peak_date.into_iter().collect(),
    }
}

/// Index of the earliest day with the highest daily quantity.
fn busiest_day(daily: &[DailyValue]) -> Option<usize> {
    daily
        .iter()
        .enumerate()
        .fold(None::<(usize, Exact)>, |best, (i, d)| {
            let q: Exact = d.quantity.parse().unwrap_or(Exact::ZERO);
            match best {
                Some((_, b)) if b >= q => best,
                _ => Some((i, q)),
            }
        })
        .map(|(i, _)| i)
}

/// Each measure's period value: distinct identities when a distinct-union metric has its name
/// (case-insensitive), else the high-water mark of its daily values.
fn period_measures(
    days: &ProductDays,
    records: &[&DayRecord],
    daily: &[DailyValue],
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for d in daily {
        for (name, value) in &d.measures {
            let distinct = days.plugin.info().metrics.iter().any(|m| {
                m.period_rule == PeriodRule::DistinctUnion && m.code_name.eq_ignore_ascii_case(name)
            });
            if distinct {
                if !out.contains_key(name) {
                    let n = distinct_identities(records.iter().copied());
                    out.insert(name.clone(), n.to_string());
                }
                continue;
            }
            let v: Exact = value.parse().unwrap_or(Exact::ZERO);
            let best = out
                .get(name)
                .and_then(|s| s.parse::<Exact>().ok())
                .map_or(v, |b| b.max(v));
            out.insert(name.clone(), best.to_string());
        }
    }
    out
}
