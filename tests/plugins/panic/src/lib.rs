//! Test plugin: panics in `evaluate`; the host must report the panic message.
// Only the wasm build exports the plugin; a native build (cargo test --workspace) uses nothing.
#![cfg_attr(not(target_family = "wasm"), allow(dead_code))]

#[path = "../../common.rs"]
mod common;

use licmetric_sdk::facts::Facts;
use licmetric_sdk::serde_json::Value;
use licmetric_sdk::types::*;
use licmetric_sdk::{Metric, export_metric};

const NAME: &str = "panic";

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
        panic!(
            "deliberate test panic for {} products",
            input.products.len()
        )
    }
}

export_metric!(Hostile);

// Its example fails (the plugin misbehaves on every evaluation): uploads refuse it.
licmetric_sdk::bundle_example!("example");
