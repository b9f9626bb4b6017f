//! The audit trail: every change an operator or admin makes to a running service (a plugin
//! uploaded, a product or bundle stored, a token made or revoked), in the order they happened.
//! Append-only; entries are keyed by a monotonically increasing number.

use serde::{Deserialize, Serialize};

use super::Store;

/// One change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the trail (1, 2, …).
    #[serde(default)]
    pub seq: u64,
    /// RFC 3339, UTC.
    pub at: String,
    /// `token:<id>`, or `cli` for a command run on the store.
    pub who: String,
    /// e.g. `plugin.upload`, `product.put`, `token.create`.
    pub action: String,
    /// What was changed: `pvu@1.2.0`, `product:was`, `token:ab12…`.
    pub subject: String,
    /// The plugin digest, when the change is a plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl AuditEntry {
    /// An entry stamped now.
    pub fn now(who: &str, action: &str, subject: &str, digest: Option<&str>) -> AuditEntry {
        AuditEntry {
            seq: 0,
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            who: who.to_string(),
            action: action.to_string(),
            subject: subject.to_string(),
            digest: digest.map(str::to_string),
        }
    }
}

impl Store {
    /// Appends `entry` to the trail, durably.
    pub fn audit(&self, mut entry: AuditEntry) -> anyhow::Result<()> {
        entry.seq = self.db.generate_id()? + 1;
        self.audit
            .insert(entry.seq.to_be_bytes(), serde_json::to_vec(&entry)?)?;
        self.audit.flush()?;
        Ok(())
    }

    /// Entries after position `after`, oldest first, at most `limit`.
    pub fn audit_trail(&self, after: u64, limit: usize) -> anyhow::Result<Vec<AuditEntry>> {
        self.audit
            .range((after + 1).to_be_bytes()..)
            .take(limit)
            .map(|item| Ok(serde_json::from_slice(&item?.1)?))
            .collect()
    }
}
