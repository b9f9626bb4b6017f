//! Exact numbers (SPEC §1.6): decimals parsed from their text, never through binary floating
//! point; sums, products and divisions stay exact rationals until a rule says "round up".

use std::cmp::Ordering;
use std::fmt;
use std::ops::{Add, AddAssign, Div, Mul, Sub, SubAssign};
use std::str::FromStr;

use num_integer::Integer;
use num_rational::Ratio;
use num_traits::{CheckedAdd, CheckedDiv, CheckedMul, CheckedSub};

/// A decimal attribute as read: absent, exact, or text that is not a decimal.
pub type Decimal<'a> = Option<Result<Exact, &'a str>>;

/// An exact rational number. Cheap to copy (two `i128`s). Every operation is checked: a result
/// that two `i128`s cannot hold (far beyond any licence quantity) is `None` from the `checked_*`
/// methods and a panic naming the operation from the operators, never a wrapped, wrong number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Exact(Ratio<i128>);

/// Why a text is not an exact number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseExactError(pub String);

impl fmt::Display for ParseExactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an exact decimal: {:?}", self.0)
    }
}

impl std::error::Error for ParseExactError {}

impl Exact {
    /// Zero.
    pub const ZERO: Exact = Exact(Ratio::new_raw(0, 1));
    /// One.
    pub const ONE: Exact = Exact(Ratio::new_raw(1, 1));

    /// `numer / denom`; panics when `denom` is 0.
    pub fn ratio(numer: i128, denom: i128) -> Exact {
        Exact(Ratio::new(numer, denom))
    }

    /// The integer `n`.
    pub fn int(n: i128) -> Exact {
        Exact(Ratio::from_integer(n))
    }

    /// True for 0.
    pub fn is_zero(&self) -> bool {
        *self.0.numer() == 0
    }

    /// True when the value has no fractional part.
    pub fn is_integer(&self) -> bool {
        self.0.is_integer()
    }

    /// Smallest integer ≥ self (SPEC's "round up").
    pub fn ceil(&self) -> i128 {
        self.0.ceil().to_integer()
    }

    /// Largest integer ≤ self (only for allocation remainders, never for counting).
    pub fn floor(&self) -> i128 {
        self.0.floor().to_integer()
    }

    /// Numerator and denominator in lowest terms (denominator > 0).
    pub fn parts(&self) -> (i128, i128) {
        (*self.0.numer(), *self.0.denom())
    }

    /// Rounds half up to `places` decimal places and returns the scaled integer
    /// (`1.005` at 2 places → `101`). Used for money only (SPEC §4.8).
    pub fn round_half_up_scaled(&self, places: u32) -> i128 {
        let scale = Exact::int(10i128.pow(places));
        let scaled = *self * scale + Exact::ratio(1, 2);
        scaled.0.floor().to_integer()
    }
}

impl FromStr for Exact {
    type Err = ParseExactError;

    /// Accepts `12`, `-3`, `0.125`, `1.5e3`, and `n/d` (as printed for non-terminating values).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || ParseExactError(text.to_string());
        let s = text.trim();
        // Integers are most quantities: no decimal scaling for them.
        if let Ok(n) = s.parse::<i64>() {
            return Ok(Exact::int(n as i128));
        }
        if let Some((n, d)) = s.split_once('/') {
            let n: i128 = n.trim().parse().map_err(|_| err())?;
            let d: i128 = d.trim().parse().map_err(|_| err())?;
            if d == 0 {
                return Err(err());
            }
            return Ok(Exact(Ratio::new(n, d)));
        }
        let (mantissa, exponent) = match s.find(['e', 'E']) {
            Some(i) => (&s[..i], s[i + 1..].parse::<i32>().map_err(|_| err())?),
            None => (s, 0),
        };
        let (negative, digits) = match mantissa.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
        };
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        if int_part.is_empty() && frac_part.is_empty()
            || !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
            || int_part.len() + frac_part.len() > 30
            || exponent.abs() > 30
        {
            return Err(err());
        }
        let mut numer: i128 = format!("{int_part}{frac_part}").parse().unwrap_or(0);
        if negative {
            numer = -numer;
        }
        let scale = exponent - frac_part.len() as i32;
        let value = if scale >= 0 {
            // 30 digits times 10^30 does not fit an i128: refuse rather than wrap.
            Ratio::from_integer(
                numer
                    .checked_mul(10i128.pow(scale as u32))
                    .ok_or_else(err)?,
            )
        } else {
            Ratio::new(numer, 10i128.pow((-scale) as u32))
        };
        Ok(Exact(value))
    }
}

