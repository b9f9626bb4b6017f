//! The identities of one product (SPEC §3.5.1) and when each is active: `A(t)` as one timeline
//! per identity, built once per product for all its days.
//!
//! An identity is a person or a device. Each piece of evidence that it is active (an active
//! assignment state, an installation it owns, a session on a device of the product) is a
//! [`Source`] over `[from, to)`; the identity is active on the union of its sources, so two
//! assignments of one user, or an owner of two devices, count once.

use std::collections::HashMap;

use licmetric_sdk::estate::{Organisation, clip};
use licmetric_sdk::sweep::{self, Segment};

use crate::inputs::{Assignment, Installed, Use};

/// One piece of evidence that an identity is active over `[from, to)`.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    pub from: i64,
    pub to: i64,
    /// The identity is a device (SPEC §2.13 `device`, or an installation without owner).
    pub device: bool,
    /// Organisation attributes of the fact the evidence came from (SPEC §2.14).
    pub organisation: Organisation<'a>,
}

/// A person or device and when it is active.
#[derive(Debug)]
pub struct Identity<'a> {
    /// The user value (assignment basis), the owner or the user of a session, or the device key.
    pub key: &'a str,
    /// Its sources, in time order.
    sources: Vec<Source<'a>>,
    /// The union of its sources' intervals: disjoint, in time order, touching ones merged.
    pub segments: Vec<Segment<i64>>,
}

/// What an identity looks like on one day.
#[derive(Debug, Clone, Copy)]
pub struct DayView<'a> {
    pub device: bool,
    pub organisation: Organisation<'a>,
    /// Its first active instant in the day.
    pub first: i64,
}

impl<'a> Identity<'a> {
    fn new(key: &'a str, mut sources: Vec<Source<'a>>) -> Self {
        sources.sort_by_key(|s| (s.from, s.to));
        let intervals: Vec<Segment<i64>> = sources
            .iter()
            .map(|s| Segment {
                from: s.from,
                to: s.to,
                value: 1,
            })
            .collect();
        Identity {
            key,
            segments: sweep::max_segments(&intervals),
            sources,
        }
    }

    /// True when the identity is active at `t` (half-open, SPEC §1.2).
    pub fn active_at(&self, t: i64) -> bool {
        let i = self.segments.partition_point(|s| s.from <= t);
        i > 0 && t < self.segments[i - 1].to
    }

    /// Its first active instant in `[start, end)`, if any.
    pub fn first_active_in(&self, start: i64, end: i64) -> Option<i64> {
        let i = self.segments.partition_point(|s| s.to <= start);
        let s = self.segments.get(i)?;
        (s.from < end).then_some(s.from.max(start))
    }

    /// The identity on the day `[start, end)`, `None` when it is not active then. Kind and
    /// organisation come from its latest source in the day; an attribute the latest lacks is
    /// taken from the next latest (SPEC §4.8.2: the first fact that carries it).
    pub fn on_day(&self, start: i64, end: i64) -> Option<DayView<'a>> {
        let first = self.first_active_in(start, end)?;
        // Sources are in `from` order: none from `end` on can meet the day.
        let before_end = self.sources.partition_point(|s| s.from < end);
        let mut in_day = self.sources[..before_end]
            .iter()
            .rev()
            .filter(|s| s.to > start);
        let latest = in_day.next()?;
        let organisation = in_day.fold(latest.organisation, |org, s| org.or(s.organisation));
        Some(DayView {
            device: latest.device,
            organisation,
            first,
        })
    }
}

/// A required attribute a relevant fact lacks, over the interval it lacks it (SPEC §5.3).
#[derive(Debug, Clone)]
pub struct Fault<'a> {
    pub kind: &'static str,
    pub key: &'a str,
    pub attribute: &'static str,
    pub from: i64,
    pub to: i64,
}

impl Fault<'_> {
    /// The instant it concerns within `[start, end)`, `None` when it does not meet that span.
    pub fn within(&self, start: i64, end: i64) -> Option<i64> {
        // An empty state still names a fault at its instant.
        clip(self.from, self.to.max(self.from + 1), start, end).map(|(f, _)| f)
    }
}

/// An installation of the product with an owner (assignment basis), to find the unassigned ones.
#[derive(Debug, Clone)]
pub struct Owned<'a> {
    pub key: &'a str,
    pub owner: &'a str,
    pub from: i64,
    pub to: i64,
}

/// Every identity of one product, the faults that block its days, and (assignment basis) its
/// owned installations.
#[derive(Debug, Default)]
pub struct Population<'a> {
    /// Sorted by key (then people before devices), for deterministic results.
    pub identities: Vec<Identity<'a>>,
    pub faults: Vec<Fault<'a>>,
    pub owned: Vec<Owned<'a>>,
}

/// Groups sources by identity. The grouping key is (device, key) under `installation_user`, where
/// `user:Ann` and `device:Ann` are different identities, and (false, user) under `assignment`,
/// where an identity is its user value whatever its `device` flag.
#[derive(Default)]
struct Grouping<'a>(HashMap<(bool, &'a str), Vec<Source<'a>>>);

impl<'a> Grouping<'a> {
    fn add(&mut self, device_key: bool, key: &'a str, source: Source<'a>) {
        if source.to > source.from {
            self.0.entry((device_key, key)).or_default().push(source);
        }
    }

    fn identities(self) -> Vec<Identity<'a>> {
        let mut groups: Vec<_> = self.0.into_iter().collect();
        groups.sort_by_key(|((device, key), _)| (*key, *device));
        groups
            .into_iter()
            .map(|((_, key), sources)| Identity::new(key, sources))
            .collect()
    }
}

