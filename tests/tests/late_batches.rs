//! Late batches change nothing but the timing (SPEC §4.10.3): a random small estate of each
//! metric family gives the same answers whether its facts arrive in one batch, or in a first
//! batch, an evaluation (which caches every day), then the rest shuffled in a late batch.

use std::sync::{Arc, OnceLock};

use chrono::NaiveDate;
use licmetric::eval::{Evaluator, calendar, period};
use licmetric::runtime::Runtime;
use licmetric::store::Store;
use licmetric::store::records::Product;
use licmetric_tests::*;
use proptest::prelude::*;
use serde_json::json;

const START: &str = "2026-03-02";
const END: &str = "2026-03-05";

/// One runtime for every case: compiling the plugins is the slow part.
fn shared_runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME.get_or_init(|| runtime(test_limits())).clone()
}

/// An instant from 03-01 00:00 plus `minutes` (the period starts a day later, so some facts
/// are older than it).
fn at(minutes: u32) -> String {
    let t = NaiveDate::from_ymd_opt(2026, 3, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        + chrono::Duration::minutes(minutes as i64);
    format!("{}Z", t.format("%Y-%m-%dT%H:%M:%S"))
}

fn line(kind: &str, key: &str, minutes: u32, attrs: serde_json::Value) -> String {
    json!({"kind": kind, "key": key, "at": at(minutes), "attrs": attrs}).to_string()
}

fn retired(kind: &str, key: &str, minutes: u32) -> String {
    json!({"kind": kind, "key": key, "at": at(minutes), "retired": true}).to_string()
}

/// Four days of minutes.
fn minute() -> impl Strategy<Value = u32> {
    0u32..4 * 24 * 60
}

/// Servers with and without hypervisor data in two regions, VMs moving between them, and
/// installations of `p` on VMs or servers.
fn subcapacity_estate() -> impl Strategy<Value = Vec<String>> {
    let servers = prop::collection::vec((1u32..5, 1u32..3, any::<bool>(), minute()), 1..4);
    let vms = prop::collection::vec((0usize..3, 1u32..9, minute()), 1..6);
    let installs = prop::collection::vec((0usize..5, any::<bool>(), minute(), any::<bool>()), 1..5);
    (servers, vms, installs).prop_map(|(servers, vms, installs)| {
        let mut out = Vec::new();
        for (i, (cores, region, hypervisor, m)) in servers.iter().enumerate() {
            out.push(line("server", &format!("s{i}"), 0, json!({"cores": cores * 4, "region": region.to_string(), "hypervisor_data": true})));
            out.push(line("server", &format!("s{i}"), *m, json!({"cores": cores * 4, "region": region.to_string(), "hypervisor_data": hypervisor})));
        }
        // Every VM exists from the start (on s0), then moves.
        for i in 0..3 {
            out.push(line("vm", &format!("v{i}"), 0, json!({"server": "s0", "vcpus": 2})));
        }
        for (i, (server, vcpus, m)) in vms.iter().enumerate() {
            let s = server % servers.len();
            out.push(line("vm", &format!("v{}", i % 3), *m, json!({"server": format!("s{s}"), "vcpus": vcpus})));
        }
        for (i, (target, on_server, m, retire)) in installs.iter().enumerate() {
            let on = if *on_server {
                format!("s{}", target % servers.len())
            } else {
                format!("v{}", target % 3)
            };
            let key = format!("{on}/p{i}");
            let product = if i % 2 == 0 { "p" } else { "q" };
            out.push(line("installation", &key, *m, json!({"product": product, "on": on})));
            if *retire {
                out.push(retired("installation", &key, m + 600));
            }
        }
        out
    })
}

/// Servers with core factors in one cluster, VMs moving among them, `ora-ee` installations.
fn oracle_estate() -> impl Strategy<Value = Vec<String>> {
    let servers = prop::collection::vec((1u32..5, any::<bool>()), 1..4);
    let vms = prop::collection::vec((0usize..3, 1u32..9, minute()), 1..6);
    let installs = prop::collection::vec((0usize..3, minute()), 1..4);
    (servers, vms, installs).prop_map(|(servers, vms, installs)| {
        let mut out = Vec::new();
        for (i, (cores, clustered)) in servers.iter().enumerate() {
            let cluster = if *clustered { "c1" } else { "c2" };
            out.push(line(
                "server",
                &format!("esx{i}"),
                0,
                json!({"cores": cores * 4, "core_factor": "0.5", "cluster": cluster}),
            ));
        }
        // Every VM exists from the start (on esx0), then moves.
        for i in 0..3 {
            out.push(line(
                "vm",
                &format!("vm{i}"),
                0,
                json!({"server": "esx0", "vcpus": 2}),
            ));
        }
        for (i, (server, vcpus, m)) in vms.iter().enumerate() {
            let s = server % servers.len();
            out.push(line(
                "vm",
                &format!("vm{}", i % 3),
                *m,
                json!({"server": format!("esx{s}"), "vcpus": vcpus}),
            ));
        }
        for (i, (vm, m)) in installs.iter().enumerate() {
            out.push(line(
                "installation",
                &format!("vm{vm}/ora{i}"),
                *m,
                json!({"product": "ora-ee", "on": format!("vm{vm}")}),
            ));
        }
        out
    })
}

/// Sessions observed open, observed again with an end (possibly back-dated), some retired.
fn concurrent_estate() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        (0u32..3, minute(), 1u32..600, prop::option::of(0u32..900), prop::option::of(0u32..1440)),
        // Few sessions, so that a late batch often holds no open session: an open one dirties
        // every later day and would hide a late fact that fails to dirty its own.
        1..4,
    )
    .prop_map(|sessions| {
        let mut out = Vec::new();
        for (i, (user, start, length, seen_again, retire)) in sessions.iter().enumerate() {
            let key = format!("lmgrd/{i}");
            let attrs = |end: Option<u32>| {
                let mut a = json!({"license_type": "lt-a", "user": format!("u{user}"), "display": format!(":{user}"), "start": at(*start)});
                if let Some(e) = end {
                    a["end"] = json!(at(e));
                }
                a
            };
            out.push(line("session", &key, *start, attrs(None)));
            if let Some(later) = seen_again {
                out.push(line("session", &key, start + later, attrs(Some(start + length))));
            }
            // Retired a day or two later: the retirement ends the open interval across days.
            if let Some(after) = retire {
                out.push(retired("session", &key, start + 1000 + after));
            }
        }
        out
    })
}

