//! Largest-remainder allocation (SPEC §4.8 step 4): split an integer total in proportion to exact
//! weights so that the parts always add up to the total.
//!
//! Weights are unbounded rationals ([`Share`]): a group's weight sums contributions from many
//! units whose denominators differ (a VM's share of a capped server is `c_v / Σ c`), and the
//! least common multiple of a few dozen such denominators no longer fits 128 bits.

use num_bigint::BigInt;
use num_rational::BigRational;

use crate::Exact;

/// An exact, unbounded rational weight or share.
pub type Share = BigRational;

/// `e` as an unbounded rational.
pub fn share(e: Exact) -> Share {
    let (n, d) = e.parts();
    BigRational::new(BigInt::from(n), BigInt::from(d))
}

/// The integer `n` as a share.
pub fn whole(n: i128) -> Share {
    BigRational::from_integer(BigInt::from(n))
}

/// `s` back as an [`Exact`] when it fits, e.g. for display.
pub fn exact(s: &Share) -> Option<Exact> {
    let n = i128::try_from(s.numer()).ok()?;
    let d = i128::try_from(s.denom()).ok()?;
    Some(Exact::ratio(n, d))
}

fn floor(s: &Share) -> i128 {
    i128::try_from(s.floor().to_integer()).expect("a part is at most the total")
}

/// Splits `total` (an integer number of smallest units: thousandths, cents) among `weights`
/// (name, exact weight ≥ 0). Each part gets the floor of its exact share; the leftover units go
/// one each to the largest fractional parts, ties broken by ascending byte order of the name.
/// Returns `None` when the weights sum to zero (the caller decides where the total goes).
pub fn largest_remainder(total: i128, weights: &[(&str, Share)]) -> Option<Vec<i128>> {
    let zero = whole(0);
    let sum: Share = weights.iter().fold(zero.clone(), |a, w| a + &w.1);
    if sum == zero {
        return None;
    }
    let shares: Vec<Share> = weights.iter().map(|w| whole(total) * &w.1 / &sum).collect();
    let mut parts: Vec<i128> = shares.iter().map(floor).collect();
    let fractions: Vec<Share> = shares
        .iter()
        .zip(&parts)
        .map(|(s, p)| s - whole(*p))
        .collect();
    let leftover = total - parts.iter().sum::<i128>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        fractions[b]
            .cmp(&fractions[a])
            .then_with(|| weights[a].0.as_bytes().cmp(weights[b].0.as_bytes()))
    });
    for &i in order.iter().take(leftover.max(0) as usize) {
        parts[i] += 1;
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn w(list: &[(&'static str, i128)]) -> Vec<(&'static str, Share)> {
        list.iter().map(|(n, v)| (*n, whole(*v))).collect()
    }

    #[test]
    fn parts_sum_to_total_with_remainders() {
        assert_eq!(
            largest_remainder(100, &w(&[("a", 1), ("b", 1), ("c", 1)])),
            Some(vec![34, 33, 33])
        );
        assert_eq!(
            largest_remainder(90_000, &w(&[("CC1", 60), ("CC2", 20), ("CC3", 10)])),
            Some(vec![60_000, 20_000, 10_000])
        );
        assert_eq!(largest_remainder(5, &w(&[("x", 0)])), None);
    }

    #[test]
    fn ties_go_by_byte_order() {
        assert_eq!(
            largest_remainder(1, &w(&[("b", 1), ("a", 1)])),
            Some(vec![0, 1])
        );
    }

    #[test]
    fn weights_beyond_128_bits_still_balance() {
        // Σ 1/p over 40 primes: the denominator is their product, far past i128.
        let primes = [
            53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139,
            149, 151, 157, 163, 167, 173, 179, 181, 191, 193, 197, 199, 211, 223, 227, 229, 233,
            239, 241, 251, 257,
        ];
        let a = primes
            .iter()
            .fold(whole(0), |s, p| s + share(Exact::ratio(1, *p)));
        let weights = [("a", a), ("b", whole(1))];
        let parts = largest_remainder(1_000_000, &weights).unwrap();
        assert_eq!(parts.iter().sum::<i128>(), 1_000_000);
    }

    proptest! {
        /// The parts always add up to the total and each is within one unit of its share.
        #[test]
        fn parts_always_sum_to_the_total(
            total in 0i128..10_000_000,
            raw in prop::collection::vec((0i128..1000, 1i128..97), 1..12),
        ) {
            let names: Vec<String> = (0..raw.len()).map(|i| format!("g{i}")).collect();
            let weights: Vec<(&str, Share)> = names
                .iter()
                .zip(&raw)
                .map(|(n, (a, b))| (n.as_str(), share(Exact::ratio(*a, *b))))
                .collect();
            if let Some(parts) = largest_remainder(total, &weights) {
                prop_assert_eq!(parts.iter().sum::<i128>(), total);
                let sum: Share = weights.iter().fold(whole(0), |s, w| s + &w.1);
                for (p, w) in parts.iter().zip(&weights) {
                    let exact = whole(total) * &w.1 / &sum;
                    prop_assert!(whole(*p) >= exact.floor() && whole(*p) <= exact.floor() + whole(1));
                }
            }
        }
    }
}
