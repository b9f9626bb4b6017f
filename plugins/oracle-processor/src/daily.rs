//! A product's processor (or socket) count per day (SPEC §3.3.1 steps 7–9, §3.3.3, §3.3.4):
//! the product's units valued over time, each unit's daily peak, servers and unknown-host units
//! grouped by core factor and rounded once per group, cloud instances added as rounded.
//!
//! Time is cut wherever anything a unit depends on changes (installations, vms, servers, pools,
//! and the servers of a soft-partitioning scope), so the day's maximum is the maximum over its
//! start and those instants (SPEC §1.7). Consecutive equal values of a unit are merged, so a
//! static estate costs one value per unit.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use licmetric_sdk::estate::{Installation, Interval, Organisation};
use licmetric_sdk::types::{Contributor, Day};
use licmetric_sdk::{Exact, RuleError};

use crate::placement::{self, OraclePiece, OracleTarget};
use crate::rules::Scope;
use crate::units::{
    self, Basis, Context, UnitKey, UnitKind, UnitValue, count_of, rounding, sum_terms,
};

/// Explanation lines per product and day before the rest are counted (SPEC §5.5.4).
pub const EXPLANATION_MAX_LINES: usize = 200;

/// One unit's value over `[from, to)`.
pub struct Seg<'a> {
    pub from: i64,
    pub to: i64,
    pub value: Rc<UnitValue<'a>>,
}

/// A span over which no unit of the product changes.
pub struct Span {
    pub from: i64,
    pub to: i64,
    pub basis: Basis,
    /// The instantaneous total (for `peak_at`).
    pub total: Exact,
    pub warnings: Vec<String>,
}

/// A product's units valued over a span of time.
pub struct Counted<'a> {
    pub spans: Vec<Span>,
    pub units: BTreeMap<UnitKey<'a>, Vec<Seg<'a>>>,
    pub errors: Vec<(i64, i64, RuleError)>,
}

/// Values the units of a product with `installations` over `[start, end)`.
pub fn count<'e, 'a>(
    ctx: &Context<'e, 'a>,
    installations: &[(&'a str, &'e Interval<Installation<'a>>)],
    start: i64,
    end: i64,
) -> Counted<'a> {
    let mut errors = Vec::new();
    let mut pieces: Vec<OraclePiece<'e, 'a>> = Vec::new();
    placement::pieces(
        ctx.estate,
        installations,
        start,
        end,
        &mut pieces,
        &mut errors,
    );

    let mut cuts: Vec<i64> = pieces.iter().flat_map(|p| [p.from, p.to]).collect();
    // A soft-partitioning scope changes when any server that may belong to it changes.
    let scope = ctx.rules.partitioning_scope;
    if scope != Scope::Host {
        let mut watched: BTreeSet<&'a str> = BTreeSet::new();
        for p in &pieces {
            if let OracleTarget::OnVm {
                state,
                server_state,
                ..
            } = p.target
                && state.lpar_mode.is_none()
                && state.partitioning != Some("hard")
            {
                watched.extend(ctx.scopes.candidates(scope, server_state));
            }
        }
        for key in watched {
            cuts.extend(ctx.estate.servers.boundaries(key, start, end));
        }
    }
    cuts.sort_unstable();
    cuts.dedup();

    pieces.sort_by_key(|p| p.from);
    let mut next = 0;
    let mut active: Vec<&OraclePiece<'e, 'a>> = Vec::new();
    let mut spans = Vec::new();
    let mut units: BTreeMap<UnitKey<'a>, Vec<Seg<'a>>> = BTreeMap::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        active.retain(|p| p.to > a);
        while next < pieces.len() && pieces[next].from <= a {
            if pieces[next].to > a {
                active.push(&pieces[next]);
            }
            next += 1;
        }
        if active.is_empty() {
            continue;
        }
        // Same order whatever the sweep did: the explanation and errors are deterministic.
        active.sort_by_key(|p| (p.installation, p.from));
        match units::units_at(ctx, &active, a) {
            Err(e) => errors.push((a, b, e)),
            Ok(found) => {
                let total =
                    units::total(found.basis, found.units.iter().map(|(k, v)| (k, &v.value)));
                spans.push(Span {
                    from: a,
                    to: b,
                    basis: found.basis,
                    total,
                    warnings: found.warnings,
                });
                for (key, value) in found.units {
                    let segs = units.entry(key).or_default();
                    match segs.last_mut() {
                        Some(last) if last.to == a && *last.value == value => last.to = b,
                        _ => segs.push(Seg {
                            from: a,
                            to: b,
                            value: Rc::new(value),
                        }),
                    }
                }
            }
        }
    }
    Counted {
        spans,
        units,
        errors,
    }
}

/// A unit's daily peak, for the NUP minimum.
#[derive(Debug, Clone)]
pub struct PeakUnit<'a> {
    pub kind: UnitKind,
    pub key: &'a str,
    pub value: Exact,
    pub vcpus: Option<Exact>,
    pub editions: Vec<&'a str>,
}

/// A product's count on one day.
#[derive(Debug, Clone)]
pub struct ProcessorDay<'a> {
    pub basis: Basis,
    pub quantity: Exact,
    pub peak_at: i64,
    pub explanation: Vec<String>,
    pub contributors: Vec<Contributor>,
    pub warnings: Vec<String>,
    pub units: Vec<PeakUnit<'a>>,
}

