//! The contract versions this host runs, one module each (`since_v1_0`, `since_v1_1`), and the
//! version a component speaks.
//!
//! The host's own types are the latest contract's: the SDK's copy of the inputs (the records
//! the store and the evaluator build) and `licmetric_sdk::types::wire` for the answers. Each
//! version module generates wasmtime bindings of its WIT folder and converts between them and
//! the latest types, so the evaluator never sees which version a plugin speaks. The inputs of
//! every 1.x version are the same records, hence one conversion macro (`inputs!`).

use wasmtime::component::Component;

pub mod since_v1_0;
pub mod since_v1_1;

/// The newest contract this host speaks: `licmetric:plugin@1.1.0`.
pub const API_VERSION: &str = "1.1.0";

/// The contract versions this host runs, oldest first.
pub const SUPPORTED: &[&str] = &["1.0.0", "1.1.0"];

/// Which contract a component exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// `licmetric:plugin@1.0.0`: `evaluate` returns numbers and details at once; the host
    /// splits them (slower, but every 1.0 plugin keeps working).
    V1_0,
    /// `licmetric:plugin@1.1.0`: `evaluate` counts, `explain` explains.
    V1_1,
}

impl Contract {
    /// The package version, e.g. `1.0.0`.
    pub fn version(self) -> &'static str {
        match self {
            Contract::V1_0 => "1.0.0",
            Contract::V1_1 => "1.1.0",
        }
    }
}

/// The contract `component` exports, or why it is refused: no `licmetric:plugin/metric`, or a
/// version this host does not run (another major, or a newer minor), naming both.
pub fn contract_of(engine: &wasmtime::Engine, component: &Component) -> anyhow::Result<Contract> {
    let ours = semver::Version::parse(API_VERSION)?;
    let ty = component.component_type();
    let found = ty.exports(engine).find_map(|(name, _)| {
        name.strip_prefix("licmetric:plugin/metric@")
            .map(String::from)
    });
    let Some(version) = found else {
        anyhow::bail!(
            "the component does not export licmetric:plugin/metric (this host speaks licmetric:plugin@{ours})"
        );
    };
    let theirs = semver::Version::parse(&version)?;
    if theirs.major != ours.major {
        anyhow::bail!(
            "the plugin was built for licmetric:plugin@{theirs}, but this host speaks licmetric:plugin@{ours} (major versions differ)"
        );
    }
    match theirs.minor {
        0 => Ok(Contract::V1_0),
        1 => Ok(Contract::V1_1),
        _ => anyhow::bail!(
            "the plugin needs licmetric:plugin@{theirs}, newer than this host's {ours}"
        ),
    }
}

/// Conversions of the inputs, which every 1.x contract shares: `$wit` is a version's generated
/// types module. Field-by-field moves; no copies of the timelines' columns beyond the move.
macro_rules! inputs {
    ($wit:path) => {
        use licmetric_sdk::types as sdk;
        use $wit as wit;

        fn value_type_from(t: wit::ValueType) -> sdk::ValueType {
            match t {
                wit::ValueType::Text => sdk::ValueType::Text,
                wit::ValueType::Integer => sdk::ValueType::Integer,
                wit::ValueType::Decimal => sdk::ValueType::Decimal,
                wit::ValueType::Boolean => sdk::ValueType::Boolean,
                wit::ValueType::Time => sdk::ValueType::Time,
            }
        }

        /// A fact request in the host's types.
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
                    wit::Selection::Intervals(i) => {
                        sdk::Selection::Intervals(sdk::IntervalSelection {
                            start: i.start,
                            end: i.end,
                            margin_ms: i.margin_ms,
                        })
                    }
                    wit::Selection::Instants(i) => {
                        sdk::Selection::Instants(sdk::InstantSelection {
                            time: i.time,
                            margin_ms: i.margin_ms,
                        })
                    }
                },
            }
        }

        fn period_rule_from(r: wit::PeriodRule) -> sdk::PeriodRule {
            match r {
                wit::PeriodRule::HighWaterMark => sdk::PeriodRule::HighWaterMark,
                wit::PeriodRule::PartitionSum => sdk::PeriodRule::PartitionSum,
                wit::PeriodRule::DistinctUnion => sdk::PeriodRule::DistinctUnion,
            }
        }

        /// What the plugin says about itself, in the host's types.
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

        /// A product reference in this version's types.
        pub fn product_ref_to(p: sdk::ProductRef) -> wit::ProductRef {
            wit::ProductRef {
                id: p.id,
                parameters: p.parameters,
            }
        }

        /// An evaluation in this version's types.
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

        /// A plugin error in the host's types.
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

        fn contributor_from(c: wit::Contributor) -> sdk::Contributor {
            sdk::Contributor {
                kind: c.kind,
                key: c.key,
                unit: c.unit,
                at: c.at,
                weight: c.weight,
                attrs: c.attrs,
            }
        }

        fn bundle_claim_from(c: wit::BundleClaim) -> sdk::BundleClaim {
            sdk::BundleClaim {
                bundle: c.bundle,
                ratio: c.ratio,
            }
        }

        /// Rough size of a list of strings in bytes, for the output cap.
        fn strings_size(v: &[String]) -> usize {
            v.iter().map(|s| s.len() + 8).sum()
        }

        /// Rough size of contributors in bytes, for the output cap.
        fn contributors_size(v: &[wit::Contributor]) -> usize {
            v.iter()
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
                .sum()
        }

        /// Rough size of errors in bytes, for the output cap.
        fn errors_size(v: &[wit::PluginError]) -> usize {
            v.iter().map(|e| 64 + e.message.len()).sum()
        }

        /// Rough size of bundle claims in bytes, for the output cap.
        fn claims_size(v: &[wit::BundleClaim]) -> usize {
            v.iter()
                .map(|c| 16 + c.bundle.len() + c.ratio.as_ref().map_or(0, String::len))
                .sum()
        }
    };
}
pub(crate) use inputs;
