//! The value of one unit at one instant: a physical server through the capacity chain
//! (SPEC §4.1), a cloud instance (§4.5) or a default-counted vm or server (§4.4), with its
//! explanation line and the contributor weights (§4.1 step 6).

use std::collections::BTreeMap;

use licmetric_sdk::estate::Server;
use licmetric_sdk::{Exact, RuleError};

use crate::placement::{Piece, Target, UnitKind};
use crate::{
    ConsumerShare, Rating, UnitValue, failure, missing, partition_of, rated, required_decimal,
};

/// The value of a unit whose active pieces at instant `at` are `pieces` (all of one unit).
/// Explanation lines and contributor weights only when `explaining`: they cost string
/// formatting and rational divisions per unit and change, and counting needs neither.
pub fn value<'a>(
    rating: &dyn Rating,
    kind: UnitKind,
    key: &'a str,
    pieces: &[&Piece<'_, 'a>],
    at: i64,
    explaining: bool,
) -> Result<UnitValue<'a>, RuleError> {
    let mut value = match kind {
        UnitKind::Server => server(rating, key, pieces, at, explaining),
        UnitKind::Cloud => cloud(rating, key, pieces, at),
        UnitKind::DefaultVm | UnitKind::DefaultServer => default(rating, kind, key, pieces, at),
        UnitKind::Cluster => unreachable!("clusters are counted in containers.rs"),
    }?;
    if !explaining {
        value.lines = Vec::new();
        value.contributors = Vec::new();
    }
    Ok(value)
}

/// Shares `value` among `pieces` equally (several installations of the product on one unit).
fn equal_shares<'a>(value: Exact, pieces: &[&Piece<'_, 'a>]) -> Vec<ConsumerShare<'a>> {
    let mut keys: Vec<&Piece<'_, 'a>> = pieces.to_vec();
    keys.sort_by_key(|p| p.installation);
    keys.dedup_by_key(|p| p.installation);
    let n = Exact::int(keys.len() as i128);
    keys.iter()
        .map(|p| ConsumerShare {
            kind: "installation",
            key: p.installation,
            weight: value / n,
            attrs: p.organisation.or(p.target.organisation()).pairs(),
        })
        .collect()
}

fn cores_of(key: &str, server: &Server<'_>, at: i64) -> Result<Exact, RuleError> {
    server
        .cores
        .map(|c| Exact::int(c as i128))
        .ok_or_else(|| missing("server", key, "cores", at, "SPEC §4.1"))
}

/// A physical server: direct installations count all its cores; otherwise VM → pool → server.
fn server<'a>(
    rating: &dyn Rating,
    key: &'a str,
    pieces: &[&Piece<'_, 'a>],
    at: i64,
    explaining: bool,
) -> Result<UnitValue<'a>, RuleError> {
    let server = pieces[0]
        .target
        .server()
        .expect("a server unit always has its server");
    let cores = cores_of(key, server, at)?;
    let rate = rating.server_rate(key, server);
    let (partition, mut warnings) = partition_of(rating, Some(server));
    warnings.extend(rate.as_ref().and_then(|r| r.warning.clone()));
    let per_core = rate.map(|r| r.per_core);

    let direct: Vec<&Piece<'_, 'a>> = pieces
        .iter()
        .copied()
        .filter(|p| matches!(p.target, Target::Direct { .. }))
        .collect();
    if !direct.is_empty() {
        let (value, text) = rated(cores, per_core, rating.unit_name());
        return Ok(UnitValue {
            value,
            partition,
            lines: vec![format!(
                "{key}: {cores} cores (installed on the server) = {text}"
            )],
            contributors: equal_shares(value, &direct),
            warnings,
        });
    }

    // Each vm once (SPEC §4.1: a vm counts once per product), with its uncapped capacity c_v.
    struct Member<'p, 'e, 'a> {
        capacity: Exact,
        pool: Option<&'a str>,
        pieces: Vec<&'p Piece<'e, 'a>>,
    }
    let mut vms: BTreeMap<&'a str, Member<'_, '_, 'a>> = BTreeMap::new();
    let mut pools: BTreeMap<&'a str, (Exact, Exact)> = BTreeMap::new(); // pool → (Σ c_v, cores)
    let mut notes = Vec::new();
    for piece in pieces {
        let Target::Chain {
            vm, state, pool, ..
        } = piece.target
        else {
            unreachable!("a server unit holds only chain and direct pieces")
        };
        if let Some(member) = vms.get_mut(vm) {
            member.pieces.push(piece);
            continue;
        }
        let pool_cores = match pool {
            Some((pool_key, p)) => Some(required_decimal(
                p.cores,
                "pool",
                pool_key,
                "cores",
                at,
                "SPEC §4.1",
            )?),
            None => None,
        };
        let capacity = match state.lpar_mode {
            None | Some("dedicated") => {
                if let (Some("dedicated"), Some(p)) = (state.lpar_mode, state.pool) {
                    notes.push(format!("{vm}: dedicated LPAR, its pool {p} is ignored"));
                }
                Exact::int(
                    state
                        .vcpus
                        .ok_or_else(|| missing("vm", vm, "vcpus", at, "SPEC §4.1"))?
                        as i128,
                )
            }
            Some("capped") => required_decimal(
                state.entitled_capacity,
                "vm",
                vm,
                "entitled_capacity",
                at,
                "SPEC §4.1",
            )?,
            Some("uncapped") => {
                let vp = state
                    .virtual_processors
                    .ok_or_else(|| missing("vm", vm, "virtual_processors", at, "SPEC §4.1"))?;
                Exact::int(vp as i128).min(pool_cores.unwrap_or(cores))
            }
            Some(other) => {
                return Err(failure(
                    "invalid_value",
                    format!(
                        "lpar_mode {other:?} of vm {vm:?} is not dedicated, capped or uncapped"
                    ),
                )
                .fact("vm", vm)
                .attribute("lpar_mode")
                .at(at)
                .section("SPEC §2.6"));
            }
        };
        if let (Some((pool_key, _)), Some(pc)) = (pool, pool_cores) {
            let entry = pools.entry(pool_key).or_insert((Exact::ZERO, pc));
            entry.0 += capacity;
        }
        vms.insert(
            vm,
            Member {
                capacity,
                pool: pool.map(|p| p.0),
                pieces: vec![piece],
            },
        );
    }
    let outside: Exact = vms
        .values()
        .filter(|m| m.pool.is_none())
        .map(|m| m.capacity)
        .sum();
    let pooled: Exact = pools.values().map(|(sum, cap)| (*sum).min(*cap)).sum();
    let uncapped = outside + pooled;
    let capped = uncapped.min(cores);
    let (value, text) = rated(capped, per_core, rating.unit_name());
    if !explaining {
        return Ok(UnitValue {
            value,
            partition,
            lines: Vec::new(),
            contributors: Vec::new(),
            warnings,
        });
    }

    let mut terms: Vec<String> = pools
        .iter()
        .map(|(q, (sum, cap))| format!("pool {q}: min({sum}, {cap} cores)"))
        .collect();
    if vms.values().any(|m| m.pool.is_none()) || terms.is_empty() {
        terms.insert(0, format!("{outside} vCPU"));
    }
    let line = format!("{key}: min({}, {cores} cores) = {text}", terms.join(" + "));

    // Weights: each layer's capped value shared in proportion to uncapped values (SPEC §4.1.6).
    let mut contributors = Vec::new();
    for member in vms.values() {
        let after_pool = match member.pool.and_then(|q| pools.get(q)) {
            Some((sum, cap)) if !sum.is_zero() => member.capacity * (*sum).min(*cap) / *sum,
            Some(_) => Exact::ZERO,
            None => member.capacity,
        };
        let weight = if uncapped.is_zero() {
            Exact::ZERO
        } else {
            value * after_pool / uncapped
        };
        contributors.extend(equal_shares(weight, &member.pieces));
    }
    let mut lines = vec![line];
    lines.extend(notes);
    Ok(UnitValue {
        value,
        partition,
        lines,
        contributors,
        warnings,
    })
}