/// Assignments switched off and on again, some retired.
fn named_estate() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec((0u32..4, minute(), any::<bool>(), any::<bool>()), 1..8).prop_map(
        |changes| {
            let mut out = Vec::new();
            for (user, m, active, retire) in changes {
                let key = format!("AGM/u{user}");
                out.push(line(
                    "assignment",
                    &key,
                    m,
                    json!({"license_type": "AGM", "user": format!("u{user}"), "active": active}),
                ));
                if retire {
                    out.push(retired("assignment", &key, m + 300));
                }
            }
            out
        },
    )
}

/// Each product's period answer: quantity, peak date and daily totals, or its error code.
fn answers(evaluator: &Evaluator, products: &[Product]) -> Vec<String> {
    let (start, end): (NaiveDate, NaiveDate) = (START.parse().unwrap(), END.parse().unwrap());
    let run_at = calendar::midnight(chrono_tz::Tz::UTC, end);
    evaluator
        .days(products, start, end, run_at)
        .unwrap()
        .into_iter()
        .map(|days| {
            match days.map_err(|e| e.to_string()).and_then(|days| {
                period::usage(&days, start, end, None, chrono::Weekday::Mon)
                    .map_err(|e| e.to_string())
            }) {
                Ok(u) => {
                    let daily: Vec<&str> = u.daily.iter().map(|d| d.quantity.as_str()).collect();
                    format!("{} peak {:?} daily {daily:?}", u.quantity, u.peak_date)
                }
                Err(e) => format!("error {e}"),
            }
        })
        .collect()
}

/// The answers after all `facts` in one batch, and after `facts[first..]` came in a late batch
/// after a first evaluation of `facts[..first]`.
fn both_ways(
    products: &[serde_json::Value],
    facts: &[String],
    first: usize,
) -> (Vec<String>, Vec<String>) {
    let products: Vec<Product> = products
        .iter()
        .map(|p| serde_json::from_value(p.clone()).unwrap())
        .collect();
    let setup = || {
        let store = Arc::new(Store::temporary().unwrap());
        for p in &products {
            store.put_product(p).unwrap();
        }
        let evaluator = Evaluator::new(store.clone(), shared_runtime());
        (store, evaluator)
    };
    let ingest = |store: &Store, facts: &[String]| {
        if !facts.is_empty() {
            store.ingest(&facts.join("\n")).unwrap();
        }
    };

    let (together, evaluator) = setup();
    ingest(&together, facts);
    let one_batch = answers(&evaluator, &products);

    let (split, evaluator) = setup();
    ingest(&split, &facts[..first]);
    answers(&evaluator, &products);
    ingest(&split, &facts[first..]);
    (one_batch, answers(&evaluator, &products))
}

/// Which facts go late, in which order: indices into the estate.
fn late_part(len: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..len.max(1), 0..=len).prop_shuffle()
}

fn check(products: Vec<serde_json::Value>, estate: impl Strategy<Value = Vec<String>>) {
    // A fixed seed: the same cases on every run, so CI is reproducible. With the fix for SPEC
    // §4.10.3 reverted, the concurrent family fails on this seed.
    let config = ProptestConfig {
        cases: 96,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x1a7e_ba7c),
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let strategy = estate.prop_flat_map(|facts| {
        let n = facts.len();
        (Just(facts), late_part(n))
    });
    proptest!(config, |((facts, late) in strategy)| {
        // The late batch in its shuffled order; the first batch in the estate's.
        let mut order: Vec<usize> = Vec::new();
        for i in late { if !order.contains(&i) { order.push(i); } }
        let mut shuffled: Vec<String> = (0..facts.len()).filter(|i| !order.contains(i)).map(|i| facts[i].clone()).collect();
        let first_len = shuffled.len();
        shuffled.extend(order.iter().map(|&i| facts[i].clone()));
        let (one, split) = both_ways(&products, &shuffled, first_len);
        prop_assert_eq!(one, split, "facts: {:#?}", shuffled);
    });
}

#[test]
fn subcapacity_answers_do_not_depend_on_batches() {
    check(
        vec![
            json!({"id": "p", "metric": "vpc@^1"}),
            json!({"id": "q", "metric": "pvu@^1"}),
        ],
        subcapacity_estate(),
    );
}

#[test]
fn oracle_answers_do_not_depend_on_batches() {
    check(
        vec![json!({"id": "ora-ee", "metric": "oracle-processor@^1"})],
        oracle_estate(),
    );
}

#[test]
fn concurrent_answers_do_not_depend_on_batches() {
    check(
        vec![json!({"id": "a", "metric": "concurrent@^1", "parameters": {"license_type": "lt-a"}})],
        concurrent_estate(),
    );
}

#[test]
fn named_answers_do_not_depend_on_batches() {
    check(
        vec![json!({"id": "agm", "metric": "named@^1", "parameters": {"license_type": "AGM"}})],
        named_estate(),
    );
}
