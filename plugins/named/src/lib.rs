//! The `named` metric (SPEC §3.5): named-user licences. Per product and day, the peak number of
//! identities (people and devices) active at one instant, and the number of distinct identities
//! active at any instant of the day; the product's parameters choose which one is its quantity.
//!
//! - [`rules`]: rule data and product parameters;
//! - [`inputs`]: typed assignment, installation and session states;
//! - [`identity`]: the identities of a product and when each is active (`A(t)`);
//! - [`day`]: the day results: quantities, contributors, explanation, warnings.

mod day;
mod identity;
mod inputs;
mod instant;
mod rules;

#[cfg(test)]
mod tests;

use licmetric_sdk::facts::Facts;
use licmetric_sdk::types::*;
use licmetric_sdk::{Metric, export_metric};

use identity::Population;
use inputs::{Assignment, Installed, Use};
use rules::{Basis, Parameters, RuleData, Settings};

/// The named metric (public so benchmarks can run the same logic natively).
pub struct Named;

/// Code name of the peak quantity (period rule: high-water mark).
pub const PEAK_METRIC: &str = "NAMED_PEAK_ACTIVE";
/// Code name of the distinct quantity (period rule: distinct union of the contributors).
pub const DISTINCT_METRIC: &str = "NAMED_DISTINCT";

const SECTION: &str = "SPEC §3.5.1";

impl Metric for Named {
    type RuleData = RuleData;
    type Parameters = Parameters;

    fn describe() -> PluginInfo {
        let metric = |code: &str, name: &str, period_rule| MetricInfo {
            code_name: code.into(),
            name: name.into(),
            unit: "users".into(),
            period_rule,
        };
        PluginInfo {
            name: rules::PLUGIN.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            sdk_version: licmetric_sdk::SDK_VERSION.into(),
            // The first is the default when a day result names no metric.
            metrics: vec![
                metric(
                    PEAK_METRIC,
                    "Named users (peak active)",
                    PeriodRule::HighWaterMark,
                ),
                metric(
                    DISTINCT_METRIC,
                    "Named users (distinct)",
                    PeriodRule::DistinctUnion,
                ),
            ],
            facts: inputs::requests(),
            rule_data_schema: rules::RULE_DATA_SCHEMA.into(),
            parameter_schema: rules::PARAMETER_SCHEMA.into(),
            default_rule_data: rules::DEFAULT_RULE_DATA.into(),
        }
    }

    fn requests(_: &RuleData, _: &[Parameters]) -> Vec<FactRequest> {
        inputs::requests()
    }

    fn evaluate(
        input: &Evaluation,
        _: &RuleData,
        parameters: &[Parameters],
        facts: &Facts<'_>,
    ) -> Outcome {
        let mut outcome = Outcome {
            days: Vec::new(),
            errors: Vec::new(),
        };
        let assignments = Assignment::all(facts);
        let installed = Installed::all(facts);
        let uses = Use::all(facts, input.run_at);
        for (product, params) in input.products.iter().zip(parameters) {
            let settings = Settings::of(&product.product, params);
            let id = &product.product.id;
            let lt = &settings.license_type;
            let population = match settings.basis {
                Basis::Assignment => Population::by_assignment(id, lt, &assignments, &installed),
                Basis::InstallationUser => {
                    Population::by_installation_user(id, lt, &installed, &uses)
                }
            };
            let (days, errors) = day::product_days(product, &settings, &population);
            outcome.days.extend(days);
            outcome.errors.extend(errors);
        }
        outcome
    }
}

export_metric!(Named);
// The self-test evaluated when the plugin is uploaded: the example NU-A (SPEC §3.5.2).
licmetric_sdk::bundle_example!("example");
