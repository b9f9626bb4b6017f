//! Host bindings of `wit/v1.0` and the conversions between them and the SDK's copy of the same
//! records (the SDK's types are what the store and the evaluator speak; both are generated
//! from the same WIT files, so every conversion is a field-by-field move).

use licmetric_sdk::types as sdk;

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../wit/v1.0",
});

pub use licmetric::plugin::types as wit;

/// The WIT major.minor this host speaks.
pub const API_VERSION: &str = "1.0.0";

pub fn value_type_from(t: wit::ValueType) -> sdk::ValueType {
    match t {
        wit::ValueType::Text => sdk::ValueType::Text,
        wit::ValueType::Integer => sdk::ValueType::Integer,
        wit::ValueType::Decimal => sdk::ValueType::Decimal,
        wit::ValueType::Boolean => sdk::ValueType::Boolean,
        wit::ValueType::Time => sdk::ValueType::Time,
    }
}

pub fn fact_request_from(r: wit::FactRequest) -> sdk::FactRequest {
    sdk::FactRequest {
        kind: r.kind,
        attributes: r
            .attributes
            .into_iter()
            .map(|a| sdk::Attribute {
                name: a.name,
                type_: value_type_from(a.type_),
            })
            .collect(),
        selection: match r.selection {
            wit::Selection::States => sdk::Selection::States,
            wit::Selection::Intervals(i) => sdk::Selection::Intervals(sdk::IntervalSelection {
                start: i.start,
                end: i.end,
                margin_ms: i.margin_ms,
            }),
            wit::Selection::Instants(i) => sdk::Selection::Instants(sdk::InstantSelection {
                time: i.time,
                margin_ms: i.margin_ms,
            }),
        },
    }
}

pub fn period_rule_from(r: wit::PeriodRule) -> sdk::PeriodRule {
    match r {
        wit::PeriodRule::HighWaterMark => sdk::PeriodRule::HighWaterMark,
        wit::PeriodRule::PartitionSum => sdk::PeriodRule::PartitionSum,
        wit::PeriodRule::DistinctUnion => sdk::PeriodRule::DistinctUnion,
    }
}

pub fn plugin_info_from(i: wit::PluginInfo) -> sdk::PluginInfo {
    sdk::PluginInfo {
        name: i.name,
        version: i.version,
        sdk_version: i.sdk_version,
        metrics: i
            .metrics
            .into_iter()
            .map(|m| sdk::MetricInfo {
                code_name: m.code_name,
                name: m.name,
                unit: m.unit,
                period_rule: period_rule_from(m.period_rule),
            })
            .collect(),
        facts: i.facts.into_iter().map(fact_request_from).collect(),
        rule_data_schema: i.rule_data_schema,
        parameter_schema: i.parameter_schema,
        default_rule_data: i.default_rule_data,
    }
}

pub fn product_ref_to(p: sdk::ProductRef) -> wit::ProductRef {
    wit::ProductRef {
        id: p.id,
        parameters: p.parameters,
    }
}

pub fn evaluation_to(e: sdk::Evaluation) -> wit::Evaluation {
    wit::Evaluation {
        rule_data: e.rule_data,
        run_at: e.run_at,
        products: e
            .products
            .into_iter()
            .map(|p| wit::ProductDays {
                product: product_ref_to(p.product),
                days: p
                    .days
                    .into_iter()
                    .map(|d| wit::Day {
                        date: d.date,
                        start: d.start,
                        end: d.end,
                    })
                    .collect(),
            })
            .collect(),
        strings: wit::StringTable {
            bytes: e.strings.bytes,
            ends: e.strings.ends,
        },
        timelines: e
            .timelines
            .into_iter()
            .map(|t| wit::Timeline {
                kind: t.kind,
                entity: t.entity,
                from: t.from,
                to: t.to,
                columns: t.columns,
            })
            .collect(),
    }
}

pub fn error_from(e: wit::PluginError) -> sdk::PluginError {
    sdk::PluginError {
        code: e.code,
        message: e.message,
        product: e.product,
        date: e.date,
        fact_kind: e.fact_kind,
        fact_key: e.fact_key,
        attribute: e.attribute,
        at: e.at,
        section: e.section,
    }
}

pub fn outcome_from(o: wit::Outcome) -> sdk::Outcome {
    sdk::Outcome {
        days: o
            .days
            .into_iter()
            .map(|d| sdk::DayResult {
                product: d.product,
                date: d.date,
                metric: d.metric,
                partition: d.partition,
                quantity: d.quantity,
                peak_at: d.peak_at,
                measures: d.measures,
                contributors: d
                    .contributors
                    .into_iter()
                    .map(|c| sdk::Contributor {
                        kind: c.kind,
                        key: c.key,
                        unit: c.unit,
                        at: c.at,
                        weight: c.weight,
                        attrs: c.attrs,
                    })
                    .collect(),
                explanation: d.explanation,
                warnings: d.warnings,
                bundle_claims: d
                    .bundle_claims
                    .into_iter()
                    .map(|c| sdk::BundleClaim {
                        bundle: c.bundle,
                        ratio: c.ratio,
                    })
                    .collect(),
            })
            .collect(),
        errors: o.errors.into_iter().map(error_from).collect(),
    }
}

/// Rough size of an outcome in bytes, to enforce the output cap.
pub fn outcome_size(o: &wit::Outcome) -> usize {
    let strings = |v: &[String]| v.iter().map(|s| s.len() + 8).sum::<usize>();
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
                + d.contributors
                    .iter()
                    .map(|c| {
                        48 + c.kind.len()
                            + c.key.len()
                            + c.unit.len()
                            + c.weight.len()
                            + c.attrs
                                .iter()
                                .map(|(k, v)| k.len() + v.len() + 16)
                                .sum::<usize>()
                    })
                    .sum::<usize>()
                + strings(&d.explanation)
                + strings(&d.warnings)
                + d.bundle_claims
                    .iter()
                    .map(|c| 16 + c.bundle.len() + c.ratio.as_ref().map_or(0, String::len))
                    .sum::<usize>()
        })
        .sum::<usize>()
        + o.errors.iter().map(|e| 64 + e.message.len()).sum::<usize>()
}
