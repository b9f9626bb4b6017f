//! The value of every unit of a product at one instant (SPEC §3.3.1 steps 1–6 and the per-server
//! rule `L_s(t)`), with its explanation line and contributor weights (SPEC §3.3.4).
//!
//! Units: a physical server (cores `L_s` in its core-factor group, or sockets), a cloud instance
//! (processors or sockets, rounded up per instance), an unknown-host vm (vCPUs at the default
//! core factor). Values stay exact; only cloud instances are rounded here, since everything
//! else is rounded once per core-factor group and day (`daily`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

use licmetric_sdk::estate::{Organisation, Server};
use licmetric_sdk::{Exact, RuleError};

use crate::placement::{OracleEstate, OraclePiece, OracleTarget};
use crate::rules::{ChargebackKey, RuleData, UncappedLpar};
use crate::scope::{Resolved, ScopeIndex};
use licmetric_sdk::fail;

/// Everything valuing a unit needs besides its pieces.
pub struct Context<'e, 'a> {
    pub estate: &'e OracleEstate<'a>,
    pub rules: &'e RuleData,
    pub scopes: &'e ScopeIndex<'a>,
}

/// What a product counts: cores × core factor, or occupied sockets (SPEC §3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    Cores,
    Sockets,
}

impl Basis {
    /// The quantity's unit and its measure name: `processors` or `sockets`.
    pub fn unit_name(self) -> &'static str {
        match self {
            Basis::Cores => "processors",
            Basis::Sockets => "sockets",
        }
    }
}

/// What kind of unit a value belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UnitKind {
    Server,
    Cloud,
    UnknownHost,
}

/// A unit: its key (server or vm), kind and core-factor group (`None` for cloud instances and
/// on the socket basis). A server whose factor changes during a day is one unit per factor, so
/// each factor group gets that server's peak under it (as a unit changing region, SPEC §4.3.2).
pub type UnitKey<'a> = (&'a str, UnitKind, Option<Exact>);

/// A unit's value at an instant, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitValue<'a> {
    /// Cores `L_s` (exact), sockets, or a cloud instance's rounded processors or sockets.
    pub value: Exact,
    /// A cloud instance's vCPUs (for its NUP minimum blocks).
    pub vcpus: Option<Exact>,
    /// Editions of the installations counted in the unit (sorted).
    pub editions: Vec<&'a str>,
    pub line: String,
    pub shares: Vec<InstallationShare<'a>>,
}

/// An installation's share of a unit's raw value (SPEC §3.3.4).
#[derive(Debug, Clone, PartialEq)]
pub struct InstallationShare<'a> {
    pub installation: &'a str,
    /// Contributor unit: `server:<key>`, `scope:<kind>:<name>`, `cloud:<key>` or `vm:<key>`.
    pub unit: Rc<str>,
    pub weight: Exact,
    pub organisation: Organisation<'a>,
}

/// All units of a product at an instant.
#[derive(Debug)]
pub struct UnitsAt<'a> {
    pub basis: Basis,
    pub units: Vec<(UnitKey<'a>, UnitValue<'a>)>,
    pub warnings: Vec<String>,
}

/// The instantaneous total: per core-factor group `ceil(factor × Σ)`, plus cloud instances; on
/// the socket basis the plain sum. Only used to find the day's informative `peak_at`.
pub fn total<'v, 'a: 'v>(
    basis: Basis,
    units: impl Iterator<Item = (&'v UnitKey<'a>, &'v Exact)>,
) -> Exact {
    let mut groups: BTreeMap<Exact, Exact> = BTreeMap::new();
    let mut sum = Exact::ZERO;
    for ((_, _, factor), value) in units {
        match (basis, factor) {
            (Basis::Cores, Some(f)) => *groups.entry(*f).or_default() += *value,
            _ => sum += *value,
        }
    }
    sum + groups
        .iter()
        .map(|(f, s)| Exact::int((*f * *s).ceil()))
        .sum::<Exact>()
}

/// An installation counted in a unit, with what it weighs there before scaling.
#[derive(Debug, Clone)]
struct Claimant<'a> {
    installation: &'a str,
    /// Installations of one vm (or direct ones on one server) share that vm's weight.
    group: (&'static str, &'a str),
    unit: Rc<str>,
    weight: Exact,
    edition: &'a str,
    organisation: Organisation<'a>,
}

