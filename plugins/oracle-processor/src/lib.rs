//! The `oracle-processor` metric (SPEC §3.3): Oracle Processor licences (cores × core factor,
//! grouped and rounded once per factor), Standard Edition sockets, public-cloud vCPUs, and Named
//! User Plus with its per-processor or per-server minimums.
//!
//! Modules, one job each:
//! - [`rules`]: rule data (core factor table, scope, LPAR setting, minimums, limits) and product
//!   parameters, parsed strictly;
//! - [`placement`]: installation → vm / server / pool at each instant, classified;
//! - [`scope`]: the servers a soft-partitioned vm licenses;
//! - [`units`]: every unit's value at one instant, with explanation and contributor weights;
//! - [`daily`]: unit peaks per day, core-factor groups, the day's processors or sockets;
//! - [`nup`]: assignments, identities and minimums of NUP products.
//!
//! Two metrics are declared; each day result names the one it counts: `ORACLE_PROCESSOR`
//! (`measure = processor`) or `ORACLE_NAMED_USER_PLUS` (`measure = nup`).
//!
//! `processors_of` may name a product that is not part of the evaluation: its installations are
//! read from the facts all the same (the plugin receives every installation), and counted with
//! this evaluation's rule data. It must not name a product of the evaluation whose own measure is
//! `nup`.

// Every fallible step returns the SDK's `RuleError` (a WIT record), as the other plugins do.
#![allow(clippy::result_large_err)]

pub mod daily;
pub mod nup;
pub mod placement;
pub mod rules;
pub mod scope;
pub mod units;

use std::collections::HashMap;

use licmetric_sdk::estate::states_request;
use licmetric_sdk::facts::Facts;
use licmetric_sdk::types::*;
use licmetric_sdk::{Exact, Metric, RuleError, export_metric};

use daily::{Counted, ProcessorDay};
use placement::OracleEstate;
use rules::{Measure, PLUGIN, Parameters, RawParameters, RuleData};
use scope::ScopeIndex;
use units::{Basis, Context};

/// Code name of the processor (or socket) metric.
pub const PROCESSOR_METRIC: &str = "ORACLE_PROCESSOR";
/// Code name of the Named User Plus metric.
pub const NUP_METRIC: &str = "ORACLE_NAMED_USER_PLUS";

/// The oracle-processor metric (public so benchmarks can run the same logic natively).
pub struct OracleProcessor;

fn requests(with_assignments: bool) -> Vec<FactRequest> {
    let mut kinds = vec!["server", "pool", "vm", "installation"];
    if with_assignments {
        kinds.push("assignment");
    }
    kinds.into_iter().map(states_request).collect()
}

impl Metric for OracleProcessor {
    type RuleData = RuleData;
    type Parameters = RawParameters;

    fn describe() -> PluginInfo {
        PluginInfo {
            name: PLUGIN.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            sdk_version: licmetric_sdk::SDK_VERSION.into(),
            metrics: vec![
                MetricInfo {
                    code_name: PROCESSOR_METRIC.into(),
                    name: "Oracle Processor".into(),
                    unit: "processors".into(),
                    period_rule: PeriodRule::HighWaterMark,
                },
                MetricInfo {
                    code_name: NUP_METRIC.into(),
                    name: "Oracle Named User Plus".into(),
                    unit: "NUP".into(),
                    period_rule: PeriodRule::HighWaterMark,
                },
            ],
            facts: requests(true),
            rule_data_schema: rules::RULE_DATA_SCHEMA.into(),
            parameter_schema: rules::PARAMETER_SCHEMA.into(),
            default_rule_data: rules::DEFAULT_RULE_DATA.into(),
        }
    }

    /// A `processors_of` naming a `nup` product of the same evaluation is
    /// `product_parameter_invalid`.
    fn check(
        _: &RuleData,
        products: &[ProductRef],
        parameters: &[RawParameters],
    ) -> Result<(), RuleError> {
        let all: Vec<Parameters> = products
            .iter()
            .zip(parameters)
            .map(|(r, raw)| Parameters::of(r, raw))
            .collect();
        let nup: Vec<&str> = products
            .iter()
            .zip(&all)
            .filter(|(_, p)| p.measure == Measure::Nup)
            .map(|(r, _)| r.id.as_str())
            .collect();
        for (r, p) in products.iter().zip(&all) {
            if p.measure == Measure::Nup
                && p.processors_of != r.id
                && nup.contains(&p.processors_of.as_str())
            {
                return Err(RuleError::new(
                    "product_parameter_invalid",
                    format!(
                        "parameters of product {}: /processors_of: product {} counts NUP, not processors",
                        r.id, p.processors_of
                    ),
                )
                .product(&r.id));
            }
        }
        Ok(())
    }

    fn requests(_: &RuleData, parameters: &[RawParameters]) -> Vec<FactRequest> {
        requests(parameters.iter().any(|p| p.measure == Measure::Nup))
    }

