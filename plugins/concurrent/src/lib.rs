//! The `concurrent` metric (SPEC §3.4): peak concurrent holders of floating licences per licence
//! type and day, with linger, dup groups, the ALL CONCURRENT aggregate and denial folding.

mod rules;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use licmetric_sdk::facts::FastMap;

use licmetric_sdk::facts::{self, Denial, Facts, Session};
use licmetric_sdk::sweep::{self, Segment};
use licmetric_sdk::types::*;
use licmetric_sdk::{Metric, RuleError, export_metric};

use rules::{AGGREGATE, Parameters, RuleData};

/// The concurrent metric (public so benchmarks can run the same logic natively).
pub struct Concurrent;

const SECTION: &str = "SPEC §3.4.1";
/// Holders named in one explanation line before the rest are counted.
const NAMED_HOLDERS: usize = 20;

impl Metric for Concurrent {
    type RuleData = RuleData;
    type Parameters = Parameters;

    fn describe() -> PluginInfo {
        PluginInfo {
            name: "concurrent".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            sdk_version: licmetric_sdk::SDK_VERSION.into(),
            metrics: vec![MetricInfo {
                code_name: "CONCURRENT_USERS".into(),
                name: "Concurrent users".into(),
                unit: "licences".into(),
                period_rule: PeriodRule::HighWaterMark,
            }],
            facts: vec![facts::session_request(0), facts::denial_request(0)],
            rule_data_schema: rules::RULE_DATA_SCHEMA.into(),
            parameter_schema: rules::PARAMETER_SCHEMA.into(),
            default_rule_data: r#"{"version":"concurrent-default"}"#.into(),
        }
    }

    fn requests(rules: &RuleData, _: &[Parameters]) -> Vec<FactRequest> {
        vec![
            facts::session_request(rules.max_linger_ms()),
            facts::denial_request(rules.denial_fold_ms()),
        ]
    }

    fn evaluate(
        input: &Evaluation,
        rules: &RuleData,
        parameters: &[Parameters],
        facts: &Facts<'_>,
    ) -> Outcome {
        let mut outcome = Outcome {
            days: Vec::new(),
            errors: Vec::new(),
        };
        let sessions = match Session::all(facts) {
            Ok(s) => s,
            Err(m) => {
                outcome.errors.push(missing(&m.kind, &m.key, m.attribute).0);
                return outcome;
            }
        };
        let denials = match Denial::all(facts) {
            Ok(d) => d,
            Err(m) => {
                outcome.errors.push(missing(&m.kind, &m.key, m.attribute).0);
                return outcome;
            }
        };
        let explaining = facts.is_explaining();
        let counter = Counter::new(rules, &sessions, &denials, input.run_at, explaining);
        for (product, params) in input.products.iter().zip(parameters) {
            match counter.product(product, params, explaining) {
                Ok(days) => outcome.days.extend(days),
                Err(e) => outcome.errors.push(e.product(&product.product.id).0),
            }
        }
        outcome
    }
}

fn missing(kind: &str, key: &str, attribute: &str) -> RuleError {
    RuleError::new(
        "missing_attribute",
        format!("missing attribute {attribute:?} on fact ({kind}, {key:?})"),
    )
    .fact(kind, key)
    .attribute(attribute)
    .section(SECTION)
}

/// One holder's licences over time (SPEC §3.4.1 steps 3–4).
struct Holder<'a> {
    license_type: &'a str,
    /// Empty unless explaining (only explanations and contributors name holders).
    name: String,
    /// Non-overlapping segments: the largest `count` among its open sessions.
    segments: Vec<Segment<i64>>,
    /// Its sessions, to name organisation attributes at the peak.
    sessions: Vec<&'a Session<'a>>,
}

struct Counter<'a> {
    /// Holders per licence type.
    holders: BTreeMap<&'a str, Result<Vec<Holder<'a>>, RuleError>>,
    /// Counted denials per licence type: the instants they count on.
    denials: BTreeMap<&'a str, Vec<i64>>,
    /// Types the aggregate adds up; `None` = every type with sessions in the window.
    aggregate_types: Option<Vec<String>>,
}

