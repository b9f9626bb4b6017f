//! The sled store: facts (append-only observations and their change points), the cache of
//! daily results, product records and rule data. See [`keys`] for the fact tree's layout.

pub mod audit;
pub mod fact;
mod ingest;
pub mod intervals;
mod keys;
pub mod numbers;
pub mod plugins;
mod private;
pub mod records;
pub mod results;
pub mod scope;
pub mod signing;
pub mod sources;
mod state;
pub mod timeline;
pub mod tokens;

use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;

pub use ingest::{BatchError, IngestReport, LineError, MAX_LINE_BYTES};

/// Milliseconds in a UTC day.
pub const DAY_MS: i64 = 86_400_000;

/// The store behind one licmetric service. Cheap to share behind an `Arc`.
pub struct Store {
    db: sled::Db,
    facts: sled::Tree,
    pub(crate) day_results: sled::Tree,
    pub(crate) day_details: sled::Tree,
    pub(crate) products: sled::Tree,
    pub(crate) bundles: sled::Tree,
    /// Stable integer ids of products and bundles (numbers.rs).
    pub(crate) numbers: sled::Tree,
    pub(crate) rule_data: sled::Tree,
    /// Every rule-data document loaded, by plugin and version (records.rs).
    pub(crate) rule_data_history: sled::Tree,
    pub(crate) meta: sled::Tree,
    pub(crate) tokens: sled::Tree,
    pub(crate) plugin_blobs: sled::Tree,
    pub(crate) plugin_versions: sled::Tree,
    pub(crate) plugin_states: sled::Tree,
    pub(crate) audit: sled::Tree,
    /// Bumped whenever a product, bundle or rule-data record changes: cached reports built
    /// before it are stale.
    records_generation: std::sync::atomic::AtomicU64,
    /// Ingests are serialised so the committed sequence number only grows.
    ingest_lock: Mutex<()>,
    /// Numbers are assigned one at a time, so none is given twice.
    numbers_lock: Mutex<()>,
    /// Cached days read and decoded since the store was opened (results.rs).
    pub(crate) cached_day_reads: std::sync::atomic::AtomicU64,
}

/// sled's page cache by default (`serve --store-cache-mib`). With 256 MiB, the first evaluation
/// after ingesting 1M sessions read most pages back from the log: 8.4 s against 5.5 s with
/// 1 GiB (docs/BENCHMARKS.md).
pub const DEFAULT_CACHE_BYTES: u64 = 1 << 30;

/// How long [`Store::open`] waits for a store's file lock held by a closing store.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
const LOCK_POLL: std::time::Duration = std::time::Duration::from_millis(50);

impl Store {
    /// Opens (or creates) the store in `dir` with sled's page cache at [`DEFAULT_CACHE_BYTES`].
    pub fn open(dir: &Path) -> anyhow::Result<Store> {
        Self::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) the store in `dir`, private to its owner (0700, files 0600); refuses
    /// a store that group or others may write ([`private`]). sled keeps up to `cache_bytes` of
    /// its pages in memory: a timeline read of pages it evicted reads and decodes them from the
    /// log again (the first read after a large ingest).
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> anyhow::Result<Store> {
        private::prepare(dir)?;
        let config = sled::Config::new().path(dir).cache_capacity(cache_bytes);
        // A store just closed in this process (or by a process exiting) may hold its file lock
        // until sled's I/O threads finish their last writes: wait for it, briefly.
        let mut waited = std::time::Duration::ZERO;
        let db = loop {
            match config.open() {
                // sled reports it as `Other` with this text.
                Err(sled::Error::Io(e))
                    if e.to_string().starts_with("could not acquire lock")
                        && waited < LOCK_WAIT =>
                {
                    std::thread::sleep(LOCK_POLL);
                    waited += LOCK_POLL;
                }
                other => {
                    break other.with_context(|| {
                        format!("opening the licmetric store in {}", dir.display())
                    })?;
                }
            }
        };
        // sled creates its files with the process umask.
        private::tighten(dir)?;
        Self::from_db(db)
    }

