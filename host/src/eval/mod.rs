//! Evaluation: which days need computing, one plugin call per plugin for all of them, the
//! daily-result cache, and period rules (period.rs).
//!
//! A product's day is served from the cache when a result exists for the same plugin digest,
//! rule-data version, parameters, product and date, and no fact of a kind the plugin reads has
//! touched that day since (dirty stamps, see store::ingest). Days still in progress are never
//! cached. Everything else is computed in one `evaluate` call per plugin, with only those days.

pub mod bundle;
pub mod calendar;
pub mod chargeback;
pub mod period;
pub mod scope;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use licmetric_sdk::Exact;
use licmetric_sdk::types::{self as sdk, Day, Selection};
use sha2::{Digest, Sha256};

use crate::runtime::{LoadedPlugin, PluginFailure, Registry, Runtime};
use crate::store::fact::format_time;
use crate::store::records::Product;
use crate::store::results::{CachedDay, Contributor, DayRecord, ResultKey};
use crate::store::timeline::{Interner, Window};
use crate::store::{DAY_MS, Store};

/// Why a product could not be evaluated.
#[derive(Debug, Clone, thiserror::Error, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EvalError {
    /// The product's metric names no loaded plugin.
    #[error("product {product}: no loaded plugin matches metric {metric:?}")]
    NoPlugin { product: String, metric: String },
    /// The product record is unusable.
    #[error("product {product}: {reason}")]
    Product { product: String, reason: String },
    /// The plugin reported an error for this product (SPEC §5.3).
    #[error("{plugin}: product {product}: {code}: {message}")]
    Rule {
        plugin: String,
        product: String,
        code: String,
        message: String,
        date: Option<String>,
        fact_kind: Option<String>,
        fact_key: Option<String>,
        attribute: Option<String>,
        at: Option<String>,
        section: Option<String>,
    },
    /// The plugin trapped, timed out, ran out of memory or returned garbage.
    #[error("{message}")]
    PluginFailure {
        plugin: String,
        kind: String,
        message: String,
    },
    /// The store failed.
    #[error("storage failure: {0}")]
    Storage(String),
}

impl From<anyhow::Error> for EvalError {
    fn from(e: anyhow::Error) -> Self {
        EvalError::Storage(format!("{e:#}"))
    }
}

impl From<PluginFailure> for EvalError {
    fn from(f: PluginFailure) -> Self {
        EvalError::PluginFailure {
            plugin: f.plugin.clone(),
            kind: serde_json::to_value(f.kind)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            message: f.to_string(),
        }
    }
}

pub use crate::store::records::rule_data_version;

/// Product-days evaluated in one plugin call; more go to further calls (fresh instances).
pub const PRODUCT_DAYS_PER_CALL: usize = 360;

/// One product's days over a period, each computed or cached, or failed.
pub struct ProductDays {
    pub product: Product,
    pub plugin: Arc<LoadedPlugin>,
    pub rule_version: String,
    pub days: Vec<(Day, Result<Vec<DayRecord>, EvalError>)>,
}

/// Evaluates products against the store with the runtime's plugins.
#[derive(Clone)]
pub struct Evaluator {
    pub store: Arc<Store>,
    pub runtime: Arc<Runtime>,
    /// A plugin or rule data evaluated as if it were in force (dry runs, self-tests, past
    /// periods); such evaluations neither read nor write cached results.
    candidate: Option<Arc<Candidate>>,
}

/// What an evaluator puts in place of what is in force.
enum Candidate {
    /// Products bound to this plugin's name, with a requirement its version matches, resolve
    /// to it.
    Plugin(Arc<LoadedPlugin>),
    /// Each listed product resolves to this plugin with this rule-data document (dry runs of
    /// rule data, re-evaluating a past period with the versions recorded for it).
    Pinned(BTreeMap<String, (Arc<LoadedPlugin>, Arc<str>)>),
}

