//! Test plugin: allocates without bound in `evaluate`; the host's memory cap must stop it.
// Only the wasm build exports the plugin; a native build (cargo test --workspace) uses nothing.
#![cfg_attr(not(target_family = "wasm"), allow(dead_code))]

#[path = "../../common.rs"]
mod common;

use licmetric_sdk::facts::Facts;
use licmetric_sdk::serde_json::Value;
use licmetric_sdk::types::*;
use licmetric_sdk::{Metric, export_metric};

const NAME: &str = "memory-bomb";

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
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![input.run_at as u8; 16 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}

export_metric!(Hostile);
