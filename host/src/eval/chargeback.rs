//! Chargeback (SPEC §4.8): who pays for a product's period quantity. Generic over metrics:
//! plugins only report each day's contributors with weights; the host scales them to the
//! day's quantity, weighs groups by the approach, and splits the period value and its cost
//! with the largest-remainder rule so that the lines always add up to the total.
//!
//! Each group's exact share is `Σ over partitions of HWM_p × w_gp / W_p`; its thousandths and
//! its minor currency units are each the largest-remainder rounding of that same exact share.
//! Within a group, the group's rounded figures are split the same way among its consumers in
//! proportion to what each consumed on the day the approach looks at.

use std::collections::{BTreeMap, BTreeSet};

use licmetric_sdk::Exact;
use licmetric_sdk::allocate::{self, Share, largest_remainder, share, whole};
use licmetric_sdk::types::PeriodRule;
use serde::Serialize;

use super::bundle::BundleUsage;
use super::membership;
use super::period::{PartitionPeak, Usage};
use super::{EvalError, ProductDays};
use crate::store::records::{Approach, Bundle, ChargebackConfig, Entitlement, exact_value};
use crate::store::results::{Contributor, DayRecord};

/// The line consumers without a group land on; every answer carries it (SPEC §4.8.2).
pub const UNALLOCATED: &str = "unallocated";

/// A consumer fact: `(kind, key)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Consumer {
    pub kind: String,
    pub key: String,
}

/// One group's part of the total.
#[derive(Debug, Clone, Serialize)]
pub struct GroupLine {
    pub group: String,
    /// Thousandths of a unit, written with three decimals.
    pub quantity: String,
    /// Minor currency units written in the currency's decimals; absent without a price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<String>,
}

/// One consumer's line, in the spirit of Flexera's consumption and chargeback API.
#[derive(Debug, Clone, Serialize)]
pub struct ConsumerLine {
    /// None on a group line that has no consumer (a fixed percentage of a silent group, or a
    /// quantity no contributor explains).
    pub consumer: Option<Consumer>,
    pub group: String,
    /// The unit it was counted in (e.g. `server:esx-7`).
    pub unit: Option<String>,
    /// What the consumer itself consumed on the day the approach looks at (exact).
    pub machine_consumption: String,
    /// What every consumer of the same unit consumed that day (exact).
    pub host_consumption: String,
    /// Its part of the period quantity, in thousandths.
    pub recharged_consumption: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recharged_cost: Option<String>,
    pub approach: &'static str,
}

/// A product's chargeback over a period.
#[derive(Debug, Clone, Serialize)]
pub struct Chargeback {
    pub product: String,
    pub approach: &'static str,
    pub group_by: String,
    /// The period quantity being allocated.
    pub quantity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_per_unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Total cost: quantity × cost per unit, rounded half up to the minor unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<String>,
    /// Every group, `unallocated` last; they add up to `quantity` and `cost` exactly.
    pub groups: Vec<GroupLine>,
    /// Every consumer; each group's consumers add up to the group's line.
    pub lines: Vec<ConsumerLine>,
}

/// Decimal places of a currency's minor unit (ISO 4217; 2 unless listed).
pub fn minor_units(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// Writes an integer count of `10^-places` units as a decimal with exactly `places` digits.
pub fn scaled(units: i128, places: u32) -> String {
    if places == 0 {
        return units.to_string();
    }
    let p = 10i128.pow(places);
    let sign = if units < 0 { "-" } else { "" };
    let a = units.abs();
    format!("{sign}{}.{:0width$}", a / p, a % p, width = places as usize)
}

/// What one consumer consumed on one day of one partition, scaled to the day's quantity.
struct Contribution<'a> {
    consumer: Consumer,
    group: String,
    unit: &'a str,
    date: &'a str,
    partition: &'a str,
    amount: Share,
}

/// Allocates the period quantity of `usage` (computed from `days`) per `config`.
pub fn allocate(
    days: &ProductDays,
    usage: &Usage,
    config: &ChargebackConfig,
) -> Result<Chargeback, EvalError> {
    let records: Vec<&DayRecord> = days
        .days
        .iter()
        .map(|(_, r)| r.as_ref().map_err(Clone::clone))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    let distinct = usage_rule(days, usage) == PeriodRule::DistinctUnion;
    let totals = Totals {
        quantity: &usage.quantity,
        peak_date: usage.peak_date.as_deref(),
        partitions: &usage.partitions,
    };
    let product = &days.product;
    allocate_records(
        &product.id,
        product.entitlement.as_ref(),
        distinct,
        &records,
        &totals,
        config,
    )
}

