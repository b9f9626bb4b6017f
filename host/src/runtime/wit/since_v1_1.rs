//! `licmetric:plugin@1.1.0` (wit/v1.1), the latest contract: `evaluate` returns numbers,
//! `explain` the contributors and explanation of the asked days. Its answers are the host's
//! own types (`licmetric_sdk::types::wire`) after a field-by-field move.

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../wit/v1.1",
});

super::inputs!(licmetric::plugin::types);

use licmetric_sdk::types::wire;

fn exact_from(e: wit::Exact) -> wire::Exact {
    wire::Exact {
        numerator: e.numerator,
        denominator: e.denominator,
    }
}

/// An `evaluate` answer in the host's types.
pub fn outcome_from(o: wit::Outcome) -> wire::Outcome {
    wire::Outcome {
        days: o
            .days
            .into_iter()
            .map(|d| wire::DayResult {
                product: d.product,
                date: d.date,
                metric: d.metric,
                partition: d.partition,
                quantity: exact_from(d.quantity),
                peak_at: d.peak_at,
                measures: d
                    .measures
                    .into_iter()
                    .map(|(k, v)| (k, exact_from(v)))
                    .collect(),
                identities: d.identities,
                warnings: d.warnings,
                bundle_claims: d.bundle_claims.into_iter().map(bundle_claim_from).collect(),
            })
            .collect(),
        identity_names: o.identity_names,
        errors: o.errors.into_iter().map(error_from).collect(),
    }
}

/// An `explain` answer in the host's types.
pub fn explained_from(o: wit::Explained) -> wire::Explained {
    wire::Explained {
        days: o
            .days
            .into_iter()
            .map(|d| wire::DayDetail {
                product: d.product,
                date: d.date,
                metric: d.metric,
                partition: d.partition,
                contributors: d.contributors.into_iter().map(contributor_from).collect(),
                explanation: d.explanation,
            })
            .collect(),
        errors: o.errors.into_iter().map(error_from).collect(),
    }
}

/// Rough size of an `evaluate` answer in bytes, to enforce the output cap.
pub fn outcome_size(o: &wit::Outcome) -> usize {
    o.days
        .iter()
        .map(|d| {
            80 + d.product.len()
                + d.date.len()
                + d.partition.len()
                + d.measures.iter().map(|(k, _)| k.len() + 32).sum::<usize>()
                + d.identities.len() * 4
                + strings_size(&d.warnings)
                + claims_size(&d.bundle_claims)
        })
        .sum::<usize>()
        + strings_size(&o.identity_names)
        + errors_size(&o.errors)
}

/// Rough size of an `explain` answer in bytes, to enforce the output cap.
pub fn explained_size(o: &wit::Explained) -> usize {
    o.days
        .iter()
        .map(|d| {
            64 + d.product.len()
                + d.date.len()
                + d.partition.len()
                + contributors_size(&d.contributors)
                + strings_size(&d.explanation)
        })
        .sum::<usize>()
        + errors_size(&o.errors)
}
