//! Where a product runs, over time: each installation state resolved against the vm, server and
//! pool states it refers to (SPEC §1.13, §2.7), cut into pieces over which nothing it depends on
//! changes, and each piece classified into its counting unit (SPEC §3.1.1 step 1).

use licmetric_sdk::RuleError;
use licmetric_sdk::estate::{
    Installation, Interval, On, Organisation, Pool, Server, Vm, clip, pool_at, resolve_on,
};

use crate::Estate;

/// How a piece is counted (SPEC §3.1.1 step 1, first match wins).
#[derive(Debug, Clone, Copy)]
pub enum Target<'e, 'a> {
    /// (a) A cloud instance: a vm with `cloud` or on a server with `cloud` (SPEC §4.5).
    CloudVm {
        vm: &'a str,
        state: &'e Vm<'a>,
        server: Option<(&'a str, &'e Server<'a>)>,
    },
    /// (a) A direct installation on a server with `cloud`.
    CloudServer {
        server: &'a str,
        state: &'e Server<'a>,
    },
    /// (b) A vm with an unknown host, or on a server without hypervisor data (SPEC §4.4).
    DefaultVm {
        vm: &'a str,
        state: &'e Vm<'a>,
        server: Option<(&'a str, &'e Server<'a>)>,
    },
    /// (b) A direct installation on a server without hypervisor data.
    DefaultServer {
        server: &'a str,
        state: &'e Server<'a>,
    },
    /// (c) Directly on a server: its cores.
    Direct {
        server: &'a str,
        state: &'e Server<'a>,
    },
    /// (d) On a vm of a known server: the capacity chain (SPEC §4.1).
    Chain {
        vm: &'a str,
        state: &'e Vm<'a>,
        server: &'a str,
        server_state: &'e Server<'a>,
        /// The vm's pool, unless it is a dedicated LPAR (whose pool is ignored).
        pool: Option<(&'a str, &'e Pool<'a>)>,
    },
}

impl<'e, 'a> Target<'e, 'a> {
    /// The unit the piece is counted in (SPEC §4.2.1), as `kind:key`.
    pub fn unit(&self) -> (UnitKind, &'a str) {
        match *self {
            Target::CloudVm { vm, .. } => (UnitKind::Cloud, vm),
            Target::CloudServer { server, .. } => (UnitKind::Cloud, server),
            Target::DefaultVm { vm, .. } => (UnitKind::DefaultVm, vm),
            Target::DefaultServer { server, .. } => (UnitKind::DefaultServer, server),
            Target::Direct { server, .. } | Target::Chain { server, .. } => {
                (UnitKind::Server, server)
            }
        }
    }

    /// The server whose region names the partition, if known.
    pub fn server(&self) -> Option<&'e Server<'a>> {
        match *self {
            Target::CloudVm { server, .. } | Target::DefaultVm { server, .. } => {
                server.map(|s| s.1)
            }
            Target::CloudServer { state, .. }
            | Target::DefaultServer { state, .. }
            | Target::Direct { state, .. } => Some(state),
            Target::Chain { server_state, .. } => Some(server_state),
        }
    }

    /// Organisation attributes of the facts the installation refers to (vm, then server).
    pub fn organisation(&self) -> Organisation<'a> {
        let vm = match self {
            Target::CloudVm { state, .. }
            | Target::DefaultVm { state, .. }
            | Target::Chain { state, .. } => state.organisation,
            _ => Organisation::default(),
        };
        vm.or(self.server().map(|s| s.organisation).unwrap_or_default())
    }
}

/// What kind of unit a piece is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UnitKind {
    Server,
    Cloud,
    DefaultVm,
    DefaultServer,
    Cluster,
}

impl UnitKind {
    /// The prefix of the unit's name in contributors (`server:esx-7`).
    pub fn prefix(self) -> &'static str {
        match self {
            UnitKind::Server | UnitKind::DefaultServer => "server",
            UnitKind::Cloud => "cloud",
            UnitKind::DefaultVm => "vm",
            UnitKind::Cluster => "cluster",
        }
    }
}