impl Evaluator {
    /// Evaluates with the plugins active in `runtime` and the rule data in `store`.
    pub fn new(store: Arc<Store>, runtime: Arc<Runtime>) -> Evaluator {
        Evaluator {
            store,
            runtime,
            candidate: None,
        }
    }

    /// This evaluator, but products bound to `plugin`'s name whose requirement matches its
    /// version resolve to `plugin`, active or not. Computes every day afresh.
    pub fn with_candidate_plugin(&self, plugin: Arc<LoadedPlugin>) -> Evaluator {
        self.with(Candidate::Plugin(plugin))
    }

    /// This evaluator, but each product in `pins` resolves to the given plugin with the given
    /// rule-data document, whatever is active now. Computes every day afresh.
    pub fn with_pinned(&self, pins: BTreeMap<String, (Arc<LoadedPlugin>, Arc<str>)>) -> Evaluator {
        self.with(Candidate::Pinned(pins))
    }

    fn with(&self, candidate: Candidate) -> Evaluator {
        Evaluator {
            candidate: Some(Arc::new(candidate)),
            ..self.clone()
        }
    }

    /// The plugin `product` resolves to in `registry`, or under the candidate.
    fn resolve(
        &self,
        registry: &Registry,
        product: &Product,
    ) -> Result<Arc<LoadedPlugin>, EvalError> {
        let (name, req) = product.binding().map_err(|reason| EvalError::Product {
            product: product.id.clone(),
            reason,
        })?;
        match self.candidate.as_deref() {
            Some(Candidate::Plugin(p)) if p.name() == name && req.matches(p.version()) => {
                return Ok(p.clone());
            }
            Some(Candidate::Pinned(pins)) => {
                if let Some((p, _)) = pins.get(&product.id) {
                    return Ok(p.clone());
                }
            }
            _ => {}
        }
        registry
            .resolve(&name, &req)
            .ok_or_else(|| EvalError::NoPlugin {
                product: product.id.clone(),
                metric: product.metric.clone(),
            })
    }

    /// Every day of `[start, end)` for each product, computing only what the cache lacks.
    /// `run_at` is "now": open intervals end there, and days not yet over are not cached.
    pub fn days(
        &self,
        products: &[Product],
        start: NaiveDate,
        end: NaiveDate,
        run_at: i64,
    ) -> Result<Vec<Result<ProductDays, EvalError>>, EvalError> {
        // One registry for the whole call: every product resolves against the same versions,
        // even if an operator activates another one meanwhile.
        let registry = self.runtime.registry();
        // Grouped by plugin digest and rule data (pinned products may differ in rule data).
        type Group = (Arc<LoadedPlugin>, Arc<str>, Vec<usize>);
        let mut groups: BTreeMap<(String, Arc<str>), Group> = BTreeMap::new();
        // The rule data in force, read once per plugin digest (not once per product).
        let mut in_force: HashMap<String, Arc<str>> = HashMap::new();
        let mut out: Vec<Option<Result<ProductDays, EvalError>>> =
            (0..products.len()).map(|_| None).collect();
        for (i, product) in products.iter().enumerate() {
            let resolved = self.resolve(&registry, product).and_then(|plugin| {
                let rule_data = self.rule_data_for(&plugin, &product.id, &mut in_force)?;
                Ok((plugin, rule_data))
            });
            match resolved {
                Ok((plugin, rule_data)) => groups
                    .entry((plugin.digest().to_string(), rule_data.clone()))
                    .or_insert((plugin, rule_data, Vec::new()))
                    .2
                    .push(i),
                Err(e) => out[i] = Some(Err(e)),
            }
        }
        for (plugin, rule_data, members) in groups.into_values() {
            let group: Vec<&Product> = members.iter().map(|&i| &products[i]).collect();
            let results = self.plugin_days(&plugin, &rule_data, &group, start, end, run_at)?;
            for (i, r) in members.into_iter().zip(results) {
                out[i] = Some(r);
            }
        }
        Ok(out
            .into_iter()
            .map(|r| r.expect("every product resolved or failed"))
            .collect())
    }

