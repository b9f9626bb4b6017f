//! Named User Plus (SPEC §3.3.1 steps 11–13): the distinct identities holding the licence type on
//! a day, against the minimum the counted processors (or servers and cloud blocks) impose.

use std::collections::BTreeMap;

use licmetric_sdk::estate::{History, Interval, Organisation, OrganisationColumns};
use licmetric_sdk::facts::Facts;
use licmetric_sdk::types::{Contributor, Day};
use licmetric_sdk::{Exact, RuleError};

use crate::daily::ProcessorDay;
use crate::rules::RuleData;
use crate::units::{Basis, UnitKind, count_of, names, sum_terms};
use licmetric_sdk::fail;

/// `assignment` (SPEC §2.13).
#[derive(Debug, Clone)]
pub struct Assignment<'a> {
    pub license_type: Option<&'a str>,
    pub user: Option<&'a str>,
    pub active: Option<bool>,
    /// A non-human identity (default false).
    pub device: bool,
    pub organisation: Organisation<'a>,
}

impl<'a> Assignment<'a> {
    /// Reads every assignment state (an empty history when none were requested).
    pub fn history(facts: &Facts<'a>) -> History<'a, Assignment<'a>> {
        History::read(
            facts,
            "assignment",
            |k| {
                let c = k.columns(["license_type", "user", "active", "device"]);
                (c, OrganisationColumns::of(k))
            },
            |(c, org), s| Assignment {
                license_type: s.text_at(c[0]),
                user: s.text_at(c[1]),
                active: s.int_at(c[2]).map(|v| v != 0),
                device: s.int_at(c[3]).is_some_and(|v| v != 0),
                organisation: org.read(s),
            },
        )
    }
}

/// Every assignment state of one licence type.
pub fn of_type<'h, 'a>(
    history: &'h History<'a, Assignment<'a>>,
    license_type: &str,
) -> Vec<(&'a str, &'h Interval<Assignment<'a>>)> {
    let mut out: Vec<_> = history
        .iter()
        .flat_map(|(key, states)| states.iter().map(move |h| (key, h)))
        .filter(|(_, h)| h.value.license_type == Some(license_type))
        .collect();
    out.sort_by_key(|(key, h)| (*key, h.from));
    out
}

/// One identity active on a day.
#[derive(Debug, Clone)]
pub struct Identity<'a> {
    /// True when every active assignment of it that day is a device.
    pub device: bool,
    /// Its earliest active instant in the day.
    pub at: i64,
    pub organisation: Organisation<'a>,
}

/// Distinct `user` values among the assignments active at any instant of `day` (step 11).
pub fn identities<'a>(
    assignments: &[(&'a str, &Interval<Assignment<'a>>)],
    day: &Day,
) -> Result<BTreeMap<&'a str, Identity<'a>>, RuleError> {
    let mut out: BTreeMap<&'a str, Identity<'a>> = BTreeMap::new();
    for &(key, held) in assignments {
        if !(held.from < day.end && day.start < held.to) {
            continue;
        }
        let at = held.from.max(day.start);
        let a = &held.value;
        let active = a
            .active
            .ok_or_else(|| fail::missing("assignment", key, "active", at, "SPEC §2.13"))?;
        if !active {
            continue;
        }
        let user = a
            .user
            .ok_or_else(|| fail::missing("assignment", key, "user", at, "SPEC §2.13"))?;
        let id = out.entry(user).or_insert(Identity {
            device: true,
            at,
            organisation: a.organisation,
        });
        id.device &= a.device;
        if at < id.at {
            id.at = at;
            id.organisation = a.organisation;
        }
    }
    Ok(out)
}

/// The day's minimum (step 12) and its explanation line.
pub fn minimum(rules: &RuleData, processors: Option<&ProcessorDay<'_>>) -> (Exact, String) {
    let Some(p) = processors else {
        return (Exact::ZERO, "minimum: no processors counted = 0 NUP".into());
    };
    match p.basis {
        Basis::Cores => {
            // Mixed core-basis editions: the highest per-processor minimum among them.
            let mut editions: Vec<&str> = p
                .units
                .iter()
                .flat_map(|u| u.editions.iter().copied())
                .collect();
            editions.sort_unstable();
            editions.dedup();
            let best = editions
                .iter()
                .filter_map(|e| rules.minimum(e).per_processor.map(|n| (n, *e)))
                .max_by_key(|(n, _)| *n);
            match best {
                Some((per, edition)) => {
                    let m = Exact::int(per as i128) * p.quantity;
                    (
                        m,
                        format!(
                            "minimum ({edition}): {per} NUP × {} processors = {m} NUP",
                            p.quantity
                        ),
                    )
                }
                None => (
                    Exact::ZERO,
                    format!("minimum: none for edition {} = 0 NUP", editions.join(", ")),
                ),
            }
        }
        Basis::Sockets => {
            let mut sum = Exact::ZERO;
            let mut terms = Vec::new();
            for u in p.units.iter().filter(|u| !u.value.is_zero()) {
                // Per unit, the edition of its installations with the highest minimum.
                let best = u
                    .editions
                    .iter()
                    .map(|e| {
                        let m = rules.minimum(e);
                        let per = m.per_server.unwrap_or(0) as i128;
                        match (u.kind, u.vcpus, m.cloud_block_vcpus) {
                            (UnitKind::Cloud, Some(v), Some(block)) => {
                                let blocks = (v / Exact::int(block as i128)).ceil();
                                (
                                    per * blocks,
                                    format!("{per} × ceil({v} / {block}) ({}, {e})", u.key),
                                )
                            }
                            _ => (per, format!("{per} ({}, {e})", u.key)),
                        }
                    })
                    .max_by_key(|(n, _)| *n);
                if let Some((n, text)) = best {
                    sum += Exact::int(n);
                    terms.push(text);
                }
            }
            let line = if terms.is_empty() {
                "minimum: no licensed server = 0 NUP".to_string()
            } else {
                format!("minimum: {} = {sum} NUP", sum_terms(&terms, 20))
            };
            (sum, line)
        }
    }
}

/// The identities as contributors (kind `user` or `device`, weight 1, SPEC §3.3.4).
pub fn contributors(license_type: &str, ids: &BTreeMap<&str, Identity<'_>>) -> Vec<Contributor> {
    ids.iter()
        .map(|(user, id)| Contributor {
            kind: if id.device { "device" } else { "user" }.into(),
            key: user.to_string(),
            unit: format!("license_type:{license_type}"),
            at: id.at,
            weight: "1".into(),
            attrs: id.organisation.pairs(),
        })
        .collect()
}

/// `license type X: 3 active identities (2 people, 1 device): a, b, c (device)`.
pub fn users_line(license_type: &str, ids: &BTreeMap<&str, Identity<'_>>) -> String {
    let devices = ids.values().filter(|i| i.device).count();
    let labels: Vec<String> = ids
        .iter()
        .map(|(u, i)| {
            if i.device {
                format!("{u} (device)")
            } else {
                u.to_string()
            }
        })
        .collect();
    let listed = names(labels.iter().map(String::as_str), 20);
    let people = ids.len() - devices;
    format!(
        "license type {license_type}: {} ({} {}, {}){}{listed}",
        if ids.len() == 1 {
            "1 active identity".to_string()
        } else {
            format!("{} active identities", ids.len())
        },
        people,
        if people == 1 { "person" } else { "people" },
        count_of(Exact::int(devices as i128), "devices"),
        if ids.is_empty() { "" } else { ": " }
    )
}
