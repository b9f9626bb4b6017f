//! Where a product runs, over time: each installation state resolved against the vm, server and
//! pool states it refers to (SPEC §1.13, §2.7), cut into pieces over which none of them changes,
//! each piece classified by the first matching case of SPEC §3.3.1 steps 1–6 that placement alone
//! can decide (cloud, direct, on a vm of a known server, unknown host). Whether a vm is soft,
//! hard or an LPAR is decided when it is valued (`units`), where its attributes are checked.

use std::collections::HashMap;

use licmetric_sdk::RuleError;
use licmetric_sdk::estate::{
    History, Installation, Interval, On, Organisation, Pool, Server, Vm, clip, pool_at, resolve_on,
};
use licmetric_sdk::facts::Facts;

use crate::rules::edition_of;

/// The estate kinds the plugin reads, every state of each.
pub struct OracleEstate<'a> {
    pub servers: History<'a, Server<'a>>,
    pub pools: History<'a, Pool<'a>>,
    pub vms: History<'a, Vm<'a>>,
    pub installations: History<'a, Installation<'a>>,
}

impl<'a> OracleEstate<'a> {
    /// Reads the estate from an evaluation's facts.
    pub fn read(facts: &Facts<'a>) -> Self {
        OracleEstate {
            servers: Server::history(facts),
            pools: Pool::history(facts),
            vms: Vm::history(facts),
            installations: Installation::history(facts),
        }
    }

    /// Every installation state by product, each product's states by key and time.
    pub fn installations_by_product(
        &self,
    ) -> HashMap<&'a str, Vec<(&'a str, &Interval<Installation<'a>>)>> {
        let mut out: HashMap<&'a str, Vec<(&'a str, &Interval<Installation<'a>>)>> = HashMap::new();
        for (key, states) in self.installations.iter() {
            for held in states {
                out.entry(held.value.product).or_default().push((key, held));
            }
        }
        for states in out.values_mut() {
            states.sort_by_key(|(key, h)| (*key, h.from));
        }
        out
    }
}

/// How a piece is counted (SPEC §3.3.1, first match wins).
#[derive(Debug, Clone, Copy)]
pub enum OracleTarget<'e, 'a> {
    /// Step 1: a vm with `cloud` or on a server with `cloud` (SPEC §4.5).
    CloudVm {
        vm: &'a str,
        state: &'e Vm<'a>,
        server: Option<&'e Server<'a>>,
    },
    /// Step 1: a direct installation on a server with `cloud`.
    CloudServer {
        server: &'a str,
        state: &'e Server<'a>,
    },
    /// Step 2: directly on a server — the whole server.
    Direct {
        server: &'a str,
        state: &'e Server<'a>,
    },
    /// Steps 3–5: on a vm of a known server (soft, hard or LPAR: decided when valued).
    OnVm {
        vm: &'a str,
        state: &'e Vm<'a>,
        server: &'a str,
        server_state: &'e Server<'a>,
        /// The LPAR's pool, resolved only for capped and uncapped LPARs (a dedicated LPAR's pool
        /// is ignored, SPEC §4.1 step 1).
        pool: Option<(&'a str, &'e Pool<'a>)>,
    },
    /// Step 6: a vm whose `server` is absent or names no server at that instant.
    UnknownHost { vm: &'a str, state: &'e Vm<'a> },
}

/// One installation of the product over `[from, to)`, with everything it depends on constant.
#[derive(Debug, Clone)]
pub struct OraclePiece<'e, 'a> {
    pub from: i64,
    pub to: i64,
    pub installation: &'a str,
    /// `edition`, `EE` when absent.
    pub edition: &'a str,
    /// Organisation attributes of the installation, then its vm, then the vm's server (or the
    /// server of a direct installation): SPEC §4.8.2.
    pub organisation: Organisation<'a>,
    pub target: OracleTarget<'e, 'a>,
}

/// Resolves every state of the installations that meets `[start, end)`. A reference that cannot
/// be resolved fails the instants it concerns (`errors`).
pub fn pieces<'e, 'a>(
    estate: &'e OracleEstate<'a>,
    installations: &[(&'a str, &'e Interval<Installation<'a>>)],
    start: i64,
    end: i64,
    out: &mut Vec<OraclePiece<'e, 'a>>,
    errors: &mut Vec<(i64, i64, RuleError)>,
) {
    for &(key, held) in installations {
        let Some((from, to)) = clip(held.from, held.to, start, end) else {
            continue;
        };
        let install = &held.value;
        let on = install.on;
        for (a, b, resolved) in resolve_on(&estate.vms, &estate.servers, key, install, from, to) {
            let mut push = |from, to, target, vm_org: Organisation<'a>, server_org| {
                out.push(OraclePiece {
                    from,
                    to,
                    installation: key,
                    edition: edition_of(install.edition),
                    organisation: install.organisation.or(vm_org).or(server_org),
                    target,
                })
            };
            match resolved {
                Err(e) => errors.push((a, b, e)),
                Ok(On::Server(server)) => {
                    let state = &server.value;
                    let target = if state.cloud.is_some() {
                        OracleTarget::CloudServer { server: on, state }
                    } else {
                        OracleTarget::Direct { server: on, state }
                    };
                    push(a, b, target, Organisation::default(), state.organisation);
                }
                Ok(On::Vm(vm)) => on_vm(estate, on, vm, a, b, &mut push, errors),
            }
        }
    }
}

/// Splits a vm piece by the states of its server and pool, and classifies each part.
fn on_vm<'e, 'a>(
    estate: &'e OracleEstate<'a>,
    vm_key: &'a str,
    vm: &'e Interval<Vm<'a>>,
    from: i64,
    to: i64,
    push: &mut dyn FnMut(i64, i64, OracleTarget<'e, 'a>, Organisation<'a>, Organisation<'a>),
    errors: &mut Vec<(i64, i64, RuleError)>,
) {
    let state = &vm.value;
    // Only capped and uncapped LPARs are capped by their pool (SPEC §3.3.1 step 5, §4.1).
    let pooled = matches!(state.lpar_mode, Some("capped") | Some("uncapped"));
    let mut cuts = vec![from, to];
    if let Some(s) = state.server {
        cuts.extend(estate.servers.boundaries(s, from, to));
    }
    if let (Some(p), true) = (state.pool, pooled) {
        cuts.extend(estate.pools.boundaries(p, from, to));
    }
    cuts.sort_unstable();
    cuts.dedup();
    let vm_org = state.organisation;
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let server = state
            .server
            .and_then(|s| estate.servers.at(s, a).map(|h| (s, &h.value)));
        let server_org = server.map(|s| s.1.organisation).unwrap_or_default();
        if state.cloud.is_some() || server.is_some_and(|(_, s)| s.cloud.is_some()) {
            let target = OracleTarget::CloudVm {
                vm: vm_key,
                state,
                server: server.map(|s| s.1),
            };
            push(a, b, target, vm_org, server_org);
            continue;
        }
        let Some((server_key, server_state)) = server else {
            let target = OracleTarget::UnknownHost { vm: vm_key, state };
            push(a, b, target, vm_org, server_org);
            continue;
        };
        let pool = match (state.pool, pooled) {
            (Some(p), true) => match pool_at(&estate.pools, vm_key, p, server_key, a) {
                Ok(pool) => Some((p, pool)),
                Err(e) => {
                    errors.push((a, b, e));
                    continue;
                }
            },
            _ => None,
        };
        let target = OracleTarget::OnVm {
            vm: vm_key,
            state,
            server: server_key,
            server_state,
            pool,
        };
        push(a, b, target, vm_org, server_org);
    }
}