/// Allocates a bundle's period quantity (SPEC §4.7.4): each member's contributors, scaled to
/// the member's converted value `ceil(measured × b / a)`, weigh in the bundle's daily sums. A
/// member whose day names no contributor weighs as the consumer `product:<id>` without group.
pub fn allocate_bundle(
    bundle: &Bundle,
    members: &[&ProductDays],
    usage: &BundleUsage,
    config: &ChargebackConfig,
) -> Result<Chargeback, EvalError> {
    // (partition, date) → the bundle's converted sum and its scaled contributors.
    let mut cells: BTreeMap<(String, String), DayRecord> = BTreeMap::new();
    for member in members {
        if let Some(e) = super::period::first_error(member) {
            return Err(e.clone());
        }
        let (joined, _) = membership::membership(member)?;
        let (a, b) =
            membership::conversion(joined.and_then(|m| m.ratio).as_deref()).map_err(|e| {
                EvalError::Product {
                    product: member.product.id.clone(),
                    reason: format!("bundle ratio: {e}"),
                }
            })?;
        let scale = Exact::int(b as i128) / Exact::int(a as i128);
        for (_, result) in &member.days {
            for r in result.as_ref().map_err(Clone::clone)? {
                let converted = Exact::int((parse(&r.quantity) * scale).ceil());
                let cell = cells
                    .entry((r.partition.clone(), r.date.clone()))
                    .or_insert_with(|| DayRecord {
                        product: bundle.id.clone(),
                        date: r.date.clone(),
                        metric: String::new(),
                        partition: r.partition.clone(),
                        quantity: "0".into(),
                        peak_at: r.peak_at.clone(),
                        measures: BTreeMap::new(),
                        identities: Vec::new(),
                        contributors: Vec::new(),
                        explanation: Vec::new(),
                        warnings: Vec::new(),
                        bundle_claims: Vec::new(),
                    });
                cell.quantity = (parse(&cell.quantity) + converted).to_string();
                if converted.is_zero() {
                    continue;
                }
                let weights: Vec<Share> = r
                    .contributors
                    .iter()
                    .map(|c| share(parse(&c.weight)))
                    .collect();
                let sum = weights.iter().fold(whole(0), |s, w| s + w);
                if sum == whole(0) {
                    cell.contributors.push(Contributor {
                        kind: "product".into(),
                        key: member.product.id.clone(),
                        unit: format!("product:{}", member.product.id),
                        at: r.peak_at.clone(),
                        weight: converted.to_string(),
                        attrs: BTreeMap::new(),
                    });
                    continue;
                }
                for (c, w) in r.contributors.iter().zip(weights) {
                    let mut c = c.clone();
                    c.weight = show(&(w * share(converted) / &sum));
                    cell.contributors.push(c);
                }
            }
        }
    }
    let records: Vec<&DayRecord> = cells.values().collect();
    let totals = Totals {
        quantity: &usage.quantity,
        peak_date: usage.peak_date.as_deref(),
        partitions: &usage.partitions,
    };
    allocate_records(
        &bundle.id,
        bundle.entitlement.as_ref(),
        false,
        &records,
        &totals,
        config,
    )
}

/// The period figures chargeback shares out.
pub struct Totals<'a> {
    pub quantity: &'a str,
    pub peak_date: Option<&'a str>,
    pub partitions: &'a [PartitionPeak],
}

/// What a consumer of a group holds: its exact share of the period quantity, and for the
/// answer its unit, own consumption and its unit's consumption on the day looked at.
#[derive(Default)]
struct Holding {
    share: Share,
    unit: Option<String>,
    machine: Share,
    host: Share,
}

/// [`allocate`] over the day records themselves; `distinct` when the quantity is a
/// distinct union of identities.
pub fn allocate_records(
    id: &str,
    entitlement: Option<&Entitlement>,
    distinct: bool,
    records: &[&DayRecord],
    usage: &Totals,
    config: &ChargebackConfig,
) -> Result<Chargeback, EvalError> {
    let group_by = grouped_by(config).to_string();
    let contributions = contributions(records, &group_by, distinct);
    let held = holdings(
        id,
        config,
        &contributions,
        &parts(distinct, usage),
        distinct,
    )?;
    let quantity = parse(usage.quantity);
    let thousandths = (quantity * Exact::int(1000)).round_half_up_scaled(0);
    let price = entitlement
        .and_then(|e| e.cost_per_unit.as_ref())
        .map(exact_value)
        .transpose()
        .map_err(|e| EvalError::Product {
            product: id.to_string(),
            reason: format!("entitlement.cost_per_unit: {e}"),
        })?;
    let currency = entitlement.and_then(|e| e.currency.clone());
    let places = minor_units(currency.as_deref().unwrap_or("USD"));
    let cost_units = price.map(|p| (quantity * p).round_half_up_scaled(places));
    let (groups, lines) = lines(held, thousandths, cost_units, places, config.approach);
    Ok(Chargeback {
        product: id.to_string(),
        approach: config.approach.name(),
        group_by,
        quantity: usage.quantity.to_string(),
        cost_per_unit: price.map(|p| p.to_string()),
        currency,
        cost: cost_units.map(|c| scaled(c, places)),
        groups,
        lines,
    })
}

