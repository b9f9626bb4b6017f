//! The stored form of a change point: an entity's state (retired or not, and its attributes)
//! in a compact binary encoding that a timeline read decodes without JSON and without copying
//! strings.
//!
//! The observation as it was sent stays JSON under its own key (the audit trail); a change
//! point only needs what a timeline can select, so each attribute keeps the forms the column
//! encodings read: an integer as `i64`, a decimal as its text, a time string with its instant
//! parsed once at ingest. Stores written before this encoding hold change points as
//! observation JSON; [`State::decode`] reads both (a JSON value starts with `{`, this one
//! with [`FORMAT`]).
//!
//! Cost: encoding is one postcard write per new change point; decoding borrows every string
//! from the stored bytes and allocates one vector of attributes.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fact::{self, Observation};

/// First byte of the binary encoding (never `{`, the first byte of the JSON one).
pub const FORMAT: u8 = 1;

/// One change point's state, borrowing its strings from the stored bytes.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct State<'a> {
    pub retired: bool,
    /// Sorted by name, as the observation's attributes are.
    #[serde(borrow)]
    pub attrs: Vec<(&'a str, Attr<'a>)>,
}

/// One attribute value, in the forms a timeline column reads.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub enum Attr<'a> {
    Null,
    Bool(bool),
    /// A JSON number written as an `i64` (its text is the integer's own).
    Integer(i64),
    /// Any other JSON number, as its exact text.
    Number(&'a str),
    /// A string that is not an RFC 3339 time.
    Text(&'a str),
    /// A string that is an RFC 3339 time, and its instant (ms, UTC).
    Time(i64, &'a str),
    /// An array or object, as compact JSON text.
    Json(&'a str),
}

impl Attr<'_> {
    /// The instant a time column reads: only a string that parsed as RFC 3339 has one.
    pub fn time(&self) -> Option<i64> {
        match self {
            Attr::Time(t, _) => Some(*t),
            _ => None,
        }
    }
}

impl<'a> State<'a> {
    /// The value of attribute `name`, if present.
    pub fn get(&self, name: &str) -> Option<&Attr<'a>> {
        self.attrs
            .binary_search_by(|(n, _)| (*n).cmp(name))
            .ok()
            .map(|i| &self.attrs[i].1)
    }

    /// Reads a stored change point in either encoding. A legacy JSON value is converted into
    /// `scratch` first, which the returned state borrows.
    pub fn decode(bytes: &'a [u8], scratch: &'a mut Vec<u8>) -> anyhow::Result<State<'a>> {
        let binary: &'a [u8] = match bytes.first() {
            Some(&FORMAT) => bytes,
            _ => {
                let o: Observation = serde_json::from_slice(bytes)?;
                *scratch = encode(&o);
                scratch
            }
        };
        Ok(postcard::from_bytes(&binary[1..])?)
    }
}

/// The stored bytes of `o`'s state.
pub fn encode(o: &Observation) -> Vec<u8> {
    let texts: Vec<(&str, Cow<'_, str>)> = o
        .attrs
        .iter()
        .map(|(name, value)| {
            let text = match value {
                Value::Number(n) => Cow::Owned(n.to_string()),
                Value::String(s) => Cow::Borrowed(s.as_str()),
                Value::Array(_) | Value::Object(_) => Cow::Owned(value.to_string()),
                Value::Null | Value::Bool(_) => Cow::Borrowed(""),
            };
            (name.as_str(), text)
        })
        .collect();
    let attrs = o
        .attrs
        .iter()
        .zip(&texts)
        .map(|((name, value), (_, text))| {
            let attr = match value {
                Value::Null => Attr::Null,
                Value::Bool(b) => Attr::Bool(*b),
                // Only an integer whose text reads back the same (not `-0` or `1e2`).
                Value::Number(_) => match text.parse::<i64>() {
                    Ok(i) if i.to_string() == **text => Attr::Integer(i),
                    _ => Attr::Number(text),
                },
                Value::String(_) => match instant(value) {
                    Some(t) => Attr::Time(t, text),
                    None => Attr::Text(text),
                },
                Value::Array(_) | Value::Object(_) => Attr::Json(text),
            };
            (name.as_str(), attr)
        })
        .collect();
    let state = State {
        retired: o.retired,
        attrs,
    };
    let mut out = vec![FORMAT];
    // Serialising borrowed strings and integers into a vector cannot fail.
    out.extend(postcard::to_allocvec(&state).expect("postcard writes into memory"));
    out
}

/// The instant an attribute value is stored as ([`Attr::Time`]): an RFC 3339 string. A cheap
/// pre-check (`YYYY-MM-DDTHH:MM:SSZ` is at least 20 bytes) skips parsing other text.
pub(super) fn instant(value: &Value) -> Option<i64> {
    match value {
        Value::String(s) if s.len() >= 20 && s.as_bytes()[4] == b'-' => fact::parse_time(s).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observation(attrs: serde_json::Value) -> Observation {
        let line = serde_json::json!({
            "kind": "custom", "key": "k", "at": "2026-11-01T00:00:00Z", "attrs": attrs
        });
        fact::parse(&line.to_string()).unwrap()
    }

    #[test]
    fn keeps_every_form_a_column_reads() {
        let o = observation(serde_json::json!({
            "n": 8, "big": 18446744073709551615u64, "d": 0.25, "s": "esx-7",
            "t": "2026-11-01T10:00:00+01:00", "b": true, "a": [1, 2], "z": null
        }));
        let bytes = encode(&o);
        let mut scratch = Vec::new();
        let state = State::decode(&bytes, &mut scratch).unwrap();
        assert!(!state.retired);
        assert_eq!(state.get("n"), Some(&Attr::Integer(8)));
        assert_eq!(
            state.get("big"),
            Some(&Attr::Number("18446744073709551615"))
        );
        assert_eq!(state.get("d"), Some(&Attr::Number("0.25")));
        assert_eq!(state.get("s"), Some(&Attr::Text("esx-7")));
        let t = fact::parse_time("2026-11-01T09:00:00Z").unwrap();
        assert_eq!(
            state.get("t"),
            Some(&Attr::Time(t, "2026-11-01T10:00:00+01:00"))
        );
        assert_eq!(state.get("b"), Some(&Attr::Bool(true)));
        assert_eq!(state.get("a"), Some(&Attr::Json("[1,2]")));
        assert_eq!(state.get("z"), Some(&Attr::Null));
        assert_eq!(state.get("missing"), None);
    }

    #[test]
    fn reads_change_points_stored_as_json() {
        let o = observation(serde_json::json!({"n": 8, "s": "x"}));
        let legacy = serde_json::to_vec(&o).unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let binary = encode(&o);
        assert_eq!(
            State::decode(&legacy, &mut a).unwrap(),
            State::decode(&binary, &mut b).unwrap()
        );
    }
}
