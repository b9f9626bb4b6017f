//! IBM sub-capacity counting shared by the `pvu` and `vpc` plugins (SPEC §3.1, §3.2, §4.1–§4.6).
//!
//! The two metrics differ only in the rate a core is worth (a PVU table, or 1), so this crate
//! does everything else behind [`Rating`]: it resolves where each product runs over time
//! ([`placement`], [`containers`]), values every unit at every instant its inputs change
//! ([`chain`], [`containers`]), and turns those values into day results: each unit's daily
//! peak, summed per partition (region), with contributors and one explanation line per unit.
//!
//! Cost: per product, one pass over its installations and pods, and per unit one value per
//! change of anything the unit depends on. A static estate costs one value per unit.

pub mod chain;
pub mod containers;
pub mod placement;

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use licmetric_sdk::estate::{
    History, Installation, Interval, Namespace, Node, Pod, Pool, Server, Vm, states_request,
};
use licmetric_sdk::facts::Facts;
use licmetric_sdk::types::{
    BundleClaim, Contributor, DayResult, Evaluation, FactRequest, Outcome, ProductDays,
};
use licmetric_sdk::{Exact, RuleError};

use placement::{Piece, UnitKind};

/// Explanation lines per product and day before the rest are counted (SPEC §5.5.4).
pub const EXPLANATION_MAX_LINES: usize = 200;

/// What a core is worth: the only thing `pvu` and `vpc` do differently.
pub trait Rating {
    /// The quantity's unit in explanations: `PVU` or `VPC`.
    fn unit_name(&self) -> &'static str;
    /// The rate per core of a server (SPEC §3.1.2 steps 3–7); `None` when cores count one for one.
    fn server_rate(&self, key: &str, server: &Server<'_>) -> Option<Rate>;
    /// The rate per core of a Kubernetes node (steps 4–7).
    fn node_rate(&self, key: &str, node: &Node<'_>) -> Option<Rate>;
    /// The default-counting rate (SPEC §4.4); `None` for one per vCPU.
    fn default_rate(&self) -> Option<i64>;
    /// The public-cloud rate per vCPU (SPEC §4.5); `None` for one per vCPU.
    fn cloud_rate(&self) -> Option<i64>;
    /// True for a region the operator declared in rule data besides IBM's `1`, `2`, `3`.
    fn extra_region(&self, region: &str) -> bool;
}

/// A rate with the warning its lookup raised, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    pub per_core: i64,
    pub warning: Option<String>,
}

/// A unit's value at an instant, and why.
#[derive(Debug, Clone)]
pub struct UnitValue<'a> {
    /// Integer quantity (rounded up, times the rate).
    pub value: Exact,
    /// `region:<r>` or `region:none` (SPEC §4.3).
    pub partition: String,
    pub lines: Vec<String>,
    pub contributors: Vec<ConsumerShare<'a>>,
    pub warnings: Vec<String>,
}

/// A consumer's share of a unit's value.
#[derive(Debug, Clone)]
pub struct ConsumerShare<'a> {
    pub kind: &'static str,
    pub key: &'a str,
    pub weight: Exact,
    pub attrs: Vec<(String, String)>,
}

/// The estate kinds sub-capacity metrics read, every state of each.
pub struct Estate<'a> {
    pub servers: History<'a, Server<'a>>,
    pub pools: History<'a, Pool<'a>>,
    pub vms: History<'a, Vm<'a>>,
    pub installations: History<'a, Installation<'a>>,
    pub nodes: History<'a, Node<'a>>,
    pub pods: History<'a, Pod<'a>>,
    pub namespaces: History<'a, Namespace<'a>>,
}

impl<'a> Estate<'a> {
    /// Reads the estate from an evaluation's facts.
    pub fn read(facts: &Facts<'a>) -> Self {
        Estate {
            servers: Server::history(facts),
            pools: Pool::history(facts),
            vms: Vm::history(facts),
            installations: Installation::history(facts),
            nodes: Node::history(facts),
            pods: Pod::history(facts),
            namespaces: Namespace::history(facts),
        }
    }
}

/// The fact requests of a sub-capacity plugin: every state of the seven estate kinds.
pub fn requests() -> Vec<FactRequest> {
    [
        "server",
        "pool",
        "vm",
        "installation",
        "node",
        "pod",
        "namespace",
    ]
    .into_iter()
    .map(states_request)
    .collect()
}

/// A plugin error with a SPEC §5.3 code.
pub fn failure(code: &str, message: String) -> RuleError {
    RuleError::new(code, message)
}

