//! Ingest: idempotent, validated whole before anything is written, durable across a restart,
//! consecutive identical observations merged into one interval.

use std::sync::Arc;

use licmetric::runtime::STANDARD_PLUGINS;
use licmetric::store::Store;
use licmetric::store::timeline::{Interner, Window};
use licmetric_sdk::facts::{request, standard};
use licmetric_sdk::types::Selection;
use licmetric_tests::*;
use serde_json::json;

fn batch() -> String {
    [
        session(
            "s1",
            "cad",
            "ann",
            "2026-11-02T09:00:00Z",
            Some("2026-11-02T11:00:00Z"),
        ),
        session(
            "s2",
            "cad",
            "bob",
            "2026-11-02T10:00:00Z",
            Some("2026-11-02T12:00:00Z"),
        ),
        session(
            "s3",
            "cad",
            "cy",
            "2026-11-03T10:00:00Z",
            Some("2026-11-03T12:00:00Z"),
        ),
    ]
    .join("\n")
}

#[test]
fn the_same_batch_twice_changes_nothing() {
    let server = TestServer::start(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
    );
    server.put(
        "/api/v1/products/cad",
        &product("cad", "concurrent@^1", json!({})),
    );
    let (status, _, first) = server.post("/api/v1/facts", &batch());
    assert_eq!(status, 200);
    assert_eq!(
        (first["stored"].as_u64(), first["duplicates"].as_u64()),
        (Some(3), Some(0))
    );
    let usage = server
        .get("/api/v1/usage?product=cad&start=2026-11-01&end=2026-11-05")
        .1;
    let (status, _, second) = server.post("/api/v1/facts", &batch());
    assert_eq!(status, 200);
    assert_eq!(
        (second["stored"].as_u64(), second["duplicates"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(
        second["sequence"], first["sequence"],
        "nothing new was committed"
    );
    let again = server
        .get("/api/v1/usage?product=cad&start=2026-11-01&end=2026-11-05")
        .1;
    assert_eq!(usage["daily"], again["daily"]);
    assert_eq!(again["quantity"], "2");
}

#[test]
fn one_bad_line_rejects_the_whole_batch_and_names_it() {
    let server = TestServer::start(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
    );
    server.put(
        "/api/v1/products/cad",
        &product("cad", "concurrent@^1", json!({})),
    );
    assert_eq!(server.post("/api/v1/facts", &batch()).0, 200);
    let before = server.get("/api/v1/health").1["fact_sequence"].clone();

    let bad = format!(
        "{}\n{}\n{}",
        session("s4", "cad", "dan", "2026-11-03T10:00:00Z", None),
        session("s5", "cad", "eve", "2026-11-03T10:00:00Z", None),
        r#"{"kind":"session","key":"s6","at":"2026-11-03T10:00:00Z","attrs":{"license_type":"cad","user":"fay","start":"not a time"}}"#
    );
    let (status, content_type, problem) = server.post("/api/v1/facts", &bad);
    assert_eq!(status, 400);
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(problem["line"], 3);
    assert_eq!(problem["field"], "attrs.start");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("line 3: attrs.start"),
        "{problem}"
    );
    assert_eq!(
        server.get("/api/v1/health").1["fact_sequence"],
        before,
        "nothing was stored"
    );
    let usage = server
        .get("/api/v1/usage?product=cad&start=2026-11-03&end=2026-11-04")
        .1;
    assert_eq!(
        usage["quantity"], "1",
        "dan and eve were not stored: {usage}"
    );

    // A reused id with other content is refused too.
    let reused = r#"{"kind":"vm","key":"v1","id":"fact-1","at":"2026-11-01T00:00:00Z","attrs":{"vcpus":2}}
{"kind":"vm","key":"v1","id":"fact-1","at":"2026-11-01T00:00:00Z","attrs":{"vcpus":4}}"#;
    let (status, _, problem) = server.post("/api/v1/facts", reused);
    assert_eq!(
        (status, problem["line"].as_u64(), problem["field"].as_str()),
        (400, Some(2), Some("id"))
    );
}

#[test]
fn the_cli_exits_2_on_a_bad_file_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("facts.ndjson");
    std::fs::write(&file, format!("{}\n{{\"kind\":\"vm\",\"key\":\"v\",\"at\":\"2026-11-01T00:00:00Z\",\"attrs\":{{\"vcpus\":-1}}}}\n", batch())).unwrap();
    let data = dir.path().join("data");
    let code = licmetric::cli::run_args([
        "licmetric",
        "ingest",
        file.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert_eq!(Store::open(&data).unwrap().committed_sequence().unwrap(), 0);
}

#[test]
fn facts_and_compiled_plugins_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("compiled");
    let first_figures;
    {
        let store = Arc::new(Store::open(&dir.path().join("data")).unwrap());
        let runtime =
            licmetric::runtime::Runtime::with_standard_plugins(cache.clone(), test_limits())
                .unwrap();
        assert_eq!(
            runtime.compile_counts().0,
            STANDARD_PLUGINS.len() as u64,
            "a new cache compiles each standard plugin once"
        );
        let server = TestServer::start(store, runtime);
        server.put(
            "/api/v1/products/cad",
            &product("cad", "concurrent@^1", json!({})),
        );
        assert_eq!(server.post("/api/v1/facts", &batch()).0, 200);
        first_figures = server
            .get("/api/v1/usage?product=cad&start=2026-11-01&end=2026-11-05")
            .1;
    }
    let store = Arc::new(Store::open(&dir.path().join("data")).unwrap());
    let runtime = licmetric::runtime::Runtime::with_standard_plugins(cache, test_limits()).unwrap();
    assert_eq!(
        runtime.compile_counts(),
        (0, STANDARD_PLUGINS.len() as u64),
        "after a restart the plugins come from the disk cache"
    );
    let server = TestServer::start(store, runtime);
    let figures = server
        .get("/api/v1/usage?product=cad&start=2026-11-01&end=2026-11-05")
        .1;
    assert_eq!(figures["daily"], first_figures["daily"]);
    assert_eq!(figures["quantity"], "2");
}

#[test]
fn identical_consecutive_observations_form_one_interval() {
    let store = Store::temporary().unwrap();
    let mut lines = Vec::new();
    for half_hour in 0..48 {
        let at = chrono::DateTime::from_timestamp(1_793_491_200 + half_hour * 1800, 0)
            .unwrap()
            .to_rfc3339();
        lines.push(
            json!({"kind":"vm","key":"vc1/vm-42","at":at,"attrs":{"server":"esx-7","vcpus":8}})
                .to_string(),
        );
    }
    // A back-dated change in the middle splits it, and the state returns afterwards.
    lines.push(json!({"kind":"vm","key":"vc1/vm-42","at":"2026-11-01T12:10:00Z","attrs":{"server":"esx-7","vcpus":16}}).to_string());
    store.ingest(&lines.join("\n")).unwrap();
    let req = request("vm", standard::VM, Selection::States);
    let window = Window {
        start: 0,
        end: i64::MAX,
    };
    let t = store
        .timelines(&[req], window, &mut Interner::default())
        .unwrap()
        .remove(0);
    let vcpus = t.columns[1].clone();
    assert_eq!(
        vcpus,
        vec![8, 16, 8],
        "48 identical scans are one state, split by the back-dated change"
    );
    assert_eq!(t.to[0], t.from[1]);
}

#[test]
fn values_a_fact_cannot_hold_are_refused_naming_line_and_attribute() {
    let server = TestServer::start(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
    );
    let good = session("s1", "cad", "ann", "2026-11-03T10:00:00Z", None);
    let refused = |line: &str| {
        let (status, _, problem) = server.post("/api/v1/facts", &format!("{good}\n{line}"));
        assert_eq!(status, 400, "{line}: {problem}");
        assert_eq!(problem["line"], 2, "{problem}");
        (
            problem["field"].as_str().unwrap().to_string(),
            problem["reason"].as_str().unwrap().to_string(),
        )
    };
    // An integer above i64::MAX was stored and then read as absent (a count of 1).
    let (field, reason) = refused(
        r#"{"kind":"session","key":"big","at":"2026-11-03T10:00:00Z","attrs":{"license_type":"cad","user":"bob","start":"2026-11-03T10:00:00Z","count":18446744073709551615}}"#,
    );
    assert_eq!(field, "attrs.count");
    assert!(reason.contains("18446744073709551615"), "{reason}");
    let (field, reason) = refused(
        r#"{"kind":"server","key":"h","at":"2026-11-03T10:00:00Z","attrs":{"cores":1234567890123456789012345678901}}"#,
    );
    assert_eq!(field, "attrs.cores");
    assert!(reason.contains("outside the integers"), "{reason}");
    // A decimal past the exact arithmetic's 30 digits.
    let (field, reason) = refused(
        r#"{"kind":"pool","key":"p","at":"2026-11-03T10:00:00Z","attrs":{"server":"h","cores":1234567890123456789012345678901.5}}"#,
    );
    assert_eq!(field, "attrs.cores");
    assert!(reason.contains("30 digits"), "{reason}");
    // A session that ends before it starts was stored and never counted.
    let (field, reason) = refused(
        r#"{"kind":"session","key":"back","at":"2026-11-03T10:00:00Z","attrs":{"license_type":"cad","user":"bob","start":"2026-11-03T10:00:00Z","end":"2026-11-03T09:00:00Z"}}"#,
    );
    assert_eq!(field, "attrs.end");
    assert!(reason.contains("precedes"), "{reason}");
    // A line over the per-line cap (1 MiB by default) is refused before it is parsed.
    let (field, reason) = refused(&format!(
        r#"{{"kind":"session","key":"long","at":"2026-11-03T10:00:00Z","attrs":{{"license_type":"cad","user":"bob","start":"2026-11-03T10:00:00Z","host":"{}"}}}}"#,
        "h".repeat(1 << 20)
    ));
    assert_eq!(field, "(line)");
    assert!(reason.contains("limit"), "{reason}");
    // Bytes that are not UTF-8 name their line.
    let mut body = format!("{good}\n").into_bytes();
    body.extend_from_slice(b"{\"kind\":\"vm\",\"key\":\"v\xff\"}\n");
    let r = server
        .request(reqwest::Method::POST, "/api/v1/facts")
        .bearer_auth(&server.admin_token)
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let problem: serde_json::Value = r.json().unwrap();
    assert_eq!(problem["line"], 2, "{problem}");
    assert!(
        problem["reason"].as_str().unwrap().contains("UTF-8"),
        "{problem}"
    );
    assert_eq!(
        server.get("/api/v1/health").1["fact_sequence"],
        0,
        "nothing of the refused batches was stored"
    );
}

#[test]
fn a_client_id_cannot_squat_the_content_id_of_another_fact() {
    let server = TestServer::start(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
    );
    let later = r#"{"kind":"vm","key":"v1","at":"2026-11-01T00:00:00Z","attrs":{"vcpus":4}}"#;
    let id = licmetric::store::fact::parse(later).unwrap().id;
    assert!(id.starts_with("sha256:"), "{id}");
    // Other content under the id the service computes for `later` is refused...
    let squatter = format!(
        r#"{{"kind":"vm","key":"v9","id":"{id}","at":"2026-11-01T00:00:00Z","attrs":{{"vcpus":2}}}}"#
    );
    let (status, _, problem) = server.post("/api/v1/facts", &squatter);
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("id")),
        "{problem}"
    );
    // ...so the collector that sends `later` is not refused for good.
    assert_eq!(server.post("/api/v1/facts", later).0, 200);
    // A fact sent again with its own content id (as read back) is the same fact.
    let again = format!(
        r#"{{"kind":"vm","key":"v1","id":"{id}","at":"2026-11-01T00:00:00Z","attrs":{{"vcpus":4}}}}"#
    );
    let (status, _, report) = server.post("/api/v1/facts", &again);
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        server.get("/api/v1/health").1["fact_sequence"],
        1,
        "{report}"
    );
}

