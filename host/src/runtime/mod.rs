//! The plugin runtime: one wasmtime engine, compiled components cached on disk by digest, a
//! fresh sandboxed store per evaluation, and the registry of loaded plugins.
//!
//! Lifecycle (see also plugin.rs): bytes → SHA-256 digest → compiled once (`.cwasm` on disk,
//! keyed by the engine's compatibility hash, so a restart deserialises in well under a
//! millisecond instead of running Cranelift) → linked against `wit/v1.0` with every WASI import
//! std pulls in defined as a trap (no filesystem, network, environment or clock) →
//! `describe` checked → registered. Each evaluation instantiates from the pre-linked template
//! into a new store with an epoch deadline and a memory cap, and drops it afterwards, so a
//! trapping plugin cannot affect the next call.

pub mod example;
mod limits;
mod plugin;
pub mod registry;
pub mod wit;

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;

pub use limits::Limits;
pub use plugin::{Call, FailureKind, LoadedPlugin, PluginFailure};
pub use registry::{Held, Registry};

/// How often the epoch advances; CPU budgets are whole multiples of it.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The standard plugins, `(name, component)`: the list in host/build.rs, which builds them from
/// plugins/.
pub const STANDARD_PLUGINS: &[(&str, &[u8])] =
    include!(concat!(env!("OUT_DIR"), "/standard_plugins.rs"));

/// Where compiled plugins are cached when no store directory is at hand.
pub fn default_cache_dir() -> PathBuf {
    std::env::temp_dir().join("licmetric-compiled")
}

/// The engine, the compile cache and the registry of plugin versions.
pub struct Runtime {
    engine: wasmtime::Engine,
    limits: Limits,
    /// Plugin memory of the whole service, reserved per call (limits.rs).
    memory_budget: limits::MemoryBudget,
    cache_dir: PathBuf,
    /// Swapped whole on every change (registry.rs); readers never wait.
    registry: ArcSwap<Registry>,
    /// Serialises changes, so two swaps never build on the same old registry.
    changes: Mutex<()>,
    /// Components compiled with Cranelift / loaded from the disk cache.
    compiled: AtomicU64,
    deserialized: AtomicU64,
}

