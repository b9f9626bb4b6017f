//! One product's days (SPEC §3.5.1 steps 1–5, §5.1): the peak of `|A(t)|`, the distinct union
//! of `A(t)` over the day, the identities as contributors, and the explanation.

use licmetric_sdk::RuleError;
use licmetric_sdk::sweep::{self, Peak, Segment};
use licmetric_sdk::types::{Contributor, Day, DayResult, PluginError, ProductDays};

use crate::identity::{DayView, Identity, Population};
use crate::rules::{Basis, Compliance, Settings};
use crate::{SECTION, instant};

/// Names listed in one explanation line before the rest are counted.
const NAMED_IDENTITIES: usize = 20;

/// The day results of one product, and an error for each day a fault blocks.
pub fn product_days(
    product: &ProductDays,
    settings: &Settings,
    population: &Population<'_>,
) -> (Vec<DayResult>, Vec<PluginError>) {
    let id = &product.product.id;
    // Each identity's segments are disjoint, so the sum of the segments is |A(t)|.
    let segments: Vec<Segment<i64>> = population
        .identities
        .iter()
        .flat_map(|i| i.segments.iter().copied())
        .collect();
    let spans: Vec<(i64, i64)> = product.days.iter().map(|d| (d.start, d.end)).collect();
    let peaks = sweep::span_peaks(&segments, &spans);

    let mut days = Vec::new();
    let mut errors = Vec::new();
    for (day, peak) in product.days.iter().zip(peaks) {
        if let Some((fault, at)) = population.fault_in(day.start, day.end) {
            let failure = RuleError::new(
                "missing_attribute",
                format!(
                    "named@{}: product {id}: missing attribute {:?} on fact ({}, {:?}) at {} ({SECTION})",
                    env!("CARGO_PKG_VERSION"),
                    fault.attribute,
                    fault.kind,
                    fault.key,
                    instant::rfc3339(at),
                ),
            )
            .product(id)
            .date(&day.date)
            .fact(fault.kind, fault.key)
            .attribute(fault.attribute)
            .at(at)
            .section(SECTION);
            errors.push(failure.0);
            continue;
        }
        days.push(day_result(id, day, peak, settings, population));
    }
    (days, errors)
}

/// An identity active during the day.
struct Present<'p, 'a> {
    identity: &'p Identity<'a>,
    view: DayView<'a>,
    at_peak: bool,
}

impl Present<'_, '_> {
    fn kind(&self) -> &'static str {
        if self.view.device { "device" } else { "user" }
    }

    /// How the explanation names it: people by name, devices marked as such.
    fn label(&self) -> String {
        if self.view.device {
            format!("device {}", self.identity.key)
        } else {
            self.identity.key.to_string()
        }
    }
}

fn day_result(
    product: &str,
    day: &Day,
    peak: Peak<i64>,
    settings: &Settings,
    population: &Population<'_>,
) -> DayResult {
    let present: Vec<Present<'_, '_>> = population
        .identities
        .iter()
        .filter_map(|identity| {
            let view = identity.on_day(day.start, day.end)?;
            Some(Present {
                identity,
                view,
                at_peak: peak.value > 0 && identity.active_at(peak.at),
            })
        })
        .collect();
    let distinct = present.len();
    let devices = present.iter().filter(|p| p.view.device).count();
    let people = distinct - devices;
    let at_peak = present.iter().filter(|p| p.at_peak).count();
    debug_assert_eq!(
        at_peak as i64, peak.value,
        "identities at the peak = the peak"
    );

    let unassigned = match settings.basis {
        Basis::Assignment => Some(population.unassigned(day.start, day.end)),
        Basis::InstallationUser => None,
    };
    let quantity = match settings.compliance {
        Compliance::NamedPeakActive => peak.value,
        Compliance::NamedDistinct => distinct as i64,
    };

    let mut measures = vec![
        ("named_peak_active".to_string(), peak.value.to_string()),
        ("named_distinct".to_string(), distinct.to_string()),
        ("people".to_string(), people.to_string()),
        ("devices".to_string(), devices.to_string()),
    ];
    let mut warnings = Vec::new();
    if let Some(unassigned) = &unassigned {
        measures.push((
            "unassigned_installations".to_string(),
            unassigned.len().to_string(),
        ));
        if !unassigned.is_empty() {
            warnings.push(format!(
                "unassigned_installation: {} installation(s) of {product} whose owner has no active assignment of {}, not counted: {} (SPEC §3.5.1 step 5)",
                unassigned.len(),
                settings.license_type,
                listed(unassigned.iter().map(|(key, _)| key.to_string()).collect()),
            ));
        }
    }

    let unit = format!("license_type:{}", settings.license_type);
    let contributors = present
        .iter()
        .map(|p| Contributor {
            kind: p.kind().to_string(),
            key: p.identity.key.to_string(),
            unit: unit.clone(),
            at: if p.at_peak { peak.at } else { p.view.first },
            // The host takes the distinct union of a period from (kind, key) whatever the
            // weight; the weight is the identity's share of this day's quantity (SPEC §4.8.2).
            weight: match settings.compliance {
                Compliance::NamedDistinct => "1",
                Compliance::NamedPeakActive if p.at_peak => "1",
                Compliance::NamedPeakActive => "0",
            }
            .to_string(),
            attrs: p.view.organisation.pairs(),
        })
        .collect();

    DayResult {
        product: product.to_string(),
        date: day.date.clone(),
        metric: settings.compliance.metric().to_string(),
        partition: String::new(),
        quantity: quantity.to_string(),
        peak_at: peak.at,
        measures,
        contributors,
        explanation: explanation(day, peak, settings, &present, unassigned.as_deref()),
        warnings,
        bundle_claims: Vec::new(),
    }
}

fn explanation(
    day: &Day,
    peak: Peak<i64>,
    settings: &Settings,
    present: &[Present<'_, '_>],
    unassigned: Option<&[(&str, &str)]>,
) -> Vec<String> {
    let mut lines = Vec::new();
    if present.is_empty() {
        lines.push(format!(
            "no named user active on {} (license type {}, basis {})",
            day.date,
            settings.license_type,
            settings.basis.name()
        ));
    } else {
        let at_peak = present
            .iter()
            .filter(|p| p.at_peak)
            .map(Present::label)
            .collect();
        lines.push(format!("peak {} active: {}", peak.value, listed(at_peak)));
        let devices = present.iter().filter(|p| p.view.device).count();
        lines.push(format!(
            "distinct {} over the day ({} people, {} devices): {}",
            present.len(),
            present.len() - devices,
            devices,
            listed(present.iter().map(Present::label).collect()),
        ));
    }
    if let Some(unassigned) = unassigned.filter(|u| !u.is_empty()) {
        let names = unassigned
            .iter()
            .map(|(key, owner)| format!("{key} (owner {owner})"))
            .collect();
        lines.push(format!(
            "unassigned installations {}: {}; their owners have no active assignment of {}, not counted",
            unassigned.len(),
            listed(names),
            settings.license_type,
        ));
    }
    lines
}

/// Sorted names, at most [`NAMED_IDENTITIES`] of them, then how many more.
fn listed(mut names: Vec<String>) -> String {
    names.sort();
    let shown = names.len().min(NAMED_IDENTITIES);
    let mut text = names[..shown].join(", ");
    if names.len() > shown {
        text.push_str(&format!(" and {} more", names.len() - shown));
    }
    text
}
