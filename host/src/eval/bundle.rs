//! Bundles (SPEC §4.7): Cloud Paks and FlexPoint-style conversions, the same for every metric.
//!
//! Each member product's daily value (per partition) is converted with its ratio `a:b` and
//! rounded up per product and day; the bundle's daily value is the sum of the converted values,
//! and its period value the high-water mark of that sum per partition, summed over partitions —
//! never the sum of the products' high-water marks. Reads only stored day results.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use licmetric_sdk::Exact;
use serde::Serialize;

use super::membership::{conversion, membership};
use super::period::{DailyValue, PartitionPeak, Period};
use super::{EvalError, ProductDays};
use crate::store::records::{Bundle, Product};

/// A member product's figures on the bundle's peak day, as License Service's bundled products
/// report shows them: measured quantity, conversion and converted quantity.
#[derive(Debug, Clone, Serialize)]
pub struct BundledProduct {
    pub product: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub metric: String,
    pub date: String,
    pub partition: String,
    pub measured: String,
    /// `a:b`, product units : bundle units.
    pub conversion: String,
    pub converted: String,
}

/// A bundle's figures for a period (SPEC §5.2 with §4.7's details).
#[derive(Debug, Clone, Serialize)]
pub struct BundleUsage {
    pub bundle: String,
    /// The bundle record's stable integer id (ILMT's `bundle_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numeric_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    pub period: Period,
    /// Σ of the partitions' high-water marks of the converted daily sums.
    pub quantity: String,
    pub peak_date: Option<String>,
    pub partitions: Vec<PartitionPeak>,
    pub daily: Vec<DailyValue>,
    /// Each member on its partition's peak day.
    pub products: Vec<BundledProduct>,
    /// The licensed quantity and threshold − quantity, as a product's.
    pub threshold: Option<String>,
    pub threshold_delta: Option<String>,
    pub warnings: Vec<String>,
}

/// The members of bundle `id` among evaluated products: configured ones (failed or not) and
/// unconfigured ones whose facts claim it. A failed member fails the bundle.
pub fn members<'d>(
    id: &str,
    products: &[(&Product, &'d Result<ProductDays, EvalError>)],
) -> Vec<Result<&'d ProductDays, EvalError>> {
    let configured = |p: &Product| p.bundle.as_ref().is_some_and(|b| b.id == id);
    products
        .iter()
        .filter_map(|(product, result)| match result {
            Ok(days) => match membership(days) {
                Ok((Some(m), _)) if m.bundle == id => Some(Ok(days)),
                Ok(_) => None,
                Err(e) => configured(product).then_some(Err(e)),
            },
            Err(e) => configured(product).then(|| Err(e.clone())),
        })
        .collect()
}

/// Evaluates `bundle` from its members' days. Fails when any member failed on any day: a bundle
/// never gets a quantity computed over missing days.
pub fn usage(
    bundle: &Bundle,
    members: &[&ProductDays],
    start: NaiveDate,
    end: NaiveDate,
) -> Result<BundleUsage, EvalError> {
    // (partition, date) → (Σ converted, [(member index, measured, converted)])
    type Day = (Exact, Vec<(usize, Exact, Exact)>);
    let mut cells: BTreeMap<(String, String), Day> = BTreeMap::new();
    let mut warnings: Vec<String> = Vec::new();
    let mut ratios = Vec::new();
    for (i, member) in members.iter().enumerate() {
        let product = &member.product;
        if let Some(e) = super::period::first_error(member) {
            return Err(e.clone());
        }
        let (joined, _) = membership(member)?;
        let ratio = joined.and_then(|m| m.ratio);
        let (a, b) = conversion(ratio.as_deref()).map_err(|reason| EvalError::Product {
            product: product.id.clone(),
            reason: format!("bundle ratio: {reason}"),
        })?;
        ratios.push(format!("{a}:{b}"));
        for (day, result) in &member.days {
            for record in result.as_ref().map_err(Clone::clone)? {
                let measured: Exact = record.quantity.parse().unwrap_or(Exact::ZERO);
                // Rounded up per product and day (SPEC §4.7.2).
                let converted =
                    Exact::int((measured * Exact::int(b as i128) / Exact::int(a as i128)).ceil());
                let cell = cells
                    .entry((record.partition.clone(), day.date.clone()))
                    .or_insert((Exact::ZERO, Vec::new()));
                cell.0 += converted;
                cell.1.push((i, measured, converted));
                warnings.extend(record.warnings.iter().cloned());
            }
        }
    }
    warnings.sort();
    warnings.dedup();

    // Partitions exist only where something was counted (SPEC §4.10.2): a zero-only
    // partition (a day without consumption) is none when another partition counted something.
    let consumed: BTreeSet<&str> = cells
        .iter()
        .filter(|(_, (sum, _))| !sum.is_zero())
        .map(|((partition, _), _)| partition.as_str())
        .collect();
    let counts = |partition: &str| consumed.is_empty() || consumed.contains(partition);

    // Per partition: the earliest day with the highest converted sum.
    let mut peaks: BTreeMap<&str, (&str, Exact)> = BTreeMap::new();
    for ((partition, date), (sum, _)) in cells.iter().filter(|((p, _), _)| counts(p)) {
        match peaks.get(partition.as_str()) {
            Some((_, best)) if *best >= *sum => {}
            _ => {
                peaks.insert(partition, (date, *sum));
            }
        }
    }
    let quantity: Exact = peaks.values().map(|(_, q)| *q).sum();
    let mut daily: BTreeMap<&str, DailyValue> = BTreeMap::new();
    let partitioned = cells.keys().any(|(p, _)| !p.is_empty());
    for ((partition, date), (sum, _)) in &cells {
        let d = daily.entry(date).or_insert_with(|| DailyValue {
            date: date.clone(),
            quantity: "0".into(),
            partitions: BTreeMap::new(),
            measures: BTreeMap::new(),
        });
        d.quantity = (d.quantity.parse::<Exact>().unwrap_or(Exact::ZERO) + *sum).to_string();
        if partitioned && counts(partition) {
            d.partitions.insert(partition.clone(), sum.to_string());
        }
    }
    let mut products = Vec::new();
    for (partition, (date, _)) in &peaks {
        let (_, members_that_day) = &cells[&(partition.to_string(), date.to_string())];
        for (i, measured, converted) in members_that_day {
            let product = &members[*i].product;
            products.push(BundledProduct {
                product: product.id.clone(),
                name: product.name.clone(),
                metric: product.metric.clone(),
                date: date.to_string(),
                partition: partition.to_string(),
                measured: measured.to_string(),
                conversion: ratios[*i].clone(),
                converted: converted.to_string(),
            });
        }
    }
    Ok(BundleUsage {
        bundle: bundle.id.clone(),
        numeric_id: bundle.numeric_id,
        name: bundle.name.clone(),
        kind: bundle.kind.clone(),
        metric_name: bundle.metric_name.clone(),
        period: Period {
            start: start.to_string(),
            end: end.to_string(),
        },
        quantity: quantity.to_string(),
        peak_date: peaks.values().map(|(d, _)| d.to_string()).min(),
        partitions: peaks
            .iter()
            .map(|(p, (d, q))| PartitionPeak {
                partition: p.to_string(),
                hwm: q.to_string(),
                peak_date: Some(d.to_string()),
                peak_at: None,
            })
            .collect(),
        daily: daily.into_values().collect(),
        products,
        threshold: bundle.threshold().map(|t| t.to_string()),
        threshold_delta: bundle.threshold().map(|t| (t - quantity).to_string()),
        warnings,
    })
}