/// A part of the period quantity allocated on its own: a partition (or the whole, unpartitioned
/// or a distinct union), its total, and the day its weights are read on.
type Part<'u> = (Option<&'u str>, Exact, Option<&'u str>);

/// Each partition's total and the day its weights are read on. A distinct union is one
/// partition over the whole period.
fn parts<'u>(distinct: bool, usage: &Totals<'u>) -> Vec<Part<'u>> {
    if distinct || usage.partitions.is_empty() {
        vec![(None, parse(usage.quantity), usage.peak_date)]
    } else {
        usage
            .partitions
            .iter()
            .map(|p| {
                (
                    Some(p.partition.as_str()),
                    parse(&p.hwm),
                    p.peak_date.as_deref(),
                )
            })
            .collect()
    }
}

/// group → consumer (None: a share no consumer explains) → holding.
type Holdings = BTreeMap<String, BTreeMap<Option<Consumer>, Holding>>;

/// What each group and consumer holds of each part: groups by the approach's weights, and
/// within a group, consumers by what each consumed on the day looked at (one each for
/// identities).
fn holdings(
    id: &str,
    config: &ChargebackConfig,
    contributions: &[Contribution],
    parts: &[Part],
    distinct: bool,
) -> Result<Holdings, EvalError> {
    let mut held = Holdings::new();
    held.entry(UNALLOCATED.into()).or_default();
    // A configured group is always listed, 0 included, whatever the metric (SPEC §4.10.10).
    if config.approach == Approach::FixedPercentage {
        for group in config.percentages.keys() {
            held.entry(group.clone()).or_default();
        }
    }
    for (partition, total, peak_date) in parts {
        if total.is_zero() {
            continue;
        }
        let total = share(*total);
        let mine: Vec<&Contribution> = contributions
            .iter()
            .filter(|c| partition.is_none_or(|p| c.partition == p))
            .collect();
        let weights = group_weights(id, config, &mine, *peak_date, distinct)?;
        let sum = weights.values().fold(whole(0), |s, w| s + w);
        if sum == whole(0) {
            let h = held
                .entry(UNALLOCATED.into())
                .or_default()
                .entry(None)
                .or_default();
            h.share += total;
            continue;
        }
        for (group, w) in &weights {
            let group_share = &total * w / &sum;
            // Within the group, by what each consumer consumed on the day looked at (one
            // each for identities); the group's share in this partition follows them.
            let day = basis_day(config.approach, &mine, group, *peak_date);
            let basis: Vec<(&Contribution, Share)> = mine
                .iter()
                .filter(|c| &c.group == group)
                .filter(|c| distinct || Some(c.date) == day.as_deref())
                .map(|c| (*c, if distinct { whole(1) } else { c.amount.clone() }))
                .collect();
            let basis_sum = basis.iter().fold(whole(0), |s, (_, b)| s + b);
            let entry = held.entry(group.clone()).or_default();
            if basis_sum == whole(0) {
                entry.entry(None).or_default().share += group_share;
                continue;
            }
            for (c, b) in basis {
                let host = mine
                    .iter()
                    .filter(|o| o.unit == c.unit && o.date == c.date)
                    .fold(whole(0), |s, o| s + &o.amount);
                let h = entry.entry(Some(c.consumer.clone())).or_default();
                h.share += &group_share * &b / &basis_sum;
                h.unit.get_or_insert_with(|| c.unit.to_string());
                if distinct {
                    h.machine = whole(1);
                    h.host = h.host.clone().max(host);
                } else {
                    h.machine += c.amount.clone();
                    h.host += host;
                }
            }
        }
    }
    Ok(held)
}