impl fmt::Display for Exact {
    /// SPEC §5.5: integers without a point, terminating decimals in full, other rationals `n/d`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, d) = self.parts();
        if d == 1 {
            return write!(f, "{n}");
        }
        let (mut rest, mut twos, mut fives) = (d, 0u32, 0u32);
        while rest % 2 == 0 {
            rest /= 2;
            twos += 1;
        }
        while rest % 5 == 0 {
            rest /= 5;
            fives += 1;
        }
        if rest != 1 {
            return write!(f, "{n}/{d}");
        }
        let places = twos.max(fives);
        let scaled = n * (10i128.pow(places) / d);
        let sign = if scaled < 0 { "-" } else { "" };
        let abs = scaled.unsigned_abs();
        let unit = 10u128.pow(places);
        let frac = format!("{:0width$}", abs % unit, width = places as usize);
        write!(f, "{sign}{}.{}", abs / unit, frac.trim_end_matches('0'))
    }
}

impl fmt::Debug for Exact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<i64> for Exact {
    fn from(n: i64) -> Self {
        Exact::int(n as i128)
    }
}

impl From<u32> for Exact {
    fn from(n: u32) -> Self {
        Exact::int(n as i128)
    }
}

// Most quantities are integers (cores, PVUs, sessions): add, subtract and multiply them
// without the gcd reductions a general rational needs (they dominated sub-capacity profiles).
impl Exact {
    fn integers(self, rhs: Exact) -> Option<(i128, i128)> {
        (*self.0.denom() == 1 && *rhs.0.denom() == 1).then(|| (*self.0.numer(), *rhs.0.numer()))
    }
}

impl Exact {
    /// `self + rhs`, or `None` when the result cannot be held.
    pub fn checked_add(self, rhs: Exact) -> Option<Exact> {
        match self.integers(rhs) {
            Some((a, b)) => a.checked_add(b).map(Exact::int),
            None => self.0.checked_add(&rhs.0).map(Exact),
        }
    }

    /// `self - rhs`, or `None` when the result cannot be held.
    pub fn checked_sub(self, rhs: Exact) -> Option<Exact> {
        match self.integers(rhs) {
            Some((a, b)) => a.checked_sub(b).map(Exact::int),
            None => self.0.checked_sub(&rhs.0).map(Exact),
        }
    }

    /// `self × rhs`, or `None` when the result cannot be held.
    pub fn checked_mul(self, rhs: Exact) -> Option<Exact> {
        match self.integers(rhs) {
            Some((a, b)) => a.checked_mul(b).map(Exact::int),
            None => self.0.checked_mul(&rhs.0).map(Exact),
        }
    }

    /// `self ÷ rhs`, or `None` when `rhs` is 0 or the result cannot be held.
    pub fn checked_div(self, rhs: Exact) -> Option<Exact> {
        match self.integers(rhs) {
            Some((_, 0)) => None,
            Some((a, b)) if a.checked_rem(b) == Some(0) => a.checked_div(b).map(Exact::int),
            _ => self.0.checked_div(&rhs.0).map(Exact),
        }
    }
}

/// The operators' answer to a result that cannot be held: stop, naming the operation (in a
/// plugin this fails its evaluation; the host never serves a wrapped number).
#[cold]
fn cannot_hold(a: Exact, op: &str, b: Exact) -> ! {
    panic!("exact arithmetic overflow: {a} {op} {b} cannot be held exactly")
}

impl Add for Exact {
    type Output = Exact;
    fn add(self, rhs: Exact) -> Exact {
        self.checked_add(rhs)
            .unwrap_or_else(|| cannot_hold(self, "+", rhs))
    }
}

impl Sub for Exact {
    type Output = Exact;
    fn sub(self, rhs: Exact) -> Exact {
        self.checked_sub(rhs)
            .unwrap_or_else(|| cannot_hold(self, "-", rhs))
    }
}

impl Mul for Exact {
    type Output = Exact;
    fn mul(self, rhs: Exact) -> Exact {
        self.checked_mul(rhs)
            .unwrap_or_else(|| cannot_hold(self, "×", rhs))
    }
}

impl Div for Exact {
    type Output = Exact;
    /// Panics on division by zero, as integers do.
    fn div(self, rhs: Exact) -> Exact {
        assert!(!rhs.is_zero(), "exact arithmetic: {self} divided by zero");
        self.checked_div(rhs)
            .unwrap_or_else(|| cannot_hold(self, "÷", rhs))
    }
}

impl AddAssign for Exact {
    fn add_assign(&mut self, rhs: Exact) {
        *self = *self + rhs;
    }
}

impl SubAssign for Exact {
    fn sub_assign(&mut self, rhs: Exact) {
        *self = *self - rhs;
    }
}

impl std::iter::Sum for Exact {
    fn sum<I: Iterator<Item = Exact>>(iter: I) -> Exact {
        iter.fold(Exact::ZERO, |a, b| a + b)
    }
}

