//! Native tests: evaluations built by hand (string table, column-wise timelines in the order of
//! the plugin's requests) and run through the SDK's glue, as the host would call the guest.

use licmetric_sdk::Metric;
use licmetric_sdk::facts::{ABSENT, Interner, OPEN};
use licmetric_sdk::types::*;

use crate::Named;

const H: i64 = 3_600_000;
const DAY: i64 = 24 * H;
/// 2026-11-03T00:00:00Z.
const D0: i64 = 1_793_664_000_000;
/// Long before the evaluated days.
const EARLY: i64 = D0 - 30 * DAY;
const PRODUCT: &str = "cad";

/// An attribute value as a collector would send it.
#[derive(Clone, Copy)]
enum V {
    S(&'static str),
    B(bool),
    T(i64),
}

/// The facts of one test, encoded as the host encodes them.
struct Fixture {
    strings: Interner,
    requests: Vec<FactRequest>,
    timelines: Vec<Timeline>,
}

impl Fixture {
    fn new() -> Self {
        let requests =
            licmetric_sdk::prepare::<Named>(r#"{"version":"t"}"#, &[]).expect("requests");
        let timelines = requests
            .iter()
            .map(|r| Timeline {
                kind: r.kind.clone(),
                entity: Vec::new(),
                from: Vec::new(),
                to: Vec::new(),
                columns: vec![Vec::new(); r.attributes.len()],
            })
            .collect();
        Fixture {
            strings: Interner::default(),
            requests,
            timelines,
        }
    }

    /// One state `[from, to)` of `kind`'s entity `key`.
    fn state(&mut self, kind: &str, key: &str, from: i64, to: i64, attrs: &[(&str, V)]) {
        let r = self.requests.iter().position(|r| r.kind == kind).unwrap();
        let entity = self.strings.intern(key);
        let names: Vec<String> = self.requests[r]
            .attributes
            .iter()
            .map(|a| a.name.clone())
            .collect();
        let values: Vec<i64> = names
            .iter()
            .map(|name| match attrs.iter().find(|(n, _)| n == name) {
                Some((_, V::S(s))) => self.strings.intern(s) as i64,
                Some((_, V::B(b))) => *b as i64,
                Some((_, V::T(t))) => *t,
                None => ABSENT,
            })
            .collect();
        let t = &mut self.timelines[r];
        t.entity.push(entity);
        t.from.push(from);
        t.to.push(to);
        for (column, value) in t.columns.iter_mut().zip(values) {
            column.push(value);
        }
    }

    fn assignment(&mut self, key: &str, user: &'static str, from: i64, to: i64, active: bool) {
        let attrs = [
            ("license_type", V::S(PRODUCT)),
            ("user", V::S(user)),
            ("active", V::B(active)),
        ];
        self.state("assignment", key, from, to, &attrs);
    }

    fn installation(&mut self, key: &str, on: &'static str, owner: Option<&'static str>) {
        let mut attrs = vec![("product", V::S(PRODUCT)), ("on", V::S(on))];
        if let Some(owner) = owner {
            attrs.push(("owner", V::S(owner)));
        }
        self.state("installation", key, EARLY, OPEN, &attrs);
    }

    fn session(&mut self, key: &str, user: &'static str, host: &'static str, start: i64, end: i64) {
        let attrs = [
            ("license_type", V::S(PRODUCT)),
            ("user", V::S(user)),
            ("host", V::S(host)),
            ("start", V::T(start)),
            ("end", V::T(end)),
        ];
        self.state("session", key, start, end, &attrs);
    }

    /// Evaluates product `cad` with `parameters` on `days` days from 2026-11-03.
    fn evaluate(self, parameters: &str, days: usize) -> Outcome {
        let days = (0..days)
            .map(|i| Day {
                date: format!("2026-11-{:02}", 3 + i),
                start: D0 + i as i64 * DAY,
                end: D0 + (i as i64 + 1) * DAY,
            })
            .collect();
        let input = Evaluation {
            rule_data: r#"{"version":"named-1"}"#.into(),
            run_at: D0 + 40 * DAY,
            products: vec![ProductDays {
                product: ProductRef {
                    id: PRODUCT.into(),
                    parameters: parameters.into(),
                },
                days,
            }],
            strings: self.strings.into_table(),
            timelines: self.timelines,
        };
        licmetric_sdk::__private::evaluate::<Named>(input)
    }
}

fn only_day(outcome: &Outcome) -> &DayResult {
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!(outcome.days.len(), 1);
    &outcome.days[0]
}

fn measure<'r>(day: &'r DayResult, name: &str) -> Option<&'r str> {
    day.measures
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// (kind, key, weight) of every contributor.
fn contributors(day: &DayResult) -> Vec<(&str, &str, &str)> {
    day.contributors
        .iter()
        .map(|c| (c.kind.as_str(), c.key.as_str(), c.weight.as_str()))
        .collect()
}

#[test]
fn describes_two_metrics_and_three_fact_kinds() {
    let info = Named::describe();
    assert_eq!(info.name, "named");
    assert_eq!(info.version, "1.0.0");
    let metrics: Vec<(&str, PeriodRule)> = info
        .metrics
        .iter()
        .map(|m| (m.code_name.as_str(), m.period_rule))
        .collect();
    assert!(matches!(
        metrics.as_slice(),
        [
            ("NAMED_PEAK_ACTIVE", PeriodRule::HighWaterMark),
            ("NAMED_DISTINCT", PeriodRule::DistinctUnion)
        ]
    ));
    let kinds: Vec<&str> = info.facts.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(kinds, ["assignment", "installation", "session"]);
    assert!(licmetric_sdk::prepare::<Named>(&info.default_rule_data, &[]).is_ok());
}

/// NU-A [FLX-NAMED]: allocation restricts counting.
#[test]
fn nu_a_assignments_count_and_mary_is_unassigned() {
    let mut e = Fixture::new();
    e.assignment("a-sam", "Sam", EARLY, OPEN, true);
    e.assignment("a-jan", "Jan", EARLY, OPEN, true);
    e.installation("i-sam", "pc-sam", Some("Sam"));
    e.installation("i-jan", "pc-jan", Some("Jan"));
    e.installation("i-mary", "pc-mary", Some("Mary"));
    let outcome = e.evaluate("{}", 1);
    let day = only_day(&outcome);
    assert_eq!(day.quantity, "2");
    assert_eq!(day.metric, "NAMED_PEAK_ACTIVE");
    assert_eq!(day.peak_at, D0);
    assert_eq!(measure(day, "named_peak_active"), Some("2"));
    assert_eq!(measure(day, "named_distinct"), Some("2"));
    assert_eq!(measure(day, "unassigned_installations"), Some("1"));
    assert_eq!(measure(day, "people"), Some("2"));
    assert_eq!(measure(day, "devices"), Some("0"));
    assert_eq!(day.warnings.len(), 1);
    assert!(day.warnings[0].starts_with("unassigned_installation:"));
    assert!(day.warnings[0].contains("i-mary"));
    assert_eq!(day.explanation[0], "peak 2 active: Jan, Sam");
    assert!(day.explanation[2].contains("i-mary (owner Mary)"));
    assert_eq!(
        contributors(day),
        [("user", "Jan", "1"), ("user", "Sam", "1")]
    );
    let c = &day.contributors[0];
    assert_eq!((c.unit.as_str(), c.at), ("license_type:cad", D0));
}

/// NU-B [FLX-USER]: owners, ownerless devices and session users.
#[test]
fn nu_b_installation_user_basis_counts_owner_device_and_session_user() {
    let mut e = Fixture::new();
    e.installation("i-1", "PC1", Some("Ann"));
    e.installation("i-2", "PC2", Some("Ann"));
    e.installation("i-3", "PC3", None);
    e.session("s-bob", "Bob", "PC1", D0 + 10 * H, D0 + 11 * H);
    // A session on a device without the product does not count.
    e.session("s-eve", "Eve", "PC9", D0 + 10 * H, D0 + 11 * H);
    let outcome = e.evaluate(r#"{"basis":"installation_user"}"#, 1);
    let day = only_day(&outcome);
    assert_eq!(day.quantity, "3");
    assert_eq!(day.peak_at, D0 + 10 * H);
    assert_eq!(measure(day, "named_distinct"), Some("3"));
    assert_eq!(measure(day, "people"), Some("2"));
    assert_eq!(measure(day, "devices"), Some("1"));
    assert_eq!(measure(day, "unassigned_installations"), None);
    assert_eq!(
        contributors(day),
        [
            ("user", "Ann", "1"),
            ("user", "Bob", "1"),
            ("device", "PC3", "1")
        ]
    );
    assert_eq!(day.explanation[0], "peak 3 active: Ann, Bob, device PC3");
    assert!(day.warnings.is_empty());
}

#[test]
fn deactivation_releases_and_distinct_counts_both_users() {
    let mut e = Fixture::new();
    e.assignment("a-sam", "Sam", EARLY, D0 + 10 * H, true);
    e.state(
        "assignment",
        "a-sam",
        D0 + 10 * H,
        OPEN,
        &[
            ("license_type", V::S(PRODUCT)),
            ("user", V::S("Sam")),
            ("active", V::B(false)),
        ],
    );
    e.assignment("a-jan", "Jan", D0 + 12 * H, OPEN, true);
    let peak = e.evaluate("{}", 1);
    let day = only_day(&peak);
    assert_eq!(day.quantity, "1");
    assert_eq!(measure(day, "named_distinct"), Some("2"));
    assert_eq!(day.peak_at, D0);
    // Only Sam holds at the peak; Jan is listed (for the period's distinct union) at weight 0.
    assert_eq!(
        contributors(day),
        [("user", "Jan", "0"), ("user", "Sam", "1")]
    );
    assert_eq!(day.contributors[0].at, D0 + 12 * H);
    assert_eq!(day.contributors[1].at, D0);
}

#[test]
fn compliance_quantity_switches_quantity_metric_and_weights() {
    let mut e = Fixture::new();
    e.assignment("a-sam", "Sam", EARLY, D0 + 10 * H, true);
    e.assignment("a-jan", "Jan", D0 + 12 * H, OPEN, true);
    let outcome = e.evaluate(r#"{"compliance_quantity":"named_distinct"}"#, 1);
    let day = only_day(&outcome);
    assert_eq!(day.quantity, "2");
    assert_eq!(day.metric, "NAMED_DISTINCT");
    assert_eq!(measure(day, "named_peak_active"), Some("1"));
    assert_eq!(measure(day, "named_distinct"), Some("2"));
    assert_eq!(
        contributors(day),
        [("user", "Jan", "1"), ("user", "Sam", "1")]
    );
}

#[test]
fn reactivating_a_user_is_not_a_new_distinct_user() {
    let mut e = Fixture::new();
    e.assignment("a-sam", "Sam", EARLY, D0 + 8 * H, true);
    e.assignment("a-sam", "Sam", D0 + 8 * H, D0 + 12 * H, false);
    e.assignment("a-sam", "Sam", D0 + 12 * H, OPEN, true);
    let outcome = e.evaluate(r#"{"compliance_quantity":"named_distinct"}"#, 1);
    let day = only_day(&outcome);
    assert_eq!(day.quantity, "1");
    assert_eq!(measure(day, "named_peak_active"), Some("1"));
    assert_eq!(contributors(day), [("user", "Sam", "1")]);
}

#[test]
fn several_assignments_of_one_user_are_one_identity() {
    let mut e = Fixture::new();
    e.assignment("a-1", "Sam", EARLY, OPEN, true);
    e.assignment("a-2", "Sam", D0 + 3 * H, D0 + 5 * H, true);
    // Another licence type does not count.
    e.state(
        "assignment",
        "a-3",
        EARLY,
        OPEN,
        &[
            ("license_type", V::S("other")),
            ("user", V::S("Jan")),
            ("active", V::B(true)),
        ],
    );
    let day = e.evaluate("{}", 1);
    let day = only_day(&day);
    assert_eq!(day.quantity, "1");
    assert_eq!(measure(day, "named_distinct"), Some("1"));
}

/// A retired assignment has no state after its retirement (the host sends none): inactive.
/// It ends at the instant Jan's starts, so they never overlap (SPEC §1.3).
#[test]
fn retired_assignment_is_inactive_and_same_instant_end_start_does_not_overlap() {
    let mut e = Fixture::new();
    e.assignment("a-sam", "Sam", EARLY, D0 + 6 * H, true);
    e.assignment("a-jan", "Jan", D0 + 6 * H, OPEN, true);
    let outcome = e.evaluate("{}", 2);
    assert!(outcome.errors.is_empty());
    let (first, second) = (&outcome.days[0], &outcome.days[1]);
    assert_eq!(first.quantity, "1");
    assert_eq!(measure(first, "named_distinct"), Some("2"));
    assert_eq!(second.quantity, "1");
    assert_eq!(measure(second, "named_distinct"), Some("1"));
    assert_eq!(contributors(second), [("user", "Jan", "1")]);
}

#[test]
fn sessions_ending_and_starting_at_one_instant_do_not_overlap() {
    let mut e = Fixture::new();
    e.installation("i-1", "PC1", Some("Ann"));
    e.session("s-1", "Bob", "PC1", D0 + 8 * H, D0 + 10 * H);
    e.session("s-2", "Carl", "PC1", D0 + 10 * H, D0 + 12 * H);
    let outcome = e.evaluate(r#"{"basis":"installation_user"}"#, 1);
    let day = only_day(&outcome);
    assert_eq!(day.quantity, "2");
    assert_eq!(day.peak_at, D0 + 8 * H);
    assert_eq!(measure(day, "named_distinct"), Some("3"));
    assert_eq!(
        contributors(day),
        [
            ("user", "Ann", "1"),
            ("user", "Bob", "1"),
            ("user", "Carl", "0")
        ]
    );
}

#[test]
fn devices_count_like_people_and_are_listed_apart() {
    let mut e = Fixture::new();
    e.assignment("a-sam", "Sam", EARLY, OPEN, true);
    e.state(
        "assignment",
        "a-batch",
        EARLY,
        OPEN,
        &[
            ("license_type", V::S(PRODUCT)),
            ("user", V::S("batch-7")),
            ("active", V::B(true)),
            ("device", V::B(true)),
        ],
    );
    let outcome = e.evaluate("{}", 1);
    let day = only_day(&outcome);
    assert_eq!(day.quantity, "2");
    assert_eq!(measure(day, "people"), Some("1"));
    assert_eq!(measure(day, "devices"), Some("1"));
    assert_eq!(
        contributors(day),
        [("user", "Sam", "1"), ("device", "batch-7", "1")]
    );
    assert_eq!(day.explanation[0], "peak 2 active: Sam, device batch-7");
}

#[test]
fn a_day_without_identities_is_zero_with_a_line_saying_so() {
    let mut e = Fixture::new();
    e.installation("i-1", "PC1", None);
    let outcome = e.evaluate("{}", 1);
    let day = only_day(&outcome);
    assert_eq!(day.quantity, "0");
    assert_eq!(day.peak_at, D0);
    assert!(day.contributors.is_empty());
    // An installation without an owner is not judged unassigned: nobody to assign.
    assert_eq!(measure(day, "unassigned_installations"), Some("0"));
    assert!(day.explanation[0].starts_with("no named user active on 2026-11-03"));
}

#[test]
fn organisation_attributes_come_from_the_latest_active_state_of_the_day() {
    let mut e = Fixture::new();
    let base = [
        ("license_type", V::S(PRODUCT)),
        ("user", V::S("Sam")),
        ("active", V::B(true)),
    ];
    let with = |cc: &'static str, loc: Option<&'static str>| {
        let mut a = base.to_vec();
        a.push(("cost_center", V::S(cc)));
        if let Some(loc) = loc {
            a.push(("location", V::S(loc)));
        }
        a
    };
    e.state(
        "assignment",
        "a-sam",
        EARLY,
        D0 + 9 * H,
        &with("CC1", Some("Paris")),
    );
    e.state("assignment", "a-sam", D0 + 9 * H, OPEN, &with("CC2", None));
    let outcome = e.evaluate("{}", 1);
    let day = only_day(&outcome);
    let attrs: Vec<(&str, &str)> = day.contributors[0]
        .attrs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(attrs, [("cost_center", "CC2"), ("location", "Paris")]);
}

#[test]
fn missing_required_attribute_fails_only_the_days_it_touches() {
    let mut e = Fixture::new();
    e.assignment("a-sam", "Sam", EARLY, OPEN, true);
    e.state(
        "assignment",
        "a-jan",
        D0 + DAY + 5 * H,
        OPEN,
        &[("license_type", V::S(PRODUCT)), ("user", V::S("Jan"))],
    );
    let outcome = e.evaluate("{}", 2);
    assert_eq!(outcome.days.len(), 1);
    assert_eq!(outcome.days[0].date, "2026-11-03");
    assert_eq!(outcome.errors.len(), 1);
    let err = &outcome.errors[0];
    assert_eq!(err.code, "missing_attribute");
    assert_eq!(err.product.as_deref(), Some(PRODUCT));
    assert_eq!(err.date.as_deref(), Some("2026-11-04"));
    assert_eq!(err.fact_kind.as_deref(), Some("assignment"));
    assert_eq!(err.fact_key.as_deref(), Some("a-jan"));
    assert_eq!(err.attribute.as_deref(), Some("active"));
    assert_eq!(err.at, Some(D0 + DAY + 5 * H));
    assert_eq!(err.section.as_deref(), Some("SPEC §3.5.1"));
    assert!(
        err.message.contains("2026-11-04T05:00:00Z"),
        "{}",
        err.message
    );
}

#[test]
fn bad_parameters_and_rule_data_name_the_path() {
    let outcome = Fixture::new().evaluate(r#"{"basis":"seats"}"#, 1);
    assert!(outcome.days.is_empty());
    let err = &outcome.errors[0];
    assert_eq!(err.code, "product_parameter_invalid");
    assert_eq!(err.product.as_deref(), Some(PRODUCT));
    assert!(err.message.contains("/basis"), "{}", err.message);

    let outcome = Fixture::new().evaluate(r#"{"compliance_quantity":"peak"}"#, 1);
    assert!(outcome.errors[0].message.contains("/compliance_quantity"));
    let outcome = Fixture::new().evaluate(r#"{"colour":1}"#, 1);
    assert!(outcome.errors[0].message.contains("colour"));

    let err = licmetric_sdk::prepare::<Named>(r#"{"version":"x","extra":1}"#, &[]).unwrap_err();
    assert_eq!(err.0.code, "rule_data_invalid");
    assert!(err.0.message.contains("extra"), "{}", err.0.message);
    let err = licmetric_sdk::prepare::<Named>(r#"{}"#, &[]).unwrap_err();
    assert!(err.0.message.contains("version"), "{}", err.0.message);
}

#[test]
fn long_lists_name_twenty_then_count_the_rest() {
    const USERS: [&str; 23] = [
        "u00", "u01", "u02", "u03", "u04", "u05", "u06", "u07", "u08", "u09", "u10", "u11", "u12",
        "u13", "u14", "u15", "u16", "u17", "u18", "u19", "u20", "u21", "u22",
    ];
    let mut e = Fixture::new();
    for u in USERS {
        e.assignment(&format!("a-{u}"), u, EARLY, OPEN, true);
    }
    let outcome = e.evaluate("{}", 1);
    let day = only_day(&outcome);
    assert_eq!(day.quantity, "23");
    assert!(
        day.explanation[0].ends_with("u19 and 3 more"),
        "{}",
        day.explanation[0]
    );
}

/// An installation is unassigned on a day when its owner is active at no instant of that day
/// while the installation is there; an owner active for part of the day covers it.
#[test]
fn unassigned_means_owner_never_active_while_installed_that_day() {
    let mut e = Fixture::new();
    e.assignment("a-sam", "Sam", EARLY, D0 - H, true);
    e.assignment("a-sam", "Sam", D0 - H, OPEN, false);
    e.assignment("a-jan", "Jan", D0 + 20 * H, OPEN, true);
    e.installation("i-sam", "pc-sam", Some("Sam"));
    e.installation("i-jan", "pc-jan", Some("Jan"));
    let outcome = e.evaluate("{}", 1);
    let day = only_day(&outcome);
    assert_eq!(day.quantity, "1");
    assert_eq!(measure(day, "unassigned_installations"), Some("1"));
    assert!(day.warnings[0].contains("i-sam"), "{}", day.warnings[0]);
    assert!(!day.warnings[0].contains("i-jan"), "{}", day.warnings[0]);
}
