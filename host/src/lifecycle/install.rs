//! The plugin lifecycle in a store and a runtime: install (the one path shared by
//! `PUT /api/v1/plugins/{name}/{version}`, `licmetric plugin load` and the watched plugins
//! directory), activate, deactivate, rollback, and restoring it all at start.
//!
//! An installed plugin must pass its self-test first (self_test.rs): its bundled example,
//! evaluated as a candidate in a temporary store under the sandbox limits.
//!
//! Each change is made in the runtime (one atomic registry swap), recorded in the store (so a
//! restart restores the same active versions) and appended to the audit trail. Changes are
//! serialised, so the store's record always follows the runtime's order.

use std::sync::{Arc, Mutex};

use super::self_test::{SelfTestError, self_test};
use crate::runtime::{Held, LoadedPlugin, Runtime};
use crate::store::Store;
use crate::store::audit::AuditEntry;
use crate::store::plugins::{PluginRecord, PluginState};

/// Why a lifecycle change was refused. Nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// It does not compile, link, match the API version or describe itself sanely.
    #[error("{0:#}")]
    Invalid(anyhow::Error),
    /// It describes itself under another name or version than the expected one.
    #[error("it describes itself as {described}, expected {expected}")]
    Mismatch { described: String, expected: String },
    /// Its bundled example is missing, unusable, or does not evaluate to its expected figures.
    #[error("{0}")]
    SelfTest(SelfTestError),
    /// Another component already holds this name and version: versions are immutable.
    #[error(
        "{label} is already held with component {held}; a version's content never changes, so upload this one ({digest}) under a new version"
    )]
    Conflict {
        label: String,
        held: String,
        digest: String,
    },
    /// No plugin `name@version` is held.
    #[error("no plugin {name}@{version} is held")]
    NotHeld {
        name: String,
        version: semver::Version,
    },
    /// The change makes no sense in the plugin's state (nothing to roll back to).
    #[error("{0}")]
    Refused(String),
    /// The store could not record it.
    #[error("storing the plugin: {0:#}")]
    Storage(anyhow::Error),
}

/// Serialises lifecycle changes (runtime swap + store record + audit entry).
static CHANGES: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    CHANGES.lock().unwrap_or_else(|p| p.into_inner())
}

/// Validates `wasm` ([`validate`], its self-test included), stores it with a [`PluginRecord`]
/// by `who`, activates it in `runtime` and appends a `plugin.upload` audit entry. With
/// `expected`, a plugin describing itself under another name or version is refused; so is
/// another component under a held name and version. Uploading the bytes of a held version
/// again activates it again. Validation comes first (outside the lifecycle lock: a self-test
/// may take a call's CPU budget), so a refused plugin changes nothing.
pub fn install(
    store: &Store,
    runtime: &Arc<Runtime>,
    wasm: &[u8],
    expected: Option<(&str, &semver::Version)>,
    who: &str,
) -> Result<Arc<LoadedPlugin>, InstallError> {
    let plugin = validate(runtime, wasm, expected)?;
    let _serial = serial();
    // Again under the lock: another install of this name and version may have won meanwhile.
    check_immutable(runtime, &plugin)?;
    let record = PluginRecord {
        name: plugin.name().to_string(),
        version: plugin.version().to_string(),
        digest: plugin.digest().to_string(),
        uploaded: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        by: who.to_string(),
    };
    store
        .put_plugin(&record, wasm)
        .map_err(InstallError::Storage)?;
    let held = runtime.activate(plugin.clone());
    record_state(store, &held)?;
    audit(
        store,
        who,
        "plugin.upload",
        &plugin.label(),
        plugin.digest(),
    )?;
    Ok(plugin)
}

/// Everything an upload checks before it changes anything: `wasm` compiles, links against
/// this API's WIT world, describes itself sanely, (with `expected`) describes itself under
/// that name and version, is no other component under a held name and version, and passes its
/// self-test (self_test.rs: its bundled example evaluated as a candidate in a temporary store
/// under the sandbox limits). The one validation of a candidate plugin, shared by [`install`]
/// and dry runs (`POST /api/v1/plugins/{name}/{version}/dry-run`); a step added here applies to
/// both. Costs a Cranelift run the first time a digest is seen, then a compile-cache read, plus
/// the self-test: milliseconds for a small example, at most a call's CPU budget for one that
/// spins. Bytes already held under their name and version are not self-tested again: they
/// passed when installed, or are a trusted standard plugin.
pub fn validate(
    runtime: &Arc<Runtime>,
    wasm: &[u8],
    expected: Option<(&str, &semver::Version)>,
) -> Result<Arc<LoadedPlugin>, InstallError> {
    let plugin = runtime.prepare(wasm).map_err(InstallError::Invalid)?;
    if let Some((name, version)) = expected
        && (plugin.name() != name || plugin.version() != version)
    {
        return Err(InstallError::Mismatch {
            described: format!("{}@{}", plugin.name(), plugin.version()),
            expected: format!("{name}@{version}"),
        });
    }
    check_immutable(runtime, &plugin)?;
    if runtime
        .registry()
        .version(plugin.name(), plugin.version())
        .is_none()
    {
        self_test(runtime, &plugin).map_err(|e| match e {
            SelfTestError::Storage(reason) => {
                InstallError::Storage(anyhow::anyhow!("the self-test's store: {reason}"))
            }
            e => InstallError::SelfTest(e),
        })?;
    }
    Ok(plugin)
}