    /// Asks the product's plugin whether it accepts the product's parameters (SPEC §5.3:
    /// `product_parameter_invalid` is reported when the record is stored). `Ok` when no loaded
    /// plugin matches yet: the product fails at evaluation instead.
    pub fn check_parameters(&self, product: &Product) -> Result<(), EvalError> {
        let Ok(plugin) = self.resolve(&self.runtime.registry(), product) else {
            return Ok(());
        };
        let rule_data = self.rule_data_for(&plugin, &product.id, &mut HashMap::new())?;
        let product_ref = sdk::ProductRef {
            id: product.id.clone(),
            parameters: product.parameters.to_string(),
        };
        match plugin.call()?.prepare(&rule_data, &[product_ref])? {
            // Only the product's own fault refuses it (not, say, broken stored rule data).
            Err(e) if e.product.as_deref() == Some(product.id.as_str()) => {
                Err(rule_error(&plugin, e, &product.id))
            }
            _ => Ok(()),
        }
    }

    /// A plugin's rule data in force: the document an operator loaded (`true`), else the
    /// plugin's default (`false`).
    pub fn rule_data_in_force(&self, plugin: &LoadedPlugin) -> anyhow::Result<(String, bool)> {
        Ok(match self.store.rule_data(plugin.name())? {
            Some(loaded) => (loaded, true),
            None => (plugin.info().default_rule_data.clone(), false),
        })
    }

    /// The rule data `product` is evaluated with under `plugin`: its pinned document, else the
    /// one in force (read once per plugin digest into `in_force`).
    fn rule_data_for(
        &self,
        plugin: &LoadedPlugin,
        product: &str,
        in_force: &mut HashMap<String, Arc<str>>,
    ) -> Result<Arc<str>, EvalError> {
        if let Some(Candidate::Pinned(pins)) = self.candidate.as_deref()
            && let Some((_, document)) = pins.get(product)
        {
            return Ok(document.clone());
        }
        if let Some(document) = in_force.get(plugin.digest()) {
            return Ok(document.clone());
        }
        let document: Arc<str> = self.rule_data_in_force(plugin)?.0.into();
        in_force.insert(plugin.digest().to_string(), document.clone());
        Ok(document)
    }

