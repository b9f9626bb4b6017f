//! One observation of the NDJSON fact format (ARCHITECTURE.md, SPEC §2): parsing and validation.
//!
//! Validation names the field at fault; the caller adds the line number. Standard kinds are
//! type-checked attribute by attribute (SPEC §2.2); unknown kinds are stored as they are.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use licmetric_sdk::Exact;
use licmetric_sdk::facts::standard;
use licmetric_sdk::types::ValueType;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One validated observation: entity `(kind, key)` had `attrs` from `at` (ms, UTC) on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub kind: String,
    pub key: String,
    pub at: i64,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retired: bool,
    #[serde(default)]
    pub attrs: BTreeMap<String, Value>,
}

impl Observation {
    /// True when both describe the same entity state (attributes and retirement).
    pub fn same_state(&self, other: &Observation) -> bool {
        self.retired == other.retired && self.attrs == other.attrs
    }
}

/// What is wrong with one line: the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

fn field_error(field: &str, reason: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        reason: reason.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    kind: Option<Value>,
    key: Option<Value>,
    at: Option<Value>,
    id: Option<Value>,
    source: Option<Value>,
    retired: Option<Value>,
    attrs: Option<Value>,
}

/// Parses and validates one line of the fact format.
pub fn parse(line: &str) -> Result<Observation, FieldError> {
    let envelope: Envelope = serde_json::from_str(line).map_err(|e| {
        let reason = e.to_string();
        match reason.strip_prefix("unknown field `") {
            Some(rest) => {
                let name = rest.split('`').next().unwrap_or("");
                field_error(
                    name,
                    "unknown envelope field (expected kind, key, at, id, source, retired, attrs)",
                )
            }
            None => field_error("(line)", format!("not a JSON object: {reason}")),
        }
    })?;
    let kind = required_text(envelope.kind, "kind")?;
    let key = required_text(envelope.key, "key")?;
    let at_text = required_text(envelope.at, "at")?;
    let at = parse_time(&at_text).map_err(|r| field_error("at", r))?;
    let id = optional_text(envelope.id, "id")?;
    let source = optional_text(envelope.source, "source")?;
    let retired = match envelope.retired {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(field_error("retired", "must be true or false")),
    };
    let attrs = match envelope.attrs {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(map)) => map.into_iter().collect(),
        Some(_) => return Err(field_error("attrs", "must be a JSON object")),
    };
    for (name, text) in [("kind", &kind), ("key", &key)] {
        if text.contains('\0') {
            return Err(field_error(name, "must not contain a NUL character"));
        }
    }
    let mut observation = Observation {
        kind,
        key,
        at,
        id: String::new(),
        source,
        retired,
        attrs,
    };
    if !observation.retired {
        validate_standard(&observation)?;
    }
    observation.id = match id {
        // The computed form is reserved: a client could otherwise store other content under
        // the id the service will compute for a fact another collector sends later, and that
        // collector's batches would be refused for good. Its own content id is accepted, so a
        // fact read back with its id can be sent again.
        Some(id) if id.starts_with(CONTENT_ID_PREFIX) => {
            if id != content_id(&observation) {
                return Err(field_error(
                    "id",
                    format!(
                        "{id:?} has the form of a content id the service computes but is not \
                         this fact's; leave id out, or give one without the {CONTENT_ID_PREFIX:?} prefix"
                    ),
                ));
            }
            id
        }
        Some(id) if !id.is_empty() => id,
        Some(_) => return Err(field_error("id", "must not be empty")),
        None => content_id(&observation),
    };
    Ok(observation)
}

fn required_text(value: Option<Value>, field: &str) -> Result<String, FieldError> {
    match value {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(Value::String(_)) => Err(field_error(field, "must not be empty")),
        None | Some(Value::Null) => Err(field_error(field, "is required")),
        Some(_) => Err(field_error(field, "must be a string")),
    }
}

fn optional_text(value: Option<Value>, field: &str) -> Result<Option<String>, FieldError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(field_error(field, "must be a string")),
    }
}

/// RFC 3339 → ms since the epoch, UTC (SPEC §1.1).
pub fn parse_time(text: &str) -> Result<i64, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc).timestamp_millis())
        .map_err(|e| format!("{text:?} is not an RFC 3339 time ({e})"))
}

/// ms since the epoch → RFC 3339, UTC, seconds or milliseconds as needed.
pub fn format_time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| ms.to_string())
}

/// How the ids the service computes begin; a client's id may take this form only when it is
/// the fact's own content id.
const CONTENT_ID_PREFIX: &str = "sha256:";

/// The id of a fact without one: SHA-256 of its content, so a replayed batch is idempotent.
fn content_id(o: &Observation) -> String {
    let canonical = serde_json::json!([o.kind, o.key, o.at, o.source, o.retired, o.attrs]);
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    format!("{CONTENT_ID_PREFIX}{}", hex::encode(&digest[..16]))
}