/// A partial item on a server (SPEC §3.3.1 steps 4–5): a hard partition or an LPAR.
struct Item<'a> {
    /// Its cores before the pool and server caps.
    cores: Exact,
    /// Its pool and the pool's cores (capped and uncapped LPARs only).
    pool: Option<(&'a str, Exact)>,
    /// `2 (lpar-a, dedicated LPAR)`.
    text: String,
    members: Vec<Claimant<'a>>,
}

/// What a server collects at an instant.
struct ServerWork<'e, 'a> {
    state: &'e Server<'a>,
    /// Installations that license the server in full (steps 2, 3, and 5 with `server`).
    full: Vec<Claimant<'a>>,
    /// Why it is licensed in full → the installations or vms that say so.
    reasons: BTreeMap<String, BTreeSet<&'a str>>,
    /// Partial items by vm (a vm counts once per product).
    items: BTreeMap<&'a str, Item<'a>>,
}

/// A cloud instance or unknown-host vm: its vCPUs, threads per core, installations.
struct VcpuWork<'a> {
    vcpus: Exact,
    threads_per_core: i64,
    /// For unknown hosts: the server the vm names, if any (it resolves to nothing).
    named_server: Option<&'a str>,
    members: Vec<Claimant<'a>>,
}

const RULE: &str = "SPEC §3.3.1";

/// Values every unit of the product whose active pieces at instant `at` are `pieces`.
pub fn units_at<'e, 'a>(
    ctx: &Context<'e, 'a>,
    pieces: &[&OraclePiece<'e, 'a>],
    at: i64,
) -> Result<UnitsAt<'a>, RuleError> {
    let rules = ctx.rules;
    let basis = basis_of(rules, pieces, at)?;
    let mut collected = Collected::default();
    for piece in pieces {
        collected.add(ctx, piece, at)?;
    }
    let Collected {
        servers,
        clouds,
        unknown,
        mut warnings,
        ..
    } = collected;
    let mut units = Vec::new();
    for (key, w) in servers {
        let (unit_key, value) = server_value(rules, basis, key, w, at, &mut warnings)?;
        units.push((unit_key, value));
    }
    for (key, w) in clouds {
        units.push(cloud_value(rules, basis, key, w, &mut warnings));
    }
    for (key, w) in unknown {
        units.push(unknown_value(rules, basis, key, w, &mut warnings));
    }
    Ok(UnitsAt {
        basis,
        units,
        warnings,
    })
}

/// What the pieces active at one instant bring to each unit, before any unit is valued.
#[derive(Default)]
struct Collected<'e, 'a> {
    servers: BTreeMap<&'a str, ServerWork<'e, 'a>>,
    clouds: BTreeMap<&'a str, VcpuWork<'a>>,
    unknown: BTreeMap<&'a str, VcpuWork<'a>>,
    warnings: Vec<String>,
    /// The servers of each partitioning scope, listed once per scope.
    scope_members: HashMap<(Resolved<'a>, &'a str), Vec<(&'a str, &'e Server<'a>)>>,
}

/// The piece's installation as counted in a unit: `weight` before scaling (1 for every
/// installation when the chargeback key is an equal split).
fn claimant<'a>(
    piece: &OraclePiece<'_, 'a>,
    equal: bool,
    group: (&'static str, &'a str),
    unit: Rc<str>,
    weight: Exact,
) -> Claimant<'a> {
    Claimant {
        installation: piece.installation,
        group,
        unit,
        weight: if equal { Exact::ONE } else { weight },
        edition: piece.edition,
        organisation: piece.organisation,
    }
}

/// A vCPU-counted unit's work (a cloud instance or an unknown-host vm), made on first use.
fn vcpu_work<'w, 'a>(
    units: &'w mut BTreeMap<&'a str, VcpuWork<'a>>,
    key: &'a str,
    vcpus: Exact,
    threads_per_core: i64,
    named_server: Option<&'a str>,
) -> &'w mut VcpuWork<'a> {
    units.entry(key).or_insert(VcpuWork {
        vcpus,
        threads_per_core,
        named_server,
        members: Vec::new(),
    })
}