    fn plugin_days(
        &self,
        plugin: &Arc<LoadedPlugin>,
        rule_data: &str,
        products: &[&Product],
        start: NaiveDate,
        end: NaiveDate,
        run_at: i64,
    ) -> Result<Vec<Result<ProductDays, EvalError>>, EvalError> {
        let rule_version = rule_data_version(rule_data);
        // Candidates are evaluated afresh and leave the cache and the health notes alone.
        let cached = self.candidate.is_none();
        let sequence = self.store.committed_sequence()?;
        let kinds: Vec<&str> = plugin
            .info()
            .facts
            .iter()
            .map(|f| f.kind.as_str())
            .collect();

        // 1. Serve what the cache holds; collect the days to compute.
        let mut all: Vec<Result<ProductDays, EvalError>> = Vec::new();
        let mut needed: Vec<(usize, sdk::ProductRef, Vec<Day>)> = Vec::new();
        for (index, product) in products.iter().enumerate() {
            let tz = match calendar::zone(product.timezone.as_deref()) {
                Ok(tz) => tz,
                Err(reason) => {
                    all.push(Err(EvalError::Product {
                        product: product.id.clone(),
                        reason,
                    }));
                    continue;
                }
            };
            let parameters = product.parameters.to_string();
            let parameters_digest = short_digest(&parameters);
            let key = ResultKey {
                plugin_digest: plugin.digest(),
                rule_version: &rule_version,
                parameters_digest: &parameters_digest,
                product: &product.id,
            };
            let mut days = Vec::new();
            let mut missing = Vec::new();
            for day in calendar::days(tz, start, end) {
                let cached = if cached && day.end <= run_at {
                    self.store.cached_day(&key, &day.date)?
                } else {
                    None
                };
                match cached {
                    Some(c) if c.sequence >= self.newest_stamp(&kinds, &day)? => {
                        days.push((day, Ok(c.records)))
                    }
                    _ => {
                        missing.push(day.clone());
                        days.push((day, Err(EvalError::Storage("not evaluated".into()))));
                    }
                }
            }
            if !missing.is_empty() {
                needed.push((
                    index,
                    sdk::ProductRef {
                        id: product.id.clone(),
                        parameters,
                    },
                    missing,
                ));
            }
            all.push(Ok(ProductDays {
                product: (*product).clone(),
                plugin: plugin.clone(),
                rule_version: rule_version.clone(),
                days,
            }));
        }
        if needed.is_empty() {
            return Ok(all);
        }

        // 2. One call for every missing day of every product of this plugin.
        let computed = self.compute(plugin, rule_data, &needed, run_at);
        for (index, product_ref, _) in &needed {
            let Ok(product_days) = &mut all[*index] else {
                continue;
            };
            let parameters_digest = short_digest(&product_ref.parameters);
            let key = ResultKey {
                plugin_digest: plugin.digest(),
                rule_version: &rule_version,
                parameters_digest: &parameters_digest,
                product: &product_ref.id,
            };
            let mut to_cache = Vec::new();
            for (day, slot) in product_days.days.iter_mut() {
                if !matches!(slot, Err(EvalError::Storage(m)) if m == "not evaluated") {
                    continue;
                }
                *slot = match &computed {
                    Err(e) => Err(e.clone()),
                    Ok(results) => results
                        .get(&(product_ref.id.clone(), day.date.clone()))
                        .cloned()
                        .unwrap_or_else(|| {
                            Err(malformed(
                                plugin,
                                format!(
                                    "returned no result for product {} on {}",
                                    product_ref.id, day.date
                                ),
                            ))
                        }),
                };
                if !cached {
                    continue;
                }
                if let Ok(records) = &*slot {
                    for r in records {
                        self.store.note_warnings(&r.product, &r.date, &r.warnings)?;
                    }
                }
                if let (Ok(records), true) = (&*slot, day.end <= run_at) {
                    to_cache.push((
                        day.date.clone(),
                        CachedDay {
                            sequence,
                            records: records.clone(),
                        },
                    ));
                }
            }
            self.store.cache_days(&key, &to_cache)?;
        }
        Ok(all)
    }