/// The group and consumer lines: thousandths of the quantity (and minor units of the cost)
/// split by largest remainder, first among groups, then within each, so lines add up exactly.
/// Groups in byte order, `unallocated` last.
fn lines(
    mut held: Holdings,
    thousandths: i128,
    cost_units: Option<i128>,
    places: u32,
    approach: Approach,
) -> (Vec<GroupLine>, Vec<ConsumerLine>) {
    let unallocated = held.remove(UNALLOCATED).unwrap_or_default();
    let mut held: Vec<(String, BTreeMap<Option<Consumer>, Holding>)> = held.into_iter().collect();
    held.push((UNALLOCATED.into(), unallocated));
    let group_weights: Vec<(&str, Share)> = held
        .iter()
        .map(|(g, members)| {
            let s = members.values().fold(whole(0), |s, h| s + &h.share);
            (g.as_str(), s)
        })
        .collect();
    let group_q = split(thousandths, &group_weights);
    let group_c = cost_units.map(|c| split(c, &group_weights));

    let mut groups = Vec::new();
    let mut lines = Vec::new();
    for (i, (group, members)) in held.iter().enumerate() {
        groups.push(GroupLine {
            group: group.clone(),
            quantity: scaled(group_q[i], 3),
            cost: group_c.as_ref().map(|c| scaled(c[i], places)),
        });
        let labels: Vec<String> = members
            .keys()
            .map(|c| {
                c.as_ref()
                    .map_or(String::new(), |c| format!("{}:{}", c.kind, c.key))
            })
            .collect();
        let basis: Vec<(&str, Share)> = labels
            .iter()
            .map(String::as_str)
            .zip(members.values().map(|h| h.share.clone()))
            .collect();
        let q = split(group_q[i], &basis);
        let c = group_c.as_ref().map(|c| split(c[i], &basis));
        for (j, (consumer, h)) in members.iter().enumerate() {
            if consumer.is_none() && q[j] == 0 && c.as_ref().is_none_or(|c| c[j] == 0) {
                continue;
            }
            lines.push(ConsumerLine {
                consumer: consumer.clone(),
                group: group.clone(),
                unit: h.unit.clone(),
                machine_consumption: show(&h.machine),
                host_consumption: show(&h.host),
                recharged_consumption: scaled(q[j], 3),
                recharged_cost: c.as_ref().map(|c| scaled(c[j], places)),
                approach: approach.name(),
            });
        }
    }
    (groups, lines)
}

fn usage_rule(days: &ProductDays, usage: &Usage) -> PeriodRule {
    days.plugin
        .info()
        .metrics
        .iter()
        .find(|m| m.code_name == usage.metric_code_name)
        .map(|m| m.period_rule)
        .unwrap_or(PeriodRule::HighWaterMark)
}

fn parse(text: &str) -> Exact {
    text.parse().unwrap_or(Exact::ZERO)
}

/// An exact share as text: exact when it fits, else to nine decimals (informative figures).
fn show(s: &Share) -> String {
    match allocate::exact(s) {
        Some(e) => e.to_string(),
        None => {
            let scaled = (s * whole(1_000_000_000)).round().to_integer();
            let units = i128::try_from(&scaled).unwrap_or(i128::MAX);
            scaled_trimmed(units)
        }
    }
}

fn scaled_trimmed(units: i128) -> String {
    let text = scaled(units, 9);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Largest remainder of `total` over exact weights; all to the last when they sum to zero.
fn split(total: i128, weights: &[(&str, Share)]) -> Vec<i128> {
    largest_remainder(total, weights).unwrap_or_else(|| {
        let mut parts = vec![0; weights.len()];
        if let Some(last) = parts.last_mut() {
            *last = total;
        }
        parts
    })
}

/// The attribute a chargeback groups by: its configuration's, else `cost_center`.
pub fn grouped_by(config: &ChargebackConfig) -> &str {
    config.group_by.as_deref().unwrap_or("cost_center")
}

/// The group a contributor is charged to: its `group_by` attribute, else [`UNALLOCATED`].
pub fn group_of<'c>(contributor: &'c Contributor, group_by: &str) -> &'c str {
    contributor
        .attrs
        .get(group_by)
        .map(String::as_str)
        .filter(|g| !g.is_empty())
        .unwrap_or(UNALLOCATED)
}

