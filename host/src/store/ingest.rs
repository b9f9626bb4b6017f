//! NDJSON ingest: validate the whole batch, then commit it atomically and durably.
//!
//! Idempotent: a fact's id (given, or a hash of its content) is indexed; the same fact again is
//! skipped, the same id with other content rejects the batch. Observations are kept as they came
//! (audit trail); alongside, the store keeps the *change points* — observations whose state
//! differs from the one before — so consecutive identical observations form one interval and a
//! back-dated fact lands between the right neighbours. Every day a fact may change is stamped
//! with the batch's sequence number, which is how evaluation finds dirty days.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::Utc;

use super::fact::{self, Observation};
use super::{DAY_MS, Store, intervals, keys, state};

/// What an accepted batch did.
#[derive(Debug, Clone, Default, serde::Serialize, PartialEq, Eq)]
pub struct IngestReport {
    /// Lines read (blank lines excluded).
    pub received: usize,
    /// New facts stored.
    pub stored: usize,
    /// Facts already stored (same id, same content), skipped.
    pub duplicates: usize,
    /// Sequence number of the commit (unchanged when nothing was new).
    pub sequence: u64,
}

/// One bad line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LineError {
    /// 1-based line number in the batch.
    pub line: usize,
    pub field: String,
    pub reason: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.reason)
    }
}

/// Why a batch was rejected; nothing of it was stored.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("{0}")]
    Invalid(LineError),
    #[error("storage failure: {0}")]
    Storage(#[from] anyhow::Error),
}

impl From<sled::Error> for BatchError {
    fn from(e: sled::Error) -> Self {
        BatchError::Storage(e.into())
    }
}

/// The longest line a batch may hold by default (one fact), in bytes.
pub const MAX_LINE_BYTES: usize = 1 << 20;

impl Store {
    /// [`Store::ingest`] of a body as received: a line longer than `max_line` bytes, or bytes
    /// that are not UTF-8, refuse the batch naming the line (and the byte within it).
    pub fn ingest_bytes(&self, body: &[u8], max_line: usize) -> Result<IngestReport, BatchError> {
        if let Some((i, line)) = body
            .split(|b| *b == b'\n')
            .enumerate()
            .find(|(_, line)| line.len() > max_line)
        {
            return Err(BatchError::Invalid(LineError {
                line: i + 1,
                field: "(line)".into(),
                reason: format!(
                    "is {} bytes, over the {max_line}-byte limit of one fact",
                    line.len()
                ),
            }));
        }
        match std::str::from_utf8(body) {
            Ok(text) => self.ingest(text),
            Err(e) => {
                let valid = &body[..e.valid_up_to()];
                let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                Err(BatchError::Invalid(LineError {
                    line: valid.iter().filter(|b| **b == b'\n').count() + 1,
                    field: "(line)".into(),
                    reason: format!(
                        "not UTF-8 (byte {} of the line)",
                        e.valid_up_to() - line_start + 1
                    ),
                }))
            }
        }
    }

