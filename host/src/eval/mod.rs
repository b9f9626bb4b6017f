//! Evaluation: which days need computing, one plugin call per plugin for all of them, the
//! daily-result cache, and period rules (period.rs).
//!
//! A product's day is served from the cache when a result exists for the same plugin digest,
//! rule-data version, parameters, product and date, and no fact of a kind the plugin reads has
//! touched that day since (dirty stamps, see store::ingest). Days still in progress are never
//! cached. Everything else is computed in one `evaluate` call per plugin, with only those days.

pub mod bundle;
pub mod calendar;
mod calls;
pub mod chargeback;
pub mod failures;
pub mod membership;
pub mod period;
pub mod report;
pub mod scope;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::NaiveDate;
use licmetric_sdk::Exact;
use licmetric_sdk::result;
use licmetric_sdk::types::{self as sdk, Day, Selection, wire};
use sha2::{Digest, Sha256};

use crate::runtime::{Call, LoadedPlugin, PluginFailure, Registry, Runtime};
use crate::store::fact::format_time;
use crate::store::records::Product;
use crate::store::results::{
    CachedDay, CachedDetail, Contributor, DayDetail, DayRecord, ResultKey,
};
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

/// Product-days counted in one `evaluate` call; more go to further calls (fresh instances).
/// An answer is ~100 bytes a product-day, far below the output cap. Each call pays for lifting
/// and indexing every fact the plugin reads, so fewer calls are cheaper; what bounds a call is
/// the CPU budget: the pvu plugin spends ~30–60 ms a product of the 10,000-server estate (90
/// days), so the estate's 100 products stay well inside the 30 s budget (docs/BENCHMARKS.md).
pub const PRODUCT_DAYS_PER_CALL: usize = 9_000;

/// The largest quantity or measure the host accepts from a plugin (10^15 units, far above any
/// estate's licence need): a larger one is a plugin failure, not a figure.
pub const MAX_QUANTITY: i64 = 1_000_000_000_000_000;

/// Product-days explained in one `explain` call: details are large (a contributor per
/// consumer), so they go in smaller chunks.
pub const PRODUCT_DAYS_PER_EXPLAIN: usize = 360;

/// One product's days over a period, each computed or cached, or failed.
pub struct ProductDays {
    pub product: Product,
    pub plugin: Arc<LoadedPlugin>,
    pub rule_version: String,
    /// The rule-data document the days were computed with (to explain them the same way).
    pub rule_data: Arc<str>,
    pub days: Vec<(Day, Result<Vec<DayRecord>, EvalError>)>,
    /// Every day is what the [`Earlier`] evaluation had (taken from it, or recomputed to the
    /// same records), so figures derived from its days still hold.
    pub same_as_earlier: bool,
}

/// What an earlier evaluation of the same period computed, handed back so that the next one
/// (after an ingest) takes the days no fact touched since from memory instead of reading and
/// decoding them from the cache again. A report over N products after a batch then costs the
/// dirty days and N period rules, not N × days record reads.
#[derive(Default)]
pub struct Earlier {
    /// The committed sequence read before that evaluation: a day no ingest stamped after it
    /// is unchanged.
    pub sequence: u64,
    /// That evaluation's "now": only days over by then were final.
    pub run_at: i64,
    /// Its products' days, by product id (numbers only).
    pub products: HashMap<String, ProductDays>,
}

/// Which days' contributors and explanation lines an evaluation fills in. Numbers are cheap;
/// details cost a contributor per consumer, so only readers that show them ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Numbers only: reports, License Service, ILMT, Octane, the status page.
    None,
    /// The days the period's figures peak on (each partition's): `/api/v1/usage`, replay.
    Peaks,
    /// Every day: chargeback, scoped readers, snapshots.
    All,
}

/// Evaluates products against the store with the runtime's plugins.
#[derive(Clone)]
pub struct Evaluator {
    pub store: Arc<Store>,
    pub runtime: Arc<Runtime>,
    /// A plugin or rule data evaluated as if it were in force (dry runs, self-tests, past
    /// periods); such evaluations neither read nor write cached results.
    candidate: Option<Arc<Candidate>>,
    /// Failed product-days remembered for their inputs ([`failures`]).
    failures: Arc<failures::Failures>,
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
            failures: Arc::default(),
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