#[test]
fn the_cli_streams_a_file_in_batches_and_stops_at_the_first_refused_one() {
    let dir = tempfile::tempdir().unwrap();
    let vm = |k: usize| {
        format!(
            r#"{{"kind":"vm","key":"v{k}","at":"2026-11-01T00:00:00Z","attrs":{{"vcpus":{k}}}}}"#
        )
    };
    let run = |lines: &[String], data: &std::path::Path| {
        let file = dir.path().join("facts.ndjson");
        std::fs::write(&file, lines.join("\n")).unwrap();
        licmetric::cli::run_args([
            "licmetric",
            "ingest",
            file.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--batch-lines",
            "2",
        ])
    };
    // Five facts in three batches, the last one short and without a final newline.
    let good: Vec<String> = (1..=5).map(vm).collect();
    let data = dir.path().join("good");
    assert_eq!(run(&good, &data), 0);
    assert_eq!(Store::open(&data).unwrap().observation_count(), 5);

    // Line 4 is bad: the batch of lines 1–2 stays stored, lines 3–4 and after are not.
    let mut bad: Vec<String> = (1..=6).map(vm).collect();
    bad[3] = r#"{"kind":"vm","key":"v4","at":"soon"}"#.into();
    let data = dir.path().join("bad");
    assert_eq!(run(&bad, &data), 2);
    assert_eq!(Store::open(&data).unwrap().observation_count(), 2);
}
