//! Test plugin that behaves: every day of a product counts the product's `units` parameter
//! (default 1). It bundles an example that passes, so uploads and loads accept it.
// Only the wasm build exports the plugin; a native build (cargo test --workspace) uses nothing.
#![cfg_attr(not(target_family = "wasm"), allow(dead_code))]

use licmetric_sdk::facts::Facts;
use licmetric_sdk::serde_json::Value;
use licmetric_sdk::types::*;
use licmetric_sdk::{Metric, export_metric};

const NAME: &str = "fixed";

struct Fixed;

/// The product's `units` (a whole number ≥ 0), or why not.
/// A product's parameters: `units` per day (default 1).
#[derive(serde::Deserialize)]
struct Parameters {
    #[serde(default = "one")]
    units: u64,
}

fn one() -> u64 {
    1
}

impl licmetric_sdk::config::ParameterDocument for Parameters {}

impl Metric for Fixed {
    type RuleData = Value;
    type Parameters = Parameters;

    fn describe() -> PluginInfo {
        PluginInfo {
            name: NAME.into(),
            version: "1.0.0".into(),
            sdk_version: licmetric_sdk::SDK_VERSION.into(),
            metrics: vec![MetricInfo {
                code_name: "FIXED".into(),
                name: "A fixed number of units per day".into(),
                unit: "units".into(),
                period_rule: PeriodRule::HighWaterMark,
            }],
            facts: Vec::new(),
            rule_data_schema: "{}".into(),
            parameter_schema:
                r#"{"type":"object","properties":{"units":{"type":"integer","minimum":0}}}"#.into(),
            default_rule_data: r#"{"version":"test"}"#.into(),
        }
    }

    fn requests(_: &Value, _: &[Parameters]) -> Vec<FactRequest> {
        Vec::new()
    }

    fn evaluate(
        input: &Evaluation,
        _: &Value,
        parameters: &[Parameters],
        _facts: &Facts<'_>,
    ) -> Outcome {
        let mut days = Vec::new();
        for (p, parameters) in input.products.iter().zip(parameters) {
            let units = parameters.units;
            for day in &p.days {
                days.push(DayResult {
                    product: p.product.id.clone(),
                    date: day.date.clone(),
                    metric: String::new(),
                    partition: String::new(),
                    quantity: units.to_string(),
                    peak_at: day.start,
                    measures: Vec::new(),
                    contributors: Vec::new(),
                    explanation: vec![format!("fixed: {units} units")],
                    warnings: Vec::new(),
                    bundle_claims: Vec::new(),
                });
            }
        }
        Outcome {
            days,
            errors: Vec::new(),
        }
    }
}

export_metric!(Fixed);
licmetric_sdk::bundle_example!("example");