/// The product's count on `day`: `Ok(None)` when nothing of it is installed that day; an error
/// of any instant of the day fails the day (SPEC §5.3).
pub fn day<'a>(counted: &Counted<'a>, day: &Day) -> Result<Option<ProcessorDay<'a>>, RuleError> {
    let (start, end) = (day.start, day.end);
    let meets = |from: i64, to: i64| from < end && start < to;
    if let Some((_, _, e)) = counted
        .errors
        .iter()
        .filter(|(a, b, _)| meets(*a, *b))
        // SPEC §4.10.12's order first, then the earliest.
        .min_by_key(|(a, _, e)| (licmetric_sdk::fail::precedence(&e.0.code), *a))
    {
        return Err(e.clone());
    }
    let spans: Vec<&Span> = counted
        .spans
        .iter()
        .filter(|w| meets(w.from, w.to))
        .collect();
    let Some(first) = spans.first() else {
        return Ok(None);
    };
    let basis = first.basis;
    if let Some(other) = spans.iter().find(|w| w.basis != basis) {
        return Err(RuleError::new(
            "inconsistent_facts",
            format!(
                "the product's installations count {} and {} on the same day (mixed editions)",
                basis.unit_name(),
                other.basis.unit_name()
            ),
        )
        .at(other.from.max(start))
        .section("SPEC §3.3.1"));
    }
    let peak_window = spans
        .iter()
        .fold(None::<&&Span>, |best, w| match best {
            Some(b) if b.total >= w.total => Some(b),
            _ => Some(w),
        })
        .expect("a day with spans");
    let peak_at = peak_window.from.max(start);
    let mut warnings: Vec<String> = spans
        .iter()
        .flat_map(|w| w.warnings.iter().cloned())
        .collect();
    warnings.sort();
    warnings.dedup();

    // Each unit's daily peak (earliest instant reaching it).
    let mut peaks: Vec<(&UnitKey<'a>, i64, &UnitValue<'a>)> = Vec::new();
    for (key, segs) in &counted.units {
        let first = segs.partition_point(|s| s.to <= start);
        let mut best: Option<(i64, &UnitValue<'a>)> = None;
        for seg in segs[first..].iter().take_while(|s| s.from < end) {
            if best.is_none_or(|(_, v)| seg.value.value > v.value) {
                best = Some((seg.from.max(start), &seg.value));
            }
        }
        if let Some((at, value)) = best {
            peaks.push((key, at, value));
        }
    }

    let mut explanation: Vec<String> = peaks.iter().map(|(_, _, v)| v.line.clone()).collect();
    let mut totals: Vec<String> = Vec::new();
    let mut quantity = Exact::ZERO;
    let mut parts: Vec<String> = Vec::new();
    match basis {
        Basis::Cores => {
            let mut groups: BTreeMap<Exact, Vec<Exact>> = BTreeMap::new();
            for ((_, _, factor), _, v) in &peaks {
                if let Some(f) = factor {
                    groups.entry(*f).or_default().push(v.value);
                }
            }
            for (f, values) in &groups {
                let sum: Exact = values.iter().copied().sum();
                let product = sum * *f;
                let n = Exact::int(product.ceil());
                let terms: Vec<String> = values.iter().map(|v| v.to_string()).collect();
                let cores = if terms.len() == 1 {
                    count_of(sum, "cores")
                } else {
                    format!("({}) cores", sum_terms(&terms, 20))
                };
                totals.push(format!("factor {f}: {cores} × {f} = {}", rounding(product)));
                quantity += n;
                parts.push(format!("{n} (factor {f})"));
            }
            for ((key, kind, _), _, v) in &peaks {
                if *kind == UnitKind::Cloud {
                    quantity += v.value;
                    parts.push(format!("{} ({key})", v.value));
                }
            }
        }
        Basis::Sockets => {
            for ((key, _, _), _, v) in &peaks {
                quantity += v.value;
                parts.push(format!("{} ({key})", v.value));
            }
        }
    }
    if parts.len() > 1 {
        totals.push(format!(
            "total: {} = {quantity} {}",
            sum_terms(&parts, 20),
            basis.unit_name()
        ));
    }
    cap_lines(
        &mut explanation,
        EXPLANATION_MAX_LINES.saturating_sub(totals.len()).max(2),
    );
    explanation.extend(totals);
    cap_lines(&mut explanation, EXPLANATION_MAX_LINES);

    // Contributors: shares summed per (unit, installation, organisation), each at its unit's
    // peak instant. Shares read on different servers of one scope keep their own server's
    // attributes: never merged under the first one's (SPEC §4.10.4).
    type Merged<'a> = BTreeMap<(Rc<str>, &'a str, Organisation<'a>), (Exact, i64)>;
    let mut merged: Merged<'a> = BTreeMap::new();
    for (_, at, v) in &peaks {
        for s in &v.shares {
            let e = merged
                .entry((s.unit.clone(), s.installation, s.organisation))
                .or_insert((Exact::ZERO, *at));
            e.0 += s.weight;
            e.1 = e.1.min(*at);
        }
    }
    let contributors = merged
        .into_iter()
        .filter(|(_, (w, _))| !w.is_zero())
        .map(|((unit, key, org), (weight, at))| Contributor {
            kind: "installation".into(),
            key: key.into(),
            unit: unit.to_string(),
            at,
            weight: weight.to_string(),
            attrs: org.pairs(),
        })
        .collect();

    let units = peaks
        .iter()
        .map(|((key, kind, _), _, v)| PeakUnit {
            kind: *kind,
            key,
            value: v.value,
            vcpus: v.vcpus,
            editions: v.editions.clone(),
        })
        .collect();
    Ok(Some(ProcessorDay {
        basis,
        quantity,
        peak_at,
        explanation,
        contributors,
        warnings,
        units,
    }))
}

/// Keeps the first lines and a last one counting the rest (SPEC §5.5.4).
pub fn cap_lines(lines: &mut Vec<String>, max: usize) {
    if lines.len() > max {
        let rest = lines.len() - (max - 1);
        lines.truncate(max - 1);
        lines.push(format!("… and {rest} more lines"));
    }
}
