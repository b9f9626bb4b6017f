//! Containers (SPEC §4.6): per (product, cluster), pod CPU limits summed per node, capped at the
//! node's capacity, divided by its threads per core, fractions summed over the cluster and
//! rounded up once (per PVU rate for pvu). The only place hyperthreading is divided out.

use std::collections::BTreeMap;

use licmetric_sdk::estate::{Interval, Namespace, Node, Pod, clip};
use licmetric_sdk::{Exact, RuleError};

use crate::{ConsumerShare, Estate, Rating, UnitValue, decimal, failure, rated, required_decimal};

/// One pod of the product over `[from, to)`, with its node and namespace states constant.
#[derive(Debug, Clone)]
pub struct PodPiece<'e, 'a> {
    pub from: i64,
    pub to: i64,
    pub pod: &'a str,
    pub state: &'e Pod<'a>,
    pub node: &'a str,
    pub node_state: &'e Node<'a>,
    pub namespace: &'e Namespace<'a>,
}

/// Resolves the product's pod states that meet `[start, end)`; unscheduled pods count nothing.
pub fn pieces<'e, 'a>(
    estate: &'e Estate<'a>,
    pods: &[(&'a str, &'e Interval<Pod<'a>>)],
    start: i64,
    end: i64,
    out: &mut Vec<PodPiece<'e, 'a>>,
    errors: &mut Vec<(i64, i64, RuleError)>,
) {
    for &(key, held) in pods {
        let Some((from, to)) = clip(held.from, held.to, start, end) else {
            continue;
        };
        let pod = &held.value;
        let Some(node) = pod.node else {
            continue;
        };
        let mut cuts = vec![from, to];
        cuts.extend(estate.nodes.boundaries(node, from, to));
        cuts.extend(estate.namespaces.boundaries(pod.namespace, from, to));
        cuts.sort_unstable();
        cuts.dedup();
        for w in cuts.windows(2) {
            let (a, b) = (w[0], w[1]);
            let Some(node_state) = estate.nodes.at(node, a) else {
                errors.push((
                    a,
                    b,
                    failure(
                        "unknown_reference",
                        format!(
                            "pod {key:?} is on node {node:?}, which names no node at that instant"
                        ),
                    )
                    .fact("pod", key)
                    .attribute("node")
                    .at(a)
                    .section("SPEC §4.6"),
                ));
                continue;
            };
            let Some(namespace) = estate.namespaces.at(pod.namespace, a) else {
                errors.push((
                    a,
                    b,
                    failure(
                        "unknown_reference",
                        format!(
                            "pod {key:?} is in namespace {:?}, which names no namespace at that instant",
                            pod.namespace
                        ),
                    )
                    .fact("pod", key)
                    .attribute("namespace")
                    .at(a)
                    .section("SPEC §5.3"),
                ));
                continue;
            };
            if node_state.value.cluster != pod.cluster {
                errors.push((
                    a,
                    b,
                    failure(
                        "inconsistent_facts",
                        format!(
                            "pod {key:?} of cluster {:?} runs on node {node:?} of cluster {:?}",
                            pod.cluster, node_state.value.cluster
                        ),
                    )
                    .fact("pod", key)
                    .attribute("cluster")
                    .at(a)
                    .section("SPEC §4.6"),
                ));
                continue;
            }
            out.push(PodPiece {
                from: a,
                to: b,
                pod: key,
                state: pod,
                node,
                node_state: &node_state.value,
                namespace: &namespace.value,
            });
        }
    }
}

/// The value of the (product, cluster) unit whose active pods at `at` are `pieces`.
pub fn value<'a>(
    rating: &dyn Rating,
    cluster: &'a str,
    pieces: &[&PodPiece<'_, 'a>],
    at: i64,
) -> Result<UnitValue<'a>, RuleError> {
    struct NodeSum<'p, 'e, 'a> {
        state: &'e Node<'a>,
        capacity: Exact,
        threads: i64,
        limits: Exact,
        pods: Vec<(&'p PodPiece<'e, 'a>, Exact)>,
    }
    let mut nodes: BTreeMap<&'a str, NodeSum<'_, '_, 'a>> = BTreeMap::new();
    for piece in pieces {
        let node = piece.node_state;
        let capacity = required_decimal(
            node.capacity_cores,
            "node",
            piece.node,
            "capacity_cores",
            at,
            "SPEC §4.6",
        )?;
        let threads = node.threads_per_core.unwrap_or(1);
        if threads <= 0 {
            return Err(failure(
                "invalid_value",
                format!(
                    "threads_per_core {threads} of node {:?} must be at least 1",
                    piece.node
                ),
            )
            .fact("node", piece.node)
            .attribute("threads_per_core")
            .at(at)
            .section("SPEC §2.8"));
        }
        // No limit: the pod may use its whole node (SPEC §4.6 step 1).
        let limit = decimal(
            piece.state.cpu_limit_cores,
            "pod",
            piece.pod,
            "cpu_limit_cores",
            at,
        )?
        .unwrap_or(capacity);
        let sum = nodes.entry(piece.node).or_insert(NodeSum {
            state: node,
            capacity,
            threads,
            limits: Exact::ZERO,
            pods: Vec::new(),
        });
        sum.limits += limit;
        sum.pods.push((piece, limit));
    }

    // Rate groups: nodes of one PVU rate are summed and rounded together (one group for vpc).
    struct Group {
        x: Exact,
        nodes: Vec<String>,
    }
    let mut groups: BTreeMap<Option<i64>, Group> = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    let mut node_x: BTreeMap<&str, (Exact, Option<i64>)> = BTreeMap::new();
    for (key, n) in &nodes {
        let capped = n.limits.min(n.capacity);
        let x = capped / Exact::int(n.threads as i128);
        let rate = rating.node_rate(key, n.state);
        warnings.extend(rate.as_ref().and_then(|r| r.warning.clone()));
        let per_core = rate.map(|r| r.per_core);
        let threads = if n.threads == 1 {
            String::new()
        } else {
            format!(" / {} threads = {x}", n.threads)
        };
        notes.push(format!(
            "{cluster}/{key}: min({} limit, {} capacity) = {capped}{threads}",
            n.limits, n.capacity
        ));
        let group = groups.entry(per_core).or_insert(Group {
            x: Exact::ZERO,
            nodes: Vec::new(),
        });
        group.x += x;
        group.nodes.push(x.to_string());
        node_x.insert(key, (x, per_core));
    }
    let mut value = Exact::ZERO;
    let mut group_values: BTreeMap<Option<i64>, Exact> = BTreeMap::new();
    let mut totals = Vec::new();
    for (per_core, g) in &groups {
        let (v, text) = rated(g.x, *per_core, rating.unit_name());
        value += v;
        group_values.insert(*per_core, v);
        let sum = if g.nodes.len() > 1 {
            format!("{} = ", g.nodes.join(" + "))
        } else {
            String::new()
        };
        totals.push(format!("{sum}{text}"));
    }
    let line = if totals.is_empty() {
        format!("{cluster}: no pod with a limit = 0 {}", rating.unit_name())
    } else {
        format!("{cluster}: {}", totals.join("; "))
    };

    // Weights: a pod's share of its node's x in proportion to its limit, of its group's value.
    let mut contributors = Vec::new();
    for (key, n) in &nodes {
        let (x, per_core) = node_x[key];
        let group = &groups[&per_core];
        let group_value = group_values[&per_core];
        for (piece, limit) in &n.pods {
            let weight = if group.x.is_zero() || n.limits.is_zero() {
                Exact::ZERO
            } else {
                group_value * (x * *limit / n.limits) / group.x
            };
            let mut attrs = piece
                .state
                .organisation
                .or(piece.namespace.organisation)
                .pairs();
            if let Some(g) = piece.namespace.group {
                attrs.push(("namespace_group".into(), g.to_string()));
            }
            contributors.push(ConsumerShare {
                kind: "pod",
                key: piece.pod,
                weight,
                attrs,
            });
        }
    }
    let mut lines = notes;
    lines.push(line);
    Ok(UnitValue {
        value,
        partition: "region:none".into(),
        lines,
        contributors,
        warnings,
    })
}