/// Refuses a validated plugin whose name and version are held with another component:
/// versions are immutable. A registry read; no lock (install holds its own around it).
fn check_immutable(runtime: &Runtime, plugin: &LoadedPlugin) -> Result<(), InstallError> {
    if let Some(held) = runtime.registry().version(plugin.name(), plugin.version())
        && held.plugin.digest() != plugin.digest()
    {
        return Err(InstallError::Conflict {
            label: plugin.label(),
            held: held.plugin.digest().to_string(),
            digest: plugin.digest().to_string(),
        });
    }
    Ok(())
}

/// Makes a held version active again, as the most recent activation.
pub fn activate(
    store: &Store,
    runtime: &Runtime,
    name: &str,
    version: &semver::Version,
    who: &str,
) -> Result<Held, InstallError> {
    let _serial = serial();
    let held = runtime
        .registry()
        .version(name, version)
        .cloned()
        .ok_or_else(|| not_held(name, version))?;
    let held = runtime.activate(held.plugin);
    record_state(store, &held)?;
    audit(
        store,
        who,
        "plugin.activate",
        &held.plugin.label(),
        held.plugin.digest(),
    )?;
    Ok(held)
}

/// Makes a held version inactive; it stays held for rollback and past periods.
pub fn deactivate(
    store: &Store,
    runtime: &Runtime,
    name: &str,
    version: &semver::Version,
    who: &str,
) -> Result<Held, InstallError> {
    let _serial = serial();
    let held = runtime
        .deactivate(name, version)
        .ok_or_else(|| not_held(name, version))?;
    record_state(store, &held)?;
    audit(
        store,
        who,
        "plugin.deactivate",
        &held.plugin.label(),
        held.plugin.digest(),
    )?;
    Ok(held)
}

/// Undoes the most recent activation of `name` (see [`Runtime::rollback`]). Returns the version
/// rolled back and the one current now.
pub fn rollback(
    store: &Store,
    runtime: &Runtime,
    name: &str,
    who: &str,
) -> Result<(Held, Held), InstallError> {
    let _serial = serial();
    let (rolled_back, now) = runtime.rollback(name).map_err(InstallError::Refused)?;
    record_state(store, &rolled_back)?;
    audit(
        store,
        who,
        "plugin.rollback",
        &format!(
            "{} rolled back; {} current",
            rolled_back.plugin.label(),
            now.plugin.label()
        ),
        now.plugin.digest(),
    )?;
    Ok((rolled_back, now))
}

/// Loads every stored plugin into `runtime` (at start, after the standard ones) and gives each
/// held version the state the store recorded for it. A stored plugin that no longer loads is
/// skipped with a warning, not fatal: the service keeps serving. Returns how many loaded.
pub fn restore(store: &Store, runtime: &Arc<Runtime>) -> anyhow::Result<usize> {
    let mut loaded = 0;
    for (record, wasm) in store.stored_plugins()? {
        match runtime.prepare(&wasm) {
            Ok(plugin) => {
                runtime.hold(plugin, true, 0);
                loaded += 1;
            }
            Err(e) => tracing::warn!(
                plugin = %format!("{}@{}", record.name, record.version),
                "a stored plugin no longer loads: {e:#}"
            ),
        }
    }
    for held in runtime.registry().held() {
        let plugin = &held.plugin;
        if let Some(state) = store.plugin_state(plugin.name(), &plugin.version().to_string())? {
            runtime.hold(plugin.clone(), state.active, state.activated);
        }
    }
    Ok(loaded)
}

fn not_held(name: &str, version: &semver::Version) -> InstallError {
    InstallError::NotHeld {
        name: name.to_string(),
        version: version.clone(),
    }
}

fn record_state(store: &Store, held: &Held) -> Result<(), InstallError> {
    store
        .put_plugin_state(
            held.plugin.name(),
            &held.plugin.version().to_string(),
            PluginState {
                active: held.active,
                activated: held.activated,
            },
        )
        .map_err(InstallError::Storage)
}

fn audit(
    store: &Store,
    who: &str,
    action: &str,
    subject: &str,
    digest: &str,
) -> Result<(), InstallError> {
    store
        .audit(AuditEntry::now(who, action, subject, Some(digest)))
        .map_err(InstallError::Storage)
}