impl<'e, 'a> Collected<'e, 'a> {
    /// Adds one piece to the unit its target says it is counted in (SPEC §3.3.1 steps 1–6).
    fn add(
        &mut self,
        ctx: &Context<'e, 'a>,
        piece: &OraclePiece<'e, 'a>,
        at: i64,
    ) -> Result<(), RuleError> {
        let equal = ctx.rules.chargeback_key == ChargebackKey::EqualSplit;
        let claim = |group, unit, weight| claimant(piece, equal, group, unit, weight);
        match piece.target {
            OracleTarget::CloudVm { vm, state, server } => {
                let vcpus = match (state.threads, state.vcpus) {
                    (Some(t), _) => Exact::int(t as i128),
                    (None, Some(v)) => Exact::int(v as i128),
                    (None, None) => return Err(fail::missing("vm", vm, "vcpus", at, "SPEC §4.5")),
                };
                let tpc = match (
                    state.threads_per_core,
                    server.and_then(|s| s.threads_per_core),
                ) {
                    (Some(t), _) => positive_threads(t, "vm", vm, at)?,
                    (None, Some(t)) => {
                        positive_threads(t, "server", state.server.unwrap_or(""), at)?
                    }
                    (None, None) => 1,
                };
                vcpu_work(&mut self.clouds, vm, vcpus, tpc, None)
                    .members
                    .push(claim(("vm", vm), format!("cloud:{vm}").into(), vcpus));
            }
            OracleTarget::CloudServer { server, state } => {
                let cores =
                    fail::required_int(state.cores, "server", server, "cores", at, "SPEC §4.5")?;
                let tpc =
                    positive_threads(state.threads_per_core.unwrap_or(1), "server", server, at)?;
                let vcpus = cores * Exact::int(tpc as i128);
                vcpu_work(&mut self.clouds, server, vcpus, tpc, None)
                    .members
                    .push(claim(
                        ("server", server),
                        format!("cloud:{server}").into(),
                        vcpus,
                    ));
            }
            OracleTarget::Direct { server, state } => {
                let w = server_work(&mut self.servers, server, state);
                let weight = state.cores.map_or(Exact::ONE, |c| Exact::int(c as i128));
                w.full.push(claim(
                    ("server", server),
                    format!("server:{server}").into(),
                    weight,
                ));
                w.reasons
                    .entry("installed on the server".into())
                    .or_default()
                    .insert(piece.installation);
            }
            OracleTarget::UnknownHost { vm, state } => {
                let vcpus =
                    fail::required_int(state.vcpus, "vm", vm, "vcpus", at, "SPEC §3.3.1 step 6")?;
                vcpu_work(&mut self.unknown, vm, vcpus, 1, state.server)
                    .members
                    .push(claim(("vm", vm), format!("vm:{vm}").into(), vcpus));
            }
            OracleTarget::OnVm {
                vm,
                state,
                server,
                server_state,
                pool,
            } => {
                if let Some(p) = state
                    .partitioning
                    .filter(|p| !matches!(*p, "soft" | "hard"))
                {
                    return Err(fail::invalid(
                        "vm",
                        vm,
                        "partitioning",
                        at,
                        "SPEC §2.6",
                        format!("partitioning {p:?} of vm {vm:?} is neither \"soft\" nor \"hard\""),
                    ));
                }
                let on = OnVm {
                    vm,
                    state,
                    server,
                    server_state,
                    pool,
                };
                let Some((cores, pool, text)) = self.partial(ctx, &on, &claim, at)? else {
                    return Ok(());
                };
                let w = server_work(&mut self.servers, server, server_state);
                let item = w.items.entry(vm).or_insert_with(|| Item {
                    cores,
                    pool,
                    text,
                    members: Vec::new(),
                });
                item.members
                    .push(claim(("vm", vm), format!("server:{server}").into(), cores));
            }
        }
        Ok(())
    }