impl Runtime {
    /// An engine with epoch interruption; compiled components are cached under `cache_dir`.
    pub fn new(cache_dir: PathBuf, limits: Limits) -> anyhow::Result<Arc<Runtime>> {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        config.concurrency_support(false);
        config.max_wasm_stack(1 << 20);
        let engine = wasmtime::Engine::new(&config).map_err(anyhow_error)?;
        let weak = engine.weak();
        thread::Builder::new()
            .name("licmetric-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    thread::sleep(EPOCH_TICK);
                }
            })?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let cache_dir = cache_dir.join(format!("{:016x}", hasher.finish()));
        std::fs::create_dir_all(&cache_dir)
            .with_context(|| format!("creating the compile cache {}", cache_dir.display()))?;
        Ok(Arc::new(Runtime {
            engine,
            limits,
            memory_budget: limits::MemoryBudget::new(
                limits.service_memory_bytes.max(limits.memory_bytes),
            ),
            cache_dir,
            registry: ArcSwap::from_pointee(Registry::default()),
            changes: Mutex::new(()),
            compiled: AtomicU64::new(0),
            deserialized: AtomicU64::new(0),
        }))
    }

    /// A runtime with the standard plugins loaded.
    pub fn with_standard_plugins(
        cache_dir: PathBuf,
        limits: Limits,
    ) -> anyhow::Result<Arc<Runtime>> {
        let runtime = Runtime::new(cache_dir, limits)?;
        for (name, bytes) in STANDARD_PLUGINS {
            runtime
                .load(bytes)
                .with_context(|| format!("loading the standard plugin {name}"))?;
        }
        Ok(runtime)
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The service-wide budget every call reserves its memory cap from.
    pub fn memory_budget(&self) -> &limits::MemoryBudget {
        &self.memory_budget
    }

    /// Compiles (or fetches from the cache), links, checks and registers a plugin.
    pub fn load(self: &Arc<Self>, wasm: &[u8]) -> anyhow::Result<Arc<LoadedPlugin>> {
        let plugin = self.prepare(wasm)?;
        self.activate(plugin.clone());
        Ok(plugin)
    }

    /// Compiles (or fetches from the cache), links and checks a plugin without making it
    /// available: it exports the WIT world of this API's major version and describes itself
    /// sanely; its bundled example, if any, is read (not run: see `self_test`). Costs a
    /// Cranelift run the first time a digest is seen, then a cache read, plus one pass over
    /// the bytes for the example.
    pub fn prepare(self: &Arc<Self>, wasm: &[u8]) -> anyhow::Result<Arc<LoadedPlugin>> {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(wasm)));
        let component = self.compile(wasm, &digest)?;
        let mut plugin = LoadedPlugin::link(self.clone(), &self.engine, component, digest)?;
        plugin.example = example::read(wasm)?;
        Ok(Arc::new(plugin))
    }

    /// Makes a prepared plugin active (replacing a held plugin of the same name and version),
    /// as the most recent activation. Atomic: an evaluation sees the registry before or after,
    /// never a mix, and one already running finishes on the plugins it resolved.
    pub fn activate(&self, plugin: Arc<LoadedPlugin>) -> Held {
        self.change(|registry| {
            let held = Held {
                plugin,
                active: true,
                activated: registry.last_activation() + 1,
            };
            (registry.with(held.clone()), held)
        })
    }

    /// Holds a plugin in a given state (restoring what the store recorded at start).
    pub fn hold(&self, plugin: Arc<LoadedPlugin>, active: bool, activated: u64) -> Held {
        self.change(|registry| {
            let held = Held {
                plugin,
                active,
                activated,
            };
            (registry.with(held.clone()), held)
        })
    }

    /// Makes a held version inactive: products no longer resolve to it, but it stays held for
    /// rollback and for reproducing past figures. `None` when no such version is held.
    pub fn deactivate(&self, name: &str, version: &semver::Version) -> Option<Held> {
        self.change(|registry| match registry.version(name, version) {
            Some(held) => {
                let held = Held {
                    active: false,
                    ..held.clone()
                };
                (registry.with(held.clone()), Some(held))
            }
            None => (registry.clone(), None),
        })
    }

    /// Undoes the most recent activation of `name`: that version becomes inactive, and products
    /// resolve again among the versions active before it. Refused (naming why) when no other
    /// version of `name` is active. Returns (the version rolled back, what is current now).
    pub fn rollback(&self, name: &str) -> Result<(Held, Held), String> {
        self.change(|registry| {
            let Some(current) = registry.current(name).cloned() else {
                return (
                    registry.clone(),
                    Err(format!("no active version of plugin {name:?}")),
                );
            };
            let rolled_back = Held {
                active: false,
                ..current
            };
            let next = registry.with(rolled_back.clone());
            match next.current(name).cloned() {
                Some(now) => (next, Ok((rolled_back, now))),
                None => (
                    registry.clone(),
                    Err(format!(
                        "{} is the only active version of plugin {name:?}: there is nothing to roll back to",
                        rolled_back.plugin.label()
                    )),
                ),
            }
        })
    }

    /// The registry now: what products resolve against. Take it once per evaluation.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.load_full()
    }

    fn change<T>(&self, f: impl FnOnce(&Registry) -> (Registry, T)) -> T {
        let _serial = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.registry.load();
        let (next, out) = f(&current);
        if next.generation() != current.generation() {
            self.registry.store(Arc::new(next));
        }
        out
    }

    /// Loads a plugin file.
    pub fn load_file(
        self: &Arc<Self>,
        path: &std::path::Path,
    ) -> anyhow::Result<Arc<LoadedPlugin>> {
        let wasm =
            std::fs::read(path).with_context(|| format!("reading plugin {}", path.display()))?;
        self.load(&wasm)
            .with_context(|| format!("loading plugin {}", path.display()))
    }

    /// The highest active version of `name` matching `requirement`.
    pub fn resolve(
        &self,
        name: &str,
        requirement: &semver::VersionReq,
    ) -> Option<Arc<LoadedPlugin>> {
        self.registry().resolve(name, requirement)
    }

    /// Every active plugin version.
    pub fn plugins(&self) -> Vec<Arc<LoadedPlugin>> {
        self.registry().active()
    }

    /// How many components were compiled, and how many came from the disk cache.
    pub fn compile_counts(&self) -> (u64, u64) {
        (
            self.compiled.load(Ordering::Relaxed),
            self.deserialized.load(Ordering::Relaxed),
        )
    }

    fn compile(&self, wasm: &[u8], digest: &str) -> anyhow::Result<Component> {
        let path = self
            .cache_dir
            .join(format!("{}.cwasm", digest.trim_start_matches("sha256:")));
        if path.exists()
            && matches!(
                wasmtime::Engine::detect_precompiled_file(&path),
                Ok(Some(_))
            )
        {
            // SAFETY: the file is one this runtime wrote from bytes it compiled itself, under a
            // directory keyed by the engine's compatibility hash.
            if let Ok(component) = unsafe { Component::deserialize_file(&self.engine, &path) } {
                self.deserialized.fetch_add(1, Ordering::Relaxed);
                return Ok(component);
            }
        }
        let compiled = self.engine.precompile_component(wasm).map_err(|e| {
            anyhow::anyhow!("the plugin does not compile as a WebAssembly component: {e}")
        })?;
        self.compiled.fetch_add(1, Ordering::Relaxed);
        // Unique per writer (threads of one process compile the same plugin at once), so a
        // rename only ever moves a whole file into place.
        static WRITERS: AtomicU64 = AtomicU64::new(0);
        let partial = path.with_extension(format!(
            "{}-{}.partial",
            std::process::id(),
            WRITERS.fetch_add(1, Ordering::Relaxed)
        ));
        if std::fs::write(&partial, &compiled)
            .and_then(|_| std::fs::rename(&partial, &path))
            .is_err()
        {
            let _ = std::fs::remove_file(&partial);
        }
        // SAFETY: `compiled` was produced by this engine a moment ago.
        unsafe { Component::deserialize(&self.engine, &compiled) }.map_err(anyhow_error)
    }
}

/// wasmtime 48 has its own error type; keep its whole chain in the message.
pub(crate) fn anyhow_error(e: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{e:#}")
}
