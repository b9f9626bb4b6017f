//! The cache of daily results, keyed by everything a result depends on: plugin digest,
//! rule-data version, product parameters, product and day. A cached day also records the
//! ingest sequence number it saw, so a later fact touching that day makes it dirty.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Store;

/// One consumer at a day's peak (SPEC §5.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contributor {
    pub kind: String,
    pub key: String,
    pub unit: String,
    pub at: String,
    pub weight: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
}

/// One product's value on one day in one partition (SPEC §5.1), as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayRecord {
    pub product: String,
    pub date: String,
    /// Code name of the metric the quantity counts (one the plugin declares).
    #[serde(default)]
    pub metric: String,
    pub partition: String,
    pub quantity: String,
    pub peak_at: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub measures: BTreeMap<String, String>,
    #[serde(default)]
    pub contributors: Vec<Contributor>,
    #[serde(default)]
    pub explanation: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Bundles the day's facts claim for the product: (bundle, ratio `a:b` or none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bundle_claims: Vec<(String, Option<String>)>,
}

/// What a cached day holds: its partitions' records and the sequence it was computed at.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedDay {
    pub sequence: u64,
    pub records: Vec<DayRecord>,
}

/// The parts of a cache key.
#[derive(Debug, Clone)]
pub struct ResultKey<'a> {
    pub plugin_digest: &'a str,
    pub rule_version: &'a str,
    pub parameters_digest: &'a str,
    pub product: &'a str,
}

impl ResultKey<'_> {
    fn bytes(&self, date: &str) -> Vec<u8> {
        [
            self.plugin_digest,
            self.rule_version,
            self.parameters_digest,
            self.product,
            date,
        ]
        .join("\0")
        .into_bytes()
    }
}

impl Store {
    /// A cached day, if any.
    pub fn cached_day(&self, key: &ResultKey<'_>, date: &str) -> anyhow::Result<Option<CachedDay>> {
        Ok(match self.results.get(key.bytes(date))? {
            Some(v) => Some(serde_json::from_slice(&v)?),
            None => None,
        })
    }

    /// Stores computed days.
    pub fn cache_days(
        &self,
        key: &ResultKey<'_>,
        days: &[(String, CachedDay)],
    ) -> anyhow::Result<()> {
        let mut batch = sled::Batch::default();
        for (date, day) in days {
            batch.insert(key.bytes(date), serde_json::to_vec(day)?);
        }
        self.results.apply_batch(batch)?;
        Ok(())
    }
}