impl<'a> Counter<'a> {
    fn new(
        rules: &RuleData,
        sessions: &'a [Session<'a>],
        denials: &[Denial<'a>],
        run_at: i64,
        explaining: bool,
    ) -> Self {
        let mut by_type: BTreeMap<&'a str, Vec<&'a Session<'a>>> = BTreeMap::new();
        for s in sessions {
            by_type.entry(s.license_type).or_default().push(s);
        }
        let holders = by_type
            .into_iter()
            .map(|(lt, sessions)| (lt, holders_of(rules, lt, sessions, run_at, explaining)))
            .collect();
        Counter {
            holders,
            denials: fold_denials(rules, sessions, denials),
            aggregate_types: rules.aggregate_types.clone(),
        }
    }

    /// A product's days; who held each peak, and the explanation line, only when `explaining`.
    fn product(
        &self,
        product: &ProductDays,
        params: &Parameters,
        explaining: bool,
    ) -> Result<Vec<DayResult>, RuleError> {
        let license_type = params
            .license_type
            .as_deref()
            .unwrap_or(&product.product.id);
        let types: Vec<&str> = if license_type == AGGREGATE {
            match &self.aggregate_types {
                Some(t) => t.iter().map(String::as_str).collect(),
                None => {
                    let seen: BTreeSet<&str> = self
                        .holders
                        .keys()
                        .chain(self.denials.keys())
                        .copied()
                        .collect();
                    seen.into_iter().collect()
                }
            }
        } else {
            vec![license_type]
        };
        let mut holders: Vec<&Holder<'a>> = Vec::new();
        for t in &types {
            if let Some(h) = self.holders.get(t) {
                holders.extend(h.as_ref().map_err(Clone::clone)?.iter());
            }
        }
        let segments: Vec<Segment<i64>> = holders
            .iter()
            .flat_map(|h| h.segments.iter().copied())
            .collect();
        let spans: Vec<(i64, i64)> = product.days.iter().map(|d| (d.start, d.end)).collect();
        let peaks = sweep::span_peaks(&segments, &spans);
        let label = if license_type == AGGREGATE {
            "ALL CONCURRENT"
        } else {
            license_type
        };

        Ok(product
            .days
            .iter()
            .zip(peaks)
            .map(|(day, peak)| {
                let denials: usize = types
                    .iter()
                    .filter_map(|t| self.denials.get(t))
                    .map(|ts| {
                        ts.iter()
                            .filter(|&&t| day.start <= t && t < day.end)
                            .count()
                    })
                    .sum();
                let mut contributors = Vec::new();
                let mut names = Vec::new();
                if explaining && peak.value > 0 {
                    for h in &holders {
                        if let Some(seg) = h
                            .segments
                            .iter()
                            .find(|s| sweep::holds_at(s.from, s.to, peak.at))
                        {
                            contributors.push(contributor(h, seg.value, peak.at));
                            names.push(h.name.clone());
                        }
                    }
                }
                let explanation = if !explaining {
                    Vec::new()
                } else if peak.value == 0 {
                    vec![format!("{label}: no licences held on {}", day.date)]
                } else {
                    let shown = names.len().min(NAMED_HOLDERS);
                    let mut line = format!(
                        "{label}: peak {} at {}, holders {}",
                        peak.value,
                        time_of_day(peak.at),
                        names[..shown].join(", ")
                    );
                    if names.len() > shown {
                        line.push_str(&format!(" and {} more", names.len() - shown));
                    }
                    vec![line]
                };
                DayResult {
                    product: product.product.id.clone(),
                    date: day.date.clone(),
                    metric: String::new(),
                    partition: String::new(),
                    quantity: peak.value.to_string(),
                    peak_at: peak.at,
                    measures: vec![("denials".into(), denials.to_string())],
                    contributors,
                    explanation,
                    warnings: Vec::new(),
                    bundle_claims: Vec::new(),
                }
            })
            .collect())
    }
}