    /// Every day of `[start, end)` for each product, numbers only, computing only what the
    /// cache lacks. `run_at` is "now": open intervals end there, and days not yet over are not
    /// cached. Costs one range read per product when cached, else one `evaluate` call per
    /// plugin (per [`PRODUCT_DAYS_PER_CALL`] product-days).
    pub fn days(
        &self,
        products: &[Product],
        start: NaiveDate,
        end: NaiveDate,
        run_at: i64,
    ) -> Result<Vec<Result<ProductDays, EvalError>>, EvalError> {
        self.days_with(products, start, end, run_at, Detail::None)
    }

    /// [`Evaluator::days`], with contributors and explanation lines on the days `detail`
    /// names (from the detail cache, else one `explain` call per plugin and 360 product-days).
    pub fn days_with(
        &self,
        products: &[Product],
        start: NaiveDate,
        end: NaiveDate,
        run_at: i64,
        detail: Detail,
    ) -> Result<Vec<Result<ProductDays, EvalError>>, EvalError> {
        self.days_after(products, start, end, run_at, detail, Earlier::default())
    }

    /// [`Evaluator::days_with`], reusing what `earlier` computed for days no ingest touched
    /// since (same plugin, rule data and product record); the rest as `days_with` does.
    pub fn days_after(
        &self,
        products: &[Product],
        start: NaiveDate,
        end: NaiveDate,
        run_at: i64,
        detail: Detail,
        mut earlier: Earlier,
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
            let mut results = self.plugin_days(
                &plugin,
                &rule_data,
                &group,
                (start, end, run_at),
                &mut earlier,
            )?;
            if detail != Detail::None {
                self.explain(&plugin, &rule_data, &mut results, detail, run_at)?;
            }
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

    /// What `earlier` computed for `product` with this plugin, rule data, record and period
    /// (taken out of `earlier`): its days in calendar order, where the days an ingest touched
    /// since (or that failed) are set to be filled again, their records kept aside to tell
    /// whether recomputing them changed anything. `None` when it has nothing usable.
    fn unchanged(
        &self,
        plugin: &LoadedPlugin,
        rule_version: &str,
        product: &Product,
        (first_date, period_days): (&str, usize),
        earlier: &mut Earlier,
        stamps: &mut Stamps<'_>,
    ) -> Result<Option<(ProductDayList, EarlierDays)>, EvalError> {
        let Some(before) = earlier.products.remove(&product.id) else {
            return Ok(None);
        };
        if self.candidate.is_some()
            || before.plugin.digest() != plugin.digest()
            || before.rule_version != rule_version
            || before.product != *product
            || before.days.len() != period_days
            || before
                .days
                .first()
                .is_some_and(|(day, _)| day.date != first_date)
        {
            return Ok(None);
        }
        let mut days = before.days;
        let mut out = EarlierDays {
            touched: Vec::new(),
            complete: true,
        };
        for (i, (day, result)) in days.iter_mut().enumerate() {
            if result.is_ok()
                && day.end <= earlier.run_at
                && stamps.newest(day)? <= earlier.sequence
            {
                continue;
            }
            match std::mem::replace(result, Err(not_evaluated())) {
                Ok(records) => out.touched.push((i, records)),
                Err(_) => out.complete = false,
            }
        }
        Ok(Some((days, out)))
    }

    fn plugin_days(
        &self,
        plugin: &Arc<LoadedPlugin>,
        rule_data: &Arc<str>,
        products: &[&Product],
        (start, end, run_at): (NaiveDate, NaiveDate, i64),
        earlier: &mut Earlier,
    ) -> Result<Vec<Result<ProductDays, EvalError>>, EvalError> {
        let rule_version = rule_data_version(rule_data);
        let sequence = self.store.committed_sequence()?;
        let mut stamps = Stamps::new(&self.store, plugin);

        // 1. Serve what the cache holds; collect the days to compute.
        let mut all: Vec<Result<ProductDays, EvalError>> = Vec::new();
        // Per product (as `all`): what the earlier evaluation had on the days filled again.
        let mut touched: Vec<Option<EarlierDays>> = Vec::new();
        let mut needed: Vec<Needed> = Vec::new();
        // One calendar per time zone, not one per product.
        let mut calendars: Calendars = HashMap::new();
        let first_date = start.to_string();
        for (index, product) in products.iter().enumerate() {
            let parameters = product.parameters.to_string();
            let served = self.served(
                plugin,
                &rule_version,
                (product, &parameters),
                (start, end, run_at, &first_date),
                earlier,
                &mut stamps,
                &mut calendars,
            )?;
            let (days, before, missing) = match served {
                Ok(served) => served,
                Err(e) => {
                    all.push(Err(e));
                    touched.push(None);
                    continue;
                }
            };
            if !missing.is_empty() {
                needed.push(Needed {
                    index,
                    product: sdk::ProductRef {
                        id: product.id.clone(),
                        parameters,
                    },
                    days: missing,
                });
            }
            all.push(Ok(ProductDays {
                product: (*product).clone(),
                plugin: plugin.clone(),
                rule_version: rule_version.clone(),
                rule_data: rule_data.clone(),
                days,
                same_as_earlier: false,
            }));
            touched.push(before);
        }

        // 2. As few calls as the output allows for every missing day of this plugin's products.
        if !needed.is_empty() {
            let computed = self.compute(plugin, rule_data, &needed, run_at);
            for need in &needed {
                if let Ok(product_days) = &mut all[need.index] {
                    self.fill(plugin, need, product_days, &computed, (run_at, sequence))?;
                }
            }
        }
        mark_same_as_earlier(&mut all, touched);
        Ok(all)
    }

    /// A product's days over the period as far as they can be served without a plugin call:
    /// from an earlier evaluation where no fact changed, else from the day cache (or the
    /// failure memo); with what the earlier evaluation had on the days filled again, and the
    /// days still missing. `Err` inside: the product cannot be evaluated at all (its time zone).
    /// `parameters` is the product's parameters as text, `first_date` the period's first day.
    #[allow(clippy::too_many_arguments)]
    fn served<'p>(
        &self,
        plugin: &LoadedPlugin,
        rule_version: &str,
        (product, parameters): (&'p Product, &str),
        (start, end, run_at, first_date): (NaiveDate, NaiveDate, i64, &str),
        earlier: &mut Earlier,
        stamps: &mut Stamps<'_>,
        calendars: &mut Calendars<'p>,
    ) -> Result<Result<Served, EvalError>, EvalError> {
        // Candidates are evaluated afresh and leave the cache and the health notes alone.
        let cached = self.candidate.is_none();
        let parameters_digest = short_digest(parameters);
        let key = ResultKey {
            plugin_digest: plugin.digest(),
            rule_version,
            parameters_digest: &parameters_digest,
            product: &product.id,
        };
        let period_days = (end - start).num_days().max(0) as usize;
        let before = self.unchanged(
            plugin,
            rule_version,
            product,
            (first_date, period_days),
            earlier,
            stamps,
        )?;
        let (mut days, before) = match before {
            Some((days, b)) => (days, Some(b)),
            None => {
                let calendar = calendars
                    .entry(product.timezone.as_deref())
                    .or_insert_with_key(|zone| {
                        calendar::zone(*zone).map(|tz| calendar::days(tz, start, end))
                    });
                match calendar {
                    Ok(calendar) => (
                        calendar
                            .iter()
                            .map(|day| (day.clone(), Err(not_evaluated())))
                            .collect(),
                        None,
                    ),
                    Err(reason) => {
                        return Ok(Err(EvalError::Product {
                            product: product.id.clone(),
                            reason: reason.clone(),
                        }));
                    }
                }
            }
        };
        // Days filled again after an earlier evaluation are read one by one (another reader
        // may have cached them meanwhile); with no earlier days, one range read.
        let mut held = HashMap::new();
        if cached && before.is_some() {
            for (day, _) in days.iter().filter(|(_, slot)| is_not_evaluated(slot)) {
                held.extend(self.store.cached_days(&key, &day.date, &day.date)?);
            }
        } else if let (true, Some(first), Some(last)) = (cached, days.first(), days.last()) {
            held = self.store.cached_days(&key, &first.0.date, &last.0.date)?;
        }
        let mut missing = Vec::new();
        for (day, slot) in days.iter_mut().filter(|(_, slot)| is_not_evaluated(slot)) {
            let hit = match held.remove(&day.date) {
                Some(c) if day.end <= run_at && c.sequence >= stamps.newest(day)? => {
                    Some(Ok(c.records))
                }
                _ if cached && day.end <= run_at => self
                    .failures
                    .get(&failures::key(&key, &day.date), stamps.newest(day)?)
                    .map(Err),
                _ => None,
            };
            match hit {
                Some(answer) => *slot = answer,
                None => missing.push(day.clone()),
            }
        }
        Ok(Ok((days, before, missing)))
    }

    /// Fills a product's missing days with what the plugin computed (a day it did not answer
    /// is its failure), and keeps finished days in the day cache, their failures in the memo
    /// and their warnings for health, at fact sequence `sequence`.
    fn fill(
        &self,
        plugin: &LoadedPlugin,
        need: &Needed,
        product_days: &mut ProductDays,
        computed: &Result<Computed, EvalError>,
        (run_at, sequence): (i64, u64),
    ) -> Result<(), EvalError> {
        let cached = self.candidate.is_none();
        let parameters_digest = short_digest(&need.product.parameters);
        let key = ResultKey {
            plugin_digest: plugin.digest(),
            rule_version: &product_days.rule_version,
            parameters_digest: &parameters_digest,
            product: &need.product.id,
        };
        let mut to_cache = Vec::new();
        for (day, slot) in product_days.days.iter_mut() {
            if !is_not_evaluated(slot) {
                continue;
            }
            *slot = match computed {
                Err(e) => Err(e.clone()),
                Ok(results) => results
                    .get(&(need.product.id.clone(), day.date.clone()))
                    .cloned()
                    .unwrap_or_else(|| {
                        Err(malformed(
                            plugin,
                            format!(
                                "returned no result for product {} on {}",
                                need.product.id, day.date
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
            if let (Err(error), true) = (&*slot, day.end <= run_at) {
                self.failures
                    .put(failures::key(&key, &day.date), sequence, error);
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
        Ok(())
    }

    /// Fills in contributors and explanation of the days `detail` asks for, from the detail
    /// cache or one `explain` call per chunk for the rest. `results` are one plugin's products
    /// with the same rule data. A day whose explanation fails takes the failure.
    fn explain(
        &self,
        plugin: &Arc<LoadedPlugin>,
        rule_data: &Arc<str>,
        results: &mut [Result<ProductDays, EvalError>],
        detail: Detail,
        run_at: i64,
    ) -> Result<(), EvalError> {
        let cached = self.candidate.is_none();
        let sequence = self.store.committed_sequence()?;
        let mut stamps = Stamps::new(&self.store, plugin);
        let mut needed: Vec<Needed> = Vec::new();
        for (index, result) in results.iter_mut().enumerate() {
            let Ok(product_days) = result else { continue };
            let wanted = match detail {
                Detail::None => continue,
                Detail::All => product_days
                    .days
                    .iter()
                    .map(|(d, _)| d.date.clone())
                    .collect(),
                Detail::Peaks => period::peak_dates(product_days),
            };
            let parameters = product_days.product.parameters.to_string();
            let parameters_digest = short_digest(&parameters);
            let key = ResultKey {
                plugin_digest: plugin.digest(),
                rule_version: &product_days.rule_version,
                parameters_digest: &parameters_digest,
                product: &product_days.product.id,
            };
            let declared = &plugin.info().metrics;
            let mut missing = Vec::new();
            for (day, slot) in product_days.days.iter_mut() {
                let Ok(records) = slot else { continue };
                if !wanted.contains(&day.date) {
                    continue;
                }
                if cached && day.end <= run_at {
                    if let Some(held) = self.store.cached_detail(&key, &day.date)?
                        && held.sequence >= stamps.newest(day)?
                    {
                        attach(records, &held.details, declared);
                        continue;
                    }
                }
                missing.push(day.clone());
            }
            if !missing.is_empty() {
                needed.push(Needed {
                    index,
                    product: sdk::ProductRef {
                        id: product_days.product.id.clone(),
                        parameters,
                    },
                    days: missing,
                });
            }
        }
        if needed.is_empty() {
            return Ok(());
        }
        let explained = self.explain_days(plugin, rule_data, &needed, run_at);
        for need in &needed {
            let Ok(product_days) = &mut results[need.index] else {
                continue;
            };
            let parameters_digest = short_digest(&need.product.parameters);
            let key = ResultKey {
                plugin_digest: plugin.digest(),
                rule_version: &product_days.rule_version,
                parameters_digest: &parameters_digest,
                product: &need.product.id,
            };
            for (day, slot) in product_days.days.iter_mut() {
                if !need.days.iter().any(|d| d.date == day.date) {
                    continue;
                }
                let Ok(records) = slot else { continue };
                match explained
                    .as_ref()
                    .map(|all| all.get(&(need.product.id.clone(), day.date.clone())))
                {
                    Err(e) => *slot = Err(e.clone()),
                    Ok(Some(Err(e))) => *slot = Err(e.clone()),
                    Ok(None) => attach(records, &[], &plugin.info().metrics),
                    Ok(Some(Ok(details))) => {
                        attach(records, details, &plugin.info().metrics);
                        if cached && day.end <= run_at {
                            let held = CachedDetail {
                                sequence,
                                details: details.clone(),
                            };
                            self.store.cache_detail(&key, &day.date, &held)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Prepares `needed`'s products (a product whose parameters the plugin refuses fails
    /// alone), reads the timelines their days need, and runs `call` on chunks of at most
    /// `per_call` product-days, each in a fresh instance (so that one call's output and memory
    /// stay within the caps), the chunks spread over the cores ([`calls`]). Returns each
    /// chunk's answer and the refused products.
    fn run<T: Send>(
        &self,
        plugin: &Arc<LoadedPlugin>,
        rule_data: &str,
        needed: &[Needed],
        run_at: i64,
        per_call: usize,
        call_chunk: impl Fn(&mut Call<'_>, sdk::Evaluation) -> Result<T, PluginFailure> + Sync,
    ) -> Result<(Vec<T>, Vec<(String, EvalError)>), EvalError> {
        // One call at a time: each holds its memory cap from the service budget, so the old
        // one is dropped before the next is made.
        let mut call = Some(plugin.call()?);
        let mut refs: Vec<sdk::ProductRef> = needed.iter().map(|n| n.product.clone()).collect();
        let mut refused: Vec<(String, EvalError)> = Vec::new();
        let requests = loop {
            if refs.is_empty() {
                break Vec::new();
            }
            match call.as_mut().expect("a call").prepare(rule_data, &refs)? {
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
        let accepted: Vec<&Needed> = needed
            .iter()
            .filter(|n| !refused.iter().any(|(id, _)| *id == n.product.id))
            .collect();
        // A candidate's look-behind is noted once it is in force and its days are cached.
        for r in requests.iter().filter(|_| self.candidate.is_none()) {
            match &r.selection {
                Selection::Intervals(s) => self.store.note_margin(&r.kind, s.margin_ms)?,
                Selection::Instants(s) => self.store.note_margin(&r.kind, s.margin_ms)?,
                Selection::States => {}
            }
        }
        let days = || accepted.iter().flat_map(|n| n.days.iter());
        let window = Window {
            start: days().map(|d| d.start).min().unwrap_or(0),
            end: days().map(|d| d.end).max().unwrap_or(0),
        };
        let mut strings = Interner::default();
        let timelines = self.store.timelines(&requests, window, &mut strings)?;
        let products: Vec<sdk::ProductDays> = accepted
            .iter()
            .map(|n| sdk::ProductDays {
                product: n.product.clone(),
                days: n.days.clone(),
            })
            .collect();
        let workers = calls::workers_for(products.len());
        let chunks = calls::chunks(products, per_call, workers);
        // The chunks' calls reserve their own memory: give this one's back first.
        drop(call);
        let shared = calls::Shared {
            rule_data: rule_data.to_string(),
            run_at,
            strings: strings.into_table(),
            timelines,
        };
        let answers = calls::run_chunks(plugin, shared, chunks, workers, &call_chunk)?;
        Ok((answers, refused))
    }

    /// Calls the plugin's `evaluate`; returns per (product, date) the day's records or its error.
    fn compute(
        &self,
        plugin: &Arc<LoadedPlugin>,
        rule_data: &str,
        needed: &[Needed],
        run_at: i64,
    ) -> Result<Computed, EvalError> {
        let (outcomes, refused) = self.run(
            plugin,
            rule_data,
            needed,
            run_at,
            PRODUCT_DAYS_PER_CALL,
            |call, input| call.evaluate(input),
        )?;
        let mut results = answers_by_day(needed, &refused);
        // Every result is checked before it can become a figure (issue 15.4): a plugin answers
        // only what it was asked, once per partition, with its peak inside its day.
        let bounds: HashMap<(&str, &str), &Day> = needed
            .iter()
            .flat_map(|n| {
                n.days
                    .iter()
                    .map(move |d| ((n.product.id.as_str(), d.date.as_str()), d))
            })
            .collect();
        let mut seen: HashSet<(String, String, String)> = HashSet::new();
        for outcome in outcomes {
            for day in outcome.days {
                if !results.wanted.contains_key(day.product.as_str()) {
                    return Err(malformed(
                        plugin,
                        format!(
                            "returned a result for product {} it was not asked for",
                            day.product
                        ),
                    ));
                }
                let Some(bounds) = bounds.get(&(day.product.as_str(), day.date.as_str())) else {
                    return Err(malformed(
                        plugin,
                        format!(
                            "returned a result for product {} on {}, a day it was not asked for",
                            day.product, day.date
                        ),
                    ));
                };
                if !(bounds.start..bounds.end).contains(&day.peak_at) {
                    return Err(malformed(
                        plugin,
                        format!(
                            "product {} on {} peaks at {}, outside its day",
                            day.product,
                            day.date,
                            format_time(day.peak_at)
                        ),
                    ));
                }
                if !seen.insert((day.product.clone(), day.date.clone(), day.partition.clone())) {
                    return Err(malformed(
                        plugin,
                        format!(
                            "returned two results for product {} on {} in partition {:?}",
                            day.product, day.date, day.partition
                        ),
                    ));
                }
                let record = to_record(plugin, day, &outcome.identity_names)?;
                results.add(record.product.clone(), record.date.clone(), record);
            }
            results.fail(plugin, outcome.errors);
        }
        // What a product-day may keep in the store is capped (issue 15.6): over it, that day
        // fails, named, and nothing of it is stored.
        let cap = self.runtime.limits().stored_day_bytes;
        for ((product, date), slot) in results.by_day.iter_mut() {
            let Ok(records) = slot else { continue };
            let size: usize = records.iter().map(DayRecord::stored_bytes).sum();
            if size > cap {
                *slot = Err(EvalError::PluginFailure {
                    plugin: plugin.label(),
                    kind: "output".into(),
                    message: format!(
                        "plugin {} failed: its result for product {product} on {date} would store \
                         about {size} bytes, over the cap of {cap} bytes per product-day \
                         (serve --stored-day-mib)",
                        plugin.label()
                    ),
                });
            }
        }
        Ok(results.by_day)
    }

    /// Calls the plugin's `explain`; returns per (product, date) the day's details or its error.
    fn explain_days(
        &self,
        plugin: &Arc<LoadedPlugin>,
        rule_data: &str,
        needed: &[Needed],
        run_at: i64,
    ) -> Result<HashMap<(String, String), Result<Vec<DayDetail>, EvalError>>, EvalError> {
        let (answers, refused) = self.run(
            plugin,
            rule_data,
            needed,
            run_at,
            PRODUCT_DAYS_PER_EXPLAIN,
            |call, input| call.explain(input),
        )?;
        let mut results = answers_by_day(needed, &refused);
        for answer in answers {
            for day in answer.days {
                let wanted = results
                    .wanted
                    .get(day.product.as_str())
                    .is_some_and(|dates| dates.contains(day.date.as_str()));
                if !wanted {
                    continue;
                }
                let (product, date, detail) = to_detail(plugin, day)?;
                results.add(product, date, detail);
            }
            results.fail(plugin, answer.errors);
        }
        Ok(results.by_day)
    }
}

/// A product's days in calendar order, each with its records or why it has none.
type ProductDayList = Vec<(Day, Result<Vec<DayRecord>, EvalError>)>;

/// A product's days as far as they were served, what an earlier evaluation had on those
/// filled again, and the days still to compute.
type Served = (ProductDayList, Option<EarlierDays>, Vec<Day>);

/// What one plugin's calls computed, by (product, date).
type Computed = HashMap<(String, String), Result<Vec<DayRecord>, EvalError>>;

/// One calendar of the period per time zone (None: UTC), or why the zone is unknown.
type Calendars<'p> = HashMap<Option<&'p str>, Result<Vec<Day>, String>>;

/// What an [`Earlier`] evaluation had on the days of a product filled again (an ingest touched
/// them since, or they had failed).
struct EarlierDays {
    /// (position in the product's days, the earlier records) of each touched day.
    touched: Vec<(usize, Vec<DayRecord>)>,
    /// No earlier day had failed (a failed day is filled again with nothing to compare).
    complete: bool,
}

/// Sets [`ProductDays::same_as_earlier`]: every day came from the earlier evaluation or
/// equals its touched day's records.
fn mark_same_as_earlier(
    all: &mut [Result<ProductDays, EvalError>],
    touched: Vec<Option<EarlierDays>>,
) {
    for (result, earlier) in all.iter_mut().zip(touched) {
        let (Ok(product_days), Some(earlier)) = (result, earlier) else {
            continue;
        };
        product_days.same_as_earlier = earlier.complete
            && earlier.touched.iter().all(|(i, before)| {
                matches!(product_days.days.get(*i), Some((_, Ok(records))) if records == before)
            });
    }
}

/// One product's days a plugin call must compute, and the product's place in its group.
struct Needed {
    index: usize,
    product: sdk::ProductRef,
    days: Vec<Day>,
}

/// Answers of one plugin's calls, by (product, date), with the dates each product asked for.
struct ByDay<'a, T> {
    wanted: HashMap<&'a str, BTreeSet<&'a str>>,
    by_day: HashMap<(String, String), Result<Vec<T>, EvalError>>,
}

/// The refused products' days failed, and what each accepted product asked for.
fn answers_by_day<'a, T>(needed: &'a [Needed], refused: &[(String, EvalError)]) -> ByDay<'a, T> {
    let mut by_day = HashMap::new();
    for (id, error) in refused {
        for n in needed.iter().filter(|n| n.product.id == *id) {
            for d in &n.days {
                by_day.insert((id.clone(), d.date.clone()), Err(error.clone()));
            }
        }
    }
    let wanted = needed
        .iter()
        .filter(|n| !refused.iter().any(|(id, _)| *id == n.product.id))
        .map(|n| {
            (
                n.product.id.as_str(),
                n.days.iter().map(|d| d.date.as_str()).collect(),
            )
        })
        .collect();
    ByDay { wanted, by_day }
}

impl<T> ByDay<'_, T> {
    /// One more answer (a partition) of the product's day, unless that day already failed.
    fn add(&mut self, product: String, date: String, item: T) {
        if let Ok(items) = self
            .by_day
            .entry((product, date))
            .or_insert_with(|| Ok(Vec::new()))
        {
            items.push(item);
        }
    }

    /// The plugin's errors: a product's (one day, or all it asked for), or every product's.
    fn fail(&mut self, plugin: &LoadedPlugin, errors: Vec<sdk::PluginError>) {
        for e in errors {
            let product = e.product.clone().unwrap_or_default();
            let dates: Vec<String> = match (&e.date, self.wanted.get(product.as_str())) {
                (Some(d), _) => vec![d.clone()],
                (None, Some(all)) => all.iter().map(|d| d.to_string()).collect(),
                (None, None) => {
                    // An error for no product fails every product of the call.
                    for (p, ds) in &self.wanted {
                        for d in ds {
                            self.by_day.insert(
                                (p.to_string(), d.to_string()),
                                Err(rule_error(plugin, e.clone(), p)),
                            );
                        }
                    }
                    continue;
                }
            };
            for d in dates {
                self.by_day.insert(
                    (product.clone(), d),
                    Err(rule_error(plugin, e.clone(), &product)),
                );
            }
        }
    }
}

/// The newest ingest that touched a day for any kind a plugin reads, remembered per UTC day
/// so that a report over many products reads each stamp once.
struct Stamps<'a> {
    store: &'a Store,
    kinds: Vec<String>,
    seen: HashMap<i64, u64>,
}

impl<'a> Stamps<'a> {
    fn new(store: &'a Store, plugin: &LoadedPlugin) -> Stamps<'a> {
        Stamps {
            store,
            kinds: plugin.info().facts.iter().map(|f| f.kind.clone()).collect(),
            seen: HashMap::new(),
        }
    }

    /// The newest ingest that touched `day` (the UTC days overlapping it).
    fn newest(&mut self, day: &Day) -> Result<u64, EvalError> {
        let mut newest = 0;
        for utc_day in day.start.div_euclid(DAY_MS)..=(day.end - 1).div_euclid(DAY_MS) {
            let stamp = match self.seen.get(&utc_day) {
                Some(s) => *s,
                None => {
                    let mut s = 0;
                    for kind in &self.kinds {
                        s = s.max(self.store.day_stamp(kind, utc_day)?);
                    }
                    self.seen.insert(utc_day, s);
                    s
                }
            };
            newest = newest.max(stamp);
        }
        Ok(newest)
    }
}

/// The placeholder of a day still to compute.
fn not_evaluated() -> EvalError {
    EvalError::Storage("not evaluated".into())
}

fn is_not_evaluated(slot: &Result<Vec<DayRecord>, EvalError>) -> bool {
    matches!(slot, Err(EvalError::Storage(m)) if m == "not evaluated")
}

/// Puts each detail on the record of its partition and metric.
fn attach(records: &mut [DayRecord], details: &[DayDetail], declared: &[sdk::MetricInfo]) {
    for r in records.iter_mut() {
        r.contributors.clear();
        r.explanation.clear();
        for d in details {
            let metric = if d.metric.is_empty() {
                declared.first().map(|m| m.code_name.as_str()).unwrap_or("")
            } else {
                d.metric.as_str()
            };
            if d.partition == r.partition && metric == r.metric {
                r.contributors.extend(d.contributors.iter().cloned());
                r.explanation.extend(d.explanation.iter().cloned());
            }
        }
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

/// The metric a day names, checked against what the plugin declares ("" = the first).
fn declared_metric(
    plugin: &LoadedPlugin,
    metric: &str,
    product: &str,
    date: &str,
) -> Result<String, EvalError> {
    let declared = &plugin.info().metrics;
    if metric.is_empty() {
        Ok(declared
            .first()
            .map(|m| m.code_name.clone())
            .unwrap_or_default())
    } else if declared.iter().any(|m| m.code_name == metric) {
        Ok(metric.to_string())
    } else {
        Err(malformed(
            plugin,
            format!(
                "product {product} on {date} counts metric {metric:?}, which the plugin does not declare"
            ),
        ))
    }
}

fn to_record(
    plugin: &LoadedPlugin,
    d: wire::DayResult,
    names: &[String],
) -> Result<DayRecord, EvalError> {
    let exact = |what: &str, e: &wire::Exact| -> Result<String, EvalError> {
        let fail = |why: &str| {
            malformed(
                plugin,
                format!(
                    "{what} {}/{} of product {} on {} {why}",
                    e.numerator, e.denominator, d.product, d.date
                ),
            )
        };
        let value = result::exact_from(e).ok_or_else(|| fail("has no positive denominator"))?;
        if value < Exact::ZERO {
            return Err(fail("is negative"));
        }
        if value > Exact::from(MAX_QUANTITY) {
            return Err(fail(&format!("is above {MAX_QUANTITY}")));
        }
        Ok(value.to_string())
    };
    let metric = declared_metric(plugin, &d.metric, &d.product, &d.date)?;
    let identities = d
        .identities
        .iter()
        .map(|&i| {
            names.get(i as usize).cloned().ok_or_else(|| {
                malformed(
                    plugin,
                    format!(
                        "identity {i} of product {} on {} names none of its {} identities",
                        d.product,
                        d.date,
                        names.len()
                    ),
                )
            })
        })
        .collect::<Result<Vec<_>, EvalError>>()?;
    Ok(DayRecord {
        metric,
        quantity: exact("quantity", &d.quantity)?,
        peak_at: format_time(d.peak_at),
        measures: d
            .measures
            .iter()
            .map(|(k, v)| Ok((k.clone(), exact(&format!("measure {k}"), v)?)))
            .collect::<Result<_, EvalError>>()?,
        identities,
        contributors: Vec::new(),
        explanation: Vec::new(),
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

/// A day's details in the host's form: (product, date, detail).
fn to_detail(
    plugin: &LoadedPlugin,
    d: wire::DayDetail,
) -> Result<(String, String, DayDetail), EvalError> {
    let metric = declared_metric(plugin, &d.metric, &d.product, &d.date)?;
    let contributors = d
        .contributors
        .into_iter()
        .map(|c| {
            let weight = c.weight.parse::<Exact>().map_err(|_| {
                malformed(
                    plugin,
                    format!(
                        "contributor weight {:?} of product {} on {} is not an exact number",
                        c.weight, d.product, d.date
                    ),
                )
            })?;
            Ok(Contributor {
                kind: c.kind,
                key: c.key,
                unit: c.unit,
                at: format_time(c.at),
                weight: weight.to_string(),
                attrs: c.attrs.into_iter().collect(),
            })
        })
        .collect::<Result<Vec<_>, EvalError>>()?;
    Ok((
        d.product,
        d.date,
        DayDetail {
            metric,
            partition: d.partition,
            contributors,
            explanation: d.explanation,
        },
    ))
}