    /// A vm on a known server (SPEC §3.3.1 steps 3–5): its cores as a partial item of the
    /// server (hard partition, dedicated, capped or uncapped LPAR), or `None` when it licenses
    /// whole servers instead (soft partitioning, or `uncapped_lpar: server`), which this adds.
    fn partial(
        &mut self,
        ctx: &Context<'e, 'a>,
        on: &OnVm<'e, 'a>,
        claim: &dyn Fn((&'static str, &'a str), Rc<str>, Exact) -> Claimant<'a>,
        at: i64,
    ) -> Result<Option<(Exact, Option<(&'a str, Exact)>, String)>, RuleError> {
        let OnVm {
            vm,
            state,
            server,
            server_state,
            pool,
        } = *on;
        let rules = ctx.rules;
        let pool_cores = |(p, q): (&'a str, &'e licmetric_sdk::estate::Pool<'a>)| {
            fail::required_decimal(q.cores, "pool", p, "cores", at, "SPEC §4.1").map(|c| (p, c))
        };
        Ok(Some(match state.lpar_mode {
            None if state.partitioning == Some("hard") => {
                let v =
                    fail::required_int(state.vcpus, "vm", vm, "vcpus", at, "SPEC §3.3.1 step 4")?;
                (v, None, format!("{v} ({vm}, hard partition)"))
            }
            None => {
                self.soft_partition(ctx, on, claim, at);
                return Ok(None);
            }
            Some("dedicated") => {
                let v =
                    fail::required_int(state.vcpus, "vm", vm, "vcpus", at, "SPEC §3.3.1 step 5")?;
                let note = state
                    .pool
                    .map(|p| format!(", its pool {p} ignored"))
                    .unwrap_or_default();
                (v, None, format!("{v} ({vm}, dedicated LPAR{note})"))
            }
            Some("capped") => {
                let ec = fail::required_decimal(
                    state.entitled_capacity,
                    "vm",
                    vm,
                    "entitled_capacity",
                    at,
                    "SPEC §3.3.1 step 5",
                )?;
                let pool = pool.map(pool_cores).transpose()?;
                (
                    ec,
                    pool,
                    format!("{ec} ({vm}, capped LPAR, entitled capacity)"),
                )
            }
            Some("uncapped") => {
                let pool = pool.map(pool_cores).transpose()?;
                let (cap, of) = match pool {
                    Some((p, c)) => (c, format!("pool {p} cores")),
                    None => (
                        fail::required_int(
                            server_state.cores,
                            "server",
                            server,
                            "cores",
                            at,
                            RULE,
                        )?,
                        "server cores".to_string(),
                    ),
                };
                match rules.uncapped_lpar {
                    UncappedLpar::VirtualProcessors => {
                        let vp = fail::required_int(
                            state.virtual_processors,
                            "vm",
                            vm,
                            "virtual_processors",
                            at,
                            "SPEC §3.3.1 step 5",
                        )?;
                        let c = vp.min(cap);
                        (
                            c,
                            pool,
                            format!(
                                "{c} ({vm}, uncapped LPAR, uncapped_lpar virtual_processors: min({vp} VP, {cap} {of}))"
                            ),
                        )
                    }
                    UncappedLpar::Pool => (
                        cap,
                        pool,
                        format!("{cap} ({vm}, uncapped LPAR, uncapped_lpar pool: {of})"),
                    ),
                    UncappedLpar::Server => {
                        let w = server_work(&mut self.servers, server, server_state);
                        let weight = server_state
                            .cores
                            .map_or(Exact::ONE, |c| Exact::int(c as i128));
                        w.full
                            .push(claim(("vm", vm), format!("server:{server}").into(), weight));
                        w.reasons
                            .entry("uncapped LPAR, uncapped_lpar server".into())
                            .or_default()
                            .insert(vm);
                        return Ok(None);
                    }
                }
            }
            Some(other) => {
                return Err(fail::invalid(
                    "vm",
                    vm,
                    "lpar_mode",
                    at,
                    "SPEC §2.6",
                    format!(
                        "lpar_mode {other:?} of vm {vm:?} is not dedicated, capped or uncapped"
                    ),
                ));
            }
        }))
    }

    /// Step 3: soft partitioning licenses every server of the vm's partitioning scope in full.
    fn soft_partition(
        &mut self,
        ctx: &Context<'e, 'a>,
        on: &OnVm<'e, 'a>,
        claim: &dyn Fn((&'static str, &'a str), Rc<str>, Exact) -> Claimant<'a>,
        at: i64,
    ) {
        let OnVm {
            vm,
            state,
            server,
            server_state,
            ..
        } = *on;
        let rules = ctx.rules;
        let (resolved, narrowed) =
            ScopeIndex::narrow(rules.partitioning_scope, server, server_state);
        // Every vm of one scope licenses the same servers: list them once (`all` adds the vm's
        // own server, so it is part of the key there).
        let memo_key = (
            resolved,
            if resolved == Resolved::All {
                server
            } else {
                ""
            },
        );
        let members = self.scope_members.entry(memo_key).or_insert_with(|| {
            ctx.scopes
                .members(&ctx.estate.servers, resolved, server, server_state, at)
        });
        if let Some(attribute) = narrowed {
            self.warnings.push(format!(
                "scope_fallback: server {server} of vm {vm} has no {attribute}; partitioning scope {} narrowed to {} (SPEC §3.3.1 step 3)",
                rules.partitioning_scope.name(),
                resolved.text()
            ));
        }
        let reason = format!("soft partitioning, {}", resolved.text());
        let unit: Rc<str> = resolved.unit().into();
        let weight = state.vcpus.map_or(Exact::ONE, |v| Exact::int(v as i128));
        for &(key, s) in members.iter() {
            let w = server_work(&mut self.servers, key, s);
            w.full.push(claim(("vm", vm), unit.clone(), weight));
            w.reasons.entry(reason.clone()).or_default().insert(vm);
        }
    }
}

/// An installation's vm on a known server, as its target names them.
#[derive(Clone, Copy)]
struct OnVm<'e, 'a> {
    vm: &'a str,
    state: &'e licmetric_sdk::estate::Vm<'a>,
    server: &'a str,
    server_state: &'e Server<'a>,
    pool: Option<(&'a str, &'e licmetric_sdk::estate::Pool<'a>)>,
}

fn server_work<'w, 'e, 'a>(
    servers: &'w mut BTreeMap<&'a str, ServerWork<'e, 'a>>,
    key: &'a str,
    state: &'e Server<'a>,
) -> &'w mut ServerWork<'e, 'a> {
    servers.entry(key).or_insert_with(|| ServerWork {
        state,
        full: Vec::new(),
        reasons: BTreeMap::new(),
        items: BTreeMap::new(),
    })
}