// The SPEC §5.3 fact errors are the SDK's, shared with every plugin.
pub use licmetric_sdk::fail::{decimal, missing, required_decimal};

/// The partition of a unit whose server is `server` (SPEC §4.3), with `unknown_region` if due.
pub fn partition_of(rating: &dyn Rating, server: Option<&Server<'_>>) -> (String, Vec<String>) {
    match server.and_then(|s| s.region) {
        None => ("region:none".into(), Vec::new()),
        Some(r) => {
            let warnings = if matches!(r, "1" | "2" | "3") || rating.extra_region(r) {
                Vec::new()
            } else {
                vec![format!(
                    "unknown_region: region {r:?} is not an IBM sub-capacity region; kept as its own partition (SPEC §2.4)"
                )]
            };
            (format!("region:{r}"), warnings)
        }
    }
}

/// Rounds capacity `c` up once and applies the rate: the value and its formula's tail, e.g.
/// `2.5 → 3 × 70 = 210 PVU` or `16 VPC`.
pub fn rated(c: Exact, per_core: Option<i64>, unit_name: &str) -> (Exact, String) {
    let n = c.ceil();
    let rounding = if c.is_integer() {
        format!("{n}")
    } else {
        format!("{c} → {n}")
    };
    match per_core {
        Some(rate) => {
            let value = n * rate as i128;
            (
                Exact::int(value),
                format!("{rounding} × {rate} = {value} {unit_name}"),
            )
        }
        None => (Exact::int(n), format!("{rounding} {unit_name}")),
    }
}

/// One unit's value over `[from, to)`.
struct Segment<'a> {
    from: i64,
    to: i64,
    value: Rc<UnitValue<'a>>,
}

/// Values a unit over time: one value per interval in which none of its pieces changes.
fn segments<'a, P>(
    pieces: &[&P],
    span: impl Fn(&P) -> (i64, i64),
    value: impl Fn(&[&P], i64) -> Result<UnitValue<'a>, RuleError>,
    errors: &mut Vec<(i64, i64, RuleError)>,
) -> Vec<Segment<'a>> {
    let mut cuts: Vec<i64> = pieces
        .iter()
        .flat_map(|p| {
            let (f, t) = span(p);
            [f, t]
        })
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let active: Vec<&P> = pieces
            .iter()
            .copied()
            .filter(|p| {
                let (f, t) = span(p);
                f <= a && a < t
            })
            .collect();
        if active.is_empty() {
            continue;
        }
        match value(&active, a) {
            Ok(v) => out.push(Segment {
                from: a,
                to: b,
                value: Rc::new(v),
            }),
            Err(e) => errors.push((a, b, e)),
        }
    }
    out
}

