//! Rule data in its lifecycle: validating a document with a plugin (the one check shared by
//! `PUT /api/v1/plugins/{name}/config` and dry runs), and loading it (stored, kept under its
//! version, audited).

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::runtime::{LoadedPlugin, PluginFailure};
use crate::store::Store;
use crate::store::audit::AuditEntry;
use crate::store::records::rule_data_version;

/// Why a rule-data document was refused. Nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum RuleDataError {
    /// The document is not JSON.
    #[error("rule data: not JSON: {0}")]
    NotJson(String),
    /// Its `version` names a document already loaded (or the plugin's default) with other
    /// content: results are cached by version, so a changed document needs a new one.
    #[error(
        "rule data: /version is {version:?}, as a document already loaded or the plugin's default, but the content differs; results are cached by version, so give the new document a new version"
    )]
    VersionReused { version: String },
    /// The plugin's `prepare` refused it (its message names the JSON pointer at fault).
    #[error("{plugin}: {code}: {message}")]
    Refused {
        plugin: String,
        code: String,
        message: String,
    },
    /// The plugin trapped, timed out or misbehaved while checking it.
    #[error("{0}")]
    Failure(PluginFailure),
    /// The store failed.
    #[error("storing the rule data: {0:#}")]
    Storage(#[from] anyhow::Error),
}

/// A document `plugin` accepted.
#[derive(Debug, Clone)]
pub struct Validated {
    /// Its `version` member ("unversioned" when absent).
    pub version: String,
    /// `sha256:<hex>` of its text.
    pub digest: String,
}

/// Checks `document` as rule data of `plugin` without storing anything: it is JSON, its version
/// does not name other content already loaded for the plugin's name (or the plugin's
/// default), and the plugin's `prepare` accepts it. Costs a sled read and one plugin instance.
pub fn validate(
    store: &Store,
    plugin: &LoadedPlugin,
    document: &str,
) -> Result<Validated, RuleDataError> {
    let parsed: Value =
        serde_json::from_str(document).map_err(|e| RuleDataError::NotJson(e.to_string()))?;
    let version = rule_data_version(document);
    let default = &plugin.info().default_rule_data;
    let known = match store.rule_data_version(plugin.name(), &version)? {
        Some(kept) => Some(kept),
        None => (rule_data_version(default) == version).then(|| default.clone()),
    };
    if let Some(known) = known {
        let same = match serde_json::from_str::<Value>(&known) {
            Ok(known) => known == parsed,
            Err(_) => known == document,
        };
        if !same {
            return Err(RuleDataError::VersionReused { version });
        }
    }
    match plugin.call().and_then(|mut c| c.prepare(document, &[])) {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Err(RuleDataError::Refused {
                plugin: plugin.label(),
                code: e.code,
                message: e.message,
            });
        }
        Err(failure) => return Err(RuleDataError::Failure(failure)),
    }
    Ok(Validated {
        version,
        digest: format!(
            "sha256:{}",
            hex::encode(Sha256::digest(document.as_bytes()))
        ),
    })
}

/// Validates `document` with `plugin` (see [`validate`]), puts it in force for the plugin's
/// name, keeps it under its version and appends a `rule_data.put` audit entry by `who`.
pub fn load(
    store: &Store,
    plugin: &LoadedPlugin,
    document: &str,
    who: &str,
) -> Result<Validated, RuleDataError> {
    let validated = validate(store, plugin, document)?;
    store.put_rule_data(plugin.name(), document)?;
    store.audit(AuditEntry::now(
        who,
        "rule_data.put",
        &format!("{} rule data {}", plugin.name(), validated.version),
        Some(&validated.digest),
    ))?;
    Ok(validated)
}
