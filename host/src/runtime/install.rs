//! Installing a plugin into a store: the one path shared by `PUT /api/v1/plugins/{name}/{version}`
//! and `licmetric plugin load`. Nothing changes unless the component compiles, exports the WIT
//! world of this API's major version, describes itself sanely and (when asked) has the expected
//! name and version; then it is stored (so a restart loads it again), activated in `runtime`
//! and recorded in the audit trail.

use std::sync::Arc;

use super::{LoadedPlugin, Runtime};
use crate::store::Store;
use crate::store::audit::AuditEntry;
use crate::store::plugins::PluginRecord;

/// Why a plugin was not installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// It does not compile, link, match the API version or describe itself sanely.
    #[error("{0:#}")]
    Invalid(anyhow::Error),
    /// It describes itself under another name or version than the expected one.
    #[error("it describes itself as {described}, expected {expected}")]
    Mismatch { described: String, expected: String },
    /// The store could not record it.
    #[error("storing the plugin: {0:#}")]
    Storage(anyhow::Error),
}

/// Validates `wasm`, stores it with a [`PluginRecord`] by `who`, activates it in `runtime` and
/// appends a `plugin.upload` audit entry. With `expected`, a plugin describing itself under
/// another name or version is refused. Validation comes first, so a refused plugin changes
/// nothing.
pub fn install(
    store: &Store,
    runtime: &Arc<Runtime>,
    wasm: &[u8],
    expected: Option<(&str, &semver::Version)>,
    who: &str,
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
    runtime.activate(plugin.clone());
    store
        .audit(AuditEntry::now(
            who,
            "plugin.upload",
            &plugin.label(),
            Some(plugin.digest()),
        ))
        .map_err(InstallError::Storage)?;
    Ok(plugin)
}
