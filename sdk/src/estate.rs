//! Typed views of the standard estate kinds (SPEC §2.4–§2.10) and their histories.
//!
//! Capacity metrics resolve references (`vm.server`, `installation.on`, `pod.node` …) at each
//! instant against the referred fact's state at that instant (SPEC §1.13). A [`History`] keeps
//! every state of every entity of one kind, by key, in time order, so that lookup is a hash
//! probe plus a binary search. Attributes are `Option`s: whether one is required depends on the
//! rule (SPEC §2.2), so the plugin decides and reports `missing_attribute` itself.
//!
//! Cost: one pass over the kind's timeline to build, one small struct per state.

use crate::facts::{Facts, FastMap, Kind, OPEN, State, standard};
use crate::{RuleError, fail};

/// One state of an entity: `value` holds over `[from, to)`.
#[derive(Debug, Clone)]
pub struct Interval<T> {
    pub from: i64,
    pub to: i64,
    pub value: T,
}

/// Every state of every entity of one kind, by key, each key's states in time order.
#[derive(Debug)]
pub struct History<'a, T> {
    by_key: FastMap<&'a str, Vec<Interval<T>>>,
}

impl<'a, T> Default for History<'a, T> {
    fn default() -> Self {
        History {
            by_key: FastMap::default(),
        }
    }
}

impl<'a, T> History<'a, T> {
    /// Reads `kind` from `facts`, one `view` per state (an empty history when the kind was not
    /// sent). `view` gets the kind so it can resolve its columns once, outside the loop.
    pub fn read<V>(
        facts: &Facts<'a>,
        kind: &str,
        columns: impl FnOnce(&Kind<'a>) -> V,
        view: impl Fn(&V, &State<'_, 'a>) -> T,
    ) -> Self {
        let mut history = History::default();
        let Some(kind) = facts.kind(kind) else {
            return history;
        };
        let columns = columns(kind);
        for state in kind.states() {
            let value = view(&columns, &state);
            history
                .by_key
                .entry(state.key())
                .or_default()
                .push(Interval {
                    from: state.from(),
                    to: state.to(),
                    value,
                });
        }
        for states in history.by_key.values_mut() {
            states.sort_by_key(|h| h.from);
        }
        history
    }

    /// Every state of `key`, in time order (empty for an unknown key).
    pub fn states(&self, key: &str) -> &[Interval<T>] {
        self.by_key.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The state of `key` holding at `t`.
    pub fn at(&self, key: &str, t: i64) -> Option<&Interval<T>> {
        let states = self.states(key);
        let i = states.partition_point(|h| h.from <= t);
        states[..i].last().filter(|h| t < h.to)
    }

    /// The states of `key` that meet `[from, to)`, in time order.
    pub fn during(&self, key: &str, from: i64, to: i64) -> impl Iterator<Item = &Interval<T>> {
        self.states(key)
            .iter()
            .filter(move |h| h.from < to && h.to > from)
    }

    /// The instants inside `(from, to)` where a state of `key` begins or ends: where anything
    /// resolved against it may change.
    pub fn boundaries(&self, key: &str, from: i64, to: i64) -> Vec<i64> {
        self.during(key, from, to)
            .flat_map(|h| [h.from, h.to])
            .filter(|&t| t > from && t < to)
            .collect()
    }

    /// True when `key` has any state.
    pub fn contains(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
    }

    /// Every key and its states (in no particular order).
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &[Interval<T>])> {
        self.by_key.iter().map(|(k, v)| (*k, v.as_slice()))
    }
}

/// Column indices of the organisation attributes (SPEC §2.14) in a kind's request.
#[derive(Clone, Copy)]
pub struct OrganisationColumns([Option<usize>; 3]);

impl OrganisationColumns {
    /// Resolves the columns once per kind.
    pub fn of(kind: &Kind<'_>) -> Self {
        OrganisationColumns(kind.columns(["cost_center", "location", "corporate_unit"]))
    }

