//! One loaded plugin: its pre-linked template, what it declared, and sandboxed calls into it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use licmetric_sdk::types as sdk;
use wasmtime::component::{Component, HasSelf, Linker};

use super::example::Example;
use super::limits::{Limits, MemoryLimiter, Reservation};
use super::wit::{self, Contract, since_v1_0 as v1_0, since_v1_1 as v1_1};
use super::{EPOCH_TICK, Runtime};
use licmetric_sdk::types::wire;

/// What a plugin instance may touch: its memory accounting and a bounded diagnostic log.
pub struct State {
    limiter: MemoryLimiter,
    log: Vec<String>,
    log_lines: usize,
}

impl v1_0::licmetric::plugin::types::Host for State {}
impl v1_1::licmetric::plugin::types::Host for State {}

impl v1_0::licmetric::plugin::log::Host for State {
    fn log(&mut self, level: v1_0::licmetric::plugin::log::Level, message: String) {
        self.note(format!("{level:?}"), message);
    }
}

impl v1_1::licmetric::plugin::log::Host for State {
    fn log(&mut self, level: v1_1::licmetric::plugin::log::Level, message: String) {
        self.note(format!("{level:?}"), message);
    }
}

impl State {
    /// Keeps a log line, within the line cap and 4 KiB per line.
    fn note(&mut self, level: String, message: String) {
        if self.log.len() < self.log_lines {
            let mut message = message;
            message.truncate(message.floor_char_boundary(4096));
            self.log
                .push(format!("{level}: {message}").to_lowercase().replacen(
                    &message.to_lowercase(),
                    &message,
                    1,
                ));
        }
    }
}

/// How a plugin call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Ran past its CPU budget.
    Timeout,
    /// Tried to grow its memory past the cap.
    Memory,
    /// Returned more than the output cap.
    Output,
    /// Panicked.
    Panic,
    /// Any other trap, or an import the sandbox does not provide.
    Trap,
    /// Not a usable plugin (does not compile, wrong WIT version, bad `describe`).
    Invalid,
}

/// A failed plugin call, naming the plugin (`plugin_failure`, SPEC §5.3).
#[derive(Debug, Clone)]
pub struct PluginFailure {
    pub plugin: String,
    pub kind: FailureKind,
    pub message: String,
}

impl fmt::Display for PluginFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plugin {} failed: {}", self.plugin, self.message)
    }
}

impl std::error::Error for PluginFailure {}

/// A component linked against the contract version it exports.
enum Pre {
    V1_0(v1_0::PluginPre<State>),
    V1_1(v1_1::PluginPre<State>),
}

/// An instance of a component, by contract version.
enum Instance {
    V1_0(v1_0::Plugin),
    V1_1(v1_1::Plugin),
}

/// A plugin ready to evaluate: compiled, linked, described.
pub struct LoadedPlugin {
    runtime: Arc<Runtime>,
    pre: Pre,
    digest: String,
    info: sdk::PluginInfo,
    version: semver::Version,
    /// Set by `Runtime::prepare` (example.rs).
    pub(super) example: Option<Example>,
    evaluations: AtomicU64,
    days_evaluated: AtomicU64,
}