fn contributor(holder: &Holder<'_>, weight: i64, at: i64) -> Contributor {
    // The open session with the largest count names the consumer and its organisation.
    let session = holder
        .sessions
        .iter()
        .filter(|s| s.start <= at)
        .max_by_key(|s| (s.count, std::cmp::Reverse(s.start)))
        .or(holder.sessions.first())
        .expect("a holder has a session");
    Contributor {
        kind: "session".into(),
        key: session.key.into(),
        unit: format!("license_type:{}", holder.license_type),
        at,
        weight: weight.to_string(),
        attrs: session
            .organisation
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// The holders of one licence type. Without a `dup_group` each session is its own holder;
/// with one, sessions sharing those attributes are one holder holding their largest count.
/// Names (and the name order) only when `explaining`: a million sessions are a million holders,
/// and counting needs only their segments.
fn holders_of<'a>(
    rules: &RuleData,
    license_type: &'a str,
    sessions: Vec<&'a Session<'a>>,
    run_at: i64,
    explaining: bool,
) -> Result<Vec<Holder<'a>>, RuleError> {
    let settings = rules.license_type(license_type);
    let linger = settings.linger_ms();
    let interval = |s: &Session<'_>| Segment {
        from: s.start,
        to: match s.end {
            Some(end) => end.saturating_add(linger),
            None => run_at,
        },
        value: s.count,
    };
    let mut holders: Vec<Holder<'a>> = if settings.dup_group.is_empty() {
        sessions
            .into_iter()
            .map(|s| Holder {
                license_type,
                name: match (explaining, s.host) {
                    (false, _) => String::new(),
                    (true, Some(h)) => format!("{}@{h}", s.user),
                    (true, None) => s.user.to_string(),
                },
                // What `max_segments` makes of one interval: itself, unless it is empty.
                segments: Some(interval(s))
                    .filter(|i| i.to > i.from)
                    .into_iter()
                    .collect(),
                sessions: vec![s],
            })
            .collect()
    } else {
        let mut groups: FastMap<Vec<&'a str>, Vec<&'a Session<'a>>> = FastMap::default();
        let mut key: Vec<&'a str> = Vec::with_capacity(settings.dup_group.len());
        for s in sessions {
            key.clear();
            for attribute in &settings.dup_group {
                let value = match attribute.as_str() {
                    "user" => Some(s.user),
                    "host" => s.host,
                    _ => s.display,
                };
                key.push(value.ok_or_else(|| missing("session", s.key, attribute))?);
            }
            match groups.get_mut(key.as_slice()) {
                Some(group) => group.push(s),
                None => {
                    groups.insert(key.clone(), vec![s]);
                }
            }
        }
        groups
            .into_iter()
            .map(|(key, sessions)| {
                let intervals: Vec<Segment<i64>> = sessions.iter().map(|s| interval(s)).collect();
                Holder {
                    license_type,
                    name: if explaining {
                        key.join("@")
                    } else {
                        String::new()
                    },
                    segments: sweep::max_segments(&intervals),
                    sessions,
                }
            })
            .collect()
    };
    if explaining {
        holders.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(holders)
}

/// Denial folding (SPEC §3.4.1 step 9): the instants at which denials count, per licence type.
fn fold_denials<'a>(
    rules: &RuleData,
    sessions: &[Session<'a>],
    denials: &[Denial<'a>],
) -> BTreeMap<&'a str, Vec<i64>> {
    let fold = rules.denial_fold_ms();
    let mut starts: HashMap<(&str, &str), Vec<i64>> = HashMap::new();
    for s in sessions {
        starts
            .entry((s.user, s.license_type))
            .or_default()
            .push(s.start);
    }
    let mut per_user: BTreeMap<(&'a str, &'a str), Vec<&Denial<'a>>> = BTreeMap::new();
    let mut counted: BTreeMap<&'a str, Vec<i64>> = BTreeMap::new();
    for d in denials {
        match d.ultimate {
            Some(true) => counted.entry(d.license_type).or_default().push(d.time),
            Some(false) => {}
            None => per_user
                .entry((d.user, d.license_type))
                .or_default()
                .push(d),
        }
    }
    for ((user, license_type), mut list) in per_user {
        list.sort_by_key(|d| (d.time, d.key));
        let session_starts = starts.get(&(user, license_type));
        let mut window_end = i64::MIN;
        for d in list {
            if d.time < window_end {
                continue;
            }
            let t0 = d.time;
            window_end = t0.saturating_add(fold);
            let served = session_starts
                .is_some_and(|starts| starts.iter().any(|&s| t0 <= s && s < window_end));
            if !served {
                counted.entry(license_type).or_default().push(t0);
            }
        }
    }
    counted
}

fn time_of_day(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

export_metric!(Concurrent);
// The self-test evaluated when the plugin is uploaded: the example linger and dup_group (SPEC §3.4.1 steps 2-4; CC-A carries 190 KB of facts).
licmetric_sdk::bundle_example!("example");