/// Threads per core must be positive (`invalid_value` for 0, SPEC §5.3).
fn positive_threads(t: i64, kind: &str, key: &str, at: i64) -> Result<i64, RuleError> {
    if t >= 1 {
        Ok(t)
    } else {
        Err(fail::invalid(
            kind,
            key,
            "threads_per_core",
            at,
            "SPEC §2.4",
            format!("threads_per_core {t} of {kind} {key:?} is not a positive integer"),
        ))
    }
}

/// The basis every active installation shares, or `inconsistent_facts` (SPEC §3.3.1).
fn basis_of(
    rules: &RuleData,
    pieces: &[&OraclePiece<'_, '_>],
    at: i64,
) -> Result<Basis, RuleError> {
    let basis = |p: &OraclePiece<'_, '_>| {
        if rules.socket_basis(p.edition) {
            Basis::Sockets
        } else {
            Basis::Cores
        }
    };
    let first = pieces.first().map_or(Basis::Cores, |p| basis(p));
    if let Some(other) = pieces.iter().find(|p| basis(p) != first) {
        let p0 = pieces[0];
        return Err(fail::reference(
            "inconsistent_facts",
            "installation",
            other.installation,
            "edition",
            at,
            RULE,
            format!(
                "installations of one product count on different bases: {} ({}, {}) and {} ({}, {})",
                p0.installation,
                p0.edition,
                first.unit_name(),
                other.installation,
                other.edition,
                basis(other).unit_name()
            ),
        ));
    }
    Ok(first)
}

/// `a, b, c` with at most `max` names, then `and N more`.
pub fn names<'s>(items: impl IntoIterator<Item = &'s str>, max: usize) -> String {
    let all: Vec<&str> = items.into_iter().collect();
    let mut text = all.iter().take(max).copied().collect::<Vec<_>>().join(", ");
    if all.len() > max {
        text.push_str(&format!(" and {} more", all.len() - max));
    }
    text
}

/// `a + b + c`, or the count of terms when there are too many for one line.
pub fn sum_terms(terms: &[String], max: usize) -> String {
    if terms.len() <= max {
        terms.join(" + ")
    } else {
        format!("{} + … ({} terms)", terms[..max].join(" + "), terms.len())
    }
}

/// Shares `value` among claimants in proportion to their weights; claimants of one group (one
/// vm, or direct installations on one server) split their group's weight equally.
fn share_out<'a>(value: Exact, claimants: &[Claimant<'a>], out: &mut Vec<InstallationShare<'a>>) {
    let mut per_group: BTreeMap<(&str, &str), (Exact, usize)> = BTreeMap::new();
    for c in claimants {
        let g = per_group.entry(c.group).or_insert((c.weight, 0));
        g.1 += 1;
    }
    let total: Exact = per_group.values().map(|(w, _)| *w).sum();
    for c in claimants {
        let (w, n) = per_group[&c.group];
        let weight = if total.is_zero() {
            Exact::ZERO
        } else {
            value * w / total / Exact::int(n as i128)
        };
        out.push(InstallationShare {
            installation: c.installation,
            unit: c.unit.clone(),
            weight,
            organisation: c.organisation,
        });
    }
}

