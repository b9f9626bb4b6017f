//! The scope of a soft-partitioned vm (SPEC §3.3.1 step 3): the servers it makes licensable in
//! full — its host, its cluster, its vCenter, or every server with a vCenter — narrowing
//! `vcenter` → `cluster` → `host` when its server lacks the attribute (`scope_fallback`).
//!
//! Membership is decided at each instant on the servers' states at that instant (SPEC §1.13).
//! An index of the servers that ever carry each cluster or vCenter name keeps that a lookup of
//! the candidates rather than a scan of the estate.

use std::collections::{BTreeMap, BTreeSet};

use licmetric_sdk::estate::{History, Server};

use crate::rules::Scope;

/// Whether a server's state belongs to a named scope.
type Member = fn(&Server<'_>, &str) -> bool;

/// Servers that ever carry a cluster or vCenter name.
#[derive(Default)]
pub struct ScopeIndex<'a> {
    clusters: BTreeMap<&'a str, BTreeSet<&'a str>>,
    vcenters: BTreeMap<&'a str, BTreeSet<&'a str>>,
    with_vcenter: BTreeSet<&'a str>,
}

/// The scope a vm was resolved to at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resolved<'a> {
    Host(&'a str),
    Cluster(&'a str),
    Vcenter(&'a str),
    All,
}

impl Resolved<'_> {
    /// The contributor unit of installations licensed through this scope.
    pub fn unit(&self) -> String {
        match self {
            Resolved::Host(s) => format!("scope:host:{s}"),
            Resolved::Cluster(c) => format!("scope:cluster:{c}"),
            Resolved::Vcenter(v) => format!("scope:vcenter:{v}"),
            Resolved::All => "scope:all".into(),
        }
    }

    /// The scope in explanations, e.g. `scope cluster C1`.
    pub fn text(&self) -> String {
        match self {
            Resolved::Host(s) => format!("scope host {s}"),
            Resolved::Cluster(c) => format!("scope cluster {c}"),
            Resolved::Vcenter(v) => format!("scope vcenter {v}"),
            Resolved::All => "scope all".into(),
        }
    }
}

impl<'a> ScopeIndex<'a> {
    /// Indexes every server state.
    pub fn build(servers: &History<'a, Server<'a>>) -> Self {
        let mut index = ScopeIndex::default();
        for (key, states) in servers.iter() {
            for held in states {
                if let Some(c) = held.value.cluster {
                    index.clusters.entry(c).or_default().insert(key);
                }
                if let Some(v) = held.value.vcenter {
                    index.vcenters.entry(v).or_default().insert(key);
                    index.with_vcenter.insert(key);
                }
            }
        }
        index
    }

    /// Servers whose states may matter to a vm on `server` under `scope` (to cut time where
    /// they change).
    pub fn candidates(&self, scope: Scope, server: &Server<'a>) -> Vec<&'a str> {
        let mut out: BTreeSet<&'a str> = BTreeSet::new();
        if matches!(scope, Scope::Cluster | Scope::Vcenter)
            && let Some(c) = server.cluster
        {
            out.extend(self.clusters.get(c).into_iter().flatten());
        }
        if scope == Scope::Vcenter
            && let Some(v) = server.vcenter
        {
            out.extend(self.vcenters.get(v).into_iter().flatten());
        }
        if scope == Scope::All {
            out.extend(self.with_vcenter.iter());
        }
        out.into_iter().collect()
    }

    /// The scope of a soft-partitioned vm on server `key` (SPEC §3.3.1 step 3), and the attribute
    /// of the server that was missing when it narrowed.
    pub fn narrow(
        scope: Scope,
        key: &'a str,
        server: &Server<'a>,
    ) -> (Resolved<'a>, Option<&'static str>) {
        match scope {
            Scope::Host => (Resolved::Host(key), None),
            Scope::All => (Resolved::All, None),
            Scope::Vcenter => match (server.vcenter, server.cluster) {
                (Some(v), _) => (Resolved::Vcenter(v), None),
                (None, Some(c)) => (Resolved::Cluster(c), Some("vcenter")),
                (None, None) => (Resolved::Host(key), Some("vcenter")),
            },
            Scope::Cluster => match server.cluster {
                Some(c) => (Resolved::Cluster(c), None),
                None => (Resolved::Host(key), Some("cluster")),
            },
        }
    }

    /// The servers of scope `resolved` at `at` for a vm on server `key` (always a member, first).
    pub fn members<'e>(
        &self,
        servers: &'e History<'a, Server<'a>>,
        resolved: Resolved<'a>,
        key: &'a str,
        server: &'e Server<'a>,
        at: i64,
    ) -> Vec<(&'a str, &'e Server<'a>)> {
        let (candidates, wanted): (Option<&BTreeSet<&'a str>>, Member) = match resolved {
            Resolved::Host(_) => (None, |_, _| false),
            Resolved::Cluster(c) => (self.clusters.get(c), |s, c| s.cluster == Some(c)),
            Resolved::Vcenter(v) => (self.vcenters.get(v), |s, v| s.vcenter == Some(v)),
            Resolved::All => (Some(&self.with_vcenter), |s, _| s.vcenter.is_some()),
        };
        let name = match resolved {
            Resolved::Cluster(n) | Resolved::Vcenter(n) => n,
            _ => "",
        };
        let mut out = vec![(key, server)];
        for &other in candidates.into_iter().flatten() {
            if other == key {
                continue;
            }
            if let Some(h) = servers.at(other, at)
                && wanted(&h.value, name)
            {
                out.push((other, &h.value));
            }
        }
        out
    }
}