/// Every contributor of every day, its weight scaled so that a day's contributors (per
/// partition) add up to the day's quantity. A distinct-union identity weighs 1 and keeps the
/// group of its latest day, so it is counted once in one group.
fn contributions<'a>(
    records: &[&'a DayRecord],
    group_by: &str,
    distinct: bool,
) -> Vec<Contribution<'a>> {
    let mut out = Vec::new();
    for r in records {
        let weights: Vec<Share> = r
            .contributors
            .iter()
            .map(|c| share(parse(&c.weight)))
            .collect();
        let sum = weights.iter().fold(whole(0), |s, w| s + w);
        let quantity = share(parse(&r.quantity));
        for (c, w) in r.contributors.iter().zip(weights) {
            let amount = if distinct {
                whole(1)
            } else if sum == whole(0) {
                whole(0)
            } else {
                w * &quantity / &sum
            };
            out.push(Contribution {
                consumer: Consumer {
                    kind: c.kind.clone(),
                    key: c.key.clone(),
                },
                group: group_of(c, group_by).to_string(),
                unit: &c.unit,
                date: &r.date,
                partition: &r.partition,
                amount,
            });
        }
    }
    if distinct {
        let mut latest: BTreeMap<Consumer, (&str, String)> = BTreeMap::new();
        for c in &out {
            let e = latest
                .entry(c.consumer.clone())
                .or_insert((c.date, c.group.clone()));
            if c.date >= e.0 {
                *e = (c.date, c.group.clone());
            }
        }
        for c in &mut out {
            c.group = latest[&c.consumer].1.clone();
        }
    }
    out
}

/// Each group's weight in one partition (SPEC §4.8.3).
fn group_weights(
    id: &str,
    config: &ChargebackConfig,
    contributions: &[&Contribution],
    peak_date: Option<&str>,
    distinct: bool,
) -> Result<BTreeMap<String, Share>, EvalError> {
    let mut weights: BTreeMap<String, Share> = BTreeMap::new();
    match config.approach {
        // A distinct-union quantity: each identity of the period weighs 1.
        Approach::ByConsumptionAtPeak | Approach::ByOwnPeak if distinct => {
            let identities: BTreeSet<(&str, &Consumer)> = contributions
                .iter()
                .map(|c| (c.group.as_str(), &c.consumer))
                .collect();
            for (g, _) in identities {
                *weights.entry(g.to_string()).or_insert_with(|| whole(0)) += whole(1);
            }
        }
        Approach::ByConsumptionAtPeak => {
            for c in contributions.iter().filter(|c| Some(c.date) == peak_date) {
                *weights.entry(c.group.clone()).or_insert_with(|| whole(0)) += c.amount.clone();
            }
        }
        Approach::ByOwnPeak => {
            for (g, daily) in daily_by_group(contributions) {
                let peak = daily.into_values().max().unwrap_or_else(|| whole(0));
                weights.insert(g, peak);
            }
        }
        Approach::EqualSplit => {
            for (g, daily) in daily_by_group(contributions) {
                if distinct || daily.values().any(|v| *v != whole(0)) {
                    weights.insert(g, whole(1));
                }
            }
        }
        Approach::FixedPercentage => {
            let mut sum = whole(0);
            for (g, p) in &config.percentages {
                let p = exact_value(p).map_err(|e| EvalError::Product {
                    product: id.to_string(),
                    reason: format!("chargeback.percentages.{g}: {e}"),
                })?;
                sum += share(p);
                weights.insert(g.clone(), share(p));
            }
            *weights
                .entry(UNALLOCATED.into())
                .or_insert_with(|| whole(0)) += whole(100) - sum;
        }
    }
    // A group that weighs nothing takes no part (and gets no line beyond `unallocated`).
    weights.retain(|g, w| *w != whole(0) || g == UNALLOCATED);
    Ok(weights)
}

/// group → date → Σ contributions.
fn daily_by_group(contributions: &[&Contribution]) -> BTreeMap<String, BTreeMap<String, Share>> {
    let mut out: BTreeMap<String, BTreeMap<String, Share>> = BTreeMap::new();
    for c in contributions {
        *out.entry(c.group.clone())
            .or_default()
            .entry(c.date.to_string())
            .or_insert_with(|| whole(0)) += c.amount.clone();
    }
    out
}

