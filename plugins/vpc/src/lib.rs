//! The `vpc` metric (SPEC §3.2): IBM Virtual Processor Cores — the pvu rule with every core
//! worth one and no table. Counting is licmetric-subcapacity's.

use licmetric_sdk::estate::{Node, Server};
use licmetric_sdk::facts::Facts;
use licmetric_sdk::types::*;
use licmetric_sdk::{Metric, config, export_metric};
use licmetric_subcapacity::{self as subcapacity, Rate, Rating};

/// The vpc metric (public so benchmarks can run the same logic natively).
pub struct Vpc;

/// Rule data: a version and nothing else (SPEC §3.2.1).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleData {
    #[allow(dead_code)]
    version: String,
}

impl config::RuleDocument for RuleData {}

/// vpc products take no parameters.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameters {}

impl config::ParameterDocument for Parameters {}

/// Every core, vCPU or thread-divided container core counts one.
struct OnePerCore;

impl Rating for OnePerCore {
    fn unit_name(&self) -> &'static str {
        "VPC"
    }
    fn server_rate(&self, _: &str, _: &Server<'_>) -> Option<Rate> {
        None
    }
    fn node_rate(&self, _: &str, _: &Node<'_>) -> Option<Rate> {
        None
    }
    fn default_rate(&self) -> Option<i64> {
        None
    }
    fn cloud_rate(&self) -> Option<i64> {
        None
    }
    fn extra_region(&self, _: &str) -> bool {
        false
    }
}

impl Metric for Vpc {
    type RuleData = RuleData;
    type Parameters = Parameters;

    fn describe() -> PluginInfo {
        PluginInfo {
            name: "vpc".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            sdk_version: licmetric_sdk::SDK_VERSION.into(),
            metrics: vec![MetricInfo {
                code_name: "VIRTUAL_PROCESSOR_CORE".into(),
                name: "Virtual Processor Core".into(),
                unit: "VPC".into(),
                period_rule: PeriodRule::PartitionSum,
            }],
            facts: subcapacity::requests(),
            rule_data_schema: r#"{"type": "object", "required": ["version"], "additionalProperties": false, "properties": {"version": {"type": "string"}}}"#.into(),
            parameter_schema: r#"{"type": "object", "additionalProperties": false}"#.into(),
            default_rule_data: r#"{"version":"vpc-1"}"#.into(),
        }
    }

    fn requests(_: &RuleData, _: &[Parameters]) -> Vec<FactRequest> {
        subcapacity::requests()
    }

    fn evaluate(input: &Evaluation, _: &RuleData, _: &[Parameters], facts: &Facts<'_>) -> Outcome {
        subcapacity::evaluate(input, facts, &OnePerCore)
    }
}

export_metric!(Vpc);
// The self-test evaluated when the plugin is uploaded: the example VPC-A (SPEC §3.2.2).
licmetric_sdk::bundle_example!("example");
