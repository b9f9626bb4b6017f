//! Peaks of step functions over half-open intervals (SPEC §1.2, §1.3, §1.7, §1.8).
//!
//! Every interval `[from, to)` adds its value from `from` and removes it at `to`. At one instant
//! all changes are applied before the value is read, so an interval ending at `t` and one starting
//! at `t` never overlap. The peak of a day is the maximum over the day's start and the change
//! instants inside it; its instant is the earliest one reaching it. Cost: O(n log n) for n
//! intervals, one pass over the days.

use std::collections::BTreeMap;
use std::ops::{Add, Sub};

/// A value that can be summed and compared: `i64` counts or [`crate::Exact`] capacities.
pub trait Quantity: Copy + Ord + Default + Add<Output = Self> + Sub<Output = Self> {}
impl<T: Copy + Ord + Default + Add<Output = T> + Sub<Output = T>> Quantity for T {}

/// A day's (or any span's) peak: the highest value and the earliest instant reaching it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peak<T> {
    pub value: T,
    pub at: i64,
}

/// One piece of a piecewise-constant function: `value` on `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<T> {
    pub from: i64,
    pub to: i64,
    pub value: T,
}

/// Peaks of `Σ value` of the intervals, one per span in `spans` (each `[start, end)`, in any
/// order, returned in the same order). Empty intervals (`to <= from`) count nothing.
pub fn span_peaks<T: Quantity>(intervals: &[Segment<T>], spans: &[(i64, i64)]) -> Vec<Peak<T>> {
    let mut changes: Vec<(i64, T, T)> = Vec::with_capacity(intervals.len() * 2);
    for i in intervals.iter().filter(|i| i.to > i.from) {
        changes.push((i.from, i.value, T::default()));
        changes.push((i.to, T::default(), i.value));
    }
    changes.sort_unstable_by_key(|c| c.0);

    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_unstable_by_key(|&i| spans[i].0);
    let mut peaks = vec![
        Peak {
            value: T::default(),
            at: 0
        };
        spans.len()
    ];

    let mut value = T::default();
    let mut next = 0;
    // Applies every change at the instant of `changes[next]`; returns that instant.
    let apply_instant = |next: &mut usize, value: &mut T| {
        let t = changes[*next].0;
        while *next < changes.len() && changes[*next].0 == t {
            *value = *value + changes[*next].1 - changes[*next].2;
            *next += 1;
        }
        t
    };
    for &d in &order {
        let (start, end) = spans[d];
        while next < changes.len() && changes[next].0 <= start {
            apply_instant(&mut next, &mut value);
        }
        let mut peak = Peak { value, at: start };
        while next < changes.len() && changes[next].0 < end {
            let t = apply_instant(&mut next, &mut value);
            if value > peak.value {
                peak = Peak { value, at: t };
            }
        }
        peaks[d] = peak;
    }
    peaks
}

/// The pointwise maximum of overlapping intervals (one holder holding several sessions counts
/// the largest `count` among those open), as non-overlapping segments in time order.
pub fn max_segments<T: Quantity>(intervals: &[Segment<T>]) -> Vec<Segment<T>> {
    let mut changes: Vec<(i64, bool, T)> = Vec::with_capacity(intervals.len() * 2);
    for i in intervals.iter().filter(|i| i.to > i.from) {
        changes.push((i.from, true, i.value));
        changes.push((i.to, false, i.value));
    }
    changes.sort_unstable_by_key(|c| c.0);
    let mut open: BTreeMap<T, usize> = BTreeMap::new();
    let mut out: Vec<Segment<T>> = Vec::new();
    let mut k = 0;
    while k < changes.len() {
        let t = changes[k].0;
        while k < changes.len() && changes[k].0 == t {
            let (_, starts, v) = changes[k];
            if starts {
                *open.entry(v).or_default() += 1;
            } else if let Some(n) = open.get_mut(&v) {
                *n -= 1;
                if *n == 0 {
                    open.remove(&v);
                }
            }
            k += 1;
        }
        if let Some(last) = out.last_mut() {
            if last.to == i64::MAX {
                last.to = t;
            }
        }
        if let Some((&max, _)) = open.iter().next_back() {
            match out.last_mut() {
                Some(last) if last.to == t && last.value == max => last.to = i64::MAX,
                _ => out.push(Segment {
                    from: t,
                    to: i64::MAX,
                    value: max,
                }),
            }
        }
    }
    out
}

/// True when `[from, to)` holds at instant `t`.
pub fn holds_at(from: i64, to: i64, t: i64) -> bool {
    from <= t && t < to
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(from: i64, to: i64, value: i64) -> Segment<i64> {
        Segment { from, to, value }
    }

    #[test]
    fn ends_apply_before_starts() {
        let peaks = span_peaks(&[seg(0, 10, 1), seg(10, 20, 1)], &[(0, 100)]);
        assert_eq!(peaks, vec![Peak { value: 1, at: 0 }]);
    }

    #[test]
    fn peak_is_earliest_instant_and_state_carries_into_day() {
        let ivs = [seg(-5, 50, 1), seg(20, 30, 1), seg(40, 60, 1)];
        let peaks = span_peaks(&ivs, &[(100, 200), (0, 100)]);
        assert_eq!(peaks[1], Peak { value: 2, at: 20 });
        assert_eq!(peaks[0], Peak { value: 0, at: 100 });
        let carried = span_peaks(&[seg(-5, 150, 3)], &[(100, 200)]);
        assert_eq!(carried[0], Peak { value: 3, at: 100 });
    }

    #[test]
    fn empty_intervals_count_nothing() {
        let peaks = span_peaks(&[seg(5, 5, 9)], &[(0, 10)]);
        assert_eq!(peaks[0].value, 0);
    }

    #[test]
    fn max_segments_takes_largest_open_value() {
        let segs = max_segments(&[seg(0, 10, 1), seg(5, 15, 3), seg(12, 20, 2)]);
        assert_eq!(segs, vec![seg(0, 5, 1), seg(5, 15, 3), seg(15, 20, 2)]);
        let gap = max_segments(&[seg(0, 5, 1), seg(7, 9, 1)]);
        assert_eq!(gap, vec![seg(0, 5, 1), seg(7, 9, 1)]);
        let touching = max_segments(&[seg(0, 5, 1), seg(5, 9, 1)]);
        assert_eq!(touching, vec![seg(0, 9, 1)]);
    }
}
