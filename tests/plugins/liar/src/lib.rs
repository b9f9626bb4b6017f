//! Test plugin whose answers lie in the way a product's `lie` parameter names (issue 15.4):
//! `negative` (-7), `twice` (two results for one partition), `peak-outside` (a peak instant
//! before its day), `huge` (10^18), `other-product`, `other-day`, `flood` (a 2 MiB warning
//! every day: honest numbers, more than the store keeps of a product-day). Without `lie` every day
//! counts 7, so its bundled example passes and it loads: it misbehaves only on the products
//! that ask it to. The host must turn each lie into a plugin failure naming plugin and product.
// Only the wasm build exports the plugin; a native build (cargo test --workspace) uses nothing.
#![cfg_attr(not(target_family = "wasm"), allow(dead_code))]

use licmetric_sdk::facts::Facts;
use licmetric_sdk::serde_json::Value;
use licmetric_sdk::types::*;
use licmetric_sdk::{Metric, export_metric};

struct Liar;

/// The lie a product's parameters ask for (`{"lie": "negative"}` …), none by default.
fn lie(parameters: &Value) -> &str {
    parameters
        .get("lie")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn result(product: &str, day: &Day, quantity: &str, peak_at: i64) -> DayResult {
    DayResult {
        product: product.into(),
        date: day.date.clone(),
        metric: String::new(),
        partition: String::new(),
        quantity: quantity.into(),
        peak_at,
        measures: Vec::new(),
        contributors: Vec::new(),
        explanation: Vec::new(),
        warnings: Vec::new(),
        bundle_claims: Vec::new(),
    }
}

impl Metric for Liar {
    type RuleData = Value;
    type Parameters = Value;

    fn describe() -> PluginInfo {
        PluginInfo {
            name: "liar".into(),
            version: "1.0.0".into(),
            sdk_version: licmetric_sdk::SDK_VERSION.into(),
            metrics: vec![MetricInfo {
                code_name: "FIXED".into(),
                name: "Seven units a day, or a lie".into(),
                unit: "units".into(),
                period_rule: PeriodRule::HighWaterMark,
            }],
            facts: Vec::new(),
            rule_data_schema: "{}".into(),
            parameter_schema: r#"{"type":"object"}"#.into(),
            default_rule_data: r#"{"version":"test"}"#.into(),
        }
    }

    fn requests(_: &Value, _: &[Value]) -> Vec<FactRequest> {
        Vec::new()
    }

    fn evaluate(
        input: &Evaluation,
        _: &Value,
        parameters: &[Value],
        _facts: &Facts<'_>,
    ) -> Outcome {
        let mut days = Vec::new();
        for (p, parameters) in input.products.iter().zip(parameters) {
            let id = p.product.id.as_str();
            for day in &p.days {
                match lie(parameters) {
                    "negative" => days.push(result(id, day, "-7", day.start)),
                    "twice" => {
                        days.push(result(id, day, "7", day.start));
                        days.push(result(id, day, "7", day.start));
                    }
                    "peak-outside" => days.push(result(id, day, "7", i64::MIN)),
                    "huge" => days.push(result(id, day, "1000000000000000000", day.start)),
                    "other-product" => days.push(result("not-asked", day, "7", day.start)),
                    "other-day" => {
                        let mut other = result(id, day, "7", day.start);
                        other.date = "1999-01-01".into();
                        days.push(other);
                    }
                    "flood" => {
                        let mut flooded = result(id, day, "7", day.start);
                        flooded.warnings.push("x".repeat(2 << 20));
                        days.push(flooded);
                    }
                    _ => days.push(result(id, day, "7", day.start)),
                }
            }
        }
        Outcome {
            days,
            errors: Vec::new(),
        }
    }
}

export_metric!(Liar);
licmetric_sdk::bundle_example!("example");