    /// Validates and stores one NDJSON batch. Durable when it returns `Ok`.
    pub fn ingest(&self, ndjson: &str) -> Result<IngestReport, BatchError> {
        let mut parsed = Vec::new();
        for (i, line) in ndjson.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let o = fact::parse(line).map_err(|e| {
                BatchError::Invalid(LineError {
                    line: i + 1,
                    field: e.field,
                    reason: e.reason,
                })
            })?;
            parsed.push((i + 1, o));
        }
        self.ingest_observations(parsed)
    }

    /// Stores already parsed observations (with their line numbers, for errors).
    pub fn ingest_observations(
        &self,
        parsed: Vec<(usize, Observation)>,
    ) -> Result<IngestReport, BatchError> {
        let mut report = IngestReport {
            received: parsed.len(),
            ..Default::default()
        };
        let _guard = self.ingest_lock.lock().unwrap_or_else(|p| p.into_inner());

        // 1. Drop facts already stored or repeated in the batch; refuse a reused id.
        let mut by_id: HashMap<&str, usize> = HashMap::new();
        let mut fresh: Vec<&Observation> = Vec::new();
        for (index, (line, o)) in parsed.iter().enumerate() {
            let conflict = |reason: String| {
                BatchError::Invalid(LineError {
                    line: *line,
                    field: "id".into(),
                    reason,
                })
            };
            if let Some(&earlier) = by_id.get(o.id.as_str()) {
                if !same_fact(&parsed[earlier].1, o) {
                    return Err(conflict(format!(
                        "id {:?} is used by line {} for a different fact",
                        o.id, parsed[earlier].0
                    )));
                }
                report.duplicates += 1;
                continue;
            }
            by_id.insert(&o.id, index);
            match self.facts.get(id_key(&o.id))? {
                Some(stored_key) => {
                    let stored = self.facts.get(prefixed(keys::OBSERVATION, &stored_key))?;
                    let same = stored
                        .and_then(|v| serde_json::from_slice::<Observation>(&v).ok())
                        .is_some_and(|s| same_fact(&s, o));
                    if !same {
                        return Err(conflict(format!(
                            "id {:?} is already stored for a different fact",
                            o.id
                        )));
                    }
                    report.duplicates += 1;
                }
                None => fresh.push(o),
            }
        }
        if fresh.is_empty() {
            report.sequence = self.committed_sequence()?;
            return Ok(report);
        }

        // 2. Change points and dirty days, entity by entity.
        let sequence = self.committed_sequence()? + 1;
        let mut batch = sled::Batch::default();
        let mut stamps: BTreeMap<(String, i64), ()> = BTreeMap::new();
        let mut entities: BTreeMap<(&str, &str), Vec<&Observation>> = BTreeMap::new();
        for o in &fresh {
            entities
                .entry((o.kind.as_str(), o.key.as_str()))
                .or_default()
                .push(o);
        }
        let today = Utc::now().timestamp_millis().div_euclid(DAY_MS);
        let mut indexed: HashMap<&str, Option<intervals::Bounds>> = HashMap::new();
        for ((kind, key), mut new) in entities {
            new.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
            let margin = self.margin(kind)?;
            let mut dirty: Vec<(i64, i64)> = Vec::new();
            let mut state_spans: Vec<(i64, i64)> = Vec::new();
            self.entity_changes(kind, key, &new, &mut batch, &mut state_spans)?;
            // A kind selected by its own times only changes the days those times reach;
            // any other kind changes its state from the observation on.
            if !self.selected_by_own_time(kind)? {
                dirty.extend(state_spans);
            }
            // Interval and instant facts (sessions, denials) act at their own times, and the
            // state they replace did too.
            // The interval selected today is the latest state not retired (a retirement ends
            // it): its days change too when a late observation ends, shortens or extends it
            // (SPEC §4.10.3), even when the latest observation is the retirement.
            let previous = self.latest_states(kind, key)?;
            for p in &previous {
                dirty.extend(time_span(p, margin));
            }
            for o in &new {
                dirty.extend(time_span(o, margin));
            }
            let bounds = match indexed.get(kind) {
                Some(b) => b.clone(),
                None => {
                    let b = self.indexed_bounds(kind)?;
                    indexed.insert(kind, b.clone());
                    b
                }
            };
            if let Some(bounds) = bounds {
                let before: Vec<&Observation> = previous.iter().rev().collect();
                let mut after: Vec<&Observation> = before.iter().chain(&new).copied().collect();
                after.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
                intervals::update(&mut batch, &bounds, kind, key, &before, &after);
            }
            for (from, to) in dirty {
                let first = from.div_euclid(DAY_MS);
                let last = if to == i64::MAX {
                    today.max(first)
                } else {
                    (to - 1).div_euclid(DAY_MS)
                };
                for day in first..=last.min(first + 3660) {
                    stamps.insert((kind.to_string(), day), ());
                }
            }
            for o in &new {
                let k = keys::observation(keys::OBSERVATION, &o.kind, &o.key, o.at, &o.id);
                batch.insert(id_key(&o.id), &k[1..]);
                batch.insert(k, serde_json::to_vec(o).map_err(anyhow::Error::from)?);
            }
        }
        for (kind, day) in stamps.into_keys() {
            batch.insert(keys::stamp(&kind, day), &sequence.to_be_bytes());
        }
        self.tally_sources(&fresh, &mut batch)?;
        batch.insert(keys::SEQUENCE, &sequence.to_be_bytes());

        // 3. Commit atomically, durable before we answer.
        self.facts.apply_batch(batch)?;
        self.facts.flush()?;
        report.stored = fresh.len();
        report.sequence = sequence;
        Ok(report)
    }

    /// Updates change points for the new observations of one entity and collects the spans
    /// whose state may have changed: `[o.at, next observation)` for each new `o`.
    fn entity_changes(
        &self,
        kind: &str,
        key: &str,
        new: &[&Observation],
        batch: &mut sled::Batch,
        dirty: &mut Vec<(i64, i64)>,
    ) -> Result<(), BatchError> {
        let prefix = keys::entity(keys::OBSERVATION, kind, key);
        let load = |item: sled::Result<(sled::IVec, sled::IVec)>| -> Result<(Vec<u8>, Observation), BatchError> {
            let (k, v) = item?;
            let o = serde_json::from_slice(&v).map_err(anyhow::Error::from)?;
            Ok((k.to_vec(), o))
        };
        // The merged sequence around each new observation: stored neighbours and batch ones.
        let obs_key =
            |o: &Observation| keys::observation(keys::OBSERVATION, kind, key, o.at, &o.id);
        let mut positions: Vec<(Vec<u8>, Observation)> =
            new.iter().map(|o| (obs_key(o), (*o).clone())).collect();
        let stored_pred = |k: &[u8]| -> Result<Option<(Vec<u8>, Observation)>, BatchError> {
            self.facts
                .range(prefix.clone()..k.to_vec())
                .next_back()
                .map(load)
                .transpose()
        };
        let stored_succ = |k: &[u8]| -> Result<Option<(Vec<u8>, Observation)>, BatchError> {
            let mut after = k.to_vec();
            after.push(0);
            // The next key may be another entity's, or not an observation at all.
            match self.facts.range(after..).next() {
                Some(Ok((k, _))) if !k.starts_with(&prefix) => Ok(None),
                Some(item) => load(item).map(Some),
                None => Ok(None),
            }
        };
        // Successors of new observations also need their change point re-decided.
        let mut to_decide: Vec<(Vec<u8>, Observation)> = Vec::new();
        for (i, (k, o)) in positions.iter().enumerate() {
            to_decide.push((k.clone(), o.clone()));
            let batch_next = positions.get(i + 1);
            let stored_next = stored_succ(k)?;
            let next = match (stored_next, batch_next) {
                (Some(s), Some(b)) => Some(if s.0 < b.0 { s } else { b.clone() }),
                (Some(s), None) => Some(s),
                (None, Some(b)) => Some(b.clone()),
                (None, None) => None,
            };
            dirty.push((o.at, next.as_ref().map(|n| n.1.at).unwrap_or(i64::MAX)));
            if let Some(n) = next {
                if !positions.iter().any(|p| p.0 == n.0) {
                    to_decide.push(n);
                }
            }
        }
        positions.sort_by(|a, b| a.0.cmp(&b.0));
        for (k, o) in to_decide {
            let batch_pred = positions.iter().filter(|p| p.0 < k).next_back();
            let stored = stored_pred(&k)?;
            let pred = match (stored, batch_pred) {
                (Some(s), Some(b)) => Some(if s.0 > b.0 { s.1 } else { b.1.clone() }),
                (Some(s), None) => Some(s.1),
                (None, Some(b)) => Some(b.1.clone()),
                (None, None) => None,
            };
            let change_key = prefixed(keys::CHANGE, &k[1..]);
            if pred.is_none_or(|p| !p.same_state(&o)) {
                batch.insert(change_key, state::encode(&o));
            } else {
                batch.remove(change_key);
            }
        }
        Ok(())
    }

    /// The entity's latest stored observation and, when that is a retirement, the latest one
    /// before it that is not (the state a retirement ends). Reads back only that far.
    fn latest_states(&self, kind: &str, key: &str) -> Result<Vec<Observation>, BatchError> {
        let mut out = Vec::new();
        for item in self
            .facts
            .scan_prefix(keys::entity(keys::OBSERVATION, kind, key))
            .rev()
        {
            let (_, v) = item?;
            let Ok(o) = serde_json::from_slice::<Observation>(&v) else {
                continue;
            };
            let retired = o.retired;
            out.push(o);
            if !retired {
                break;
            }
        }
        Ok(out)
    }
}

/// The span of an observation's own time attributes (session start..end, a denial's time),
/// widened by the look-behind plugins asked for; `None` when it has none.
fn time_span(o: &Observation, margin: i64) -> Option<(i64, i64)> {
    let times: Vec<i64> = o.attrs.values().filter_map(state::instant).collect();
    let first = *times.iter().min()?;
    let last = *times.iter().max()?;
    let open = o.kind == "session" && !o.attrs.contains_key("end");
    Some((
        first,
        if open {
            i64::MAX
        } else {
            last.saturating_add(margin).saturating_add(1)
        },
    ))
}

fn same_fact(a: &Observation, b: &Observation) -> bool {
    a.kind == b.kind && a.key == b.key && a.at == b.at && a.source == b.source && a.same_state(b)
}

fn id_key(id: &str) -> Vec<u8> {
    prefixed(keys::ID, id.as_bytes())
}

fn prefixed(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(rest.len() + 1);
    k.push(prefix);
    k.extend_from_slice(rest);
    k
}
