//! Reading facts for an evaluation: the states a plugin's requests select, encoded column-wise
//! with interned strings (the shape of the WIT `timeline`).
//!
//! Cost: one pass over the change points of each requested kind (consecutive identical
//! observations were merged at ingest), plus one JSON decode per change point.

pub use licmetric_sdk::facts::Interner;
use licmetric_sdk::facts::{ABSENT, OPEN};
use licmetric_sdk::types::{FactRequest, Selection, Timeline, ValueType};
use serde_json::Value;

use super::fact::{self, Observation};
use super::{Store, keys};

/// The span the evaluated days cover: `[start, end)`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

impl Store {
    /// The timeline of each request, in request order.
    pub fn timelines(
        &self,
        requests: &[FactRequest],
        window: Window,
        strings: &mut Interner,
    ) -> anyhow::Result<Vec<Timeline>> {
        requests
            .iter()
            .map(|r| self.timeline(r, window, strings))
            .collect()
    }

    fn timeline(
        &self,
        request: &FactRequest,
        window: Window,
        strings: &mut Interner,
    ) -> anyhow::Result<Timeline> {
        let mut out = Timeline {
            kind: request.kind.clone(),
            entity: Vec::new(),
            from: Vec::new(),
            to: Vec::new(),
            columns: vec![Vec::new(); request.attributes.len()],
        };
        let mut entity: Vec<u8> = Vec::new();
        let mut changes: Vec<(i64, Observation)> = Vec::new();
        for item in self
            .facts
            .scan_prefix(keys::kind(keys::CHANGE, &request.kind))
        {
            let (k, v) = item?;
            let (this_entity, at) = keys::split_observation(&k[1..]);
            if this_entity != entity.as_slice() {
                select(request, window, &changes, strings, &mut out);
                changes.clear();
                entity = this_entity.to_vec();
            }
            changes.push((at, serde_json::from_slice(&v)?));
        }
        select(request, window, &changes, strings, &mut out);
        Ok(out)
    }
}

/// Appends the states of one entity (its change points, in time order) that the request keeps.
fn select(
    request: &FactRequest,
    window: Window,
    changes: &[(i64, Observation)],
    strings: &mut Interner,
    out: &mut Timeline,
) {
    let Some((_, last)) = changes.last() else {
        return;
    };
    match &request.selection {
        Selection::States => {
            for (i, (from, o)) in changes.iter().enumerate() {
                let to = changes.get(i + 1).map(|c| c.0).unwrap_or(OPEN);
                if !o.retired && *from < window.end && to > window.start {
                    push(request, o, *from, to, None, strings, out);
                }
            }
        }
        Selection::Intervals(sel) => {
            // The latest state; a retirement without `end` ends the interval (SPEC §2.3).
            let (state, retired_at) = if last.retired {
                match changes.iter().rev().find(|c| !c.1.retired) {
                    Some((_, o)) => (o, Some(last.at)),
                    None => return,
                }
            } else {
                (last, None)
            };
            let time = |name: &str| {
                state
                    .attrs
                    .get(name)
                    .and_then(Value::as_str)
                    .and_then(|t| fact::parse_time(t).ok())
            };
            let Some(start) = time(&sel.start) else {
                // Missing start: send it anyway so the plugin reports the missing attribute.
                push(request, state, state.at, OPEN, None, strings, out);
                return;
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
                    state,
                    start,
                    end.unwrap_or(OPEN),
                    end_override,
                    strings,
                    out,
                );
            }
        }
        Selection::Instants(sel) => {
            if last.retired {
                return;
            }
            let t = last
                .attrs
                .get(&sel.time)
                .and_then(Value::as_str)
                .and_then(|t| fact::parse_time(t).ok());
            match t {
                Some(t) if t >= window.start.saturating_sub(sel.margin_ms) && t < window.end => {
                    push(request, last, t, t.saturating_add(1), None, strings, out)
                }
                Some(_) => {}
                None => push(request, last, last.at, last.at + 1, None, strings, out),
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn push(
    request: &FactRequest,
    o: &Observation,
    from: i64,
    to: i64,
    time_override: Option<(&str, i64)>,
    strings: &mut Interner,
    out: &mut Timeline,
) {
    out.entity.push(strings.intern(&o.key));
    out.from.push(from);
    out.to.push(to);
    for (column, attribute) in out.columns.iter_mut().zip(&request.attributes) {
        let value = match time_override {
            Some((name, t)) if name == attribute.name => t,
            _ => match o.attrs.get(&attribute.name) {
                Some(v) => encode(v, attribute.type_, strings),
                None => ABSENT,
            },
        };
        column.push(value);
    }
}

/// One value in the column encoding of the WIT `timeline`. A value of the wrong type is absent
/// (standard kinds were type-checked at ingest; unknown kinds are the plugin's to judge).
fn encode(value: &Value, ty: ValueType, strings: &mut Interner) -> i64 {
    match ty {
        ValueType::Text => match value {
            Value::String(s) => strings.intern(s) as i64,
            Value::Null => ABSENT,
            other => strings.intern(&other.to_string()) as i64,
        },
        ValueType::Decimal => match fact::decimal_text(value) {
            Some(t) => strings.intern(&t) as i64,
            None => ABSENT,
        },
        ValueType::Integer => match value {
            Value::Number(n) => n.as_i64().unwrap_or(ABSENT),
            Value::String(s) => s.trim().parse().unwrap_or(ABSENT),
            _ => ABSENT,
        },
        ValueType::Boolean => match value {
            Value::Bool(b) => *b as i64,
            _ => ABSENT,
        },
        ValueType::Time => match value.as_str().map(fact::parse_time) {
            Some(Ok(t)) => t,
            _ => ABSENT,
        },
    }
}
