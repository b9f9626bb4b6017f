//! What every hostile test plugin declares: they differ only in how `evaluate` misbehaves.

use licmetric_sdk::types::*;

pub fn describe(name: &str) -> PluginInfo {
    PluginInfo {
        name: name.into(),
        version: "1.0.0".into(),
        sdk_version: licmetric_sdk::SDK_VERSION.into(),
        metrics: vec![MetricInfo {
            code_name: "HOSTILE".into(),
            name: "A hostile test plugin".into(),
            unit: "units".into(),
            period_rule: PeriodRule::HighWaterMark,
        }],
        facts: Vec::new(),
        rule_data_schema: "{}".into(),
        parameter_schema: "{}".into(),
        default_rule_data: r#"{"version":"test"}"#.into(),
    }
}