    /// The organisation attributes a state carries.
    pub fn read<'a>(&self, state: &State<'_, 'a>) -> Organisation<'a> {
        Organisation {
            cost_center: state.text_at(self.0[0]),
            location: state.text_at(self.0[1]),
            corporate_unit: state.text_at(self.0[2]),
        }
    }
}

/// A decimal attribute by column: absent, exact, or text that is not a decimal.
pub fn decimal_at<'a>(state: &State<'_, 'a>, column: Option<usize>) -> Decimal<'a> {
    state.text_at(column).map(|t| t.parse().map_err(|_| t))
}

/// Chargeback grouping attributes any fact may carry (SPEC §2.14).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Organisation<'a> {
    pub cost_center: Option<&'a str>,
    pub location: Option<&'a str>,
    pub corporate_unit: Option<&'a str>,
}

impl<'a> Organisation<'a> {
    /// Present attributes as (name, value) pairs, for a contributor's `attrs`.
    pub fn pairs(&self) -> Vec<(String, String)> {
        [
            ("cost_center", self.cost_center),
            ("location", self.location),
            ("corporate_unit", self.corporate_unit),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v.to_string())))
        .collect()
    }

    /// Each attribute of `self`, else of `fallback` (SPEC §4.8.2: consumer first, then the facts it
    /// refers to).
    pub fn or(self, fallback: Organisation<'a>) -> Organisation<'a> {
        Organisation {
            cost_center: self.cost_center.or(fallback.cost_center),
            location: self.location.or(fallback.location),
            corporate_unit: self.corporate_unit.or(fallback.corporate_unit),
        }
    }
}

pub use crate::exact::Decimal;

/// `server` (SPEC §2.4).
#[derive(Debug, Clone)]
pub struct Server<'a> {
    pub cores: Option<i64>,
    pub sockets: Option<i64>,
    pub max_sockets: Option<i64>,
    pub processor_vendor: Option<&'a str>,
    pub processor_brand: Option<&'a str>,
    pub processor_model: Option<&'a str>,
    pub server_model: Option<&'a str>,
    pub threads_per_core: Option<i64>,
    pub pvu_per_core: Option<i64>,
    pub core_factor: Decimal<'a>,
    pub region: Option<&'a str>,
    pub cluster: Option<&'a str>,
    pub vcenter: Option<&'a str>,
    pub cloud: Option<&'a str>,
    /// `false`: no VM manager data (default counting, SPEC §4.4). Absent = true.
    pub hypervisor_data: bool,
    pub organisation: Organisation<'a>,
}

impl<'a> Server<'a> {
    /// Reads every server state.
    pub fn history(facts: &Facts<'a>) -> History<'a, Server<'a>> {
        const NAMES: [&str; 15] = [
            "cores",
            "sockets",
            "max_sockets",
            "processor_vendor",
            "processor_brand",
            "processor_model",
            "server_model",
            "threads_per_core",
            "pvu_per_core",
            "core_factor",
            "region",
            "cluster",
            "vcenter",
            "cloud",
            "hypervisor_data",
        ];
        History::read(
            facts,
            "server",
            |k| (k.columns(NAMES), OrganisationColumns::of(k)),
            |(c, org), s| Server {
                cores: s.int_at(c[0]),
                sockets: s.int_at(c[1]),
                max_sockets: s.int_at(c[2]),
                processor_vendor: s.text_at(c[3]),
                processor_brand: s.text_at(c[4]),
                processor_model: s.text_at(c[5]),
                server_model: s.text_at(c[6]),
                threads_per_core: s.int_at(c[7]),
                pvu_per_core: s.int_at(c[8]),
                core_factor: decimal_at(s, c[9]),
                region: s.text_at(c[10]),
                cluster: s.text_at(c[11]),
                vcenter: s.text_at(c[12]),
                cloud: s.text_at(c[13]),
                hypervisor_data: s.int_at(c[14]).is_none_or(|v| v != 0),
                organisation: org.read(s),
            },
        )
    }
}

/// `pool` (SPEC §2.5).
#[derive(Debug, Clone)]
pub struct Pool<'a> {
    pub server: Option<&'a str>,
    pub cores: Decimal<'a>,
}

