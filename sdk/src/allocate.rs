//! Largest-remainder allocation (SPEC §4.8 step 4): split an integer total in proportion to exact
//! weights so that the parts always add up to the total.

use crate::Exact;

/// Splits `total` (an integer number of smallest units: thousandths, cents) among `weights`
/// (name, exact weight ≥ 0). Each part gets the floor of its exact share; the leftover units go
/// one each to the largest fractional parts, ties broken by ascending byte order of the name.
/// Returns `None` when the weights sum to zero (the caller decides where the total goes).
pub fn largest_remainder(total: i128, weights: &[(&str, Exact)]) -> Option<Vec<i128>> {
    let sum: Exact = weights.iter().map(|w| w.1).sum();
    if sum.is_zero() {
        return None;
    }
    let shares: Vec<Exact> = weights
        .iter()
        .map(|w| Exact::int(total) * w.1 / sum)
        .collect();
    let mut parts: Vec<i128> = shares.iter().map(|s| s.floor()).collect();
    let leftover = total - parts.iter().sum::<i128>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let fa = shares[a] - Exact::int(parts[a]);
        let fb = shares[b] - Exact::int(parts[b]);
        fb.cmp(&fa)
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

    #[test]
    fn parts_sum_to_total_with_remainders() {
        let w = [
            ("a", Exact::int(1)),
            ("b", Exact::int(1)),
            ("c", Exact::int(1)),
        ];
        assert_eq!(largest_remainder(100, &w), Some(vec![34, 33, 33]));
        let cb = [
            ("CC1", Exact::int(60)),
            ("CC2", Exact::int(20)),
            ("CC3", Exact::int(10)),
        ];
        assert_eq!(
            largest_remainder(90_000, &cb),
            Some(vec![60_000, 20_000, 10_000])
        );
        assert_eq!(largest_remainder(5, &[("x", Exact::ZERO)]), None);
    }

    #[test]
    fn ties_go_by_byte_order() {
        let w = [("b", Exact::int(1)), ("a", Exact::int(1))];
        assert_eq!(largest_remainder(1, &w), Some(vec![0, 1]));
    }
}
