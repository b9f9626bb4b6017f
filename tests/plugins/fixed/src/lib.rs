//! Test plugin that behaves: every day of a product counts the product's `units` parameter
//! (default 1). It bundles an example that passes, so uploads and loads accept it.
// Only the wasm build exports the plugin; a native build (cargo test --workspace) uses nothing.
#![cfg_attr(not(target_family = "wasm"), allow(dead_code))]

use licmetric_sdk::facts::Facts;
use licmetric_sdk::serde_json::{self, Value};
use licmetric_sdk::types::*;
use licmetric_sdk::{Metric, RuleError, export_metric};

const NAME: &str = "fixed";

struct Fixed;

/// The product's `units` (a whole number ≥ 0), or why not.
fn units(product: &ProductRef) -> Result<u64, RuleError> {
    let refuse = |why: &str| {
        RuleError::new("product_parameter_invalid", format!("units: {why}")).product(&product.id)
    };
    let parameters: Value =
        serde_json::from_str(&product.parameters).map_err(|_| refuse("parameters are not JSON"))?;
    match parameters.get("units") {
        None => Ok(1),
        Some(v) => v.as_u64().ok_or_else(|| refuse("not a whole number ≥ 0")),
    }
}

impl Metric for Fixed {
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

    fn prepare(rule_data: &str, products: &[ProductRef]) -> Result<Vec<FactRequest>, RuleError> {
        let _ = rule_data;
        for p in products {
            units(p)?;
        }
        Ok(Vec::new())
    }

    fn evaluate(input: &Evaluation, _facts: &Facts<'_>) -> Outcome {
        let mut days = Vec::new();
        for p in &input.products {
            let units = units(&p.product).unwrap_or(0);
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
