//! What the API keeps between requests, and when it stops being fresh: computed reports per
//! (period, scope) and rendered answers per (request, scope). Both are dropped as soon as a
//! fact, record or plugin changes ([`Freshness`]); a period reaching today also ages out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use chrono::NaiveDate;

use crate::eval::report::Report;
use crate::eval::scope::Scope;

/// What a report depends on besides its period and scope: facts, records and the loaded
/// plugins. Cheap to read (a sled lookup and the plugin list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freshness {
    pub fact_sequence: u64,
    pub records_generation: u64,
    /// Changes with every plugin activation, deactivation or rollback.
    pub registry_generation: u64,
}

/// A computed report and when it stops being fresh.
pub struct Entry {
    pub report: Arc<Report>,
    pub freshness: Freshness,
    pub expires: Option<Instant>,
}

/// A period `[start, end)` and the caller's scope.
pub type ReportKey = (NaiveDate, NaiveDate, Option<Scope>);
/// One period's kept report, locked while it is computed.
pub type Slot = Arc<Mutex<Option<Entry>>>;

/// Reports kept in memory; one computation per key at a time (concurrent readers of the same
/// period wait for it instead of each evaluating). Holds at most [`CACHED_REPORTS`] periods;
/// the least recently read goes first.
#[derive(Default)]
pub struct ReportCache {
    entries: Mutex<HashMap<ReportKey, (Slot, Instant)>>,
}

/// Most reports kept. A report holds every product's days, so this bounds memory at about
/// this many times (products × days) day records.
const CACHED_REPORTS: usize = 16;
/// A period that reaches today changes as the day goes on (open sessions end "now").
pub const TODAY_TTL: Duration = Duration::from_secs(30);

/// Makes room for `key` in a map that holds at most `capacity` entries: when it is full and
/// `key` is new, the entry least recently used (by `used`) goes.
fn make_room<K: Eq + std::hash::Hash + Clone, V>(
    entries: &mut HashMap<K, V>,
    key: &K,
    capacity: usize,
    used: impl Fn(&V) -> Instant,
) {
    if entries.len() >= capacity
        && !entries.contains_key(key)
        && let Some(oldest) = entries
            .iter()
            .min_by_key(|(_, v)| used(v))
            .map(|(k, _)| k.clone())
    {
        entries.remove(&oldest);
    }
}

impl ReportCache {
    /// The slot of `key`, made (and the least recently read one evicted) when missing.
    pub fn slot(&self, key: ReportKey) -> Slot {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        make_room(&mut entries, &key, CACHED_REPORTS, |(_, used)| *used);
        let entry = entries
            .entry(key)
            .or_insert_with(|| (Slot::default(), Instant::now()));
        entry.1 = Instant::now();
        entry.0.clone()
    }
}

/// How long an answer is served again while nothing changed (an answer about today changes as
/// the day goes on; the report cache allows the same).
pub const MAX_AGE: Duration = Duration::from_secs(30);
/// Most answers kept; the least recently read goes first.
const KEPT: usize = 256;
/// Larger answers are not kept.
pub const MAX_BYTES: usize = 8 << 20;

/// A request (path and canonical query, without the token) and the caller's scope.
pub type AnswerKey = (String, Option<Scope>);

pub struct Kept {
    pub freshness: Freshness,
    pub made: Instant,
    pub used: Instant,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The kept answers of one service.
#[derive(Default)]
pub struct AnswerCache {
    entries: Mutex<HashMap<AnswerKey, Kept>>,
}

impl AnswerCache {
    /// The answer kept for `key`, while nothing it depends on changed.
    pub fn get(&self, key: &AnswerKey, now: &Freshness) -> Option<(HeaderMap, Bytes)> {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept = entries.get_mut(key)?;
        if kept.freshness != *now || kept.made.elapsed() > MAX_AGE {
            entries.remove(key);
            return None;
        }
        kept.used = Instant::now();
        Some((kept.headers.clone(), kept.body.clone()))
    }

    /// Keeps an answer (the least recently read goes when full).
    pub fn put(&self, key: AnswerKey, kept: Kept) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        make_room(&mut entries, &key, KEPT, |k| k.used);
        entries.insert(key, kept);
    }
}
