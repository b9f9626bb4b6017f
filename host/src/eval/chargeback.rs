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
use licmetric_sdk::allocate::largest_remainder;
use licmetric_sdk::types::PeriodRule;
use serde::Serialize;

use super::bundle::{self, BundleUsage};
use super::period::{PartitionPeak, Usage};
use super::{EvalError, ProductDays};
use crate::store::records::{Approach, Bundle, ChargebackConfig, Entitlement, exact_value};
use crate::store::results::DayRecord;

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
    amount: Exact,
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

/// Allocates a bundle's period quantity (SPEC §4.7.4): each member's contributors, their
/// contributions scaled by the member's conversion `b / a`, weigh in the bundle's daily sums.
pub fn allocate_bundle(
    bundle: &Bundle,
    members: &[&ProductDays],
    usage: &BundleUsage,
    config: &ChargebackConfig,
) -> Result<Chargeback, EvalError> {
    let unusable = |field: &str, e: String| EvalError::Product {
        product: bundle.id.clone(),
        reason: format!("bundle {field}: {e}"),
    };
    let entitlement = bundle.entitlement.as_ref();
    // (partition, date) → the bundle's converted sum and its scaled contributors.
    let mut cells: BTreeMap<(String, String), DayRecord> = BTreeMap::new();
    for member in members {
        let (joined, _) = bundle::membership(member)?;
        let (a, b) = bundle::conversion(joined.and_then(|m| m.ratio).as_deref())
            .map_err(|e| unusable("ratio", e))?;
        let scale = Exact::int(b as i128) / Exact::int(a as i128);
        for (_, result) in &member.days {
            for r in result.as_ref().map_err(Clone::clone)? {
                let measured = parse(&r.quantity);
                let converted = Exact::int((measured * scale).ceil());
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
                        contributors: Vec::new(),
                        explanation: Vec::new(),
                        warnings: Vec::new(),
                        bundle_claims: Vec::new(),
                    });
                cell.quantity = (parse(&cell.quantity) + converted).to_string();
                let sum: Exact = r.contributors.iter().map(|c| parse(&c.weight)).sum();
                if sum.is_zero() {
                    continue;
                }
                for c in &r.contributors {
                    let mut c = c.clone();
                    c.weight = (parse(&c.weight) * measured / sum * scale).to_string();
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
    allocate_records(&bundle.id, entitlement, false, &records, &totals, config)
}

/// The period figures chargeback shares out.
pub struct Totals<'a> {
    pub quantity: &'a str,
    pub peak_date: Option<&'a str>,
    pub partitions: &'a [PartitionPeak],
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
    let group_by = config
        .group_by
        .clone()
        .unwrap_or_else(|| "cost_center".into());
    let contributions = contributions(records, &group_by, distinct);

    // Each partition's total and the day its weights are read on.
    let parts: Vec<(String, Exact, Option<String>)> = if distinct || usage.partitions.is_empty() {
        vec![(
            if distinct {
                String::new()
            } else {
                usage
                    .partitions
                    .first()
                    .map(|p| p.partition.clone())
                    .unwrap_or_default()
            },
            parse(usage.quantity),
            usage.peak_date.map(String::from),
        )]
    } else {
        usage
            .partitions
            .iter()
            .map(|p| (p.partition.clone(), parse(&p.hwm), p.peak_date.clone()))
            .collect()
    };

    let mut group_share: BTreeMap<String, Exact> = BTreeMap::new();
    // (group, consumer) → (exact basis, unit, date, partition) of its machine consumption.
    let mut consumer_basis: BTreeMap<(String, Consumer), (Exact, String, Exact)> = BTreeMap::new();
    for (partition, total, peak_date) in &parts {
        let mine: Vec<&Contribution> = contributions
            .iter()
            .filter(|c| distinct || c.partition == partition)
            .collect();
        let weights = group_weights(config, &mine, peak_date.as_deref(), distinct)?;
        let sum: Exact = weights.values().copied().sum();
        if total.is_zero() {
            continue;
        }
        if sum.is_zero() {
            *group_share.entry(UNALLOCATED.into()).or_insert(Exact::ZERO) += *total;
            continue;
        }
        for (group, w) in &weights {
            *group_share.entry(group.clone()).or_insert(Exact::ZERO) += *total * *w / sum;
            // The day each consumer of the group is read on.
            let day = basis_day(config.approach, &mine, group, peak_date.as_deref());
            for c in mine.iter().filter(|c| &c.group == group) {
                let amount = if distinct {
                    Exact::ONE
                } else if Some(c.date) == day.as_deref() {
                    c.amount
                } else {
                    continue;
                };
                let host: Exact = mine
                    .iter()
                    .filter(|o| o.unit == c.unit && o.date == c.date)
                    .map(|o| o.amount)
                    .sum();
                let entry = consumer_basis
                    .entry((group.clone(), c.consumer.clone()))
                    .or_insert((Exact::ZERO, c.unit.to_string(), Exact::ZERO));
                if distinct {
                    entry.0 = Exact::ONE;
                    entry.2 = entry.2.max(host);
                } else {
                    entry.0 += amount;
                    entry.2 += host;
                }
            }
        }
    }
    group_share.entry(UNALLOCATED.into()).or_insert(Exact::ZERO);

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

    // Groups in byte order, `unallocated` last.
    let mut names: Vec<&String> = group_share.keys().filter(|g| *g != UNALLOCATED).collect();
    names.push(
        group_share
            .keys()
            .find(|g| *g == UNALLOCATED)
            .expect("inserted above"),
    );
    let weights: Vec<(&str, Exact)> = names
        .iter()
        .map(|g| (g.as_str(), group_share[*g]))
        .collect();
    let group_q = split(thousandths, &weights);
    let group_c = cost_units.map(|c| split(c, &weights));

    let mut groups = Vec::new();
    let mut lines = Vec::new();
    for (i, group) in names.iter().enumerate() {
        groups.push(GroupLine {
            group: group.to_string(),
            quantity: scaled(group_q[i], 3),
            cost: group_c.as_ref().map(|c| scaled(c[i], places)),
        });
        let members: Vec<(&Consumer, &(Exact, String, Exact))> = consumer_basis
            .iter()
            .filter(|((g, _), _)| g == *group)
            .map(|((_, c), v)| (c, v))
            .collect();
        if members.is_empty() {
            if group_q[i] != 0 || group_c.as_ref().is_some_and(|c| c[i] != 0) {
                lines.push(ConsumerLine {
                    consumer: None,
                    group: group.to_string(),
                    unit: None,
                    machine_consumption: "0".into(),
                    host_consumption: "0".into(),
                    recharged_consumption: scaled(group_q[i], 3),
                    recharged_cost: group_c.as_ref().map(|c| scaled(c[i], places)),
                    approach: config.approach.name(),
                });
            }
            continue;
        }
        let labels: Vec<String> = members
            .iter()
            .map(|(c, _)| format!("{}:{}", c.kind, c.key))
            .collect();
        let mut basis: Vec<(&str, Exact)> = labels
            .iter()
            .map(String::as_str)
            .zip(members.iter().map(|(_, v)| v.0))
            .collect();
        // Nothing consumed on the day looked at (a fixed percentage): share equally.
        if basis.iter().all(|b| b.1.is_zero()) {
            basis.iter_mut().for_each(|b| b.1 = Exact::ONE);
        }
        let q = split(group_q[i], &basis);
        let c = group_c.as_ref().map(|c| split(c[i], &basis));
        for (j, (consumer, (machine, unit, host))) in members.into_iter().enumerate() {
            lines.push(ConsumerLine {
                consumer: Some(consumer.clone()),
                group: group.to_string(),
                unit: Some(unit.clone()),
                machine_consumption: machine.to_string(),
                host_consumption: host.to_string(),
                recharged_consumption: scaled(q[j], 3),
                recharged_cost: c.as_ref().map(|c| scaled(c[j], places)),
                approach: config.approach.name(),
            });
        }
    }
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

/// Largest remainder of `total` over exact weights; all to the last when they sum to zero.
fn split(total: i128, weights: &[(&str, Exact)]) -> Vec<i128> {
    largest_remainder(total, weights).unwrap_or_else(|| {
        let mut parts = vec![0; weights.len()];
        if let Some(last) = parts.last_mut() {
            *last = total;
        }
        parts
    })
}

/// Every contributor of every day, its weight scaled so that a day's contributors (per
/// partition) add up to the day's quantity. Distinct-union identities keep weight 1.
fn contributions<'a>(
    records: &[&'a DayRecord],
    group_by: &str,
    distinct: bool,
) -> Vec<Contribution<'a>> {
    let mut out = Vec::new();
    for r in records {
        let weights: Vec<Exact> = r.contributors.iter().map(|c| parse(&c.weight)).collect();
        let sum: Exact = weights.iter().copied().sum();
        let quantity = parse(&r.quantity);
        for (c, w) in r.contributors.iter().zip(weights) {
            let amount = if distinct {
                Exact::ONE
            } else if sum.is_zero() {
                Exact::ZERO
            } else {
                w * quantity / sum
            };
            out.push(Contribution {
                consumer: Consumer {
                    kind: c.kind.clone(),
                    key: c.key.clone(),
                },
                group: c
                    .attrs
                    .get(group_by)
                    .filter(|g| !g.is_empty())
                    .cloned()
                    .unwrap_or_else(|| UNALLOCATED.into()),
                unit: &c.unit,
                date: &r.date,
                partition: &r.partition,
                amount,
            });
        }
    }
    out
}

/// Each group's weight in one partition (SPEC §4.8.3).
fn group_weights(
    config: &ChargebackConfig,
    contributions: &[&Contribution],
    peak_date: Option<&str>,
    distinct: bool,
) -> Result<BTreeMap<String, Exact>, EvalError> {
    let mut weights: BTreeMap<String, Exact> = BTreeMap::new();
    match config.approach {
        // A distinct-union quantity: each identity of the period weighs 1.
        Approach::ByConsumptionAtPeak | Approach::ByOwnPeak if distinct => {
            let identities: BTreeSet<(&str, &Consumer)> = contributions
                .iter()
                .map(|c| (c.group.as_str(), &c.consumer))
                .collect();
            for (g, _) in identities {
                *weights.entry(g.to_string()).or_insert(Exact::ZERO) += Exact::ONE;
            }
        }
        Approach::ByConsumptionAtPeak => {
            for c in contributions.iter().filter(|c| Some(c.date) == peak_date) {
                *weights.entry(c.group.clone()).or_insert(Exact::ZERO) += c.amount;
            }
        }
        Approach::ByOwnPeak => {
            for (g, daily) in daily_by_group(contributions) {
                weights.insert(g, daily.values().copied().max().unwrap_or(Exact::ZERO));
            }
        }
        Approach::EqualSplit => {
            for (g, daily) in daily_by_group(contributions) {
                if daily.values().any(|v| !v.is_zero()) || distinct {
                    weights.insert(g, Exact::ONE);
                }
            }
        }
        Approach::FixedPercentage => {
            let mut sum = Exact::ZERO;
            for (g, p) in &config.percentages {
                let p = exact_value(p).map_err(|e| EvalError::Product {
                    product: String::new(),
                    reason: format!("chargeback.percentages.{g}: {e}"),
                })?;
                sum += p;
                weights.insert(g.clone(), p);
            }
            let rest = Exact::int(100) - sum;
            *weights.entry(UNALLOCATED.into()).or_insert(Exact::ZERO) += rest;
        }
    }
    Ok(weights)
}

/// group → date → Σ contributions.
fn daily_by_group(contributions: &[&Contribution]) -> BTreeMap<String, BTreeMap<String, Exact>> {
    let mut out: BTreeMap<String, BTreeMap<String, Exact>> = BTreeMap::new();
    for c in contributions {
        *out.entry(c.group.clone())
            .or_default()
            .entry(c.date.to_string())
            .or_insert(Exact::ZERO) += c.amount;
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
        daily
            .iter()
            .fold(None::<(&String, Exact)>, |best, (d, v)| match best {
                Some((_, b)) if b >= *v => best,
                _ => Some((d, *v)),
            })
            .map(|(d, _)| d.clone())
    };
    match approach {
        Approach::ByOwnPeak => own_peak(),
        _ => match peak_date {
            Some(p) if daily.get(p).is_some_and(|v| !v.is_zero()) => Some(p.to_string()),
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