    fn evaluate(
        input: &Evaluation,
        rules: &RuleData,
        parameters: &[RawParameters],
        facts: &Facts<'_>,
    ) -> Outcome {
        let mut outcome = Outcome {
            days: Vec::new(),
            errors: Vec::new(),
        };
        let estate = OracleEstate::read(facts);
        let scopes = ScopeIndex::build(&estate.servers);
        let installations = estate.installations_by_product();
        let assignments = nup::Assignment::history(facts);
        let ctx = Context {
            estate: &estate,
            rules,
            scopes: &scopes,
        };
        // Products counted once per span, whoever needs them (a NUP product's processors_of).
        let mut counted: HashMap<(String, i64, i64), Counted<'_>> = HashMap::new();
        for (product, raw) in input.products.iter().zip(parameters) {
            let params = Parameters::of(&product.product, raw);
            let (Some(start), Some(end)) = (
                product.days.iter().map(|d| d.start).min(),
                product.days.iter().map(|d| d.end).max(),
            ) else {
                continue;
            };
            let counts_of = match params.measure {
                Measure::Processor => product.product.id.clone(),
                Measure::Nup => params.processors_of.clone(),
            };
            let count = counted
                .entry((counts_of.clone(), start, end))
                .or_insert_with(|| {
                    let of = installations
                        .get(counts_of.as_str())
                        .map_or(&[][..], Vec::as_slice);
                    daily::count(&ctx, of, start, end)
                });
            match params.measure {
                Measure::Processor => processor_days(product, count, &mut outcome),
                Measure::Nup => {
                    let of_type = nup::of_type(&assignments, &params.license_type);
                    nup_days(rules, product, &params, count, &of_type, &mut outcome)
                }
            }
        }
        outcome
    }
}

/// Day results of a processor-measured product.
fn processor_days(product: &ProductDays, counted: &Counted<'_>, outcome: &mut Outcome) {
    let id = product.product.id.as_str();
    for day in &product.days {
        match daily::day(counted, day) {
            Err(e) => outcome.errors.push(e.product(id).date(&day.date).0),
            Ok(p) => outcome.days.push(processor_result(id, day, p)),
        }
    }
}

fn processor_result(id: &str, day: &Day, p: Option<ProcessorDay<'_>>) -> DayResult {
    let p = p.unwrap_or_else(|| ProcessorDay {
        basis: Basis::Cores,
        quantity: Exact::ZERO,
        peak_at: day.start,
        explanation: vec![format!(
            "no installation of {id} counts on {} = 0 processors",
            day.date
        )],
        contributors: Vec::new(),
        warnings: Vec::new(),
        units: Vec::new(),
    });
    DayResult {
        product: id.into(),
        date: day.date.clone(),
        metric: PROCESSOR_METRIC.into(),
        partition: String::new(),
        quantity: p.quantity.to_string(),
        peak_at: p.peak_at,
        measures: vec![(p.basis.unit_name().into(), p.quantity.to_string())],
        contributors: p.contributors,
        explanation: p.explanation,
        warnings: p.warnings,
        bundle_claims: Vec::new(),
    }
}

/// Day results of a NUP-measured product: `max(users, minimum)` (SPEC §3.3.1 steps 11–13).
fn nup_days(
    rules: &RuleData,
    product: &ProductDays,
    params: &Parameters,
    counted: &Counted<'_>,
    assignments: &[(&str, &licmetric_sdk::estate::Interval<nup::Assignment<'_>>)],
    outcome: &mut Outcome,
) {
    let id = product.product.id.as_str();
    let of = params.processors_of.as_str();
    let lt = params.license_type.as_str();
    for day in &product.days {
        let processors = match daily::day(counted, day) {
            Ok(p) => p,
            Err(mut e) => {
                if of != id {
                    e.0.message = format!("processors_of {of}: {}", e.0.message);
                }
                outcome.errors.push(e.product(id).date(&day.date).0);
                continue;
            }
        };
        let ids = match nup::identities(assignments, day) {
            Ok(ids) => ids,
            Err(e) => {
                outcome.errors.push(e.product(id).date(&day.date).0);
                continue;
            }
        };
        let users = Exact::int(ids.len() as i128);
        let (minimum, minimum_line) = nup::minimum(rules, processors.as_ref());
        let quantity = users.max(minimum);
        let basis = processors.as_ref().map_or(Basis::Cores, |p| p.basis);
        let counted_quantity = processors.as_ref().map_or(Exact::ZERO, |p| p.quantity);

        let mut explanation = Vec::new();
        let mut warnings = Vec::new();
        let mut peak_at = day.start;
        if let Some(p) = &processors {
            if of != id {
                explanation.push(format!("{} of {of}:", basis.unit_name()));
            }
            // Room for the header and the three NUP lines below (SPEC §5.5.4).
            let mut lines = p.explanation.clone();
            daily::cap_lines(&mut lines, daily::EXPLANATION_MAX_LINES - 4);
            explanation.extend(lines);
            warnings.extend(p.warnings.iter().cloned());
            if minimum > users {
                peak_at = p.peak_at;
            }
        }
        if quantity.is_zero() && processors.is_none() {
            explanation.push(format!(
                "no active assignment of license type {lt} and no installation of {of} on {} = 0 NUP",
                day.date
            ));
        } else {
            explanation.push(minimum_line);
            explanation.push(nup::users_line(lt, &ids));
            explanation.push(format!(
                "NUP: max({users} users, {minimum} minimum) = {quantity} NUP"
            ));
        }
        daily::cap_lines(&mut explanation, daily::EXPLANATION_MAX_LINES);
        outcome.days.push(DayResult {
            product: id.into(),
            date: day.date.clone(),
            metric: NUP_METRIC.into(),
            partition: String::new(),
            quantity: quantity.to_string(),
            peak_at,
            measures: vec![
                ("users".into(), users.to_string()),
                (basis.unit_name().into(), counted_quantity.to_string()),
                ("minimum".into(), minimum.to_string()),
            ],
            contributors: nup::contributors(lt, &ids),
            explanation,
            warnings,
            bundle_claims: Vec::new(),
        });
    }
}

export_metric!(OracleProcessor);
// The self-test evaluated when the plugin is uploaded: the example ORA-A (SPEC §3.3.5).
licmetric_sdk::bundle_example!("example");

#[cfg(test)]
mod tests;
