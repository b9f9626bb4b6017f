//! Test plugin: loops forever in `evaluate`; the host's CPU budget must stop it.
// Only the wasm build exports the plugin; a native build (cargo test --workspace) uses nothing.
#![cfg_attr(not(target_family = "wasm"), allow(dead_code))]

#[path = "../../common.rs"]
mod common;

use licmetric_sdk::facts::Facts;
use licmetric_sdk::serde_json::Value;
use licmetric_sdk::types::*;
use licmetric_sdk::{Metric, export_metric};

const NAME: &str = "spin-forever";

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
        let mut n: u64 = input.run_at as u64;
        loop {
            n = std::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
            if n == 0 {
                break;
            }
        }
        Outcome {
            days: Vec::new(),
            errors: Vec::new(),
        }
    }
}

export_metric!(Hostile);

// Its example fails (the plugin misbehaves on every evaluation): uploads refuse it.
licmetric_sdk::bundle_example!("example");