impl<'a> Pool<'a> {
    /// Reads every pool state.
    pub fn history(facts: &Facts<'a>) -> History<'a, Pool<'a>> {
        History::read(
            facts,
            "pool",
            |k| k.columns(["server", "cores"]),
            |c, s| Pool {
                server: s.text_at(c[0]),
                cores: decimal_at(s, c[1]),
            },
        )
    }
}

/// `vm` (SPEC §2.6).
#[derive(Debug, Clone)]
pub struct Vm<'a> {
    pub server: Option<&'a str>,
    pub vcpus: Option<i64>,
    pub partitioning: Option<&'a str>,
    pub lpar_mode: Option<&'a str>,
    pub entitled_capacity: Decimal<'a>,
    pub virtual_processors: Option<i64>,
    pub pool: Option<&'a str>,
    pub threads: Option<i64>,
    pub cloud: Option<&'a str>,
    pub threads_per_core: Option<i64>,
    pub organisation: Organisation<'a>,
}

impl<'a> Vm<'a> {
    /// Reads every vm state.
    pub fn history(facts: &Facts<'a>) -> History<'a, Vm<'a>> {
        const NAMES: [&str; 10] = [
            "server",
            "vcpus",
            "partitioning",
            "lpar_mode",
            "entitled_capacity",
            "virtual_processors",
            "pool",
            "threads",
            "cloud",
            "threads_per_core",
        ];
        History::read(
            facts,
            "vm",
            |k| (k.columns(NAMES), OrganisationColumns::of(k)),
            |(c, org), s| Vm {
                server: s.text_at(c[0]),
                vcpus: s.int_at(c[1]),
                partitioning: s.text_at(c[2]),
                lpar_mode: s.text_at(c[3]),
                entitled_capacity: decimal_at(s, c[4]),
                virtual_processors: s.int_at(c[5]),
                pool: s.text_at(c[6]),
                threads: s.int_at(c[7]),
                cloud: s.text_at(c[8]),
                threads_per_core: s.int_at(c[9]),
                organisation: org.read(s),
            },
        )
    }
}

/// `installation` (SPEC §2.7). `product` and `on` are required at ingest.
#[derive(Debug, Clone)]
pub struct Installation<'a> {
    pub product: &'a str,
    pub on: &'a str,
    pub edition: Option<&'a str>,
    pub on_kind: Option<&'a str>,
    pub owner: Option<&'a str>,
    pub organisation: Organisation<'a>,
}

impl<'a> Installation<'a> {
    /// Reads every installation state.
    pub fn history(facts: &Facts<'a>) -> History<'a, Installation<'a>> {
        History::read(
            facts,
            "installation",
            |k| {
                let c = k.columns(["product", "on", "edition", "on_kind", "owner"]);
                (c, OrganisationColumns::of(k))
            },
            |(c, org), s| Installation {
                product: s.text_at(c[0]).unwrap_or(""),
                on: s.text_at(c[1]).unwrap_or(""),
                edition: s.text_at(c[2]),
                on_kind: s.text_at(c[3]),
                owner: s.text_at(c[4]),
                organisation: org.read(s),
            },
        )
    }
}

/// `node` (SPEC §2.8).
#[derive(Debug, Clone)]
pub struct Node<'a> {
    pub cluster: &'a str,
    pub capacity_cores: Decimal<'a>,
    /// Absent = 1.
    pub threads_per_core: Option<i64>,
    pub pvu_per_core: Option<i64>,
    pub processor_vendor: Option<&'a str>,
    pub processor_brand: Option<&'a str>,
    pub processor_model: Option<&'a str>,
}

impl<'a> Node<'a> {
    /// Reads every node state.
    pub fn history(facts: &Facts<'a>) -> History<'a, Node<'a>> {
        const NAMES: [&str; 7] = [
            "cluster",
            "capacity_cores",
            "threads_per_core",
            "pvu_per_core",
            "processor_vendor",
            "processor_brand",
            "processor_model",
        ];
        History::read(
            facts,
            "node",
            |k| k.columns(NAMES),
            |c, s| Node {
                cluster: s.text_at(c[0]).unwrap_or(""),
                capacity_cores: decimal_at(s, c[1]),
                threads_per_core: s.int_at(c[2]),
                pvu_per_core: s.int_at(c[3]),
                processor_vendor: s.text_at(c[4]),
                processor_brand: s.text_at(c[5]),
                processor_model: s.text_at(c[6]),
            },
        )
    }
}