fn editions<'c, 'a: 'c>(claimants: impl Iterator<Item = &'c Claimant<'a>>) -> Vec<&'a str> {
    let set: BTreeSet<&'a str> = claimants.map(|c| c.edition).collect();
    set.into_iter().collect()
}

/// Warns for each edition whose socket limit the server exceeds (never changes the count).
fn server_limits(rules: &RuleData, key: &str, s: &Server<'_>, eds: &[&str], out: &mut Vec<String>) {
    let (sockets, which) = match (s.max_sockets, s.sockets) {
        (Some(m), _) => (m, "max_sockets"),
        (None, Some(n)) => (n, "sockets"),
        (None, None) => return,
    };
    for e in eds {
        if let Some(limit) = rules.limit(e).max_sockets
            && sockets > limit as i64
        {
            out.push(format!(
                "edition_limit_exceeded: server {key} has {sockets} sockets ({which}), above the {e} limit of {limit} (SPEC §3.3.1)"
            ));
        }
    }
}

/// A physical server: `L_s = cores` when licensed in full, else `min(Σ items, cores)`; on the
/// socket basis its sockets, or the partial items' socket shares capped at its sockets.
fn server_value<'a>(
    rules: &RuleData,
    basis: Basis,
    key: &'a str,
    w: ServerWork<'_, 'a>,
    at: i64,
    warnings: &mut Vec<String>,
) -> Result<(UnitKey<'a>, UnitValue<'a>), RuleError> {
    let s = w.state;
    let members: Vec<&Claimant<'a>> = w
        .full
        .iter()
        .chain(w.items.values().flat_map(|i| i.members.iter()))
        .collect();
    let eds = editions(members.iter().copied());
    server_limits(rules, key, s, &eds, warnings);

    let factor = match basis {
        Basis::Cores => {
            let cf = rules.core_factor(key, s, at)?;
            warnings.extend(cf.warning);
            Some(cf.factor)
        }
        Basis::Sockets => None,
    };
    let (capacity, unit) = match basis {
        Basis::Cores => (
            fail::required_int(s.cores, "server", key, "cores", at, RULE)?,
            "cores",
        ),
        Basis::Sockets => (
            fail::required_int(s.sockets, "server", key, "sockets", at, RULE)?,
            "sockets",
        ),
    };
    let suffix = factor.map(|f| format!(" (factor {f})")).unwrap_or_default();
    let mut shares = Vec::new();
    let (value, line) = if !w.full.is_empty() {
        let raw = capacity * factor.unwrap_or(Exact::ONE);
        // Partial items on a server licensed in full weigh their own cores beside the others.
        let mut claimants = w.full.clone();
        for item in w.items.values() {
            claimants.extend(item.members.iter().cloned());
        }
        share_out(raw, &claimants, &mut shares);
        let line = format!(
            "{key}: licensed in full ({}) = {}{suffix}",
            full_reasons(&w).join("; "),
            count_of(capacity, unit)
        );
        (capacity, line)
    } else {
        let parts = pool_parts(&w);
        match basis {
            Basis::Cores => {
                let (value, terms) = cores_value(&parts, capacity, factor, &mut shares);
                let line = format!(
                    "{key}: min({}, {}) = {}{suffix}",
                    terms,
                    count_of(capacity, "cores"),
                    count_of(value, "cores")
                );
                (value, line)
            }
            Basis::Sockets => {
                let cores = fail::required_int(s.cores, "server", key, "cores", at, RULE)?;
                if cores.is_zero() {
                    return Err(fail::invalid(
                        "server",
                        key,
                        "cores",
                        at,
                        RULE,
                        format!(
                            "server {key:?} has 0 cores, so its sockets cannot be shared among partitions"
                        ),
                    ));
                }
                let (value, terms) = sockets_value(&parts, capacity, cores, &mut shares);
                let line = format!(
                    "{key}: min({}, {}) = {}",
                    terms,
                    count_of(capacity, "sockets"),
                    count_of(value, "sockets")
                );
                (value, line)
            }
        }
    };
    Ok((
        (key, UnitKind::Server, factor),
        UnitValue {
            value,
            vcpus: None,
            editions: eds,
            line,
            shares,
        },
    ))
}

/// Why a server is licensed in full, each reason with the installations or vms that give it.
fn full_reasons(w: &ServerWork<'_, '_>) -> Vec<String> {
    w.reasons
        .iter()
        .map(|(why, who)| {
            if why == "installed on the server" {
                why.clone()
            } else {
                format!("{why}: {}", names(who.iter().copied(), 5))
            }
        })
        .collect()
}

