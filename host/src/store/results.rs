//! The cache of daily results, keyed by everything a result depends on: plugin digest,
//! rule-data version, product parameters, product and day. A cached day also records the
//! ingest sequence number it saw, so a later fact touching that day makes it dirty.
//!
//! Two trees: `day_results` holds each day's numbers (small, read for every report) and
//! `day_details` the contributors and explanation of the days a reader asked to explain.

use std::collections::{BTreeMap, HashMap};

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
    /// Distinct-union metrics: the day's identities (`kind` NUL `key`), which the period rule
    /// counts; empty for other metrics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<String>,
    /// Who held the peak: filled only for days a reader asked to explain.
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

impl DayRecord {
    /// About how many bytes the record takes in `day_results`: the text it holds (the numbers
    /// are stored as text too). What the per-product-day cap is checked against; one pass over
    /// the record's strings.
    pub fn stored_bytes(&self) -> usize {
        let pairs = |v: &BTreeMap<String, String>| {
            v.iter().map(|(k, v)| k.len() + v.len() + 2).sum::<usize>()
        };
        let texts = |v: &[String]| v.iter().map(|t| t.len() + 1).sum::<usize>();
        16 + self.metric.len()
            + self.partition.len()
            + self.quantity.len()
            + self.peak_at.len()
            + pairs(&self.measures)
            + texts(&self.identities)
            + texts(&self.warnings)
            + self
                .bundle_claims
                .iter()
                .map(|(b, r)| b.len() + r.as_ref().map_or(0, String::len) + 2)
                .sum::<usize>()
    }
}

/// What a cached day holds: its partitions' records (numbers only) and the sequence it was
/// computed at.
#[derive(Debug, Clone)]
pub struct CachedDay {
    pub sequence: u64,
    pub records: Vec<DayRecord>,
}

/// The stored form of a cached day: postcard, without what the key already says (product,
/// date) and without details (those live in `day_details`). ~40 bytes for a one-partition day.
#[derive(Serialize, Deserialize)]
struct StoredDay {
    sequence: u64,
    records: Vec<StoredRecord>,
}

#[derive(Serialize, Deserialize)]
struct StoredRecord {
    metric: String,
    partition: String,
    quantity: String,
    peak_at: String,
    measures: Vec<(String, String)>,
    identities: Vec<String>,
    warnings: Vec<String>,
    bundle_claims: Vec<(String, Option<String>)>,
}

/// One partition's contributors and explanation on one day (what `explain` answered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayDetail {
    pub metric: String,
    pub partition: String,
    pub contributors: Vec<Contributor>,
    pub explanation: Vec<String>,
}

/// A day's details as stored, with the sequence they were computed at.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedDetail {
    pub sequence: u64,
    pub details: Vec<DayDetail>,
}

#[derive(Serialize, Deserialize)]
struct StoredContributor {
    kind: String,
    key: String,
    unit: String,
    at: String,
    weight: String,
    attrs: Vec<(String, String)>,
}

#[derive(Serialize, Deserialize)]
struct StoredDetail {
    metric: String,
    partition: String,
    contributors: Vec<StoredContributor>,
    explanation: Vec<String>,
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
    fn prefix(&self) -> Vec<u8> {
        let mut key = [
            self.plugin_digest,
            self.rule_version,
            self.parameters_digest,
            self.product,
        ]
        .join("\0")
        .into_bytes();
        key.push(0);
        key
    }

    fn bytes(&self, date: &str) -> Vec<u8> {
        let mut key = self.prefix();
        key.extend_from_slice(date.as_bytes());
        key
    }
}

impl Store {
    /// How many product-days the cache holds (every product, every plugin version). Scans the
    /// tree's keys: for health pages and tests, not for a report.
    pub fn cached_day_count(&self) -> usize {
        self.day_results.len()
    }