impl<'a> Population<'a> {
    /// `assignment` basis: distinct users of active assignments of `license_type`.
    pub fn by_assignment(
        product: &str,
        license_type: &str,
        assignments: &[Assignment<'a>],
        installed: &[Installed<'a>],
    ) -> Self {
        let mut population = Population::default();
        let mut grouping = Grouping::default();
        for a in assignments {
            let fault = |attribute| Fault {
                kind: "assignment",
                key: a.key,
                attribute,
                from: a.from,
                to: a.to,
            };
            // Without its licence type an assignment may be one of ours: counting without it
            // could undercount, so it blocks the days it covers.
            let Some(lt) = a.license_type else {
                population.faults.push(fault("license_type"));
                continue;
            };
            if lt != license_type {
                continue;
            }
            let (Some(user), Some(active)) = (a.user, a.active) else {
                if a.user.is_none() {
                    population.faults.push(fault("user"));
                }
                if a.active.is_none() {
                    population.faults.push(fault("active"));
                }
                continue;
            };
            // Deactivation releases the licence from that instant (SPEC §3.5.1 step 3).
            if active {
                let source = Source {
                    from: a.from,
                    to: a.to,
                    device: a.device,
                    organisation: a.organisation,
                };
                grouping.add(false, user, source);
            }
        }
        population.identities = grouping.identities();
        population.owned = installed
            .iter()
            .filter(|i| i.value.product == product)
            .filter_map(|i| {
                Some(Owned {
                    key: i.key,
                    owner: i.value.owner?,
                    from: i.from,
                    to: i.to,
                })
            })
            .collect();
        population
    }

    /// `installation_user` basis [FLX-USER]: per installation of the product its owner, or its
    /// device when it has none; plus the users of sessions of `license_type` on those devices
    /// while the installation is there.
    pub fn by_installation_user(
        product: &str,
        license_type: &str,
        installed: &[Installed<'a>],
        uses: &[Use<'a>],
    ) -> Self {
        let mut population = Population::default();
        let mut grouping = Grouping::default();
        // Where the product is installed, and when: sessions count only there.
        let mut hosts: HashMap<&'a str, Vec<(i64, i64)>> = HashMap::new();
        for i in installed.iter().filter(|i| i.value.product == product) {
            let source = Source {
                from: i.from,
                to: i.to,
                device: i.value.owner.is_none(),
                organisation: i.value.organisation,
            };
            if let Some(on) = i.on() {
                hosts.entry(on).or_default().push((i.from, i.to));
            }
            match (i.value.owner, i.on()) {
                (Some(owner), _) => grouping.add(false, owner, source),
                (None, Some(on)) => grouping.add(true, on, source),
                (None, None) => population.faults.push(Fault {
                    kind: "installation",
                    key: i.key,
                    attribute: "on",
                    from: i.from,
                    to: i.to,
                }),
            }
        }
        for u in uses {
            let fault = |attribute| Fault {
                kind: "session",
                key: u.key,
                attribute,
                from: u.state_from,
                to: u.state_to,
            };
            let Some(lt) = u.license_type else {
                population.faults.push(fault("license_type"));
                continue;
            };
            if lt != license_type {
                continue;
            }
            let (Some(user), Some(start)) = (u.user, u.start) else {
                if u.user.is_none() {
                    population.faults.push(fault("user"));
                }
                if u.start.is_none() {
                    population.faults.push(fault("start"));
                }
                continue;
            };
            // A session without a host cannot be placed on a device of the product.
            let Some(spans) = u.host.and_then(|h| hosts.get(h)) else {
                continue;
            };
            for &(from, to) in spans {
                if let Some((from, to)) = clip(start, u.end, from, to) {
                    let source = Source {
                        from,
                        to,
                        device: false,
                        organisation: u.organisation,
                    };
                    grouping.add(false, user, source);
                }
            }
        }
        population.identities = grouping.identities();
        population
    }

    /// The identity whose key is `key` (under `assignment` keys are unique; identities are
    /// sorted by key).
    fn identity(&self, key: &str) -> Option<&Identity<'a>> {
        let i = self.identities.partition_point(|x| x.key < key);
        self.identities.get(i).filter(|x| x.key == key)
    }

    /// The earliest fault that meets `[start, end)`, with its instant there.
    pub fn fault_in(&self, start: i64, end: i64) -> Option<(&Fault<'a>, i64)> {
        self.faults
            .iter()
            .filter_map(|f| f.within(start, end).map(|at| (f, at)))
            .min_by(|a, b| (a.1, a.0.key, a.0.attribute).cmp(&(b.1, b.0.key, b.0.attribute)))
    }

    /// Installations of the product present in `[start, end)` with an owner, whose owner is never
    /// an active identity while the installation is there on that day: (installation, owner),
    /// by installation key. The owner named is the one of its latest state in the day.
    pub fn unassigned(&self, start: i64, end: i64) -> Vec<(&'a str, &'a str)> {
        let mut seen: Vec<(&'a str, &'a str, bool)> = Vec::new();
        // `owned` is in (key, from) order, so one installation's states are adjacent.
        for o in &self.owned {
            let Some((from, to)) = clip(o.from, o.to, start, end) else {
                continue;
            };
            let covered = self
                .identity(o.owner)
                .and_then(|i| i.first_active_in(from, to))
                .is_some();
            match seen.last_mut() {
                Some(last) if last.0 == o.key => {
                    last.1 = o.owner;
                    last.2 |= covered;
                }
                _ => seen.push((o.key, o.owner, covered)),
            }
        }
        seen.into_iter()
            .filter(|(_, _, covered)| !covered)
            .map(|(key, owner, _)| (key, owner))
            .collect()
    }
}