/// A part of a server licensed in part: one partial item, or a pool's LPARs together.
struct PoolPart<'i, 'a> {
    cores: Exact,
    text: String,
    /// (item, its share of the part's cores)
    items: Vec<(&'i Item<'a>, Exact)>,
}

/// The server's partial items, each pool's LPARs capped together at the pool's cores (SPEC
/// §4.1 layer 2).
fn pool_parts<'i, 'a>(w: &'i ServerWork<'_, 'a>) -> Vec<PoolPart<'i, 'a>> {
    let mut parts: Vec<PoolPart<'i, 'a>> = Vec::new();
    let mut pools: BTreeMap<&'a str, (Exact, Vec<&'i Item<'a>>)> = BTreeMap::new();
    for item in w.items.values() {
        match item.pool {
            Some((p, cap)) => {
                let e = pools.entry(p).or_insert((cap, Vec::new()));
                e.1.push(item);
            }
            None => parts.push(PoolPart {
                cores: item.cores,
                text: item.text.clone(),
                items: vec![(item, item.cores)],
            }),
        }
    }
    for (p, (cap, items)) in pools {
        let sum: Exact = items.iter().map(|i| i.cores).sum();
        let capped = sum.min(cap);
        let inner: Vec<String> = items.iter().map(|i| i.text.clone()).collect();
        parts.push(PoolPart {
            cores: capped,
            text: format!(
                "pool {p}: min({}, {cap} cores) = {capped}",
                sum_terms(&inner, 10)
            ),
            items: items
                .iter()
                .map(|i| {
                    let share = if sum.is_zero() {
                        Exact::ZERO
                    } else {
                        i.cores * capped / sum
                    };
                    (*i, share)
                })
                .collect(),
        });
    }
    parts
}

/// Cores basis: the parts' cores capped at the server's (`L_s`), each installation's share at
/// the core factor; with the terms of the explanation.
fn cores_value<'a>(
    parts: &[PoolPart<'_, 'a>],
    capacity: Exact,
    factor: Option<Exact>,
    shares: &mut Vec<InstallationShare<'a>>,
) -> (Exact, String) {
    let uncapped: Exact = parts.iter().map(|p| p.cores).sum();
    let l = uncapped.min(capacity);
    for part in parts {
        for (item, cores) in &part.items {
            let own = if uncapped.is_zero() {
                Exact::ZERO
            } else {
                *cores * l / uncapped * factor.unwrap_or(Exact::ONE)
            };
            share_own(own, &item.members, shares);
        }
    }
    let terms: Vec<String> = parts.iter().map(|p| p.text.clone()).collect();
    (l, sum_terms(&terms, 20))
}

/// Sockets basis: each part's sockets `ceil(cores × sockets / server cores)`, their sum capped
/// at the server's sockets; with the terms of the explanation.
fn sockets_value<'a>(
    parts: &[PoolPart<'_, 'a>],
    capacity: Exact,
    cores: Exact,
    shares: &mut Vec<InstallationShare<'a>>,
) -> (Exact, String) {
    let counts: Vec<Exact> = parts
        .iter()
        .map(|p| Exact::int((p.cores * capacity / cores).ceil()))
        .collect();
    let sum: Exact = counts.iter().copied().sum();
    let n = sum.min(capacity);
    for (part, count) in parts.iter().zip(&counts) {
        let part_value = if sum.is_zero() {
            Exact::ZERO
        } else {
            n * *count / sum
        };
        for (item, item_cores) in &part.items {
            let own = if part.cores.is_zero() {
                Exact::ZERO
            } else {
                part_value * *item_cores / part.cores
            };
            share_own(own, &item.members, shares);
        }
    }
    let terms: Vec<String> = parts
        .iter()
        .zip(&counts)
        .map(|(p, c)| {
            format!(
                "ceil({} × {capacity} / {cores}) = {c} [{}]",
                p.cores, p.text
            )
        })
        .collect();
    (n, sum_terms(&terms, 20))
}

/// Shares a unit's own value equally among its installations (one vm, one cloud instance).
fn share_own<'a>(value: Exact, members: &[Claimant<'a>], out: &mut Vec<InstallationShare<'a>>) {
    let n = Exact::int(members.len().max(1) as i128);
    out.extend(members.iter().map(|c| InstallationShare {
        installation: c.installation,
        unit: c.unit.clone(),
        weight: value / n,
        organisation: c.organisation,
    }));
}

