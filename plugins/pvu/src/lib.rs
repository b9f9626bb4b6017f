//! The `pvu` metric (SPEC §3.1): IBM Processor Value Units. Sub-capacity counting is shared with
//! `vpc` (licmetric-subcapacity); this crate only says what a core is worth: the PVU table,
//! operator overrides, the collector's rate, and the default and cloud rates (rule data).

mod table;

use licmetric_sdk::estate::{Node, Server};
use licmetric_sdk::facts::Facts;
use licmetric_sdk::types::*;
use licmetric_sdk::{Metric, config, export_metric};
use licmetric_subcapacity::{self as subcapacity, Rate, Rating};

use table::{Processor, RuleData};

/// The pvu metric (public so benchmarks can run the same logic natively).
pub struct Pvu;

/// pvu products take no parameters.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameters {}

impl config::ParameterDocument for Parameters {}

impl Rating for RuleData {
    fn unit_name(&self) -> &'static str {
        "PVU"
    }

    fn server_rate(&self, key: &str, s: &Server<'_>) -> Option<Rate> {
        let processor = Processor {
            vendor: s.processor_vendor,
            brand: s.processor_brand,
            model: s.processor_model,
            server_model: s.server_model,
            max_sockets: s.max_sockets,
        };
        Some(self.rate("server", key, true, s.pvu_per_core, &processor))
    }

    fn node_rate(&self, key: &str, n: &Node<'_>) -> Option<Rate> {
        let processor = Processor {
            vendor: n.processor_vendor,
            brand: n.processor_brand,
            model: n.processor_model,
            server_model: None,
            max_sockets: None,
        };
        Some(self.rate("node", key, false, n.pvu_per_core, &processor))
    }

    fn default_rate(&self) -> Option<i64> {
        Some(self.default_pvu_per_core as i64)
    }

    fn cloud_rate(&self) -> Option<i64> {
        Some(self.cloud_pvu_per_vcpu as i64)
    }

    fn extra_region(&self, region: &str) -> bool {
        self.regions.iter().any(|r| r == region)
    }
}

impl Metric for Pvu {
    type RuleData = RuleData;
    type Parameters = Parameters;

    fn describe() -> PluginInfo {
        PluginInfo {
            name: "pvu".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            sdk_version: licmetric_sdk::SDK_VERSION.into(),
            metrics: vec![MetricInfo {
                code_name: "PROCESSOR_VALUE_UNIT".into(),
                name: "Processor Value Unit".into(),
                unit: "PVU".into(),
                period_rule: PeriodRule::PartitionSum,
            }],
            facts: subcapacity::requests(),
            rule_data_schema: table::RULE_DATA_SCHEMA.into(),
            parameter_schema: r#"{"type": "object", "additionalProperties": false}"#.into(),
            default_rule_data: table::DEFAULT_RULE_DATA.into(),
        }
    }

    fn requests(_: &RuleData, _: &[Parameters]) -> Vec<FactRequest> {
        subcapacity::requests()
    }

    fn evaluate(
        input: &Evaluation,
        rules: &RuleData,
        _: &[Parameters],
        facts: &Facts<'_>,
    ) -> Outcome {
        subcapacity::evaluate(input, facts, rules)
    }
}

export_metric!(Pvu);
// The self-test evaluated when the plugin is uploaded: the example PVU-B (SPEC §3.1.5).
// From the workspace root, not "example": tests/pvu-next builds this same source as another
// version of the plugin, from its own folder.
licmetric_sdk::bundle_example!("../../plugins/pvu/example");
