//! Who sends facts: per source (a fact's `source`, or none) and kind, how many facts are stored
//! and when the last batch came. Kept in the fact tree and committed with each batch, so the
//! tally is exactly what is stored; reading it is one prefix scan over (sources × kinds) keys.

use std::collections::BTreeMap;

use super::Store;
use super::fact::Observation;
use super::keys;

/// The facts one source sent of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTally {
    /// The facts' `source`; empty for facts that name none.
    pub source: String,
    pub kind: String,
    pub facts: u64,
    /// When its last batch was stored, epoch milliseconds.
    pub last_batch_ms: i64,
}

fn key(source: &str, kind: &str) -> Vec<u8> {
    let mut k = vec![keys::SOURCE];
    k.extend_from_slice(source.as_bytes());
    k.push(0);
    k.extend_from_slice(kind.as_bytes());
    k
}

fn decode(value: &[u8]) -> (u64, i64) {
    let facts = value.get(..8).and_then(|b| b.try_into().ok());
    let at = value.get(8..16).and_then(|b| b.try_into().ok());
    (
        facts.map_or(0, u64::from_be_bytes),
        at.map_or(0, i64::from_be_bytes),
    )
}

impl Store {
    /// Adds a batch's new facts to their sources' tallies, in the batch that stores them.
    pub(super) fn tally_sources(
        &self,
        fresh: &[&Observation],
        batch: &mut sled::Batch,
    ) -> anyhow::Result<()> {
        let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for o in fresh {
            *counts
                .entry((o.source.as_deref().unwrap_or(""), o.kind.as_str()))
                .or_default() += 1;
        }
        let now = chrono::Utc::now().timestamp_millis();
        for ((source, kind), n) in counts {
            let k = key(source, kind);
            let (stored, _) = self.facts.get(&k)?.map_or((0, 0), |v| decode(&v));
            let mut value = (stored + n).to_be_bytes().to_vec();
            value.extend_from_slice(&now.to_be_bytes());
            batch.insert(k, value);
        }
        Ok(())
    }

    /// Every source's tally per kind, by source then kind.
    pub fn source_tallies(&self) -> anyhow::Result<Vec<SourceTally>> {
        let mut out = Vec::new();
        for item in self.facts.scan_prefix([keys::SOURCE]) {
            let (k, v) = item?;
            let text = String::from_utf8_lossy(&k[1..]);
            let (source, kind) = text.split_once('\0').unwrap_or((&text, ""));
            let (facts, last_batch_ms) = decode(&v);
            out.push(SourceTally {
                source: source.to_string(),
                kind: kind.to_string(),
                facts,
                last_batch_ms,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_batch_adds_its_facts_to_their_source() {
        let store = Store::temporary().unwrap();
        let line = |key: &str, source: &str| {
            format!(
                r#"{{"kind":"vm","key":"{key}","at":"2026-11-01T00:00:00Z","source":"{source}","attrs":{{"vcpus":2}}}}"#
            )
        };
        let batch = [
            line("a", "vcenter-1"),
            line("b", "vcenter-1"),
            line("c", "k8s"),
        ]
        .join("\n");
        store.ingest_bytes(batch.as_bytes(), 1 << 20).unwrap();
        // A duplicate adds nothing; a new fact adds one.
        let again = [line("a", "vcenter-1"), line("d", "vcenter-1")].join("\n");
        store.ingest_bytes(again.as_bytes(), 1 << 20).unwrap();
        let tallies: Vec<(String, String, u64)> = store
            .source_tallies()
            .unwrap()
            .into_iter()
            .map(|t| (t.source, t.kind, t.facts))
            .collect();
        assert_eq!(
            tallies,
            [
                ("k8s".to_string(), "vm".to_string(), 1),
                ("vcenter-1".to_string(), "vm".to_string(), 3)
            ]
        );
    }
}
