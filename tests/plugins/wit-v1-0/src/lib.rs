//! A plugin built against `licmetric:plugin@1.0.0` (wit/v1.0) with wit-bindgen directly, as
//! plugins were before the 1.1 contract split counting from explaining. Its `evaluate` returns
//! each day's quantity with its contributors and explanation, as 1.0 asks.
//!
//! The metric, `installed@1.0.0`: a product's installations (kind `installation`, attribute
//! `product`) present at the day's busiest instant. With the parameter `"distinct": true` it
//! counts distinct installations over the period instead (a distinct-union metric), so both
//! ways the host derives figures from a 1.0 answer are exercised. It bundles an example, so
//! uploads and loads accept it after its self-test.
// Only the wasm build exports the plugin; a native build (cargo test --workspace) uses nothing.
#![cfg_attr(not(target_family = "wasm"), allow(dead_code))]

wit_bindgen::generate!({
    world: "plugin",
    path: "../../../wit/v1.0",
});

use exports::licmetric::plugin::metric::Guest;
use licmetric::plugin::types::*;

struct Installed;

fn string(table: &StringTable, i: u32) -> &str {
    let i = i as usize;
    let start = if i == 0 {
        0
    } else {
        table.ends[i - 1] as usize
    };
    let end = table.ends.get(i).map_or(start, |e| *e as usize);
    std::str::from_utf8(&table.bytes[start..end]).unwrap_or("")
}

fn distinct(product: &ProductRef) -> bool {
    product
        .parameters
        .replace(' ', "")
        .contains("\"distinct\":true")
}

impl Guest for Installed {
    fn describe() -> PluginInfo {
        let metric = |code: &str, rule| MetricInfo {
            code_name: code.into(),
            name: "Installations of the product".into(),
            unit: "installations".into(),
            period_rule: rule,
        };
        PluginInfo {
            name: "installed".into(),
            version: "1.0.0".into(),
            sdk_version: "none (wit/v1.0)".into(),
            metrics: vec![
                metric("INSTALLATIONS", PeriodRule::HighWaterMark),
                metric("INSTALLATIONS_DISTINCT", PeriodRule::DistinctUnion),
            ],
            facts: Self::prepare(String::new(), Vec::new()).unwrap_or_default(),
            rule_data_schema: "{}".into(),
            parameter_schema: r#"{"type":"object","properties":{"distinct":{"type":"boolean"}}}"#
                .into(),
            default_rule_data: r#"{"version":"1"}"#.into(),
        }
    }

    fn prepare(
        _rule_data: String,
        _products: Vec<ProductRef>,
    ) -> Result<Vec<FactRequest>, PluginError> {
        Ok(vec![FactRequest {
            kind: "installation".into(),
            attributes: vec![Attribute {
                name: "product".into(),
                type_: ValueType::Text,
            }],
            selection: Selection::States,
        }])
    }

    fn evaluate(input: Evaluation) -> Outcome {
        let mut days = Vec::new();
        let empty = Timeline {
            kind: String::new(),
            entity: Vec::new(),
            from: Vec::new(),
            to: Vec::new(),
            columns: vec![Vec::new()],
        };
        let timeline = input.timelines.first().unwrap_or(&empty);
        for p in &input.products {
            let distinct = distinct(&p.product);
            for day in &p.days {
                // States of the product's installations meeting the day.
                let mut held: Vec<(i64, i64, &str)> = Vec::new();
                for i in 0..timeline.entity.len() {
                    let product = timeline.columns[0][i];
                    let (from, to) = (timeline.from[i].max(day.start), timeline.to[i].min(day.end));
                    if product >= 0
                        && string(&input.strings, product as u32) == p.product.id
                        && from < to
                    {
                        held.push((from, to, string(&input.strings, timeline.entity[i])));
                    }
                }
                // The busiest instant: the earliest start with the most states holding.
                let (mut peak, mut peak_at) = (0usize, day.start);
                for &(at, _, _) in &held {
                    let n = held.iter().filter(|(f, t, _)| *f <= at && at < *t).count();
                    if n > peak || (n == peak && at < peak_at) {
                        (peak, peak_at) = (n, at);
                    }
                }
                let mut keys: Vec<&str> = if distinct {
                    held.iter().map(|h| h.2).collect()
                } else {
                    held.iter()
                        .filter(|(f, t, _)| *f <= peak_at && peak_at < *t)
                        .map(|h| h.2)
                        .collect()
                };
                keys.sort();
                keys.dedup();
                let quantity = if distinct { keys.len() } else { peak };
                days.push(DayResult {
                    product: p.product.id.clone(),
                    date: day.date.clone(),
                    metric: if distinct {
                        "INSTALLATIONS_DISTINCT".into()
                    } else {
                        String::new()
                    },
                    partition: String::new(),
                    quantity: quantity.to_string(),
                    peak_at,
                    measures: Vec::new(),
                    contributors: keys
                        .iter()
                        .map(|k| Contributor {
                            kind: "installation".into(),
                            key: k.to_string(),
                            unit: format!("product:{}", p.product.id),
                            at: peak_at,
                            weight: "1".into(),
                            attrs: Vec::new(),
                        })
                        .collect(),
                    explanation: vec![format!("{}: {quantity} installations", p.product.id)],
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

#[cfg(target_arch = "wasm32")]
export!(Installed);

// The example the host's self-test replays (see licmetric_sdk::bundle_example!, which this
// plugin cannot use: the SDK speaks the newest contract).
#[cfg(target_arch = "wasm32")]
const _: () = {
    const CASE: &[u8] = include_bytes!("../example/case.json");
    const FACTS: &[u8] = include_bytes!("../example/facts.ndjson");
    #[used]
    #[unsafe(link_section = "licmetric-example-case")]
    static EXAMPLE_CASE: [u8; CASE.len()] = *include_bytes!("../example/case.json");
    #[used]
    #[unsafe(link_section = "licmetric-example-facts")]
    static EXAMPLE_FACTS: [u8; FACTS.len()] = *include_bytes!("../example/facts.ndjson");
};
