//! Uploaded plugins, kept so a restart loads them again: the component bytes by content digest
//! (two names or versions with the same bytes share them), one record per `name@version`, and
//! each version's state (active or not, activation order), the standard plugins' included.

use serde::{Deserialize, Serialize};

use super::Store;

/// An uploaded plugin version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginRecord {
    pub name: String,
    pub version: String,
    /// `sha256:<hex>` of the component bytes.
    pub digest: String,
    /// When it was uploaded (RFC 3339) and by whom (`token:<id>`).
    pub uploaded: String,
    pub by: String,
}

/// Whether a plugin version is active, and when it was last activated (activation order).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct PluginState {
    pub active: bool,
    pub activated: u64,
}

impl Store {
    /// Records a plugin version's state, durably.
    pub fn put_plugin_state(
        &self,
        name: &str,
        version: &str,
        state: PluginState,
    ) -> anyhow::Result<()> {
        self.plugin_states
            .insert(format!("{name}@{version}"), serde_json::to_vec(&state)?)?;
        self.plugin_states.flush()?;
        Ok(())
    }

    /// The recorded state of a plugin version, if any was recorded.
    pub fn plugin_state(&self, name: &str, version: &str) -> anyhow::Result<Option<PluginState>> {
        Ok(match self.plugin_states.get(format!("{name}@{version}"))? {
            Some(v) => Some(serde_json::from_slice(&v)?),
            None => None,
        })
    }

    /// A stored component's bytes, by digest.
    pub fn plugin_blob(&self, digest: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self
            .plugin_blobs
            .get(digest.as_bytes())?
            .map(|v| v.to_vec()))
    }

    /// Keeps a validated plugin's bytes and record, durably, before it is activated.
    pub fn put_plugin(&self, record: &PluginRecord, wasm: &[u8]) -> anyhow::Result<()> {
        self.plugin_blobs.insert(record.digest.as_bytes(), wasm)?;
        let key = format!("{}@{}", record.name, record.version);
        self.plugin_versions
            .insert(key.as_bytes(), serde_json::to_vec(record)?)?;
        self.plugin_versions.flush()?;
        self.plugin_blobs.flush()?;
        Ok(())
    }

    /// Every uploaded plugin version with its bytes, by name then version text.
    pub fn stored_plugins(&self) -> anyhow::Result<Vec<(PluginRecord, Vec<u8>)>> {
        let mut out = Vec::new();
        for item in self.plugin_versions.iter() {
            let record: PluginRecord = serde_json::from_slice(&item?.1)?;
            let wasm = self
                .plugin_blobs
                .get(record.digest.as_bytes())?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "plugin {}@{}: its component {} is missing from the store",
                        record.name,
                        record.version,
                        record.digest
                    )
                })?;
            out.push((record, wasm.to_vec()));
        }
        Ok(out)
    }
}
