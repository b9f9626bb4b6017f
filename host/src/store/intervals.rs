//! An index of interval facts (sessions) by the UTC days their interval covers, so that
//! re-counting a few dirty days reads the entities that reach them instead of every entity of
//! the kind.
//!
//! The store does not know which attributes bound a kind's intervals; a plugin's `intervals`
//! selection says (`start`, `end`). The first narrow read of a kind registers that pair and
//! builds the index from the stored observations ([`Store::interval_index`], once, under the
//! ingest lock); from then on every ingest keeps it exact for the entities it touches, in the
//! same atomic batch. A kind read with another pair is read by a full scan.
//!
//! Layout: `x kind \0 day key` → empty, one key per UTC day of the entity's selected interval
//! (the latest state not retired; a retirement without `end` ends it), and [`ALWAYS`] in place
//! of the day for open, very long or start-less intervals, which every read includes.

use std::collections::BTreeSet;

use super::fact::Observation;
use super::state;
use super::{DAY_MS, Store, keys};

/// The day written for intervals every read must include: open (no end), spanning more than
/// [`MAX_DAYS`], or without a start (the plugin reports the missing attribute).
const ALWAYS: i64 = i64::MAX;
/// Longest interval indexed day by day; longer ones are [`ALWAYS`] (bounds the index's size).
const MAX_DAYS: i64 = 400;
/// Widest window (with the margin) read through the index; wider windows scan the kind.
pub const MAX_WINDOW_DAYS: i64 = 14;

/// The attributes bounding a kind's intervals, as a plugin's selection names them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bounds {
    pub start: String,
    pub end: String,
}

impl Store {
    /// The bounds `kind` is indexed by, if it is.
    pub(super) fn indexed_bounds(&self, kind: &str) -> anyhow::Result<Option<Bounds>> {
        Ok(match self.meta.get(meta_key(kind))? {
            Some(v) => Some(postcard::from_bytes(&v)?),
            None => None,
        })
    }

    /// True when `kind` is indexed by `bounds`; otherwise, when the kind is not indexed yet,
    /// builds its index by `bounds` from every stored observation of the kind (one pass,
    /// holding the ingest lock so no batch slips between the pass and the registration) and
    /// answers true. False when the kind is indexed by other bounds.
    pub fn interval_index(&self, kind: &str, bounds: &Bounds) -> anyhow::Result<bool> {
        if let Some(held) = self.indexed_bounds(kind)? {
            return Ok(held == *bounds);
        }
        let _guard = self.ingest_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = self.indexed_bounds(kind)? {
            return Ok(held == *bounds);
        }
        let mut batch = sled::Batch::default();
        let mut entity: Vec<u8> = Vec::new();
        let mut trailing: Vec<Observation> = Vec::new();
        let flush = |trailing: &mut Vec<Observation>, batch: &mut sled::Batch| {
            if let Some(last) = trailing.last() {
                let run: Vec<&Observation> = trailing.iter().collect();
                for day in days(&run, bounds) {
                    batch.insert(index_key(&last.kind, day, &last.key), &[]);
                }
            }
            trailing.clear();
        };
        for item in self.facts.scan_prefix(keys::kind(keys::OBSERVATION, kind)) {
            let (k, v) = item?;
            let (this_entity, _) = keys::split_observation(&k[1..]);
            if this_entity != entity.as_slice() {
                flush(&mut trailing, &mut batch);
                entity.clear();
                entity.extend_from_slice(this_entity);
            }
            let o: Observation = serde_json::from_slice(&v)?;
            // Only the run back to the latest state not retired matters.
            if !o.retired {
                trailing.clear();
            }
            trailing.push(o);
        }
        flush(&mut trailing, &mut batch);
        self.facts.apply_batch(batch)?;
        // The registration is written after the entries it promises (a crash between leaves
        // entries without it: the next registration writes them again).
        self.meta
            .insert(meta_key(kind), postcard::to_stdvec(bounds)?)?;
        Ok(true)
    }

    /// The keys of the entities whose selected interval may reach `[from, to)`, in key order.
    /// One range read per day plus the always-read ones.
    pub(super) fn indexed_entities(
        &self,
        kind: &str,
        from: i64,
        to: i64,
    ) -> anyhow::Result<BTreeSet<Vec<u8>>> {
        let mut out = BTreeSet::new();
        let prefix_len = keys::kind(keys::INTERVAL, kind).len() + 8;
        let first = from.div_euclid(DAY_MS);
        let last = (to - 1).div_euclid(DAY_MS);
        for day in (first..=last).chain([ALWAYS]) {
            for item in self.facts.scan_prefix(day_prefix(kind, day)) {
                let (k, _) = item?;
                out.insert(k[prefix_len..].to_vec());
            }
        }
        Ok(out)
    }
}

/// Ingest's part: the index entries of one entity before and after a batch. `before` and
/// `after` hold, oldest first, at least the entity's observations from its latest not retired
/// to its latest (see [`days`]).
pub(super) fn update(
    batch: &mut sled::Batch,
    bounds: &Bounds,
    kind: &str,
    key: &str,
    before: &[&Observation],
    after: &[&Observation],
) {
    let old = days(before, bounds);
    let new = days(after, bounds);
    for day in old.difference(&new) {
        batch.remove(index_key(kind, *day, key));
    }
    for day in new.difference(&old) {
        batch.insert(index_key(kind, *day, key), &[]);
    }
}

