//! Uploaded plugins, kept so a restart loads them again: the component bytes by content digest
//! (two names or versions with the same bytes share them) and one record per `name@version`.

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

impl Store {
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