impl LoadedPlugin {
    /// Links `component` against the WIT world and asks it to describe itself. The example is
    /// set afterwards by `Runtime::prepare`, from the component's bytes.
    pub(super) fn link(
        runtime: Arc<Runtime>,
        engine: &wasmtime::Engine,
        component: Component,
        digest: String,
    ) -> anyhow::Result<LoadedPlugin> {
        let contract = wit::contract_of(engine, &component)?;
        let mut linker: Linker<State> = Linker::new(engine);
        match contract {
            Contract::V1_0 => {
                v1_0::Plugin::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
            }
            Contract::V1_1 => {
                v1_1::Plugin::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
            }
        }
        .map_err(super::anyhow_error)?;
        // std's hash maps ask for a seed: a fixed one keeps evaluations deterministic.
        let seed_imports: Vec<String> = component
            .component_type()
            .imports(engine)
            .map(|(name, _)| name.to_string())
            .filter(|name| name.starts_with("wasi:random/insecure-seed@0.2."))
            .collect();
        for name in seed_imports {
            linker
                .instance(&name)
                .and_then(|mut i| {
                    i.func_wrap("insecure-seed", |_, (): ()| Ok(((0x5EED_u64, 0x11C_u64),)))
                })
                .map_err(super::anyhow_error)?;
        }
        // std's other WASI imports (cli, io …) exist but trap: no filesystem, network, env or clock.
        linker
            .define_unknown_imports_as_traps(&component)
            .map_err(super::anyhow_error)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(super::anyhow_error)?;
        let refused = |e: wasmtime::Error| {
            anyhow::anyhow!(
                "the plugin does not export the licmetric:plugin@{} world: {e}",
                contract.version()
            )
        };
        let pre = match contract {
            Contract::V1_0 => Pre::V1_0(v1_0::PluginPre::new(pre).map_err(refused)?),
            Contract::V1_1 => Pre::V1_1(v1_1::PluginPre::new(pre).map_err(refused)?),
        };
        let mut plugin = LoadedPlugin {
            runtime,
            pre,
            digest,
            info: empty_info(),
            version: semver::Version::new(0, 0, 0),
            example: None,
            evaluations: AtomicU64::new(0),
            days_evaluated: AtomicU64::new(0),
        };
        let info = plugin.call()?.describe()?;
        if info.name.trim().is_empty()
            || !info
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        {
            anyhow::bail!(
                "describe: plugin name {:?} must be non-empty ASCII letters, digits, - or _",
                info.name
            );
        }
        plugin.version = semver::Version::parse(&info.version).map_err(|e| {
            anyhow::anyhow!(
                "describe: version {:?} of plugin {} is not semver: {e}",
                info.version,
                info.name
            )
        })?;
        plugin.info = info;
        Ok(plugin)
    }

    /// The contract version the plugin speaks, e.g. `1.0.0`.
    pub fn contract(&self) -> &'static str {
        match self.pre {
            Pre::V1_0(_) => Contract::V1_0.version(),
            Pre::V1_1(_) => Contract::V1_1.version(),
        }
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The plugin's own version.
    pub fn version(&self) -> &semver::Version {
        &self.version
    }

    /// `name@version`, as errors and provenance name it.
    pub fn label(&self) -> String {
        format!("{}@{}", self.info.name, self.info.version)
    }

    /// SHA-256 of the component's bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// What the plugin declared.
    pub fn info(&self) -> &sdk::PluginInfo {
        &self.info
    }

    /// The replay fixture the plugin bundles as its self-test (`licmetric_sdk::bundle_example!`),
    /// read from its bytes when it was prepared; `None` when it bundles none.
    pub fn example(&self) -> Option<&Example> {
        self.example.as_ref()
    }

    /// How many `evaluate` calls ran, and how many product-days they covered.
    pub fn evaluation_counts(&self) -> (u64, u64) {
        (
            self.evaluations.load(Ordering::Relaxed),
            self.days_evaluated.load(Ordering::Relaxed),
        )
    }

    /// A fresh sandboxed instance for one evaluation (~50 µs). Dropped afterwards. Waits
    /// first until the service's plugin memory budget has room for this call's memory cap.
    pub fn call(&self) -> Result<Call<'_>, PluginFailure> {
        let limits = self.runtime.limits();
        let reservation = self.runtime.memory_budget().reserve(limits.memory_bytes);
        let engine = match &self.pre {
            Pre::V1_0(pre) => pre.engine(),
            Pre::V1_1(pre) => pre.engine(),
        };
        let mut store = wasmtime::Store::new(
            engine,
            State {
                limiter: MemoryLimiter {
                    cap: limits.memory_bytes,
                    exceeded: false,
                },
                log: Vec::new(),
                log_lines: limits.log_lines,
            },
        );
        store.limiter(|s| &mut s.limiter);
        store.set_hostcall_fuel(limits.output_bytes);
        store.set_epoch_deadline(deadline_ticks(&limits));
        store.epoch_deadline_trap();
        let mut call = Call {
            plugin: self,
            store,
            instance: None,
            limits,
            _reservation: reservation,
        };
        let instance = match &self.pre {
            Pre::V1_0(pre) => pre.instantiate(&mut call.store).map(Instance::V1_0),
            Pre::V1_1(pre) => pre.instantiate(&mut call.store).map(Instance::V1_1),
        };
        call.instance = Some(instance.map_err(|e| call.failure(e))?);
        Ok(call)
    }
}