/// A public-cloud instance: vCPUs × the cloud rate, no cap (SPEC §4.5).
fn cloud<'a>(
    rating: &dyn Rating,
    key: &'a str,
    pieces: &[&Piece<'_, 'a>],
    at: i64,
) -> Result<UnitValue<'a>, RuleError> {
    let (vcpus, server) = match pieces[0].target {
        Target::CloudVm { state, server, .. } => (
            match (state.threads, state.vcpus) {
                (Some(t), _) => Exact::int(t as i128),
                (None, Some(v)) => Exact::int(v as i128),
                (None, None) => return Err(missing("vm", key, "vcpus", at, "SPEC §4.5")),
            },
            server.map(|s| s.1),
        ),
        Target::CloudServer { state, .. } => (
            cores_of(key, state, at)? * Exact::int(state.threads_per_core.unwrap_or(1) as i128),
            Some(state),
        ),
        _ => unreachable!("a cloud unit holds only cloud pieces"),
    };
    let (partition, warnings) = partition_of(rating, server);
    let (value, text) = rated(vcpus, rating.cloud_rate(), rating.unit_name());
    Ok(UnitValue {
        value,
        partition,
        lines: vec![format!("{key}: {vcpus} vCPU (cloud) = {text}")],
        contributors: equal_shares(value, pieces),
        warnings,
    })
}

/// No hypervisor data: the vm's vCPUs (or the server's cores), uncapped, at the default rate.
fn default<'a>(
    rating: &dyn Rating,
    kind: UnitKind,
    key: &'a str,
    pieces: &[&Piece<'_, 'a>],
    at: i64,
) -> Result<UnitValue<'a>, RuleError> {
    let (capacity, what, server, why) = match pieces[0].target {
        Target::DefaultVm { state, server, .. } => (
            Exact::int(
                state
                    .vcpus
                    .ok_or_else(|| missing("vm", key, "vcpus", at, "SPEC §4.4"))?
                    as i128,
            ),
            "vCPU",
            server.map(|s| s.1),
            match (state.server, server) {
                (None, _) => "its host is unknown".to_string(),
                (Some(s), None) => format!("its server {s:?} is not known"),
                (Some(s), Some(_)) => format!("server {s:?} has no hypervisor data"),
            },
        ),
        Target::DefaultServer { state, .. } => (
            cores_of(key, state, at)?,
            "cores",
            Some(state),
            "the server has no hypervisor data".to_string(),
        ),
        _ => unreachable!("a default unit holds only default pieces"),
    };
    let (partition, mut warnings) = partition_of(rating, server);
    let noun = if kind == UnitKind::DefaultVm {
        "vm"
    } else {
        "server"
    };
    warnings.push(format!(
        "default_counting: {noun} {key} is counted without a cap because {why} (SPEC §4.4)"
    ));
    let (value, text) = rated(capacity, rating.default_rate(), rating.unit_name());
    Ok(UnitValue {
        value,
        partition,
        lines: vec![format!(
            "{key}: {capacity} {what} (default counting) = {text}"
        )],
        contributors: equal_shares(value, pieces),
        warnings,
    })
}
