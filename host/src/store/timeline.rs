//! Reading facts for an evaluation: the states a plugin's requests select, encoded column-wise
//! with interned strings (the shape of the WIT `timeline`).
//!
//! Cost: one pass over the change points of each requested kind (consecutive identical
//! observations were merged at ingest), decoding (without copying strings) only the states a
//! selection can keep: every state in the window, or an entity's latest. Intervals read over a
//! few days (re-counting dirty days) visit only the entities the interval index
//! ([`super::intervals`]) finds for those days.

pub use licmetric_sdk::facts::Interner;
use licmetric_sdk::facts::{ABSENT, OPEN};
use licmetric_sdk::types::{FactRequest, Selection, Timeline, ValueType};

use super::state::{Attr, State};
use super::{DAY_MS, Store, intervals, keys};

/// Most threads one evaluation reads timelines on (one request each at a time).
pub const READERS: usize = 4;

/// The span the evaluated days cover: `[start, end)`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

impl Store {
    /// The timeline of each request, in request order. Several requests are read on up to
    /// [`READERS`] threads, each interning its own strings; the tables are then merged into
    /// `strings` and the string columns renumbered (one hash per distinct string again, small
    /// beside reading the states).
    pub fn timelines(
        &self,
        requests: &[FactRequest],
        window: Window,
        strings: &mut Interner,
    ) -> anyhow::Result<Vec<Timeline>> {
        let readers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(READERS)
            .min(requests.len());
        if readers <= 1 {
            return requests
                .iter()
                .map(|r| self.timeline(r, window, strings))
                .collect();
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let read: Vec<std::sync::Mutex<Option<anyhow::Result<(Timeline, Interner)>>>> = requests
            .iter()
            .map(|_| std::sync::Mutex::new(None))
            .collect();
        std::thread::scope(|scope| {
            for _ in 0..readers {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(request) = requests.get(i) else {
                            break;
                        };
                        let mut own = Interner::default();
                        let timeline = self.timeline(request, window, &mut own);
                        *read[i].lock().expect("timeline") = Some(timeline.map(|t| (t, own)));
                    }
                });
            }
        });
        let mut out = Vec::with_capacity(requests.len());
        for (request, slot) in requests.iter().zip(read) {
            let (mut timeline, own) = slot.into_inner().expect("timeline").expect("read")?;
            let renumber = strings.absorb(&own);
            for e in timeline.entity.iter_mut() {
                *e = renumber[*e as usize];
            }
            for (column, attribute) in timeline.columns.iter_mut().zip(&request.attributes) {
                if matches!(attribute.type_, ValueType::Text | ValueType::Decimal) {
                    for v in column.iter_mut().filter(|v| **v != ABSENT) {
                        *v = renumber[*v as usize] as i64;
                    }
                }
            }
            out.push(timeline);
        }
        Ok(out)
    }

    fn timeline(
        &self,
        request: &FactRequest,
        window: Window,
        strings: &mut Interner,
    ) -> anyhow::Result<Timeline> {
        if let Selection::Intervals(sel) = &request.selection {
            let from = window.start.saturating_sub(sel.margin_ms);
            let bounds = intervals::Bounds {
                start: sel.start.clone(),
                end: sel.end.clone(),
            };
            if window.end.saturating_sub(from) <= intervals::MAX_WINDOW_DAYS * DAY_MS
                && self.interval_index(&request.kind, &bounds)?
            {
                return self.indexed_timeline(request, window, from, strings);
            }
        }
        self.scanned_timeline(request, window, strings)
    }

    /// The entities the interval index finds for `[from, window.end)`, each read by its own
    /// change points.
    pub(super) fn indexed_timeline(
        &self,
        request: &FactRequest,
        window: Window,
        from: i64,
        strings: &mut Interner,
    ) -> anyhow::Result<Timeline> {
        let mut out = empty(request);
        let mut changes: Vec<(i64, sled::IVec)> = Vec::new();
        for key in self.indexed_entities(&request.kind, from, window.end)? {
            let key = std::str::from_utf8(&key)?;
            let entity = keys::entity(keys::CHANGE, &request.kind, key);
            changes.clear();
            for item in self.facts.scan_prefix(&entity) {
                let (k, v) = item?;
                changes.push((keys::split_observation(&k[1..]).1, v));
            }
            select(request, window, &entity[1..], &changes, strings, &mut out)?;
        }
        Ok(out)
    }

    /// Every change point of the kind, in one pass. Walking sled's tree and decoding the
    /// states cost about the same, so they run on two threads: one scans and hands over the
    /// change points in batches, this one selects and encodes them.
    pub(super) fn scanned_timeline(
        &self,
        request: &FactRequest,
        window: Window,
        strings: &mut Interner,
    ) -> anyhow::Result<Timeline> {
        /// Change points handed over at a time, and batches in flight.
        const BATCH: usize = 4096;
        const IN_FLIGHT: usize = 4;
        type Batch = Vec<(sled::IVec, sled::IVec)>;
        let (send, receive) = std::sync::mpsc::sync_channel::<sled::Result<Batch>>(IN_FLIGHT);
        let prefix = keys::kind(keys::CHANGE, &request.kind);
        std::thread::scope(|scope| {
            scope.spawn(move || {
                let mut batch = Vec::with_capacity(BATCH);
                for item in self.facts.scan_prefix(prefix) {
                    match item {
                        Ok(kv) => batch.push(kv),
                        Err(e) => {
                            let _ = send.send(Err(e));
                            return;
                        }
                    }
                    if batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        if send.send(Ok(full)).is_err() {
                            return; // The reader stopped on an error.
                        }
                    }
                }
                let _ = send.send(Ok(batch));
            });
            let mut out = empty(request);
            let mut entity: Vec<u8> = Vec::new();
            let mut changes: Vec<(i64, sled::IVec)> = Vec::new();
            for batch in receive {
                for (k, v) in batch? {
                    let (this_entity, at) = keys::split_observation(&k[1..]);
                    if this_entity != entity.as_slice() {
                        select(request, window, &entity, &changes, strings, &mut out)?;
                        changes.clear();
                        entity.clear();
                        entity.extend_from_slice(this_entity);
                    }
                    changes.push((at, v));
                }
            }
            select(request, window, &entity, &changes, strings, &mut out)?;
            Ok(out)
        })
    }
}