/// `pod` (SPEC §2.9).
#[derive(Debug, Clone)]
pub struct Pod<'a> {
    pub cluster: &'a str,
    /// Absent: not scheduled, counts nothing.
    pub node: Option<&'a str>,
    pub namespace: &'a str,
    pub product: &'a str,
    /// Absent: no limit (counts its node's capacity).
    pub cpu_limit_cores: Decimal<'a>,
    pub bundle: Option<&'a str>,
    pub ratio: Option<&'a str>,
    pub organisation: Organisation<'a>,
}

impl<'a> Pod<'a> {
    /// Reads every pod state.
    pub fn history(facts: &Facts<'a>) -> History<'a, Pod<'a>> {
        const NAMES: [&str; 7] = [
            "cluster",
            "node",
            "namespace",
            "product",
            "cpu_limit_cores",
            "bundle",
            "ratio",
        ];
        History::read(
            facts,
            "pod",
            |k| (k.columns(NAMES), OrganisationColumns::of(k)),
            |(c, org), s| Pod {
                cluster: s.text_at(c[0]).unwrap_or(""),
                node: s.text_at(c[1]),
                namespace: s.text_at(c[2]).unwrap_or(""),
                product: s.text_at(c[3]).unwrap_or(""),
                cpu_limit_cores: decimal_at(s, c[4]),
                bundle: s.text_at(c[5]),
                ratio: s.text_at(c[6]),
                organisation: org.read(s),
            },
        )
    }
}

/// `namespace` (SPEC §2.10).
#[derive(Debug, Clone)]
pub struct Namespace<'a> {
    pub cluster: &'a str,
    /// Chargeback group; absent = not attributed to any group.
    pub group: Option<&'a str>,
    pub organisation: Organisation<'a>,
}

impl<'a> Namespace<'a> {
    /// Reads every namespace state.
    pub fn history(facts: &Facts<'a>) -> History<'a, Namespace<'a>> {
        History::read(
            facts,
            "namespace",
            |k| (k.columns(["cluster", "group"]), OrganisationColumns::of(k)),
            |(c, org), s| Namespace {
                cluster: s.text_at(c[0]).unwrap_or(""),
                group: s.text_at(c[1]),
                organisation: org.read(s),
            },
        )
    }
}

/// The request for every state of a standard estate kind with its organisation attributes.
pub fn states_request(kind: &str) -> crate::types::FactRequest {
    let mut attributes = standard::attributes(kind).unwrap_or(&[]).to_vec();
    attributes.extend_from_slice(standard::ORGANISATION);
    crate::facts::request(kind, &attributes, crate::types::Selection::States)
}

/// Clips `[from, to)` to `[start, end)`; `None` when they do not meet.
pub fn clip(from: i64, to: i64, start: i64, end: i64) -> Option<(i64, i64)> {
    let (f, t) = (from.max(start), to.min(end));
    (f < t).then_some((f, t))
}

/// True when the state still holds (no end yet).
pub fn is_open(to: i64) -> bool {
    to == OPEN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_finds_the_state_at_an_instant_half_open() {
        let mut h: History<'_, i32> = History::default();
        h.by_key.insert(
            "vm-1",
            vec![
                Interval {
                    from: 0,
                    to: 10,
                    value: 1,
                },
                Interval {
                    from: 10,
                    to: 20,
                    value: 2,
                },
            ],
        );
        assert_eq!(h.at("vm-1", 0).map(|s| s.value), Some(1));
        assert_eq!(h.at("vm-1", 9).map(|s| s.value), Some(1));
        assert_eq!(h.at("vm-1", 10).map(|s| s.value), Some(2));
        assert_eq!(h.at("vm-1", 20).map(|s| s.value), None);
        assert_eq!(h.at("vm-2", 5).map(|s| s.value), None);
        assert_eq!(h.during("vm-1", 5, 15).count(), 2);
        assert_eq!(h.during("vm-1", 10, 15).count(), 1);
    }

    #[test]
    fn organisation_falls_back_attribute_by_attribute() {
        let own = Organisation {
            cost_center: Some("CC1"),
            ..Default::default()
        };
        let vm = Organisation {
            cost_center: Some("CC9"),
            location: Some("Paris"),
            corporate_unit: None,
        };
        let merged = own.or(vm);
        assert_eq!(merged.cost_center, Some("CC1"));
        assert_eq!(merged.location, Some("Paris"));
    }
}