    /// Calls the plugin; returns per (product, date) the day's records or its error.
    fn compute(
        &self,
        plugin: &Arc<LoadedPlugin>,
        rule_data: &str,
        needed: &[(usize, sdk::ProductRef, Vec<Day>)],
        run_at: i64,
    ) -> Result<HashMap<(String, String), Result<Vec<DayRecord>, EvalError>>, EvalError> {
        let mut call = plugin.call()?;
        let mut refs: Vec<sdk::ProductRef> = needed.iter().map(|n| n.1.clone()).collect();
        // A product whose parameters the plugin refuses fails alone: prepare again without it.
        let mut refused: Vec<(String, EvalError)> = Vec::new();
        let requests = loop {
            if refs.is_empty() {
                break Vec::new();
            }
            match call.prepare(rule_data, &refs)? {
                Ok(r) => break r,
                Err(e) => match e.product.clone() {
                    Some(id) if refs.iter().any(|r| r.id == id) => {
                        refs.retain(|r| r.id != id);
                        refused.push((id, rule_error(plugin, e, "")));
                    }
                    _ => return Err(rule_error(plugin, e, "")),
                },
            }
        };
        let all_needed = needed;
        let needed: Vec<&(usize, sdk::ProductRef, Vec<Day>)> = all_needed
            .iter()
            .filter(|n| !refused.iter().any(|(id, _)| *id == n.1.id))
            .collect();
        // A candidate's look-behind is noted once it is in force and its days are cached.
        for r in requests.iter().filter(|_| self.candidate.is_none()) {
            match &r.selection {
                Selection::Intervals(s) => self.store.note_margin(&r.kind, s.margin_ms)?,
                Selection::Instants(s) => self.store.note_margin(&r.kind, s.margin_ms)?,
                Selection::States => {}
            }
        }
        let window = Window {
            start: needed
                .iter()
                .flat_map(|n| n.2.iter().map(|d| d.start))
                .min()
                .unwrap_or(0),
            end: needed
                .iter()
                .flat_map(|n| n.2.iter().map(|d| d.end))
                .max()
                .unwrap_or(0),
        };
        let mut strings = Interner::default();
        let timelines = self.store.timelines(&requests, window, &mut strings)?;
        // Products go in chunks of at most PRODUCT_DAYS_PER_CALL days, each in a fresh
        // instance, so that a large estate stays within one call's output and memory caps.
        let mut strings = strings.into_table();
        let mut timelines = timelines;
        let mut first = true;
        let mut outcome = sdk::Outcome {
            days: Vec::new(),
            errors: Vec::new(),
        };
        let mut chunk: Vec<sdk::ProductDays> = Vec::new();
        let mut chunk_days = 0;
        for (i, n) in needed.iter().enumerate() {
            chunk.push(sdk::ProductDays {
                product: n.1.clone(),
                days: n.2.clone(),
            });
            chunk_days += n.2.len();
            if chunk_days < PRODUCT_DAYS_PER_CALL && i + 1 < needed.len() {
                continue;
            }
            let last = i + 1 == needed.len();
            let input = sdk::Evaluation {
                rule_data: rule_data.to_string(),
                run_at,
                products: std::mem::take(&mut chunk),
                strings: if last {
                    std::mem::replace(
                        &mut strings,
                        sdk::StringTable {
                            bytes: Vec::new(),
                            ends: Vec::new(),
                        },
                    )
                } else {
                    strings.clone()
                },
                timelines: if last {
                    std::mem::take(&mut timelines)
                } else {
                    timelines.clone()
                },
            };
            if !first {
                call = plugin.call()?;
            }
            first = false;
            let part = call.evaluate(input)?;
            outcome.days.extend(part.days);
            outcome.errors.extend(part.errors);
            chunk_days = 0;
        }

        let mut results: HashMap<(String, String), Result<Vec<DayRecord>, EvalError>> =
            HashMap::new();
        for (id, error) in &refused {
            for n in all_needed.iter().filter(|n| n.1.id == *id) {
                for d in &n.2 {
                    results.insert((id.clone(), d.date.clone()), Err(error.clone()));
                }
            }
        }
        let wanted: HashMap<&str, Vec<&str>> = needed
            .iter()
            .map(|n| {
                (
                    n.1.id.as_str(),
                    n.2.iter().map(|d| d.date.as_str()).collect(),
                )
            })
            .collect();
        for day in outcome.days {
            let Some(dates) = wanted.get(day.product.as_str()) else {
                return Err(malformed(
                    plugin,
                    format!(
                        "returned a result for product {} it was not asked for",
                        day.product
                    ),
                ));
            };
            if !dates.contains(&day.date.as_str()) {
                continue;
            }
            let record = to_record(plugin, day)?;
            let slot = results
                .entry((record.product.clone(), record.date.clone()))
                .or_insert_with(|| Ok(Vec::new()));
            if let Ok(records) = slot {
                records.push(record);
            }
        }
        for e in outcome.errors {
            let product = e.product.clone().unwrap_or_default();
            let dates: Vec<String> = match (&e.date, wanted.get(product.as_str())) {
                (Some(d), _) => vec![d.clone()],
                (None, Some(all)) => all.iter().map(|d| d.to_string()).collect(),
                (None, None) => {
                    // An error for no product fails every product of the call.
                    for (p, ds) in &wanted {
                        for d in ds {
                            results.insert(
                                (p.to_string(), d.to_string()),
                                Err(rule_error(plugin, e.clone(), p)),
                            );
                        }
                    }
                    continue;
                }
            };
            for d in dates {
                results.insert(
                    (product.clone(), d),
                    Err(rule_error(plugin, e.clone(), &product)),
                );
            }
        }
        Ok(results)
    }