fn empty(request: &FactRequest) -> Timeline {
    Timeline {
        kind: request.kind.clone(),
        entity: Vec::new(),
        from: Vec::new(),
        to: Vec::new(),
        columns: vec![Vec::new(); request.attributes.len()],
    }
}

/// Appends the states of one entity (its change points, in time order) that the request keeps.
/// `entity` is the `kind \0 key \0` part of the change points' keys.
fn select(
    request: &FactRequest,
    window: Window,
    entity: &[u8],
    changes: &[(i64, sled::IVec)],
    strings: &mut Interner,
    out: &mut Timeline,
) -> anyhow::Result<()> {
    let Some((last_at, last_bytes)) = changes.last() else {
        return Ok(());
    };
    let key = entity_key(entity)?;
    // Intervals and instants read only the latest state; states decode each in the window.
    let mut scratch = Vec::new();
    match &request.selection {
        Selection::States => {
            for (i, (from, bytes)) in changes.iter().enumerate() {
                let to = changes.get(i + 1).map(|c| c.0).unwrap_or(OPEN);
                if *from < window.end && to > window.start {
                    let mut scratch = Vec::new();
                    let state = State::decode(bytes, &mut scratch)?;
                    if !state.retired {
                        push(request, key, &state, *from, to, None, strings, out);
                    }
                }
            }
        }
        Selection::Intervals(sel) => {
            // The latest state; a retirement without `end` ends the interval (SPEC §2.3).
            let last = State::decode(last_bytes, &mut scratch)?;
            let mut earlier = Vec::new();
            let (state, at, retired_at) = if last.retired {
                let mut found = None;
                for (i, (_, bytes)) in changes.iter().enumerate().rev() {
                    if !State::decode(bytes, &mut Vec::new())?.retired {
                        found = Some(i);
                        break;
                    }
                }
                let Some(i) = found else {
                    return Ok(());
                };
                let state = State::decode(&changes[i].1, &mut earlier)?;
                (state, changes[i].0, Some(*last_at))
            } else {
                (last, *last_at, None)
            };
            let time = |name: &str| state.get(name).and_then(Attr::time);
            let Some(start) = time(&sel.start) else {
                // Missing start: send it anyway so the plugin reports the missing attribute.
                push(request, key, &state, at, OPEN, None, strings, out);
                return Ok(());
            };
            let end = time(&sel.end).or(retired_at);
            let reach = end.map(|e| e.saturating_add(sel.margin_ms)).unwrap_or(OPEN);
            if start < window.end && reach > window.start {
                let end_override = if time(&sel.end).is_none() {
                    retired_at.map(|r| (sel.end.as_str(), r))
                } else {
                    None
                };
                push(
                    request,
                    key,
                    &state,
                    start,
                    end.unwrap_or(OPEN),
                    end_override,
                    strings,
                    out,
                );
            }
        }
        Selection::Instants(sel) => {
            let last = State::decode(last_bytes, &mut scratch)?;
            if last.retired {
                return Ok(());
            }
            match last.get(&sel.time).and_then(Attr::time) {
                Some(t) if t >= window.start.saturating_sub(sel.margin_ms) && t < window.end => {
                    push(
                        request,
                        key,
                        &last,
                        t,
                        t.saturating_add(1),
                        None,
                        strings,
                        out,
                    )
                }
                Some(_) => {}
                None => push(
                    request,
                    key,
                    &last,
                    *last_at,
                    last_at + 1,
                    None,
                    strings,
                    out,
                ),
            }
        }
    }
    Ok(())
}