/// One installation of the product over `[from, to)`, with everything it depends on constant.
#[derive(Debug, Clone)]
pub struct Piece<'e, 'a> {
    pub from: i64,
    pub to: i64,
    pub installation: &'a str,
    pub organisation: Organisation<'a>,
    pub target: Target<'e, 'a>,
}

/// Resolves every state of the product's installations that meets `[start, end)`. A reference
/// that cannot be resolved fails the instants it concerns.
pub fn pieces<'e, 'a>(
    estate: &'e Estate<'a>,
    installations: &[(&'a str, &'e Interval<Installation<'a>>)],
    start: i64,
    end: i64,
    out: &mut Vec<Piece<'e, 'a>>,
    errors: &mut Vec<(i64, i64, RuleError)>,
) {
    for &(key, held) in installations {
        let Some((from, to)) = clip(held.from, held.to, start, end) else {
            continue;
        };
        let install = &held.value;
        let push = |out: &mut Vec<Piece<'e, 'a>>, from, to, target| {
            out.push(Piece {
                from,
                to,
                installation: key,
                organisation: install.organisation,
                target,
            })
        };
        let on = install.on;
        for (a, b, resolved) in resolve_on(&estate.vms, &estate.servers, key, install, from, to) {
            match resolved {
                Err(e) => errors.push((a, b, e)),
                Ok(On::Server(server)) => {
                    let state = &server.value;
                    let target = if state.cloud.is_some() {
                        Target::CloudServer { server: on, state }
                    } else if !state.hypervisor_data {
                        Target::DefaultServer { server: on, state }
                    } else {
                        Target::Direct { server: on, state }
                    };
                    push(out, a, b, target);
                }
                Ok(On::Vm(vm)) => on_vm(
                    estate,
                    on,
                    vm,
                    a,
                    b,
                    &mut |f, t, target| push(out, f, t, target),
                    errors,
                ),
            }
        }
    }
}

/// Splits a vm piece by the states of its server and pool, and classifies each part.
fn on_vm<'e, 'a>(
    estate: &'e Estate<'a>,
    vm_key: &'a str,
    vm: &'e Interval<Vm<'a>>,
    from: i64,
    to: i64,
    push: &mut dyn FnMut(i64, i64, Target<'e, 'a>),
    errors: &mut Vec<(i64, i64, RuleError)>,
) {
    let state = &vm.value;
    let mut cuts = vec![from, to];
    if let Some(s) = state.server {
        cuts.extend(estate.servers.boundaries(s, from, to));
    }
    let dedicated = state.lpar_mode == Some("dedicated");
    if let (Some(p), false) = (state.pool, dedicated) {
        cuts.extend(estate.pools.boundaries(p, from, to));
    }
    cuts.sort_unstable();
    cuts.dedup();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let server = state
            .server
            .and_then(|s| estate.servers.at(s, a).map(|h| (s, &h.value)));
        if state.cloud.is_some() || server.is_some_and(|(_, s)| s.cloud.is_some()) {
            push(
                a,
                b,
                Target::CloudVm {
                    vm: vm_key,
                    state,
                    server,
                },
            );
            continue;
        }
        let Some((server_key, server_state)) = server.filter(|(_, s)| s.hypervisor_data) else {
            push(
                a,
                b,
                Target::DefaultVm {
                    vm: vm_key,
                    state,
                    server,
                },
            );
            continue;
        };
        let pool = match (state.pool, dedicated) {
            (Some(p), false) => match pool_at(&estate.pools, vm_key, p, server_key, a) {
                Ok(pool) => Some((p, pool)),
                Err(e) => {
                    errors.push((a, b, e));
                    continue;
                }
            },
            _ => None,
        };
        push(
            a,
            b,
            Target::Chain {
                vm: vm_key,
                state,
                server: server_key,
                server_state,
                pool,
            },
        );
    }
}
