//! Errors of SPEC §5.3 about facts, built the same way by every plugin: code, fact
//! `(kind, key)`, attribute, instant and rule section.

use crate::exact::Decimal;
use crate::{Exact, RuleError};

/// Which error is reported when several apply to one product (SPEC §4.10.12): lower first —
/// `unknown_reference`, `inconsistent_facts`, `missing_attribute`, `invalid_value`, then any
/// other code. Plugins pick a day's error by it; the host picks a product's among its days.
pub fn precedence(code: &str) -> u8 {
    match code {
        "unknown_reference" => 0,
        "inconsistent_facts" => 1,
        "missing_attribute" => 2,
        "invalid_value" => 3,
        _ => 4,
    }
}

/// `missing_attribute`: a rule needs `attribute` of fact (`kind`, `key`) at `at`; never a zero.
pub fn missing(kind: &str, key: &str, attribute: &str, at: i64, section: &str) -> RuleError {
    RuleError::new(
        "missing_attribute",
        format!("missing attribute {attribute:?} on fact ({kind}, {key:?})"),
    )
    .fact(kind, key)
    .attribute(attribute)
    .at(at)
    .section(section)
}

/// `invalid_value`: `attribute` of (`kind`, `key`) is outside its domain.
pub fn invalid(
    kind: &str,
    key: &str,
    attribute: &str,
    at: i64,
    section: &str,
    message: String,
) -> RuleError {
    RuleError::new("invalid_value", message)
        .fact(kind, key)
        .attribute(attribute)
        .at(at)
        .section(section)
}

/// A reference that names no fact (`unknown_reference`), both kinds (`ambiguous_reference`) or
/// contradicts another fact (`inconsistent_facts`).
pub fn reference(
    code: &str,
    kind: &str,
    key: &str,
    attribute: &str,
    at: i64,
    section: &str,
    message: String,
) -> RuleError {
    RuleError::new(code, message)
        .fact(kind, key)
        .attribute(attribute)
        .at(at)
        .section(section)
}

/// A decimal attribute as read; `invalid_value` when its text is not a decimal, `Ok(None)` when
/// absent (the caller decides whether that is allowed).
pub fn decimal(
    value: Decimal<'_>,
    kind: &str,
    key: &str,
    attribute: &str,
    at: i64,
) -> Result<Option<Exact>, RuleError> {
    match value {
        None => Ok(None),
        Some(Ok(v)) => Ok(Some(v)),
        Some(Err(text)) => Err(invalid(
            kind,
            key,
            attribute,
            at,
            "SPEC §2.1",
            format!("{attribute} {text:?} of {kind} {key:?} is not a decimal"),
        )),
    }
}

/// A decimal attribute the rule needs: `missing_attribute` when absent.
pub fn required_decimal(
    value: Decimal<'_>,
    kind: &str,
    key: &str,
    attribute: &str,
    at: i64,
    section: &str,
) -> Result<Exact, RuleError> {
    decimal(value, kind, key, attribute, at)?
        .ok_or_else(|| missing(kind, key, attribute, at, section))
}

/// An integer attribute the rule needs, as an exact number: `missing_attribute` when absent.
pub fn required_int(
    value: Option<i64>,
    kind: &str,
    key: &str,
    attribute: &str,
    at: i64,
    section: &str,
) -> Result<Exact, RuleError> {
    value
        .map(|v| Exact::int(v as i128))
        .ok_or_else(|| missing(kind, key, attribute, at, section))
}
