//! Test plugin: returns far more than the output cap allows.
// Only the wasm build exports the plugin; a native build (cargo test --workspace) uses nothing.
#![cfg_attr(not(target_family = "wasm"), allow(dead_code))]

#[path = "../../common.rs"]
mod common;

use licmetric_sdk::facts::Facts;
use licmetric_sdk::serde_json::Value;
use licmetric_sdk::types::*;
use licmetric_sdk::{Metric, export_metric};

const NAME: &str = "huge-output";

struct Hostile;

impl Metric for Hostile {
    type RuleData = Value;
    type Parameters = Value;

    fn describe() -> PluginInfo {
        common::describe(NAME)
    }

    fn requests(_: &Value, _: &[Value]) -> Vec<FactRequest> {
        Vec::new()
    }

    fn evaluate(input: &Evaluation, _: &Value, _: &[Value], _facts: &Facts<'_>) -> Outcome {
        let filler = "x".repeat(1 << 20);
        let days = (0..40)
            .map(|i| DayResult {
                product: input
                    .products
                    .first()
                    .map(|p| p.product.id.clone())
                    .unwrap_or_default(),
                date: format!("day-{i}"),
                metric: String::new(),
                partition: String::new(),
                quantity: "1".into(),
                peak_at: 0,
                measures: Vec::new(),
                contributors: Vec::new(),
                explanation: Vec::new(),
                // Warnings cross with the numbers (`evaluate`), so the flood reaches the host.
                warnings: vec![filler.clone()],
                bundle_claims: Vec::new(),
            })
            .collect();
        Outcome {
            days,
            errors: Vec::new(),
        }
    }
}

export_metric!(Hostile);