    /// A store in memory only (tests, replay).
    pub fn temporary() -> anyhow::Result<Store> {
        Self::from_db(sled::Config::new().temporary(true).open()?)
    }

    fn from_db(db: sled::Db) -> anyhow::Result<Store> {
        // Daily results before the split into numbers and details (JSON); recomputed on demand.
        db.drop_tree("results")?;
        let store = Store {
            facts: db.open_tree("facts")?,
            day_results: db.open_tree("day_results")?,
            day_details: db.open_tree("day_details")?,
            products: db.open_tree("products")?,
            bundles: db.open_tree("bundles")?,
            numbers: db.open_tree("numbers")?,
            rule_data: db.open_tree("rule_data")?,
            rule_data_history: db.open_tree("rule_data_history")?,
            meta: db.open_tree("meta")?,
            tokens: db.open_tree("tokens")?,
            plugin_blobs: db.open_tree("plugin_blobs")?,
            plugin_versions: db.open_tree("plugin_versions")?,
            plugin_states: db.open_tree("plugin_states")?,
            audit: db.open_tree("audit")?,
            records_generation: Default::default(),
            db,
            ingest_lock: Mutex::new(()),
            numbers_lock: Mutex::new(()),
            cached_day_reads: Default::default(),
        };
        store.number_unnumbered_records()?;
        Ok(store)
    }

    /// Changes whenever a product, bundle or rule-data record is stored (in this process).
    pub fn records_generation(&self) -> u64 {
        self.records_generation
            .load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn bump_records_generation(&self) {
        self.records_generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// The sequence number of the last committed ingest. An evaluation reads it before it reads
    /// facts; a day computed at sequence `s` is dirty once any fact it reads has a stamp > `s`.
    pub fn committed_sequence(&self) -> anyhow::Result<u64> {
        Ok(self
            .facts
            .get(keys::SEQUENCE)?
            .map(|v| u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])))
            .unwrap_or(0))
    }

    /// The newest sequence number that touched UTC day `day` (days since the epoch) for `kind`.
    pub fn day_stamp(&self, kind: &str, day: i64) -> anyhow::Result<u64> {
        Ok(self
            .facts
            .get(keys::stamp(kind, day))?
            .map(|v| u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])))
            .unwrap_or(0))
    }

    /// Remembers that plugins select `kind` by its own times (sessions, denials), and the widest
    /// look-behind they asked for (linger, denial folding), so a late fact dirties exactly the
    /// days its effect reaches rather than every day from its observation on.
    pub fn note_margin(&self, kind: &str, margin_ms: i64) -> anyhow::Result<()> {
        let key = format!("margin/{kind}");
        if !self.selected_by_own_time(kind)? || margin_ms > self.margin(kind)? {
            self.meta.insert(key, &margin_ms.to_be_bytes())?;
        }
        Ok(())
    }

    /// True once a plugin selected `kind` by its own times (see [`Store::note_margin`]).
    pub fn selected_by_own_time(&self, kind: &str) -> anyhow::Result<bool> {
        Ok(self.meta.contains_key(format!("margin/{kind}"))?)
    }

    /// See [`Store::note_margin`].
    pub fn margin(&self, kind: &str) -> anyhow::Result<i64> {
        Ok(self
            .meta
            .get(format!("margin/{kind}"))?
            .map(|v| i64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])))
            .unwrap_or(0))
    }

    /// Number of stored observations (for health and benchmarks).
    pub fn observation_count(&self) -> usize {
        self.facts.scan_prefix([keys::OBSERVATION]).count()
    }

    /// Flushes everything to disk.
    pub fn flush(&self) -> anyhow::Result<()> {
        self.db.flush()?;
        Ok(())
    }
}