/// The index days of an entity whose trailing observations, oldest first, are `run`: the
/// newest not retired is the selected state; a retirement after it ends it when it has no end
/// (the newest retirement, so the days are never fewer than the read selects).
fn days(run: &[&Observation], bounds: &Bounds) -> BTreeSet<i64> {
    let Some(selected) = run.iter().rposition(|o| !o.retired) else {
        return BTreeSet::new();
    };
    let retired_at = run[selected + 1..].last().map(|o| o.at);
    // The instants a timeline read sees (`Attr::time` of the stored state).
    let time = |name: &str| run[selected].attrs.get(name).and_then(state::instant);
    let (Some(start), Some(end)) = (time(&bounds.start), time(&bounds.end).or(retired_at)) else {
        return [ALWAYS].into();
    };
    let (first, last) = (
        start.min(end).div_euclid(DAY_MS),
        start.max(end).div_euclid(DAY_MS),
    );
    if last - first > MAX_DAYS {
        return [ALWAYS].into();
    }
    (first..=last).collect()
}

fn meta_key(kind: &str) -> String {
    format!("intervals/{kind}")
}

fn day_prefix(kind: &str, day: i64) -> Vec<u8> {
    let mut k = keys::kind(keys::INTERVAL, kind);
    k.extend_from_slice(&keys::instant(day));
    k
}

fn index_key(kind: &str, day: i64, key: &str) -> Vec<u8> {
    let mut k = day_prefix(kind, day);
    k.extend_from_slice(key.as_bytes());
    k
}

#[cfg(test)]
mod tests {
    use licmetric_sdk::facts::{Interner, request};
    use licmetric_sdk::types::{IntervalSelection, Selection, ValueType};
    use proptest::prelude::*;

    use super::*;
    use crate::store::timeline::Window;

    const T0: i64 = 1_780_000_000_000 - 1_780_000_000_000 % DAY_MS;
    const HOUR: i64 = 3_600_000;

    /// One observation of login `key` `hours` after T0 (a kind the store does not know, so a
    /// start may be missing): an interval (start, optional end,
    /// both in hours from T0, the start optional too) or a retirement.
    #[derive(Debug, Clone)]
    enum Fact {
        Session(u8, i64, Option<i64>, Option<i64>),
        Retired(u8, i64),
    }

    fn time(hours: i64) -> String {
        chrono::DateTime::from_timestamp_millis(T0 + hours * HOUR)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    fn line(f: &Fact) -> String {
        match f {
            Fact::Session(key, at, start, end) => {
                let mut attrs = serde_json::json!({"user": format!("u{key}")});
                if let Some(s) = start {
                    attrs["start"] = time(*s).into();
                }
                if let Some(e) = end {
                    attrs["end"] = time(*e).into();
                }
                serde_json::json!({"kind": "login", "key": format!("s{key}"), "at": time(*at), "attrs": attrs})
                    .to_string()
            }
            Fact::Retired(key, at) => serde_json::json!({
                "kind": "login", "key": format!("s{key}"), "at": time(*at), "retired": true
            })
            .to_string(),
        }
    }

    fn fact() -> impl Strategy<Value = Fact> {
        let hours = 0i64..(20 * 24);
        prop_oneof![
            6 => (0u8..12, hours.clone(), proptest::option::weighted(0.95, hours.clone()),
                  proptest::option::weighted(0.7, hours.clone()))
                .prop_map(|(k, at, s, e)| Fact::Session(k, at, s, e)),
            2 => (0u8..12, hours).prop_map(|(k, at)| Fact::Retired(k, at)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// Whatever the order of batches, back-dated facts, retirements, open or start-less
        /// sessions, and whether the index was built before or after them, reading a few days
        /// through the index gives exactly what a scan of the whole kind gives.
        #[test]
        fn an_indexed_read_equals_a_full_scan(
            batches in proptest::collection::vec(proptest::collection::vec(fact(), 1..8), 1..8),
            built_after in 0usize..8,
            windows in proptest::collection::vec((0i64..22, 1i64..4, prop_oneof![Just(0i64), Just(HOUR), Just(30 * HOUR)]), 1..6),
        ) {
            let store = Store::temporary().unwrap();
            let bounds = Bounds { start: "start".into(), end: "end".into() };
            for (i, batch) in batches.iter().enumerate() {
                if i == built_after {
                    prop_assert!(store.interval_index("login", &bounds).unwrap());
                }
                let lines: Vec<String> = batch.iter().map(line).collect();
                store.ingest(&lines.join("\n")).unwrap();
            }
            prop_assert!(store.interval_index("login", &bounds).unwrap());
            for (first_day, days, margin) in windows {
                let request = request(
                    "login",
                    &[("user", ValueType::Text), ("start", ValueType::Time), ("end", ValueType::Time)],
                    Selection::Intervals(IntervalSelection {
                        start: "start".into(),
                        end: "end".into(),
                        margin_ms: margin,
                    }),
                );
                let window = Window { start: T0 + first_day * DAY_MS, end: T0 + (first_day + days) * DAY_MS };
                let (mut a, mut b) = (Interner::default(), Interner::default());
                let scanned = store.scanned_timeline(&request, window, &mut a).unwrap();
                let indexed = store
                    .indexed_timeline(&request, window, window.start - margin, &mut b)
                    .unwrap();
                prop_assert_eq!(&indexed.entity, &scanned.entity);
                prop_assert_eq!(&indexed.from, &scanned.from);
                prop_assert_eq!(&indexed.to, &scanned.to);
                prop_assert_eq!(&indexed.columns, &scanned.columns);
                let (a, b) = (a.into_table(), b.into_table());
                prop_assert_eq!((a.bytes, a.ends), (b.bytes, b.ends));
            }
        }
    }
}
