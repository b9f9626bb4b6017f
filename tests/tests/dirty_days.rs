//! Only dirty days are recomputed: cached days cost no plugin call, a back-dated fact
//! recomputes just the days it touches.

use std::sync::Arc;

use licmetric::eval::calendar;
use licmetric::store::Store;
use licmetric::store::records::Product;
use licmetric_tests::*;
use serde_json::json;

#[test]
fn only_dirty_days_are_recomputed() {
    let store = Arc::new(Store::temporary().unwrap());
    let runtime = runtime(test_limits());
    let plugin = runtime
        .resolve("concurrent", &semver::VersionReq::STAR)
        .unwrap();
    let evaluator = licmetric::eval::Evaluator::new(store.clone(), runtime);
    let product: Product =
        serde_json::from_value(json!({"id":"cad","metric":"concurrent@^1"})).unwrap();
    let lines: Vec<String> = (1..=30)
        .map(|d| {
            let day = format!("2026-11-{d:02}");
            session(
                &format!("s{d}"),
                "cad",
                "ann",
                &format!("{day}T09:00:00Z"),
                Some(&format!("{day}T10:00:00Z")),
            )
        })
        .collect();
    store.ingest(&lines.join("\n")).unwrap();
    let (start, end) = ("2026-11-01".parse().unwrap(), "2026-12-01".parse().unwrap());
    let now = calendar::midnight(chrono_tz::Tz::UTC, "2026-12-02".parse().unwrap());
    let evaluate = || {
        let days = evaluator
            .days(std::slice::from_ref(&product), start, end, now)
            .unwrap()
            .remove(0)
            .unwrap();
        days.days
            .iter()
            .map(|(_, r)| r.as_ref().unwrap()[0].quantity.clone())
            .collect::<Vec<_>>()
    };
    let (calls0, days0) = plugin.evaluation_counts();

    let first = evaluate();
    assert_eq!(
        plugin.evaluation_counts(),
        (calls0 + 1, days0 + 30),
        "one call for all 30 days"
    );
    assert!(first.iter().all(|q| q == "1"));

    evaluate();
    assert_eq!(
        plugin.evaluation_counts(),
        (calls0 + 1, days0 + 30),
        "cached: no plugin call"
    );

    // A back-dated session on 10 November: one call, one day.
    store
        .ingest(&session(
            "late",
            "cad",
            "bob",
            "2026-11-10T09:30:00Z",
            Some("2026-11-10T09:45:00Z"),
        ))
        .unwrap();
    let after = evaluate();
    assert_eq!(
        plugin.evaluation_counts(),
        (calls0 + 2, days0 + 31),
        "only 10 November is recomputed"
    );
    assert_eq!(after[9], "2");
    assert!(after.iter().enumerate().all(|(i, q)| i == 9 || q == "1"));

    // Replaying the same fact dirties nothing.
    store
        .ingest(&session(
            "late",
            "cad",
            "bob",
            "2026-11-10T09:30:00Z",
            Some("2026-11-10T09:45:00Z"),
        ))
        .unwrap();
    evaluate();
    assert_eq!(plugin.evaluation_counts(), (calls0 + 2, days0 + 31));
}

/// A report read again after a batch takes the days the batch did not touch from the kept
/// report and recomputes only the touched ones; what it answers is what a service that never
/// saw the first report answers.
#[test]
fn a_report_after_a_batch_recounts_only_touched_days_and_equals_a_fresh_one() {
    let store = Arc::new(Store::temporary().unwrap());
    let runtime = runtime(test_limits());
    let plugin = runtime
        .resolve("concurrent", &semver::VersionReq::STAR)
        .unwrap();
    let server = TestServer::start(store.clone(), runtime.clone());
    for id in ["cad", "cam"] {
        server.put(
            &format!("/api/v1/products/{id}"),
            &product(id, "concurrent@^1", json!({ "license_type": id })),
        );
    }
    let lines: Vec<String> = (1..=30)
        .flat_map(|d| {
            let day = format!("2026-11-{d:02}");
            ["cad", "cam"].map(|lt| {
                session(
                    &format!("{lt}-{d}"),
                    lt,
                    "ann",
                    &format!("{day}T09:00:00Z"),
                    Some(&format!("{day}T10:00:00Z")),
                )
            })
        })
        .collect();
    assert_eq!(server.post("/api/v1/facts", &lines.join("\n")).0, 200);
    let path = "/products?startDate=2026-11-01&endDate=2026-11-30";
    let quantity = |body: &serde_json::Value, id: &str| {
        body.as_array()
            .unwrap()
            .iter()
            .find(|row| row["id"] == id)
            .map(|row| row["metricQuantity"].clone())
    };
    let (status, first) = server.get(path);
    assert_eq!(status, 200, "{first}");
    assert_eq!(quantity(&first, "cad"), Some(json!(1)), "{first}");
    let counts = plugin.evaluation_counts();
    let reads = store.cached_day_reads();

    // Two late sessions overlapping cad's on 10 November.
    let late = [
        session(
            "late-1",
            "cad",
            "bob",
            "2026-11-10T09:15:00Z",
            Some("2026-11-10T09:45:00Z"),
        ),
        session(
            "late-2",
            "cad",
            "cy",
            "2026-11-10T09:20:00Z",
            Some("2026-11-10T09:50:00Z"),
        ),
    ];
    assert_eq!(server.post("/api/v1/facts", &late.join("\n")).0, 200);
    let (status, second) = server.get(path);
    assert_eq!(status, 200, "{second}");
    assert_eq!(quantity(&second, "cad"), Some(json!(3)), "{second}");
    assert_eq!(quantity(&second, "cam"), Some(json!(1)), "{second}");
    let (calls, days) = plugin.evaluation_counts();
    assert_eq!(days, counts.1 + 2, "the one touched day of each product");
    // The two products' days may go to two calls when the machine has two cores.
    assert!(
        (1..=2).contains(&(calls - counts.0)),
        "one call per worker at most: {} calls",
        calls - counts.0
    );
    assert!(
        store.cached_day_reads() - reads <= 2,
        "the 58 untouched days came from the kept report, not the cache: {} reads",
        store.cached_day_reads() - reads
    );

    let fresh = TestServer::start(store, runtime);
    assert_eq!(
        fresh.get(path).1,
        second,
        "a fresh service answers the same"
    );
}