/// The day whose contributions split a group among its consumers: the group's own peak day
/// under `by_own_peak`, else the partition's peak day — or, when the group consumed nothing
/// then, its own peak day.
fn basis_day(
    approach: Approach,
    contributions: &[&Contribution],
    group: &str,
    peak_date: Option<&str>,
) -> Option<String> {
    let daily = daily_by_group(contributions)
        .remove(group)
        .unwrap_or_default();
    let own_peak = || {
        let mut best: Option<(&String, &Share)> = None;
        for (d, v) in &daily {
            if best.is_none_or(|(_, b)| v > b) {
                best = Some((d, v));
            }
        }
        best.map(|(d, _)| d.clone())
    };
    match approach {
        Approach::ByOwnPeak => own_peak(),
        _ => match peak_date {
            Some(p) if daily.get(p).is_some_and(|v| *v != whole(0)) => Some(p.to_string()),
            _ => own_peak(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::Entitlement;
    use crate::store::results::Contributor;
    use proptest::prelude::*;

    fn record(
        date: &str,
        partition: &str,
        quantity: &str,
        contributors: &[(&str, Option<&str>, &str)],
    ) -> DayRecord {
        DayRecord {
            product: "p".into(),
            date: date.into(),
            metric: String::new(),
            partition: partition.into(),
            quantity: quantity.into(),
            peak_at: format!("{date}T00:00:00Z"),
            measures: Default::default(),
            identities: Vec::new(),
            contributors: contributors
                .iter()
                .map(|(key, group, weight)| Contributor {
                    kind: "installation".into(),
                    key: key.to_string(),
                    unit: format!("server:{key}"),
                    at: format!("{date}T00:00:00Z"),
                    weight: weight.to_string(),
                    attrs: group
                        .iter()
                        .map(|g| ("cost_center".to_string(), g.to_string()))
                        .collect(),
                })
                .collect(),
            explanation: Vec::new(),
            warnings: Vec::new(),
            bundle_claims: Vec::new(),
        }
    }

    /// The period figures the host would compute: per-partition HWM, earliest peak day.
    struct Owned {
        quantity: String,
        peak_date: Option<String>,
        partitions: Vec<PartitionPeak>,
    }

    impl Owned {
        fn totals(&self) -> Totals<'_> {
            Totals {
                quantity: &self.quantity,
                peak_date: self.peak_date.as_deref(),
                partitions: &self.partitions,
            }
        }
    }

    fn usage_of(records: &[&DayRecord]) -> Owned {
        let mut peaks: BTreeMap<&str, (&str, Exact)> = BTreeMap::new();
        for r in records {
            let q = parse(&r.quantity);
            match peaks.get(r.partition.as_str()) {
                Some((d, best)) if *best > q || (*best == q && *d <= r.date.as_str()) => {}
                _ => {
                    peaks.insert(&r.partition, (&r.date, q));
                }
            }
        }
        let quantity: Exact = peaks.values().map(|p| p.1).sum();
        Owned {
            quantity: quantity.to_string(),
            peak_date: peaks.values().map(|p| p.0.to_string()).min(),
            partitions: peaks
                .iter()
                .map(|(p, (d, q))| PartitionPeak {
                    partition: p.to_string(),
                    hwm: q.to_string(),
                    peak_date: Some(d.to_string()),
                    peak_at: None,
                })
                .collect(),
        }
    }

    fn product(cost: Option<&str>) -> Option<Entitlement> {
        cost.map(|c| Entitlement {
            quantity: None,
            cost_per_unit: Some(serde_json::Value::String(c.into())),
            currency: Some("USD".into()),
        })
    }

    fn groups(c: &Chargeback) -> Vec<(String, String, Option<String>)> {
        c.groups
            .iter()
            .map(|g| (g.group.clone(), g.quantity.clone(), g.cost.clone()))
            .collect()
    }

    #[test]
    fn cb_a_three_cost_centres() {
        let r = record(
            "2026-11-02",
            "",
            "90",
            &[
                ("a", Some("CC1"), "60"),
                ("b", Some("CC2"), "20"),
                ("c", Some("CC3"), "10"),
            ],
        );
        let usage = usage_of(&[&r]);
        let run = |approach, percentages: &[(&str, i64)]| {
            let config = ChargebackConfig {
                approach,
                group_by: None,
                percentages: percentages
                    .iter()
                    .map(|(g, p)| (g.to_string(), serde_json::json!(p)))
                    .collect(),
            };
            let c = allocate_records(
                "p",
                product(None).as_ref(),
                false,
                &[&r],
                &usage.totals(),
                &config,
            )
            .unwrap();
            c.groups
                .iter()
                .map(|g| g.quantity.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            run(Approach::ByConsumptionAtPeak, &[]),
            ["60.000", "20.000", "10.000", "0.000"]
        );
        assert_eq!(
            run(Approach::EqualSplit, &[]),
            ["30.000", "30.000", "30.000", "0.000"]
        );
        assert_eq!(
            run(
                Approach::FixedPercentage,
                &[("CC1", 50), ("CC2", 25), ("CC3", 25)]
            ),
            ["45.000", "22.500", "22.500", "0.000"]
        );
    }

    #[test]
    fn thirds_balance_by_largest_remainder_in_quantity_and_cost() {
        let r = record(
            "2026-11-02",
            "",
            "10",
            &[
                ("a", Some("A"), "1"),
                ("b", Some("B"), "1"),
                ("c", Some("C"), "1"),
            ],
        );
        let usage = usage_of(&[&r]);
        let c = allocate_records(
            "p",
            product(Some("0.10")).as_ref(),
            false,
            &[&r],
            &usage.totals(),
            &ChargebackConfig::default(),
        )
        .unwrap();
        assert_eq!(c.cost.as_deref(), Some("1.00"));
        assert_eq!(
            groups(&c),
            [
                ("A".into(), "3.334".into(), Some("0.34".into())),
                ("B".into(), "3.333".into(), Some("0.33".into())),
                ("C".into(), "3.333".into(), Some("0.33".into())),
                ("unallocated".into(), "0.000".into(), Some("0.00".into())),
            ]
        );
    }

    #[test]
    fn ungrouped_consumers_and_silent_days_go_to_unallocated() {
        let a = record(
            "2026-11-02",
            "",
            "4",
            &[("a", Some("A"), "1"), ("b", None, "1")],
        );
        let b = record("2026-11-03", "", "2", &[]);
        let usage = usage_of(&[&a, &b]);
        let c = allocate_records(
            "p",
            product(None).as_ref(),
            false,
            &[&a, &b],
            &usage.totals(),
            &ChargebackConfig::default(),
        )
        .unwrap();
        assert_eq!(c.groups.last().unwrap().quantity, "2.000");
        let r = record("2026-11-02", "", "5", &[]);
        let usage = usage_of(&[&r]);
        let c = allocate_records(
            "p",
            product(None).as_ref(),
            false,
            &[&r],
            &usage.totals(),
            &ChargebackConfig::default(),
        )
        .unwrap();
        assert_eq!(c.groups.len(), 1);
        assert_eq!(c.groups[0].quantity, "5.000");
        assert_eq!(c.lines.len(), 1);
        assert!(c.lines[0].consumer.is_none());
    }

    #[test]
    fn consumers_keep_their_own_partition_share() {
        // equal_split per region: G gets 5 in each, through a in region:1 and b in region:2.
        let r1 = record(
            "2026-11-02",
            "region:1",
            "10",
            &[("a", Some("G"), "5"), ("x", Some("H"), "5")],
        );
        let r2 = record(
            "2026-11-02",
            "region:2",
            "10",
            &[("b", Some("G"), "1"), ("y", Some("K"), "9")],
        );
        let usage = usage_of(&[&r1, &r2]);
        let config = ChargebackConfig {
            approach: Approach::EqualSplit,
            ..Default::default()
        };
        let c = allocate_records("p", None, false, &[&r1, &r2], &usage.totals(), &config).unwrap();
        let line = |key: &str| {
            c.lines
                .iter()
                .find(|l| l.consumer.as_ref().is_some_and(|c| c.key == key))
                .map(|l| l.recharged_consumption.clone())
        };
        assert_eq!(line("a").as_deref(), Some("5.000"));
        assert_eq!(line("b").as_deref(), Some("5.000"));
        assert_eq!(line("x").as_deref(), Some("5.000"));
    }

    #[test]
    fn denominators_past_128_bits_do_not_overflow() {
        // One cost centre's VMs on 40 servers whose shares have distinct prime denominators.
        let primes: [i128; 40] = [
            53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139,
            149, 151, 157, 163, 167, 173, 179, 181, 191, 193, 197, 199, 211, 223, 227, 229, 233,
            239, 241, 251, 257,
        ];
        let keys: Vec<String> = primes.iter().map(|p| format!("vm-{p}")).collect();
        let weights: Vec<String> = primes
            .iter()
            .map(|p| Exact::ratio(1, *p).to_string())
            .collect();
        let mut list: Vec<(&str, Option<&str>, &str)> = keys
            .iter()
            .zip(&weights)
            .map(|(k, w)| (k.as_str(), Some("CC1"), w.as_str()))
            .collect();
        list.push(("other", Some("CC2"), "1"));
        let r = record("2026-11-02", "", "1000", &list);
        let usage = usage_of(&[&r]);
        let c = allocate_records(
            "p",
            product(Some("0.01")).as_ref(),
            false,
            &[&r],
            &usage.totals(),
            &ChargebackConfig::default(),
        )
        .unwrap();
        let sum: i128 = c
            .lines
            .iter()
            .map(|l| {
                l.recharged_consumption
                    .replace('.', "")
                    .parse::<i128>()
                    .unwrap()
            })
            .sum();
        assert_eq!(sum, 1_000_000);
    }

    #[test]
    fn a_distinct_identity_weighs_once_in_its_latest_group() {
        let d1 = record(
            "2026-11-02",
            "",
            "2",
            &[("ann", Some("CC1"), "1"), ("bob", Some("CC1"), "1")],
        );
        let d2 = record("2026-11-03", "", "1", &[("ann", Some("CC2"), "1")]);
        let usage = Owned {
            quantity: "2".into(),
            peak_date: Some("2026-11-02".into()),
            partitions: Vec::new(),
        };
        let c = allocate_records(
            "p",
            None,
            true,
            &[&d1, &d2],
            &usage.totals(),
            &ChargebackConfig::default(),
        )
        .unwrap();
        assert_eq!(
            groups(&c)
                .into_iter()
                .map(|g| (g.0, g.1))
                .collect::<Vec<_>>(),
            [
                ("CC1".to_string(), "1.000".to_string()),
                ("CC2".to_string(), "1.000".to_string()),
                ("unallocated".to_string(), "0.000".to_string())
            ]
        );
    }

    fn arb_day() -> impl Strategy<Value = (u8, u8, u32, Vec<(u8, u8, u32)>)> {
        // (day, partition, quantity in tenths, contributors (key, group, weight))
        (
            0u8..4,
            0u8..2,
            0u32..3000,
            prop::collection::vec((0u8..6, 0u8..4, 0u32..50), 0..6),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Group lines add up to the total in thousandths and in cents, and each group's
        /// consumer lines add up to the group's line, whatever the approach and weights.
        #[test]
        fn allocations_always_sum_to_the_total(
            days in prop::collection::vec(arb_day(), 1..8),
            approach in 0u8..4,
            cents in 0u32..1_000_000,
            percent in prop::collection::vec(0u32..40, 0..3),
        ) {
            let mut seen = BTreeSet::new();
            let mut owned = Vec::new();
            for (day, partition, tenths, contributors) in days {
                if !seen.insert((day, partition)) {
                    continue;
                }
                let date = format!("2026-11-0{}", day + 1);
                let partition = if partition == 0 { "region:1" } else { "region:2" };
                let quantity = Exact::ratio(tenths as i128, 10).to_string();
                let list: Vec<(String, Option<String>, String)> = contributors
                    .iter()
                    .map(|(k, g, w)| (format!("c{k}"), (*g < 3).then(|| format!("G{g}")), w.to_string()))
                    .collect();
                owned.push((date, partition, quantity, list));
            }
            let records: Vec<DayRecord> = owned
                .iter()
                .map(|(d, p, q, list)| {
                    let refs: Vec<(&str, Option<&str>, &str)> =
                        list.iter().map(|(k, g, w)| (k.as_str(), g.as_deref(), w.as_str())).collect();
                    record(d, p, q, &refs)
                })
                .collect();
            let refs: Vec<&DayRecord> = records.iter().collect();
            let usage = usage_of(&refs);
            let approach = [Approach::ByConsumptionAtPeak, Approach::ByOwnPeak, Approach::EqualSplit, Approach::FixedPercentage][approach as usize];
            let config = ChargebackConfig {
                approach,
                group_by: None,
                percentages: percent.iter().enumerate().map(|(i, p)| (format!("G{i}"), serde_json::json!(p))).collect(),
            };
            let price = Exact::ratio(cents as i128, 100).to_string();
            let c = allocate_records("p", product(Some(&price)).as_ref(), false, &refs, &usage.totals(), &config).unwrap();
            let thousandths = |s: &str| (s.parse::<Exact>().unwrap() * Exact::int(1000)).round_half_up_scaled(0);
            let total = thousandths(&usage.quantity);
            prop_assert_eq!(c.groups.iter().map(|g| thousandths(&g.quantity)).sum::<i128>(), total);
            let cost = thousandths(c.cost.as_deref().unwrap());
            prop_assert_eq!(c.groups.iter().map(|g| thousandths(g.cost.as_deref().unwrap())).sum::<i128>(), cost);
            prop_assert_eq!(c.groups.last().map(|g| g.group.as_str()), Some(UNALLOCATED));
            for g in &c.groups {
                let lines: Vec<&ConsumerLine> = c.lines.iter().filter(|l| l.group == g.group).collect();
                if lines.is_empty() {
                    prop_assert_eq!(thousandths(&g.quantity), 0);
                    continue;
                }
                prop_assert_eq!(lines.iter().map(|l| thousandths(&l.recharged_consumption)).sum::<i128>(), thousandths(&g.quantity));
                prop_assert_eq!(
                    lines.iter().map(|l| thousandths(l.recharged_cost.as_deref().unwrap())).sum::<i128>(),
                    thousandths(g.cost.as_deref().unwrap())
                );
            }
        }
    }
}