/// Greatest common divisor, exposed for callers that scale weights.
pub fn gcd(a: i128, b: i128) -> i128 {
    a.gcd(&b)
}

/// Compares two exact values (for sorting by weight).
pub fn cmp(a: &Exact, b: &Exact) -> Ordering {
    a.cmp(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(s: &str) -> Exact {
        s.parse().unwrap()
    }

    #[test]
    fn parses_decimals_without_floats() {
        assert_eq!(e("0.1") + e("0.2"), e("0.3"));
        assert_eq!(e("1.5e3"), Exact::int(1500));
        assert_eq!(e("125e-3"), e("0.125"));
        assert_eq!(e("1/3") * Exact::int(3), Exact::ONE);
        assert!("".parse::<Exact>().is_err());
        assert!("1.2.3".parse::<Exact>().is_err());
        assert!("abc".parse::<Exact>().is_err());
        assert!("1/0".parse::<Exact>().is_err());
    }

    #[test]
    fn prints_as_spec_5_5() {
        assert_eq!(e("1120").to_string(), "1120");
        assert_eq!(e("4.50").to_string(), "4.5");
        assert_eq!(e("0.125").to_string(), "0.125");
        assert_eq!((e("1") / e("3")).to_string(), "1/3");
        assert_eq!(e("-2.25").to_string(), "-2.25");
    }

    #[test]
    fn rounds_up_only_when_asked() {
        assert_eq!(e("4.5").ceil(), 5);
        assert_eq!(e("4").ceil(), 4);
        assert_eq!(e("1.25").ceil(), 2);
        assert_eq!(e("1.005").round_half_up_scaled(2), 101);
        assert_eq!(e("1.004").round_half_up_scaled(2), 100);
    }

    #[test]
    fn integer_shortcuts_agree_with_rationals() {
        let values = [
            Exact::int(0),
            Exact::int(7),
            Exact::int(-12),
            Exact::int(1 << 40),
            e("1/3"),
            e("-2.5"),
        ];
        for a in values {
            for b in values {
                assert_eq!(a + b, Exact(a.0 + b.0), "{a} + {b}");
                assert_eq!(a - b, Exact(a.0 - b.0), "{a} - {b}");
                assert_eq!(a * b, Exact(a.0 * b.0), "{a} × {b}");
                if !b.is_zero() {
                    assert_eq!(a / b, Exact(a.0 / b.0), "{a} / {b}");
                }
            }
        }
    }

    fn big(x: Exact) -> num_rational::BigRational {
        let (n, d) = x.parts();
        num_rational::BigRational::new(n.into(), d.into())
    }

    /// Numerators and denominators across the whole i128 range, extremes included.
    fn extreme() -> impl proptest::strategy::Strategy<Value = Exact> {
        use proptest::prelude::*;
        let numerator = prop_oneof![
            Just(i128::MAX),
            Just(i128::MIN + 1),
            Just(0i128),
            any::<i128>().prop_filter("i128::MIN has no negation", |n| *n != i128::MIN),
            any::<i64>().prop_map(i128::from),
        ];
        let denominator = prop_oneof![Just(1i128), Just(i128::MAX), 1..=i128::MAX, 1i128..1000];
        (numerator, denominator).prop_map(|(n, d)| Exact::ratio(n, d))
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2000))]
        /// Issue 15.3: every operation answers the exact value or refuses; never a wrapped one.
        #[test]
        fn arithmetic_is_exact_or_refused(a in extreme(), b in extreme()) {
            let cases = [
                (a.checked_add(b), Some(big(a) + big(b))),
                (a.checked_sub(b), Some(big(a) - big(b))),
                (a.checked_mul(b), Some(big(a) * big(b))),
                (a.checked_div(b), (!b.is_zero()).then(|| big(a) / big(b))),
            ];
            for (checked, exact) in cases {
                if let Some(value) = checked {
                    proptest::prop_assert_eq!(Some(big(value)), exact);
                }
            }
        }
    }

    #[test]
    fn what_cannot_be_held_is_refused() {
        let max = Exact::int(i128::MAX);
        assert_eq!(max.checked_add(Exact::ONE), None);
        assert_eq!(max.checked_mul(Exact::int(2)), None);
        assert_eq!(
            Exact::ratio(1, i128::MAX).checked_add(Exact::ratio(1, i128::MAX - 1)),
            None
        );
        let caught = std::panic::catch_unwind(|| max + Exact::ONE);
        assert!(caught.is_err(), "the operator stops instead of wrapping");
        // 30 digits scaled by 10^30 used to wrap to a negative number.
        assert!(
            "999999999999999999999999999999e30"
                .parse::<Exact>()
                .is_err()
        );
        assert_eq!(e("1e30").to_string(), format!("1{}", "0".repeat(30)));
    }
}
