//! Test plugin built against an incompatible v2 copy of the WIT (`wit/plugin.wit`,
//! `licmetric:plugin@2.0.0`) with wit-bindgen directly. It is a sane plugin in every other
//! respect; the host must refuse it for its WIT major version, naming both versions.
// Only the wasm build exports the plugin; a native build (cargo test --workspace) uses nothing.
#![cfg_attr(not(target_family = "wasm"), allow(dead_code))]

wit_bindgen::generate!({
    world: "plugin",
    path: "wit",
});

use exports::licmetric::plugin::metric::Guest;
use licmetric::plugin::types::*;

struct WitV2;

impl Guest for WitV2 {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "wit-v2".into(),
            version: "1.0.0".into(),
            sdk_version: "none".into(),
            metrics: vec![MetricInfo {
                code_name: "WIT_V2".into(),
                name: "A plugin of the next WIT major version".into(),
                unit: "units".into(),
                period_rule: PeriodRule::HighWaterMark,
            }],
            facts: Vec::new(),
            rule_data_schema: "{}".into(),
            parameter_schema: "{}".into(),
            default_rule_data: r#"{"version":"test"}"#.into(),
            homepage: "https://example.invalid/wit-v2".into(),
        }
    }

    fn prepare(
        _rule_data: String,
        _products: Vec<ProductRef>,
    ) -> Result<Vec<FactRequest>, PluginError> {
        Ok(Vec::new())
    }

    fn evaluate(_input: Evaluation) -> Result<Outcome, PluginError> {
        Ok(Outcome {
            days: Vec::new(),
            errors: Vec::new(),
        })
    }
}

#[cfg(target_arch = "wasm32")]
export!(WitV2);