/// The key of an entity from the `kind \0 key \0` part of its change points' keys.
fn entity_key(entity: &[u8]) -> anyhow::Result<&str> {
    let start = entity.iter().position(|&b| b == 0).map_or(0, |p| p + 1);
    let end = entity.len().saturating_sub(1).max(start);
    Ok(std::str::from_utf8(&entity[start..end])?)
}

#[allow(clippy::too_many_arguments)]
fn push(
    request: &FactRequest,
    key: &str,
    state: &State<'_>,
    from: i64,
    to: i64,
    time_override: Option<(&str, i64)>,
    strings: &mut Interner,
    out: &mut Timeline,
) {
    out.entity.push(strings.intern(key));
    out.from.push(from);
    out.to.push(to);
    for (column, attribute) in out.columns.iter_mut().zip(&request.attributes) {
        let value = match time_override {
            Some((name, t)) if name == attribute.name => t,
            _ => match state.get(&attribute.name) {
                Some(v) => encode(v, attribute.type_, strings),
                None => ABSENT,
            },
        };
        column.push(value);
    }
}

/// One value in the column encoding of the WIT `timeline`. A value of the wrong type is absent
/// (standard kinds were type-checked at ingest; unknown kinds are the plugin's to judge).
fn encode(value: &Attr<'_>, ty: ValueType, strings: &mut Interner) -> i64 {
    let intern = |strings: &mut Interner, s: &str| strings.intern(s) as i64;
    match (ty, *value) {
        (_, Attr::Null) => ABSENT,
        (ValueType::Text, Attr::Bool(b)) => intern(strings, if b { "true" } else { "false" }),
        (ValueType::Text | ValueType::Decimal, Attr::Integer(i)) => intern(strings, &i.to_string()),
        (ValueType::Text, Attr::Number(t) | Attr::Text(t) | Attr::Time(_, t) | Attr::Json(t)) => {
            intern(strings, t)
        }
        (ValueType::Decimal, Attr::Number(t)) => intern(strings, t),
        (ValueType::Decimal, Attr::Text(t) | Attr::Time(_, t)) => intern(strings, t.trim()),
        (ValueType::Integer, Attr::Integer(i)) => i,
        (ValueType::Integer, Attr::Number(t)) => t.parse().unwrap_or(ABSENT),
        (ValueType::Integer, Attr::Text(t) | Attr::Time(_, t)) => {
            t.trim().parse().unwrap_or(ABSENT)
        }
        (ValueType::Boolean, Attr::Bool(b)) => b as i64,
        (ValueType::Time, Attr::Time(t, _)) => t,
        _ => ABSENT,
    }
}
