//! What the swap test plugins share: one metric, SWAP, counting a product's installations at
//! the start of each day times the version's factor (1.0.0 → ×1, 1.1.0 → ×2, 2.0.0 → ×3), so
//! every figure tells which version computed it. Used by the lifecycle tests (rollback,
//! activation, swaps under load).

use licmetric_sdk::Metric;
use licmetric_sdk::facts::{Facts, request};
use licmetric_sdk::serde_json::Value;
use licmetric_sdk::types::*;

pub struct Swap;

impl Metric for Swap {
    type RuleData = Value;
    type Parameters = Value;

    fn describe() -> PluginInfo {
        PluginInfo {
            name: "swap".into(),
            version: crate::VERSION.into(),
            sdk_version: licmetric_sdk::SDK_VERSION.into(),
            metrics: vec![MetricInfo {
                code_name: "SWAP".into(),
                name: "Installations times the version's factor".into(),
                unit: "units".into(),
                period_rule: PeriodRule::HighWaterMark,
            }],
            facts: vec![request(
                "installation",
                &[("product", ValueType::Text)],
                Selection::States,
            )],
            rule_data_schema: "{}".into(),
            parameter_schema: "{}".into(),
            default_rule_data: r#"{"version":"swap-default"}"#.into(),
        }
    }

    fn requests(_: &Value, _: &[Value]) -> Vec<FactRequest> {
        Self::describe().facts
    }

    fn evaluate(input: &Evaluation, _: &Value, _: &[Value], facts: &Facts<'_>) -> Outcome {
        let mut days = Vec::new();
        for product in &input.products {
            for day in &product.days {
                let count = facts.kind("installation").map_or(0, |kind| {
                    kind.states()
                        .filter(|s| s.from() <= day.start && day.start < s.to())
                        .filter(|s| s.text("product") == Some(product.product.id.as_str()))
                        .count()
                });
                let quantity = count as u64 * crate::FACTOR;
                days.push(DayResult {
                    product: product.product.id.clone(),
                    date: day.date.clone(),
                    metric: String::new(),
                    partition: String::new(),
                    quantity: quantity.to_string(),
                    peak_at: day.start,
                    measures: Vec::new(),
                    contributors: Vec::new(),
                    explanation: vec![format!(
                        "swap@{}: {count} installations × {} = {quantity} units",
                        crate::VERSION,
                        crate::FACTOR
                    )],
                    warnings: Vec::new(),
                    bundle_claims: Vec::new(),
                });
            }
        }
        Outcome {
            days,
            errors: Vec::new(),
        }
    }
}