/// `n cores` / `1 core` (and sockets, processors): the count with its noun.
pub fn count_of(n: Exact, noun: &str) -> String {
    if n == Exact::ONE {
        format!("{n} {}", noun.strip_suffix('s').unwrap_or(noun))
    } else {
        format!("{n} {noun}")
    }
}

/// `x` or `x → ceil(x)` when x is not an integer.
pub fn rounding(x: Exact) -> String {
    if x.is_integer() {
        x.to_string()
    } else {
        format!("{x} → {}", x.ceil())
    }
}

/// A cloud instance (SPEC §3.3.1 step 1, §4.5): `ceil(vCPU / 2)` processors with hyperthreading,
/// else `vCPU`; socket basis `ceil(vCPU / 4)`; no core factor; rounded per instance.
fn cloud_value<'a>(
    rules: &RuleData,
    basis: Basis,
    key: &'a str,
    w: VcpuWork<'a>,
    warnings: &mut Vec<String>,
) -> (UnitKey<'a>, UnitValue<'a>) {
    let eds = editions(w.members.iter());
    let v = w.vcpus;
    for e in &eds {
        if let Some(limit) = rules.limit(e).max_cloud_vcpus
            && v > Exact::int(limit as i128)
        {
            warnings.push(format!(
                "edition_limit_exceeded: cloud instance {key} has {v} vCPU, above the {e} limit of {limit} (SPEC §3.3.1)"
            ));
        }
    }
    let (value, formula) = match basis {
        Basis::Cores if w.threads_per_core > 1 => {
            let x = v / Exact::int(2);
            (
                Exact::int(x.ceil()),
                format!("{v} vCPU / 2 threads = {}", rounding(x)),
            )
        }
        Basis::Cores => (v, format!("{v} vCPU = {v}")),
        Basis::Sockets => {
            let x = v / Exact::int(4);
            (
                Exact::int(x.ceil()),
                format!("{v} vCPU / 4 = {}", rounding(x)),
            )
        }
    };
    let mut shares = Vec::new();
    share_own(value, &w.members, &mut shares);
    let line = format!(
        "{key} ({}): {formula} {}",
        eds.join(", "),
        basis.unit_name()
    );
    (
        (key, UnitKind::Cloud, None),
        UnitValue {
            value,
            vcpus: Some(v),
            editions: eds,
            line,
            shares,
        },
    )
}

/// An unknown-host vm (SPEC §3.3.1 step 6): its vCPUs as cores at the default core factor; on
/// the socket basis `ceil(vCPU / 4)` (the one vCPU-to-socket rule SPEC gives, for the cloud).
fn unknown_value<'a>(
    rules: &RuleData,
    basis: Basis,
    key: &'a str,
    w: VcpuWork<'a>,
    warnings: &mut Vec<String>,
) -> (UnitKey<'a>, UnitValue<'a>) {
    let eds = editions(w.members.iter());
    let v = w.vcpus;
    let why = match w.named_server {
        None => "has no server".to_string(),
        Some(s) => format!("names server {s}, which is not known"),
    };
    let f = rules.default_core_factor.0;
    let (factor, value, own, line) = match basis {
        Basis::Cores => (
            Some(f),
            v,
            v * f,
            format!(
                "{key} ({}): {v} vCPU, unknown host = {} (default factor {f})",
                eds.join(", "),
                count_of(v, "cores")
            ),
        ),
        Basis::Sockets => {
            let x = v / Exact::int(4);
            let n = Exact::int(x.ceil());
            (
                None,
                n,
                n,
                format!(
                    "{key} ({}): {v} vCPU / 4, unknown host = {} {}",
                    eds.join(", "),
                    rounding(x),
                    if n == Exact::ONE { "socket" } else { "sockets" }
                ),
            )
        }
    };
    warnings.push(format!(
        "oracle_scope_unknown: vm {key} {why}; counted as {v} vCPU{}, the count may be low (SPEC §3.3.1 step 6)",
        match basis {
            Basis::Cores => format!(" at the default core factor {f}"),
            Basis::Sockets => String::new(),
        }
    ));
    let mut shares = Vec::new();
    share_own(own, &w.members, &mut shares);
    (
        (key, UnitKind::UnknownHost, factor),
        UnitValue {
            value,
            vcpus: Some(v),
            editions: eds,
            line,
            shares,
        },
    )
}
