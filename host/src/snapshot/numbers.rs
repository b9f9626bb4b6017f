//! How every API writes an exact figure ([`Exact`]): integers and terminating decimals keep all
//! their digits; a rational with no terminating decimal (`1/3`, which licence figures hardly
//! ever are) is rounded half up to 6 decimal places (`0.333333`, `2/3` → `0.666667`).
//!
//! A non-terminating value never lies exactly halfway between two millionths, so "half up" only
//! names the rule; the rounded value is within half a millionth of the exact one. JSON answers
//! ([`json_number`]) and text answers (CSV, Prometheus: [`decimal_text`]) follow the same rule,
//! so every API shows the same digits for the same figure.

use licmetric_sdk::Exact;
use serde_json::Value;

/// Decimal places a non-terminating value is rounded to.
const PLACES: u32 = 6;

/// The value as decimal text: exact when it terminates, else rounded half up to 6 places.
pub fn decimal_text(value: &Exact) -> String {
    let text = value.to_string();
    if !text.contains('/') {
        return text;
    }
    let scale = 10i128.pow(PLACES);
    Exact::ratio(value.round_half_up_scaled(PLACES), scale).to_string()
}

/// The value as a JSON number with the digits of [`decimal_text`] (serde_json's arbitrary
/// precision keeps them; no float rounding).
pub fn json_number(value: &Exact) -> Value {
    let text = decimal_text(value);
    match text.parse::<serde_json::Number>() {
        Ok(n) => Value::Number(n),
        // Unreachable: decimal text is always a JSON number.
        Err(_) => Value::String(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(text: &str) -> Exact {
        text.parse().unwrap()
    }

    #[test]
    fn terminating_values_keep_their_digits() {
        assert_eq!(decimal_text(&Exact::int(480)), "480");
        assert_eq!(decimal_text(&exact("12.5")), "12.5");
        assert_eq!(decimal_text(&exact("0.0009765625")), "0.0009765625");
        assert_eq!(decimal_text(&exact("-3.25")), "-3.25");
        assert_eq!(json_number(&exact("12.5")).to_string(), "12.5");
        assert_eq!(
            json_number(&exact("123456789012345678.000001")).to_string(),
            "123456789012345678.000001"
        );
        assert!(json_number(&Exact::int(7)).is_number());
    }

    #[test]
    fn other_rationals_round_half_up_to_six_places() {
        assert_eq!(decimal_text(&Exact::ratio(1, 3)), "0.333333");
        assert_eq!(decimal_text(&Exact::ratio(2, 3)), "0.666667");
        assert_eq!(decimal_text(&Exact::ratio(-2, 3)), "-0.666667");
        assert_eq!(decimal_text(&Exact::ratio(10, 3)), "3.333333");
        // Rounds to a whole number: no trailing point or zeros.
        assert_eq!(
            decimal_text(&Exact::ratio(2_999_999_999, 1_000_000_001)),
            "3"
        );
        let json = json_number(&Exact::ratio(1, 3));
        assert!(json.is_number());
        assert_eq!(json.to_string(), "0.333333");
    }
}
