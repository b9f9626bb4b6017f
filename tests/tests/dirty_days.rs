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