/// What an installation's `on` names at an instant (SPEC §2.7).
#[derive(Debug, Clone, Copy)]
pub enum On<'e, 'a> {
    Vm(&'e Interval<Vm<'a>>),
    Server(&'e Interval<Server<'a>>),
}

/// Resolves installation `key`'s `on` over `[from, to)`, split where the vm or server of that
/// key changes state: a vm or a server (by `on_kind`, else whichever exists), or the SPEC §5.3
/// error for the sub-interval (`invalid_value` on_kind, `ambiguous_reference`,
/// `unknown_reference`).
pub fn resolve_on<'e, 'a>(
    vms: &'e History<'a, Vm<'a>>,
    servers: &'e History<'a, Server<'a>>,
    key: &str,
    install: &Installation<'a>,
    from: i64,
    to: i64,
) -> Vec<(i64, i64, Result<On<'e, 'a>, RuleError>)> {
    const SECTION: &str = "SPEC §2.7";
    let on = install.on;
    let mut cuts = vec![from, to];
    cuts.extend(vms.boundaries(on, from, to));
    cuts.extend(servers.boundaries(on, from, to));
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let resolved = match (install.on_kind, vms.at(on, a), servers.at(on, a)) {
            (Some("vm"), Some(v), _) | (None, Some(v), None) => Ok(On::Vm(v)),
            (Some("server"), _, Some(s)) | (None, None, Some(s)) => Ok(On::Server(s)),
            (Some(other), _, _) if other != "vm" && other != "server" => Err(fail::invalid(
                "installation",
                key,
                "on_kind",
                a,
                SECTION,
                format!(
                    "on_kind {other:?} of installation {key:?} is neither \"vm\" nor \"server\""
                ),
            )),
            (None, Some(_), Some(_)) => Err(fail::reference(
                "ambiguous_reference",
                "installation",
                key,
                "on",
                a,
                SECTION,
                format!("installation {key:?} is on {on:?}, which names both a vm and a server"),
            )),
            (kind, _, _) => Err(fail::reference(
                "unknown_reference",
                "installation",
                key,
                "on",
                a,
                SECTION,
                format!(
                    "installation {key:?} is on {on:?}, which names no {} at that instant",
                    kind.unwrap_or("vm or server")
                ),
            )),
        };
        out.push((a, b, resolved));
    }
    out
}

/// The pool `pool` of vm `vm` running on `server` at `at` (SPEC §4.1 layer 2), or the SPEC §5.3
/// error: `unknown_reference` when it names no pool then, `inconsistent_facts` when the pool
/// belongs to another server.
pub fn pool_at<'e, 'a>(
    pools: &'e History<'a, Pool<'a>>,
    vm: &str,
    pool: &'a str,
    server: &str,
    at: i64,
) -> Result<&'e Pool<'a>, RuleError> {
    const SECTION: &str = "SPEC §4.1";
    match pools.at(pool, at) {
        None => Err(fail::reference(
            "unknown_reference",
            "vm",
            vm,
            "pool",
            at,
            SECTION,
            format!("vm {vm:?} is in pool {pool:?}, which names no pool at that instant"),
        )),
        Some(h) if h.value.server.is_some_and(|s| s != server) => Err(fail::reference(
            "inconsistent_facts",
            "vm",
            vm,
            "pool",
            at,
            SECTION,
            format!(
                "vm {vm:?} on server {server:?} is in pool {pool:?} of server {:?}",
                h.value.server.unwrap_or_default()
            ),
        )),
        Some(h) => Ok(&h.value),
    }
}
