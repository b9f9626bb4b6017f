//! `licmetric:plugin@1.0.0` (wit/v1.0): `evaluate` returns each day's numbers together with its
//! contributors and explanation. The host splits that answer (`licmetric_sdk::result`): for
//! an `evaluate` it keeps the numbers, for an `explain` it runs the same `evaluate` on the
//! asked days and keeps the details. A 1.0 plugin therefore pays for its contributors on
//! every day, as it always did; it counts the same figures.

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../wit/v1.0",
});

super::inputs!(licmetric::plugin::types);

use licmetric_sdk::result;
use licmetric_sdk::types::wire;

/// A 1.0 answer in the SDK's whole-day form.
pub fn outcome_from(o: wit::Outcome) -> licmetric_sdk::result::Outcome {
    result::Outcome {
        days: o
            .days
            .into_iter()
            .map(|d| result::DayResult {
                product: d.product,
                date: d.date,
                metric: d.metric,
                partition: d.partition,
                quantity: d.quantity,
                peak_at: d.peak_at,
                measures: d.measures,
                contributors: d.contributors.into_iter().map(contributor_from).collect(),
                explanation: d.explanation,
                warnings: d.warnings,
                bundle_claims: d.bundle_claims.into_iter().map(bundle_claim_from).collect(),
            })
            .collect(),
        errors: o.errors.into_iter().map(error_from).collect(),
    }
}

/// The numbers of a 1.0 answer, as a 1.1 `evaluate` returns them.
pub fn quantities(o: wit::Outcome, metrics: &[sdk::MetricInfo]) -> wire::Outcome {
    result::quantities(outcome_from(o), metrics)
}

/// The details of a 1.0 answer, as a 1.1 `explain` returns them.
pub fn details(o: wit::Outcome) -> wire::Explained {
    result::details(outcome_from(o))
}

/// Rough size of a 1.0 answer in bytes, to enforce the output cap.
pub fn outcome_size(o: &wit::Outcome) -> usize {
    o.days
        .iter()
        .map(|d| {
            64 + d.product.len()
                + d.date.len()
                + d.partition.len()
                + d.quantity.len()
                + d.measures
                    .iter()
                    .map(|(k, v)| k.len() + v.len() + 16)
                    .sum::<usize>()
                + contributors_size(&d.contributors)
                + strings_size(&d.explanation)
                + strings_size(&d.warnings)
                + claims_size(&d.bundle_claims)
        })
        .sum::<usize>()
        + errors_size(&o.errors)
}
