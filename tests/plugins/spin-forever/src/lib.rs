//! Test plugin: loops forever in `evaluate`; the host's CPU budget must stop it.

use licmetric_sdk::facts::Facts;
use licmetric_sdk::types::*;
use licmetric_sdk::{Metric, PluginFailure, export_metric};

const NAME: &str = "spin-forever";

struct Hostile;

impl Metric for Hostile {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: NAME.into(),
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

    fn prepare(
        _rule_data: &str,
        _products: &[ProductRef],
    ) -> Result<Vec<FactRequest>, PluginFailure> {
        Ok(Vec::new())
    }

    fn evaluate(input: &Evaluation, _facts: &Facts<'_>) -> Outcome {
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
