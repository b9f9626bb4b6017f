//! Fuzzing of everything that reads untrusted text (issue 15.9): the NDJSON fact parser, ILMT's
//! `criteria`, Octane's `query` filter, the period and date parameters and token scopes. Each
//! property is "answers Ok or a clear error, never panics", over random text and over mutations
//! of valid inputs (a random span replaced by random bytes), which reach deeper than random
//! text alone.
//!
//! A short run (proptest's default 256 cases per target) is part of `cargo test`; a longer
//! one is a documented command (README, "Fuzzing"):
//! `PROPTEST_CASES=200000 cargo test -p licmetric --lib api::fuzz`.
//! A failing input is kept by proptest under `host/proptest-regressions/` and replayed first on
//! every later run, so every crash found stays a regression input.

use std::collections::HashMap;

use chrono::NaiveDate;
use proptest::prelude::*;

use super::ilmt::criteria::Criteria;
use super::{ilmt, octane, params};
use crate::eval::scope::Scope;
use crate::store::fact;

/// `seed` with one span replaced by arbitrary text (possibly empty), cut on char boundaries.
fn mutated(seeds: &'static [&'static str]) -> impl Strategy<Value = String> {
    (
        prop::sample::select(seeds),
        any::<prop::sample::Index>(),
        0usize..12,
        ".{0,12}",
    )
        .prop_map(|(seed, at, len, insert)| {
            let chars: Vec<char> = seed.chars().collect();
            let start = at.index(chars.len() + 1);
            let end = (start + len).min(chars.len());
            let mut out: String = chars[..start].iter().collect();
            out.push_str(&insert);
            out.extend(&chars[end..]);
            out
        })
}

/// Random text, text made of the format's own punctuation, and mutations of valid inputs.
fn inputs(seeds: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,64}",
        "[\\[\\]{}\"':,=<>()0-9a-zA-Z_ .eE+-]{0,64}",
        mutated(seeds),
    ]
}

const FACTS: &[&str] = &[
    r#"{"kind":"vm","key":"vc1/vm-42","at":"2026-11-01T10:00:00+01:00","source":"vcenter-1","attrs":{"server":"esx-7","vcpus":8}}"#,
    r#"{"kind":"session","key":"s1","at":"2026-11-02T09:00:00Z","attrs":{"license_type":"cad","user":"ann","start":"2026-11-02T09:00:00Z","end":"2026-11-02T11:00:00Z","count":2}}"#,
    r#"{"kind":"pod","key":"p","at":"2026-11-01T00:00:00Z","attrs":{"cluster":"c","namespace":"n","product":"x","ratio":"1:2","cpu_limit_cores":"0.5"}}"#,
    r#"{"kind":"server","key":"s","at":"2026-11-01T00:00:00Z","retired":true}"#,
];

const CRITERIA: &[&str] = &[
    r#"{"and":[["product_name","contains","DB2"],["hwm_quantity",">","10"]]}"#,
    r#"{"or":[["bundle_id","<=","0"],{"and":[["metric_code_name","=","PVU"]]}]}"#,
    r#"{"and":[["hwm_peak_time","last","30 days"]]}"#,
    "{'and':[['bundle_id','<=','0']]}",
];

const FILTERS: &[&str] = &[
    "(license_type IN 'a','b')",
    "license_type = 'cad'",
    "(license_type IN 'x')",
];

const DATES: &[&str] = &["2026-11-02", "2026-02-28", "0001-01-01", "9999-12-31"];

const SCOPES: &[&str] = &["cost_center=CC1", "department=R&D,cost_center=CC2", "all"];

proptest! {
    #[test]
    fn the_fact_parser_never_panics(line in inputs(FACTS)) {
        if let Ok(o) = fact::parse(&line) {
            prop_assert!(!o.kind.trim().is_empty() && !o.key.trim().is_empty());
            prop_assert!(!o.id.is_empty());
        }
    }

    #[test]
    fn ilmt_criteria_never_panic(text in inputs(CRITERIA)) {
        let _ = Criteria::parse(&text);
    }

    #[test]
    fn an_ilmt_query_never_panics(
        names in prop::collection::vec(
            prop::sample::select(&["criteria", "columns[]", "order[]", "startdate", "enddate",
                "limit", "offset", "countSwitch", "computerGroupId", "token"][..]),
            0..5,
        ),
        values in prop::collection::vec(inputs(CRITERIA), 5),
    ) {
        let pairs: Vec<(String, String)> = names
            .iter()
            .zip(&values)
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        let today = NaiveDate::from_ymd_opt(2026, 11, 15).unwrap();
        let _ = ilmt::parse(&pairs, today);
    }

    #[test]
    fn the_octane_filter_never_panics(text in inputs(FILTERS)) {
        let _ = octane::parse_filter_query(&text);
    }

    #[test]
    fn periods_and_dates_never_panic(start in inputs(DATES), end in inputs(DATES)) {
        let _ = params::parse_date("start", &start);
        let q: HashMap<String, String> =
            [("start".to_string(), start), ("end".to_string(), end)].into();
        if let Ok((from, to)) = params::period_of(&q) {
            prop_assert!(from < to);
        }
    }

    #[test]
    fn token_scopes_never_panic(text in inputs(SCOPES)) {
        let _ = Scope::parse(&text);
    }
}

/// Found by `the_octane_filter_never_panics`: a multi-byte character right after
/// `license_type` made the `IN` check slice inside it.
#[test]
fn an_octane_filter_with_a_multibyte_character_is_refused() {
    assert!(octane::parse_filter_query("license_typeI¥mR'b'").is_err());
}