/// Checks the standard kinds' attribute types and required attributes (SPEC §2.2–§2.14).
fn validate_standard(o: &Observation) -> Result<(), FieldError> {
    let Some(attributes) = standard::attributes(&o.kind) else {
        return Ok(());
    };
    for (name, value) in &o.attrs {
        let field = format!("attrs.{name}");
        if value.is_null() {
            return Err(field_error(
                &field,
                "must not be null (leave the attribute out instead)",
            ));
        }
        let expected = attributes
            .iter()
            .chain(standard::ORGANISATION)
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t);
        match expected {
            Some(ty) => check_type(value, ty, &o.kind, name).map_err(|r| field_error(&field, r))?,
            None => {} // extra attributes are kept for plugins that read them
        }
    }
    for name in standard::required(&o.kind) {
        if !o.attrs.contains_key(*name) {
            return Err(field_error(
                &format!("attrs.{name}"),
                format!("is required on a {} fact", o.kind),
            ));
        }
    }
    // An interval that ends before it starts would be stored and then never selected.
    if let (Some(Value::String(start)), Some(Value::String(end))) =
        (o.attrs.get("start"), o.attrs.get("end"))
        && attributes
            .iter()
            .any(|(n, t)| *n == "start" && matches!(t, ValueType::Time))
        && let (Ok(s), Ok(e)) = (parse_time(start), parse_time(end))
        && e < s
    {
        return Err(field_error(
            "attrs.end",
            format!("{end:?} precedes attrs.start {start:?}"),
        ));
    }
    if o.kind == "server" && !o.attrs.contains_key("cores") {
        return Err(field_error(
            "attrs.cores",
            "is required on a server fact (SPEC §2.4)",
        ));
    }
    Ok(())
}

fn check_type(value: &Value, ty: ValueType, kind: &str, name: &str) -> Result<(), String> {
    match ty {
        ValueType::Text => {
            let text = value.as_str().ok_or("must be a string")?;
            if kind == "pod" && name == "ratio" {
                parse_ratio(text)?;
            }
            Ok(())
        }
        // Plugins read integers as i64: a larger one would arrive as absent.
        ValueType::Integer => match value {
            Value::Number(n) if n.as_i64().is_some_and(|n| n >= 0) => {
                if name == "threads_per_core" && n.as_i64() == Some(0) {
                    return Err("must be at least 1".into());
                }
                Ok(())
            }
            Value::Number(n)
                if n.as_i64().is_none()
                    && n.to_string()
                        .trim_start_matches('-')
                        .bytes()
                        .all(|b| b.is_ascii_digit()) =>
            {
                Err(format!(
                    "{n} is outside the integers a fact can hold (0 to {})",
                    i64::MAX
                ))
            }
            _ => Err("must be an integer ≥ 0".into()),
        },
        ValueType::Decimal => {
            let text = decimal_text(value).ok_or("must be a decimal (JSON number or string)")?;
            let d: Exact = text.parse().map_err(|_| {
                format!(
                    "{text:?} is not a decimal the exact arithmetic holds (at most 30 digits, \
                     exponent within ±30)"
                )
            })?;
            if d < Exact::ZERO {
                return Err("must be ≥ 0".into());
            }
            Ok(())
        }
        ValueType::Boolean => value
            .as_bool()
            .map(|_| ())
            .ok_or_else(|| "must be true or false".into()),
        ValueType::Time => {
            let text = value.as_str().ok_or("must be an RFC 3339 time string")?;
            parse_time(text).map(|_| ())
        }
    }
}

/// The exact text of a decimal attribute (JSON numbers keep their text: arbitrary precision).
pub fn decimal_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.trim().to_string()),
        _ => None,
    }
}

/// `"a:b"` with positive integers (SPEC §2.1).
pub fn parse_ratio(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("{text:?} is not a ratio \"a:b\" of positive integers");
    let (a, b) = text.split_once(':').ok_or_else(bad)?;
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    if a == 0 || b == 0 {
        return Err(bad());
    }
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_architecture_example() {
        let o = parse(r#"{"kind":"vm","key":"vc1/vm-42","at":"2026-11-01T10:00:00+01:00","source":"vcenter-1","attrs":{"server":"esx-7","vcpus":8}}"#).unwrap();
        assert_eq!(o.at, parse_time("2026-11-01T09:00:00Z").unwrap());
        assert!(o.id.starts_with("sha256:"));
        let again = parse(r#"{"kind":"vm","key":"vc1/vm-42","at":"2026-11-01T10:00:00+01:00","source":"vcenter-1","attrs":{"vcpus":8,"server":"esx-7"}}"#).unwrap();
        assert_eq!(
            o.id, again.id,
            "attribute order does not change the content id"
        );
    }

    #[test]
    fn names_the_field_at_fault() {
        let e = parse(
            r#"{"kind":"vm","key":"v","at":"2026-11-01T10:00:00Z","attrs":{"vcpus":"eight"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "attrs.vcpus");
        let e = parse(r#"{"kind":"vm","key":"v","at":"yesterday"}"#).unwrap_err();
        assert_eq!(e.field, "at");
        let e = parse(r#"{"kind":"session","key":"s","at":"2026-11-01T10:00:00Z","attrs":{"user":"u","start":"2026-11-01T10:00:00Z"}}"#).unwrap_err();
        assert_eq!(e.field, "attrs.license_type");
        let e = parse(r#"{"kind":"vm","key":"v","at":"2026-11-01T10:00:00Z","colour":"red"}"#)
            .unwrap_err();
        assert_eq!(e.field, "colour");
        let e = parse(r#"{"kind":"pod","key":"p","at":"2026-11-01T10:00:00Z","attrs":{"cluster":"c","namespace":"n","product":"x","ratio":"0:1"}}"#).unwrap_err();
        assert_eq!(e.field, "attrs.ratio");
        let e = parse(r#"{"kind":"server","key":"s","at":"2026-11-01T10:00:00Z","attrs":{"cores":16,"core_factor":0.1e1000}}"#).unwrap_err();
        assert_eq!(e.field, "attrs.core_factor");
    }

    #[test]
    fn decimals_keep_their_text() {
        let o = parse(r#"{"kind":"pool","key":"p","at":"2026-11-01T10:00:00Z","attrs":{"server":"s","cores":0.1}}"#).unwrap();
        assert_eq!(decimal_text(&o.attrs["cores"]).unwrap(), "0.1");
    }
}
