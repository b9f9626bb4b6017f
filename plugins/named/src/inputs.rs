//! The facts the named metric reads, as typed states whose required attributes stay `Option`s:
//! a missing one fails only the products and days it touches (SPEC §2.2, §5.3), not the whole
//! evaluation, so the views here never reject a state.

use licmetric_sdk::estate::{Installation, Organisation, OrganisationColumns};
use licmetric_sdk::facts::{self, Facts, OPEN};
use licmetric_sdk::types::FactRequest;

/// The requests, always the same three in the same order: the SDK pairs timelines with requests
/// by position, and the host may evaluate any subset of the products it prepared.
pub fn requests() -> Vec<FactRequest> {
    vec![
        licmetric_sdk::estate::states_request("assignment"),
        licmetric_sdk::estate::states_request("installation"),
        facts::session_request(0),
    ]
}

/// One state of an `assignment` (SPEC §2.13), `[from, to)`.
#[derive(Debug, Clone)]
pub struct Assignment<'a> {
    pub key: &'a str,
    pub from: i64,
    pub to: i64,
    pub license_type: Option<&'a str>,
    pub user: Option<&'a str>,
    pub active: Option<bool>,
    /// A non-human identity (absent = false).
    pub device: bool,
    pub organisation: Organisation<'a>,
}

impl<'a> Assignment<'a> {
    /// Every assignment state (the host sends no retired state: a retired assignment simply has
    /// no state, hence is inactive, from its retirement).
    pub fn all(facts: &Facts<'a>) -> Vec<Assignment<'a>> {
        let Some(kind) = facts.kind("assignment") else {
            return Vec::new();
        };
        let [lt, user, active, device] = kind.columns(["license_type", "user", "active", "device"]);
        let org = OrganisationColumns::of(kind);
        kind.states()
            .map(|s| Assignment {
                key: s.key(),
                from: s.from(),
                to: s.to(),
                license_type: s.text_at(lt),
                user: s.text_at(user),
                active: s.int_at(active).map(|v| v != 0),
                device: s.int_at(device).is_some_and(|v| v != 0),
                organisation: org.read(&s),
            })
            .collect()
    }
}

/// One state of an `installation` (SPEC §2.7), `[from, to)`.
#[derive(Debug, Clone)]
pub struct Installed<'a> {
    pub key: &'a str,
    pub from: i64,
    pub to: i64,
    pub value: Installation<'a>,
}

impl<'a> Installed<'a> {
    /// Every installation state, flattened from the SDK's history.
    pub fn all(facts: &Facts<'a>) -> Vec<Installed<'a>> {
        let history = Installation::history(facts);
        let mut all: Vec<Installed<'a>> = history
            .iter()
            .flat_map(|(key, states)| {
                states.iter().map(move |h| Installed {
                    key,
                    from: h.from,
                    to: h.to,
                    value: h.value.clone(),
                })
            })
            .collect();
        // The history is a hash map: sort so that every later pass is deterministic.
        all.sort_by(|a, b| (a.key, a.from).cmp(&(b.key, b.from)));
        all
    }

    /// The device it is on (`None` when absent: the SDK's view reads an absent `on` as "").
    pub fn on(&self) -> Option<&'a str> {
        Some(self.value.on).filter(|on| !on.is_empty())
    }
}

/// A session (SPEC §2.11) as the named metric needs it: who held which licence type on which
/// host, over `[start, end)` (no linger: linger is the concurrent metric's rule data).
#[derive(Debug, Clone)]
pub struct Use<'a> {
    pub key: &'a str,
    /// The timeline state's interval, to place a fault when `start` itself is missing.
    pub state_from: i64,
    pub state_to: i64,
    pub license_type: Option<&'a str>,
    pub user: Option<&'a str>,
    pub start: Option<i64>,
    /// An open session ends at the evaluation's run time (SPEC §3.4.1 step 2).
    pub end: i64,
    pub host: Option<&'a str>,
    pub organisation: Organisation<'a>,
}

impl<'a> Use<'a> {
    /// Every selected session; open ones end at `run_at`.
    pub fn all(facts: &Facts<'a>, run_at: i64) -> Vec<Use<'a>> {
        let Some(kind) = facts.kind("session") else {
            return Vec::new();
        };
        let [lt, user, start, end, host] =
            kind.columns(["license_type", "user", "start", "end", "host"]);
        let org = OrganisationColumns::of(kind);
        kind.states()
            .map(|s| Use {
                key: s.key(),
                state_from: s.from(),
                state_to: if s.to() == OPEN { run_at } else { s.to() },
                license_type: s.text_at(lt),
                user: s.text_at(user),
                start: s.int_at(start),
                end: s.int_at(end).unwrap_or(run_at),
                host: s.text_at(host),
                organisation: org.read(&s),
            })
            .collect()
    }
}