    /// The newest ingest that touched `day` for any of `kinds` (UTC days overlapping it).
    fn newest_stamp(&self, kinds: &[&str], day: &Day) -> Result<u64, EvalError> {
        let mut newest = 0;
        for kind in kinds {
            for utc_day in day.start.div_euclid(DAY_MS)..=(day.end - 1).div_euclid(DAY_MS) {
                newest = newest.max(self.store.day_stamp(kind, utc_day)?);
            }
        }
        Ok(newest)
    }
}

fn short_digest(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}

fn malformed(plugin: &LoadedPlugin, what: String) -> EvalError {
    EvalError::PluginFailure {
        plugin: plugin.label(),
        kind: "malformed_result".into(),
        message: format!("plugin {} failed: malformed result: {what}", plugin.label()),
    }
}

fn rule_error(plugin: &LoadedPlugin, e: sdk::PluginError, product: &str) -> EvalError {
    EvalError::Rule {
        plugin: plugin.label(),
        product: e.product.unwrap_or_else(|| product.to_string()),
        code: e.code,
        message: e.message,
        date: e.date,
        fact_kind: e.fact_kind,
        fact_key: e.fact_key,
        attribute: e.attribute,
        at: e.at.map(format_time),
        section: e.section,
    }
}

fn to_record(plugin: &LoadedPlugin, d: sdk::DayResult) -> Result<DayRecord, EvalError> {
    let exact = |what: &str, text: &str| -> Result<String, EvalError> {
        text.parse::<Exact>().map(|e| e.to_string()).map_err(|_| {
            malformed(
                plugin,
                format!(
                    "{what} {text:?} of product {} on {} is not an exact number",
                    d.product, d.date
                ),
            )
        })
    };
    let declared = &plugin.info().metrics;
    let metric = if d.metric.is_empty() {
        declared
            .first()
            .map(|m| m.code_name.clone())
            .unwrap_or_default()
    } else if declared.iter().any(|m| m.code_name == d.metric) {
        d.metric.clone()
    } else {
        return Err(malformed(
            plugin,
            format!(
                "product {} on {} counts metric {:?}, which the plugin does not declare",
                d.product, d.date, d.metric
            ),
        ));
    };
    Ok(DayRecord {
        metric,
        quantity: exact("quantity", &d.quantity)?,
        peak_at: format_time(d.peak_at),
        measures: d
            .measures
            .iter()
            .map(|(k, v)| Ok((k.clone(), exact(&format!("measure {k}"), v)?)))
            .collect::<Result<_, EvalError>>()?,
        contributors: d
            .contributors
            .iter()
            .map(|c| {
                Ok(Contributor {
                    kind: c.kind.clone(),
                    key: c.key.clone(),
                    unit: c.unit.clone(),
                    at: format_time(c.at),
                    weight: exact("contributor weight", &c.weight)?,
                    attrs: c.attrs.iter().cloned().collect(),
                })
            })
            .collect::<Result<_, EvalError>>()?,
        explanation: d.explanation.clone(),
        warnings: d.warnings.clone(),
        bundle_claims: d
            .bundle_claims
            .iter()
            .map(|c| (c.bundle.clone(), c.ratio.clone()))
            .collect(),
        product: d.product,
        date: d.date,
        partition: d.partition,
    })
}
