//! One loaded plugin: its pre-linked template, what it declared, and sandboxed calls into it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use licmetric_sdk::types as sdk;
use wasmtime::component::{Component, HasSelf, Linker};

use super::example::Example;
use super::limits::{Limits, MemoryLimiter};
use super::wit::{self, Plugin, PluginPre, licmetric::plugin::log};
use super::{EPOCH_TICK, Runtime};

/// What a plugin instance may touch: its memory accounting and a bounded diagnostic log.
pub struct State {
    limiter: MemoryLimiter,
    log: Vec<String>,
    log_lines: usize,
}

impl wit::licmetric::plugin::types::Host for State {}

impl log::Host for State {
    fn log(&mut self, level: log::Level, message: String) {
        if self.log.len() < self.log_lines {
            let mut message = message;
            message.truncate(4096);
            self.log
                .push(format!("{level:?}: {message}").to_lowercase().replacen(
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

/// A plugin ready to evaluate: compiled, linked, described.
pub struct LoadedPlugin {
    runtime: Arc<Runtime>,
    pre: PluginPre<State>,
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
        check_api_version(engine, &component)?;
        let mut linker: Linker<State> = Linker::new(engine);
        Plugin::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
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
        let pre = PluginPre::new(pre).map_err(|e| {
            anyhow::anyhow!(
                "the plugin does not export the licmetric:plugin@{} world: {e}",
                wit::API_VERSION
            )
        })?;
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

    /// A fresh sandboxed instance for one evaluation (~50 µs). Dropped afterwards.
    pub fn call(&self) -> Result<Call<'_>, PluginFailure> {
        let limits = self.runtime.limits();
        let mut store = wasmtime::Store::new(
            self.pre.engine(),
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
        };
        let instance = self
            .pre
            .instantiate(&mut call.store)
            .map_err(|e| call.failure(e))?;
        call.instance = Some(instance);
        Ok(call)
    }
}

/// One sandboxed instance of a plugin.
pub struct Call<'p> {
    plugin: &'p LoadedPlugin,
    store: wasmtime::Store<State>,
    instance: Option<Plugin>,
    limits: Limits,
}

impl Call<'_> {
    fn metric(&mut self) -> (&mut wasmtime::Store<State>, &Plugin) {
        self.store.set_epoch_deadline(deadline_ticks(&self.limits));
        (
            &mut self.store,
            self.instance.as_ref().expect("instantiated"),
        )
    }

    /// `describe()`.
    pub fn describe(&mut self) -> Result<sdk::PluginInfo, PluginFailure> {
        let (store, instance) = self.metric();
        let result = instance.licmetric_plugin_metric().call_describe(store);
        result
            .map(wit::plugin_info_from)
            .map_err(|e| self.failure(e))
    }

    /// `prepare(rule-data, products)`: the fact requests, or the plugin's own error.
    pub fn prepare(
        &mut self,
        rule_data: &str,
        products: &[sdk::ProductRef],
    ) -> Result<Result<Vec<sdk::FactRequest>, sdk::PluginError>, PluginFailure> {
        let products: Vec<wit::wit::ProductRef> =
            products.iter().cloned().map(wit::product_ref_to).collect();
        let (store, instance) = self.metric();
        let result = instance
            .licmetric_plugin_metric()
            .call_prepare(store, rule_data, &products);
        match result {
            Ok(Ok(requests)) => Ok(Ok(requests
                .into_iter()
                .map(wit::fact_request_from)
                .collect())),
            Ok(Err(e)) => Ok(Err(wit::error_from(e))),
            Err(e) => Err(self.failure(e)),
        }
    }

    /// `evaluate(input)`, with the output cap enforced.
    pub fn evaluate(&mut self, input: sdk::Evaluation) -> Result<sdk::Outcome, PluginFailure> {
        let days: usize = input.products.iter().map(|p| p.days.len()).sum();
        self.plugin.evaluations.fetch_add(1, Ordering::Relaxed);
        self.plugin
            .days_evaluated
            .fetch_add(days as u64, Ordering::Relaxed);
        let input = wit::evaluation_to(input);
        let (store, instance) = self.metric();
        let result = instance
            .licmetric_plugin_metric()
            .call_evaluate(store, &input);
        let outcome = result.map_err(|e| self.failure(e))?;
        let size = wit::outcome_size(&outcome);
        if size > self.limits.output_bytes {
            return Err(self.fail(
                FailureKind::Output,
                format!(
                    "returned about {size} bytes, over its output cap of {} bytes",
                    self.limits.output_bytes
                ),
            ));
        }
        Ok(wit::outcome_from(outcome))
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

/// Refuses a component built against another major version of the WIT package, naming both.
fn check_api_version(engine: &wasmtime::Engine, component: &Component) -> anyhow::Result<()> {
    let ours = semver::Version::parse(wit::API_VERSION)?;
    let ty = component.component_type();
    let mut found = Vec::new();
    for (name, _) in ty.exports(engine) {
        if let Some(version) = name.strip_prefix("licmetric:plugin/metric@") {
            found.push(version.to_string());
        }
    }
    match found.first() {
        None => anyhow::bail!(
            "the component does not export licmetric:plugin/metric (this host speaks licmetric:plugin@{ours})"
        ),
        Some(v) => {
            let theirs = semver::Version::parse(v)?;
            if theirs.major != ours.major {
                anyhow::bail!(
                    "the plugin was built for licmetric:plugin@{theirs}, but this host speaks licmetric:plugin@{ours} (major versions differ)"
                );
            }
            if theirs > ours {
                anyhow::bail!(
                    "the plugin needs licmetric:plugin@{theirs}, newer than this host's {ours}"
                );
            }
            Ok(())
        }
    }
}