/// One sandboxed instance of a plugin.
pub struct Call<'p> {
    plugin: &'p LoadedPlugin,
    store: wasmtime::Store<State>,
    instance: Option<Instance>,
    limits: Limits,
    /// This call's share of the service's plugin memory, given back when the call is dropped.
    _reservation: Reservation<'p>,
}

impl Call<'_> {
    fn metric(&mut self) -> (&mut wasmtime::Store<State>, &Instance) {
        self.store.set_epoch_deadline(deadline_ticks(&self.limits));
        (
            &mut self.store,
            self.instance.as_ref().expect("instantiated"),
        )
    }

    /// `describe()`.
    pub fn describe(&mut self) -> Result<sdk::PluginInfo, PluginFailure> {
        let result = match self.metric() {
            (store, Instance::V1_0(i)) => i
                .licmetric_plugin_metric()
                .call_describe(store)
                .map(v1_0::plugin_info_from),
            (store, Instance::V1_1(i)) => i
                .licmetric_plugin_metric()
                .call_describe(store)
                .map(v1_1::plugin_info_from),
        };
        result.map_err(|e| self.failure(e))
    }

    /// `prepare(rule-data, products)`: the fact requests, or the plugin's own error.
    pub fn prepare(
        &mut self,
        rule_data: &str,
        products: &[sdk::ProductRef],
    ) -> Result<Result<Vec<sdk::FactRequest>, sdk::PluginError>, PluginFailure> {
        let result = match self.metric() {
            (store, Instance::V1_0(i)) => {
                let products: Vec<_> = products.iter().cloned().map(v1_0::product_ref_to).collect();
                i.licmetric_plugin_metric()
                    .call_prepare(store, rule_data, &products)
                    .map(|r| {
                        r.map(|r| r.into_iter().map(v1_0::fact_request_from).collect())
                            .map_err(v1_0::error_from)
                    })
            }
            (store, Instance::V1_1(i)) => {
                let products: Vec<_> = products.iter().cloned().map(v1_1::product_ref_to).collect();
                i.licmetric_plugin_metric()
                    .call_prepare(store, rule_data, &products)
                    .map(|r| {
                        r.map(|r| r.into_iter().map(v1_1::fact_request_from).collect())
                            .map_err(v1_1::error_from)
                    })
            }
        };
        result.map_err(|e| self.failure(e))
    }

    /// `evaluate(input)`: each asked day's numbers, with the output cap enforced. A 1.0 plugin
    /// computes its details too; they are dropped here.
    pub fn evaluate(&mut self, input: sdk::Evaluation) -> Result<wire::Outcome, PluginFailure> {
        let days: usize = input.products.iter().map(|p| p.days.len()).sum();
        self.plugin.evaluations.fetch_add(1, Ordering::Relaxed);
        self.plugin
            .days_evaluated
            .fetch_add(days as u64, Ordering::Relaxed);
        let metrics = &self.plugin.info.metrics;
        match self.metric() {
            (store, Instance::V1_0(i)) => {
                let input = v1_0::evaluation_to(input);
                let outcome = i.licmetric_plugin_metric().call_evaluate(store, &input);
                let outcome = outcome.map_err(|e| self.failure(e))?;
                self.check_size(v1_0::outcome_size(&outcome))?;
                Ok(v1_0::quantities(outcome, metrics))
            }
            (store, Instance::V1_1(i)) => {
                let input = v1_1::evaluation_to(input);
                let outcome = i.licmetric_plugin_metric().call_evaluate(store, &input);
                let outcome = outcome.map_err(|e| self.failure(e))?;
                self.check_size(v1_1::outcome_size(&outcome))?;
                Ok(v1_1::outcome_from(outcome))
            }
        }
    }

    /// `explain(input)`: who held each asked day's peak and why, with the output cap enforced.
    /// A 1.0 plugin answers with its `evaluate`.
    pub fn explain(&mut self, input: sdk::Evaluation) -> Result<wire::Explained, PluginFailure> {
        match self.metric() {
            (store, Instance::V1_0(i)) => {
                let input = v1_0::evaluation_to(input);
                let outcome = i.licmetric_plugin_metric().call_evaluate(store, &input);
                let outcome = outcome.map_err(|e| self.failure(e))?;
                self.check_size(v1_0::outcome_size(&outcome))?;
                Ok(v1_0::details(outcome))
            }
            (store, Instance::V1_1(i)) => {
                let input = v1_1::evaluation_to(input);
                let explained = i.licmetric_plugin_metric().call_explain(store, &input);
                let explained = explained.map_err(|e| self.failure(e))?;
                self.check_size(v1_1::explained_size(&explained))?;
                Ok(v1_1::explained_from(explained))
            }
        }
    }

    fn check_size(&self, size: usize) -> Result<(), PluginFailure> {
        if size > self.limits.output_bytes {
            return Err(self.fail(
                FailureKind::Output,
                format!(
                    "returned about {size} bytes, over its output cap of {} bytes",
                    self.limits.output_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Diagnostic lines the plugin logged.
    pub fn log(&self) -> &[String] {
        &self.store.data().log
    }

    fn fail(&self, kind: FailureKind, message: String) -> PluginFailure {
        PluginFailure {
            plugin: self.plugin.label_or_digest(),
            kind,
            message,
        }
    }

    /// Classifies a trap: deadline, memory cap, output cap, panic (with its message), other.
    fn failure(&self, error: wasmtime::Error) -> PluginFailure {
        let state = self.store.data();
        let panic = state.log.iter().find(|l| l.contains("panic")).cloned();
        let trap = error.downcast_ref::<wasmtime::Trap>().copied();
        let text = format!("{error:#}");
        let (kind, message) = if trap == Some(wasmtime::Trap::Interrupt) {
            (
                FailureKind::Timeout,
                format!(
                    "exceeded its CPU budget of {} ms",
                    self.limits.cpu.as_millis()
                ),
            )
        } else if state.limiter.exceeded {
            (
                FailureKind::Memory,
                format!(
                    "exceeded its memory cap of {} MiB",
                    self.limits.memory_bytes >> 20
                ),
            )
        } else if text.contains("fuel allocated for hostcalls") {
            (
                FailureKind::Output,
                format!(
                    "returned more than its output cap of {} bytes",
                    self.limits.output_bytes
                ),
            )
        } else if let Some(panic) = panic {
            (
                FailureKind::Panic,
                panic.trim_start_matches("error: ").to_string(),
            )
        } else {
            (
                FailureKind::Trap,
                format!("trapped: {}", trap_reason(&text)),
            )
        };
        self.fail(kind, message)
    }
}

impl LoadedPlugin {
    fn label_or_digest(&self) -> String {
        if self.info.name.is_empty() {
            format!("{} (loading)", &self.digest[..19.min(self.digest.len())])
        } else {
            self.label()
        }
    }
}

/// The cause of a trap without wasmtime's backtrace ("error while executing at wasm backtrace:
/// …" comes first, the cause last).
fn trap_reason(text: &str) -> String {
    let cause = text.rsplit(": ").next().unwrap_or(text);
    let cause = cause.lines().last().unwrap_or(cause).trim();
    let frame = text
        .lines()
        .find(|l| l.trim_start().starts_with("0:") || l.contains(" - "))
        .map(str::trim);
    match frame {
        Some(f) => format!("{cause} (at {f})"),
        None => cause.to_string(),
    }
}

fn deadline_ticks(limits: &Limits) -> u64 {
    (limits.cpu.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1
}

fn empty_info() -> sdk::PluginInfo {
    sdk::PluginInfo {
        name: String::new(),
        version: String::new(),
        sdk_version: String::new(),
        metrics: Vec::new(),
        facts: Vec::new(),
        rule_data_schema: String::new(),
        parameter_schema: String::new(),
        default_rule_data: String::new(),
    }
}