    /// How many cached days were read and decoded since the store was opened: what a report
    /// costs the cache (a report kept in memory reads only the days an ingest touched).
    pub fn cached_day_reads(&self) -> u64 {
        self.cached_day_reads
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The cached days of `[first, last]` (ISO dates), by date: one range scan of the
    /// product's keys, not one lookup per day.
    pub fn cached_days(
        &self,
        key: &ResultKey<'_>,
        first: &str,
        last: &str,
    ) -> anyhow::Result<HashMap<String, CachedDay>> {
        let prefix = key.prefix();
        let mut out = HashMap::new();
        for entry in self.day_results.range(key.bytes(first)..=key.bytes(last)) {
            let (k, v) = entry?;
            let date = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            let stored: StoredDay = postcard::from_bytes(&v)?;
            self.cached_day_reads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let records = stored
                .records
                .into_iter()
                .map(|r| DayRecord {
                    product: key.product.to_string(),
                    date: date.clone(),
                    metric: r.metric,
                    partition: r.partition,
                    quantity: r.quantity,
                    peak_at: r.peak_at,
                    measures: r.measures.into_iter().collect(),
                    identities: r.identities,
                    contributors: Vec::new(),
                    explanation: Vec::new(),
                    warnings: r.warnings,
                    bundle_claims: r.bundle_claims,
                })
                .collect();
            out.insert(
                date,
                CachedDay {
                    sequence: stored.sequence,
                    records,
                },
            );
        }
        Ok(out)
    }

    /// Stores computed days (their numbers; details are stored by [`Store::cache_details`]).
    pub fn cache_days(
        &self,
        key: &ResultKey<'_>,
        days: &[(String, CachedDay)],
    ) -> anyhow::Result<()> {
        let mut batch = sled::Batch::default();
        for (date, day) in days {
            let stored = StoredDay {
                sequence: day.sequence,
                records: day
                    .records
                    .iter()
                    .map(|r| StoredRecord {
                        metric: r.metric.clone(),
                        partition: r.partition.clone(),
                        quantity: r.quantity.clone(),
                        peak_at: r.peak_at.clone(),
                        measures: r.measures.clone().into_iter().collect(),
                        identities: r.identities.clone(),
                        warnings: r.warnings.clone(),
                        bundle_claims: r.bundle_claims.clone(),
                    })
                    .collect(),
            };
            batch.insert(key.bytes(date), postcard::to_stdvec(&stored)?);
        }
        self.day_results.apply_batch(batch)?;
        Ok(())
    }

    /// A day's cached details, if any.
    pub fn cached_detail(
        &self,
        key: &ResultKey<'_>,
        date: &str,
    ) -> anyhow::Result<Option<CachedDetail>> {
        let Some(v) = self.day_details.get(key.bytes(date))? else {
            return Ok(None);
        };
        let (sequence, details): (u64, Vec<StoredDetail>) = postcard::from_bytes(&v)?;
        Ok(Some(CachedDetail {
            sequence,
            details: details
                .into_iter()
                .map(|d| DayDetail {
                    metric: d.metric,
                    partition: d.partition,
                    contributors: d
                        .contributors
                        .into_iter()
                        .map(|c| Contributor {
                            kind: c.kind,
                            key: c.key,
                            unit: c.unit,
                            at: c.at,
                            weight: c.weight,
                            attrs: c.attrs.into_iter().collect(),
                        })
                        .collect(),
                    explanation: d.explanation,
                })
                .collect(),
        }))
    }

    /// Stores a day's details.
    pub fn cache_detail(
        &self,
        key: &ResultKey<'_>,
        date: &str,
        detail: &CachedDetail,
    ) -> anyhow::Result<()> {
        let stored: Vec<StoredDetail> = detail
            .details
            .iter()
            .map(|d| StoredDetail {
                metric: d.metric.clone(),
                partition: d.partition.clone(),
                contributors: d
                    .contributors
                    .iter()
                    .map(|c| StoredContributor {
                        kind: c.kind.clone(),
                        key: c.key.clone(),
                        unit: c.unit.clone(),
                        at: c.at.clone(),
                        weight: c.weight.clone(),
                        attrs: c.attrs.clone().into_iter().collect(),
                    })
                    .collect(),
                explanation: d.explanation.clone(),
            })
            .collect();
        self.day_details.insert(
            key.bytes(date),
            postcard::to_stdvec(&(detail.sequence, stored))?,
        )?;
        Ok(())
    }
}