/// Counts every product of the evaluation with `rating`.
pub fn evaluate(input: &Evaluation, facts: &Facts<'_>, rating: &dyn Rating) -> Outcome {
    let estate = Estate::read(facts);
    let mut installations: HashMap<&str, Vec<(&str, &Interval<Installation<'_>>)>> = HashMap::new();
    for (key, states) in estate.installations.iter() {
        for held in states {
            installations
                .entry(held.value.product)
                .or_default()
                .push((key, held));
        }
    }
    let mut pods: HashMap<&str, Vec<(&str, &Interval<Pod<'_>>)>> = HashMap::new();
    for (key, states) in estate.pods.iter() {
        for held in states {
            pods.entry(held.value.product)
                .or_default()
                .push((key, held));
        }
    }
    let mut outcome = Outcome {
        days: Vec::new(),
        errors: Vec::new(),
    };
    for product in &input.products {
        let id = product.product.id.as_str();
        product_days(
            &estate,
            rating,
            product,
            installations.get(id).map(Vec::as_slice).unwrap_or(&[]),
            pods.get(id).map(Vec::as_slice).unwrap_or(&[]),
            facts.is_explaining(),
            &mut outcome,
        );
    }
    outcome
}

fn product_days<'e, 'a>(
    estate: &'e Estate<'a>,
    rating: &dyn Rating,
    product: &ProductDays,
    installations: &[(&'a str, &'e Interval<Installation<'a>>)],
    pods: &[(&'a str, &'e Interval<Pod<'a>>)],
    explaining: bool,
    outcome: &mut Outcome,
) {
    let id = product.product.id.as_str();
    let (Some(first), Some(last)) = (product.days.first(), product.days.last()) else {
        return;
    };
    let (start, end) = (first.start, last.end);
    let mut errors = Vec::new();

    let mut pieces = Vec::new();
    placement::pieces(estate, installations, start, end, &mut pieces, &mut errors);
    let mut pod_pieces = Vec::new();
    containers::pieces(estate, pods, start, end, &mut pod_pieces, &mut errors);

    // Every unit's values over time, by unit name (ascending: the explanation order).
    // Keyed by name and counting regime: a server counted through the chain and the same
    // server counted by default counting share a name but are two units (SPEC §4.10.1).
    let mut units: BTreeMap<(String, UnitKind), Vec<Segment<'a>>> = BTreeMap::new();
    let mut by_unit: BTreeMap<(UnitKind, &'a str), Vec<&Piece<'e, 'a>>> = BTreeMap::new();
    for piece in &pieces {
        by_unit.entry(piece.target.unit()).or_default().push(piece);
    }
    for ((kind, key), members) in by_unit {
        let segs = segments(
            &members,
            |p| (p.from, p.to),
            |active, at| chain::value(rating, kind, key, active, at, explaining),
            &mut errors,
        );
        units.insert((format!("{}:{key}", kind.prefix()), kind), segs);
    }
    let mut by_cluster: BTreeMap<&'a str, Vec<&containers::PodPiece<'e, 'a>>> = BTreeMap::new();
    for piece in &pod_pieces {
        by_cluster
            .entry(piece.state.cluster)
            .or_default()
            .push(piece);
    }
    for (cluster, members) in by_cluster {
        let segs = segments(
            &members,
            |p| (p.from, p.to),
            |active, at| containers::value(rating, cluster, active, at),
            &mut errors,
        );
        units.insert(
            (
                format!("{}:{cluster}", UnitKind::Cluster.prefix()),
                UnitKind::Cluster,
            ),
            segs,
        );
    }

    // A day with an error gets no quantity (SPEC §5.3); of several, the one SPEC §4.10.12
    // ranks first (then the first found) is reported.
    let mut failed: BTreeMap<&str, RuleError> = BTreeMap::new();
    for (a, b, e) in errors {
        for day in product.days.iter().filter(|d| d.start < b && a < d.end) {
            let rank = licmetric_sdk::fail::precedence(&e.0.code);
            match failed.get(day.date.as_str()) {
                Some(kept) if licmetric_sdk::fail::precedence(&kept.0.code) <= rank => {}
                _ => {
                    failed.insert(&day.date, e.clone().product(id).date(&day.date));
                }
            }
        }
    }
    let units: Vec<(String, Vec<Segment<'a>>)> = units
        .into_iter()
        .map(|((name, _), segs)| (name, segs))
        .collect();
    let mut results = day_results(rating, id, &product.days, &units, explaining);
    for (day, results) in product.days.iter().zip(results.iter_mut()) {
        if let Some(e) = failed.remove(day.date.as_str()) {
            outcome.errors.push(e.0);
            continue;
        }
        // Bundle annotations of the product's pods that day (the host applies SPEC §4.7.1).
        let mut claims: Vec<(&str, Option<&str>)> = pod_pieces
            .iter()
            .filter(|p| p.from < day.end && day.start < p.to)
            .filter_map(|p| p.state.bundle.map(|b| (b, p.state.ratio)))
            .collect();
        claims.sort();
        claims.dedup();
        for r in results.iter_mut() {
            r.bundle_claims = claims
                .iter()
                .map(|(b, ratio)| BundleClaim {
                    bundle: b.to_string(),
                    ratio: ratio.map(String::from),
                })
                .collect();
        }
        outcome.days.append(results);
    }
}

/// A unit's daily peak in one partition: which unit, which of its segments, from when.
#[derive(Clone, Copy)]
struct UnitPeak {
    unit: usize,
    segment: usize,
    at: i64,
}

/// One partition on one day: Σ of its units' daily peaks, and those peaks when explaining.
#[derive(Default)]
struct Cell<'u> {
    quantity: Exact,
    /// Only when explaining.
    peaks: Vec<UnitPeak>,
    warnings: Vec<&'u str>,
}

/// Every day's results, one per partition: Σ of the units' daily peaks (SPEC §4.2), at the
/// earliest instant of the highest instantaneous total (SPEC §4.2.4). `days` are ascending
/// and disjoint (not necessarily adjacent: only the days a report needs).
///
/// Cost: one pass over each unit's segments, touching each segment's first and last day (every
/// day it spans when explaining), one pass over the days per partition, then one sweep over
/// each partition's start and end instants; no per-day scan of every unit. Contributors and
/// explanation lines only when `explaining` (they are most of the cost of a large estate).
fn day_results(
    rating: &dyn Rating,
    product: &str,
    days: &[licmetric_sdk::types::Day],
    units: &[(String, Vec<Segment<'_>>)],
    explaining: bool,
) -> Vec<Vec<DayResult>> {
    // Partitions by first appearance; a handful per product (regions).
    let mut partitions: Vec<&str> = Vec::new();
    let mut segment_partitions: Vec<Vec<usize>> = Vec::with_capacity(units.len());
    for (_, segs) in units {
        let mut of_unit = Vec::with_capacity(segs.len());
        for seg in segs {
            let name = seg.value.partition.as_str();
            let p = match partitions.iter().position(|p| *p == name) {
                Some(p) => p,
                None => {
                    partitions.push(name);
                    partitions.len() - 1
                }
            };
            of_unit.push(p);
        }
        segment_partitions.push(of_unit);
    }
    let width = partitions.len();
    let mut cells: Vec<Option<Cell<'_>>> = (0..days.len() * width).map(|_| None).collect();
    // The first day whose end is after `t`.
    let day_after = |t: i64| days.partition_point(|d| d.end <= t);

    // Each unit's daily peak per partition: the first segment of the highest value that day.
    // A day strictly inside a segment meets no other segment of its unit, so the segment's
    // value is the unit's peak there: when not explaining (no peaks to keep) those days are
    // added as one range (`interior`, summed per partition below) instead of day by day.
    let mut best: Vec<Option<UnitPeak>> = vec![None; days.len() * width];
    let mut interior: Vec<Exact> = vec![Exact::ZERO; days.len() * width];
    let mut interior_units: Vec<i64> = vec![0; days.len() * width];
    let mut touched: Vec<usize> = Vec::new();
    for (u, (_, segs)) in units.iter().enumerate() {
        for (k, seg) in segs.iter().enumerate() {
            let p = segment_partitions[u][k];
            let first = day_after(seg.from);
            let end = days.partition_point(|d| d.start < seg.to);
            let mut visit = |d: usize| {
                let cell = d * width + p;
                let at = seg.from.max(days[d].start);
                match &mut best[cell] {
                    Some(peak) => {
                        if seg.value.value > segs[peak.segment].value.value {
                            *peak = UnitPeak {
                                unit: u,
                                segment: k,
                                at,
                            };
                        }
                    }
                    slot @ None => {
                        *slot = Some(UnitPeak {
                            unit: u,
                            segment: k,
                            at,
                        });
                        touched.push(cell);
                    }
                }
            };
            if !explaining && seg.value.warnings.is_empty() && end > first + 2 {
                visit(first);
                visit(end - 1);
                interior[(first + 1) * width + p] += seg.value.value;
                interior[(end - 1) * width + p] -= seg.value.value;
                interior_units[(first + 1) * width + p] += 1;
                interior_units[(end - 1) * width + p] -= 1;
            } else {
                (first..end).for_each(&mut visit);
            }
        }
        for cell in touched.drain(..) {
            let peak = best[cell].take().expect("touched cells hold a peak");
            let value = &segs[peak.segment].value;
            let c = cells[cell].get_or_insert_with(Cell::default);
            c.quantity += value.value;
            c.warnings.extend(value.warnings.iter().map(String::as_str));
            if explaining {
                c.peaks.push(peak);
            }
        }
    }
    for p in 0..width {
        let (mut sum, mut count) = (Exact::ZERO, 0i64);
        for d in 0..days.len() {
            sum += interior[d * width + p];
            count += interior_units[d * width + p];
            if count > 0 {
                cells[d * width + p]
                    .get_or_insert_with(Cell::default)
                    .quantity += sum;
            }
        }
    }

    // The highest instantaneous total per partition and day, sweeping its segments' instants.
    let mut peak_at: Vec<Option<i64>> = vec![None; days.len() * width];
    // Per partition: (instant, change of the total, change of the number of active segments).
    let mut events: Vec<Vec<(i64, Exact, i64)>> = vec![Vec::new(); width];
    for (u, (_, segs)) in units.iter().enumerate() {
        for (k, seg) in segs.iter().enumerate() {
            let events = &mut events[segment_partitions[u][k]];
            events.push((seg.from, seg.value.value, 1));
            events.push((seg.to, Exact::ZERO - seg.value.value, -1));
        }
    }
    for (p, mut events) in events.into_iter().enumerate() {
        events.sort_by_key(|e| e.0);
        let (mut total, mut active, mut i) = (Exact::ZERO, 0i64, 0);
        for (d, day) in days.iter().enumerate() {
            while i < events.len() && events[i].0 <= day.start {
                total += events[i].1;
                active += events[i].2;
                i += 1;
            }
            let mut best: Option<(Exact, i64)> = (active > 0).then_some((total, day.start));
            while i < events.len() && events[i].0 < day.end {
                let t = events[i].0;
                while i < events.len() && events[i].0 == t {
                    total += events[i].1;
                    active += events[i].2;
                    i += 1;
                }
                if best.is_none_or(|(b, _)| total > b) {
                    best = Some((total, t));
                }
            }
            peak_at[d * width + p] = best.map(|(_, t)| t);
        }
    }

    let mut order: Vec<usize> = (0..width).collect();
    order.sort_by_key(|&p| partitions[p]);
    days.iter()
        .enumerate()
        .map(|(d, day)| {
            let present: Vec<usize> = order
                .iter()
                .copied()
                .filter(|&p| cells[d * width + p].is_some())
                .collect();
            if present.is_empty() {
                return vec![DayResult {
                    product: product.into(),
                    date: day.date.clone(),
                    metric: String::new(),
                    partition: "region:none".into(),
                    quantity: "0".into(),
                    peak_at: day.start,
                    measures: Vec::new(),
                    contributors: Vec::new(),
                    explanation: vec![format!(
                        "no installation or pod of {product} counts on {} = 0 {}",
                        day.date,
                        rating.unit_name()
                    )],
                    warnings: Vec::new(),
                    bundle_claims: Vec::new(),
                }];
            }
            present
                .into_iter()
                .map(|p| {
                    let cell = cells[d * width + p].take().expect("present");
                    result_of(
                        rating,
                        product,
                        day,
                        partitions[p],
                        cell,
                        peak_at[d * width + p].unwrap_or(day.start),
                        units,
                        explaining,
                    )
                })
                .collect()
        })
        .collect()
}

/// One partition's day result from its cell; contributors and lines when `explaining`.
#[allow(clippy::too_many_arguments)]
fn result_of(
    rating: &dyn Rating,
    product: &str,
    day: &licmetric_sdk::types::Day,
    partition: &str,
    cell: Cell<'_>,
    peak_at: i64,
    units: &[(String, Vec<Segment<'_>>)],
    explaining: bool,
) -> DayResult {
    let Cell {
        quantity,
        peaks,
        mut warnings,
    } = cell;
    let mut explanation: Vec<String> = Vec::new();
    let mut contributors = Vec::new();
    for peak in &peaks {
        let (name, segs) = &units[peak.unit];
        let value = &segs[peak.segment].value;
        explanation.extend(value.lines.iter().cloned());
        contributors.extend(
            value
                .contributors
                .iter()
                .filter(|c| !c.weight.is_zero())
                .map(|c| Contributor {
                    kind: c.kind.into(),
                    key: c.key.into(),
                    unit: name.clone(),
                    at: peak.at,
                    weight: c.weight.to_string(),
                    attrs: c.attrs.clone(),
                }),
        );
    }
    cap_lines(&mut explanation, EXPLANATION_MAX_LINES - 1);
    if explaining && peaks.len() > 1 {
        let terms: Vec<String> = peaks
            .iter()
            .map(|p| units[p.unit].1[p.segment].value.value.to_string())
            .collect();
        let sum = if terms.len() <= 20 {
            terms.join(" + ")
        } else {
            format!("{} units", terms.len())
        };
        explanation.push(format!(
            "{partition} total: {sum} = {quantity} {}",
            rating.unit_name()
        ));
    }
    warnings.sort_unstable();
    warnings.dedup();
    DayResult {
        product: product.into(),
        date: day.date.clone(),
        metric: String::new(),
        partition: partition.into(),
        quantity: quantity.to_string(),
        peak_at,
        measures: Vec::new(),
        contributors,
        explanation,
        warnings: warnings.into_iter().map(String::from).collect(),
        bundle_claims: Vec::new(),
    }
}

/// Keeps the first lines and a last one counting the rest (SPEC §5.5.4).
fn cap_lines(lines: &mut Vec<String>, max: usize) {
    if lines.len() > max {
        let rest = lines.len() - (max - 1);
        lines.truncate(max - 1);
        lines.push(format!("… and {rest} more lines"));
    }
}
