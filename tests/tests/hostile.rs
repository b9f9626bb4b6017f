//! A plugin that loops, allocates without bound, panics or floods its output fails its own
//! evaluation with an error naming it; the service keeps answering other requests.

use std::sync::Arc;

use licmetric::store::Store;
use licmetric_tests::*;
use serde_json::json;

#[test]
fn hostile_plugins_fail_alone_and_the_service_keeps_serving() {
    let runtime = runtime(test_limits());
    for path in [SPIN_FOREVER, MEMORY_BOMB, PANIC, HUGE_OUTPUT] {
        runtime
            .load_file(std::path::Path::new(path))
            .expect("hostile plugins load: they misbehave only when evaluating");
    }
    let server = TestServer::start(Arc::new(Store::temporary().unwrap()), runtime);
    let facts = [
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
    ]
    .join("\n");
    assert_eq!(server.post("/api/v1/facts", &facts).0, 200);
    for (id, metric) in [
        ("cad", "concurrent@^1"),
        ("loop", "spin-forever@1"),
        ("bomb", "memory-bomb@1"),
        ("panics", "panic@1"),
        ("flood", "huge-output@1"),
    ] {
        assert_eq!(
            server
                .put(
                    &format!("/api/v1/products/{id}"),
                    &product(id, metric, json!({}))
                )
                .0,
            200
        );
    }
    let usage = |id: &str| {
        server.get(&format!(
            "/api/v1/usage?product={id}&start=2026-11-01&end=2026-11-04"
        ))
    };

    let expectations = [
        ("loop", "spin-forever@1.0.0", "timeout", "CPU budget"),
        ("bomb", "memory-bomb@1.0.0", "memory", "memory cap"),
        (
            "panics",
            "panic@1.0.0",
            "panic",
            "deliberate test panic for 1 products",
        ),
        ("flood", "huge-output@1.0.0", "output", "output cap"),
    ];
    for (id, plugin, kind, words) in expectations {
        let (status, body) = usage(id);
        assert_eq!(status, 502, "{id}: {body}");
        assert_eq!(body["error"]["plugin"], plugin, "{id}: {body}");
        assert_eq!(body["error"]["kind"], kind, "{id}: {body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains(plugin) && detail.contains(words),
            "{id}: {detail}"
        );
        // Between hostile calls, the real metric still answers.
        let (status, body) = usage("cad");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["quantity"], "2");
    }
    assert_eq!(server.get("/api/v1/health").0, 200);
}

/// Issue 15.4: the host checks every result of every plugin before it becomes a figure. A
/// negative quantity, two results for one partition, a peak outside its day, a quantity the
/// host will not hold, a product or a day the plugin was not asked for: each is a failure
/// naming the plugin and the product, never a number. A product that asks for no lie counts.
#[test]
fn a_plugin_that_lies_in_its_answer_fails_and_serves_no_figure() {
    let runtime = runtime(test_limits());
    runtime
        .load_file(std::path::Path::new(LIAR))
        .expect("the liar's example passes: it lies only when a product asks");
    let server = TestServer::start(Arc::new(Store::temporary().unwrap()), runtime);
    let lies = [
        ("negative", "is negative"),
        ("twice", "two results for product twice"),
        ("peak-outside", "outside its day"),
        ("huge", "is above"),
        ("other-product", "product not-asked it was not asked for"),
        ("other-day", "1999-01-01, a day it was not asked for"),
    ];
    for (id, _) in lies.iter().chain([&("honest", "")]) {
        let parameters = if *id == "honest" {
            json!({})
        } else {
            json!({ "lie": id })
        };
        let record = product(id, "liar@^1", parameters);
        let (status, _, body) = server.put(&format!("/api/v1/products/{id}"), &record);
        assert_eq!(status, 200, "{id}: {body:?}");
    }
    let usage = |id: &str| {
        server.get(&format!(
            "/api/v1/usage?product={id}&start=2026-11-02&end=2026-11-04"
        ))
    };
    for (id, words) in lies {
        let (status, body) = usage(id);
        assert_eq!(status, 502, "{id}: {body}");
        assert_eq!(body["error"]["plugin"], "liar@1.0.0", "{id}: {body}");
        assert_eq!(body["error"]["kind"], "malformed_result", "{id}: {body}");
        assert!(
            body.get("quantity").is_none(),
            "{id} served a figure: {body}"
        );
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("liar@1.0.0") && detail.contains(words),
            "{id}: {detail}"
        );
        if id != "other-product" {
            assert!(detail.contains(&format!("product {id}")), "{id}: {detail}");
        }
        let (status, body) = usage("honest");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["quantity"], "7");
    }
}

/// Issue 15.3: two valid pod facts whose limits add past what exact arithmetic holds used to
/// give a wrapped, negative VPC quantity. Now the evaluation fails, naming the overflow.
#[test]
fn a_quantity_past_exact_arithmetic_fails_instead_of_wrapping() {
    let server = TestServer::start(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
    );
    let pod = |key: &str| {
        fact_at(
            "pod",
            key,
            "2026-11-01T00:00:00Z",
            json!({"cluster": "ocp", "node": "ocp/w1", "namespace": "ocp/apps", "product": "ace",
                   "cpu_limit_cores": "900000000000000000000000000000e8"}),
        )
    };
    let facts = [
        fact_at(
            "namespace",
            "ocp/apps",
            "2026-11-01T00:00:00Z",
            json!({"cluster": "ocp"}),
        ),
        fact_at(
            "node",
            "ocp/w1",
            "2026-11-01T00:00:00Z",
            json!({"cluster": "ocp", "capacity_cores": 4, "threads_per_core": 1}),
        ),
        pod("ocp/apps/p1"),
        pod("ocp/apps/p2"),
    ]
    .join("\n");
    let (status, body, _) = server.post("/api/v1/facts", &facts);
    assert_eq!(status, 200, "{body}");
    let record = product("ace", "vpc@^1", json!({}));
    assert_eq!(server.put("/api/v1/products/ace", &record).0, 200);
    let (status, body) = server.get("/api/v1/usage?product=ace&start=2026-11-02&end=2026-11-03");
    assert_ne!(status, 200, "served a figure: {body}");
    assert!(body.get("quantity").is_none(), "served a figure: {body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("cannot be held"), "{body}");
}

/// Issue 15.5: a failed evaluation is remembered for its inputs. A plugin that spins to its CPU
/// budget (2 s here) is not run again by the next read of the same period: that read answers
/// the same error at once, while the real metric keeps answering. A change of its inputs (here
/// the product's parameters) makes it run, and fail, again.
#[test]
fn a_failed_evaluation_is_remembered_until_its_inputs_change() {
    let runtime = runtime(test_limits());
    runtime
        .load_file(std::path::Path::new(SPIN_FOREVER))
        .expect("loads");
    let server = TestServer::start(Arc::new(Store::temporary().unwrap()), runtime);
    let session_fact = session(
        "s1",
        "cad",
        "ann",
        "2026-11-02T09:00:00Z",
        Some("2026-11-02T11:00:00Z"),
    );
    assert_eq!(server.post("/api/v1/facts", &session_fact).0, 200);
    for (id, metric) in [("cad", "concurrent@^1"), ("loop", "spin-forever@1")] {
        let record = product(id, metric, json!({}));
        assert_eq!(
            server.put(&format!("/api/v1/products/{id}"), &record).0,
            200
        );
    }
    let usage = |id: &str| {
        let began = std::time::Instant::now();
        let (status, body) = server.get(&format!(
            "/api/v1/usage?product={id}&start=2026-11-02&end=2026-11-03"
        ));
        (status, body, began.elapsed())
    };
    let (status, first, took) = usage("loop");
    assert_eq!(status, 502, "{first}");
    assert_eq!(first["error"]["kind"], "timeout", "{first}");
    assert!(
        took.as_secs_f64() >= 1.5,
        "the first read ran the plugin: {took:?}"
    );
    for _ in 0..3 {
        let (status, again, took) = usage("loop");
        assert_eq!(status, 502, "{again}");
        assert_eq!(again["error"], first["error"]);
        // Far below the 2 s budget: the plugin did not run again.
        assert!(
            took.as_secs_f64() < 1.0,
            "the failure was recomputed: {took:?}"
        );
        let (status, body, _) = usage("cad");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["quantity"], "1");
    }
    // The plugin reads no facts, so new facts are not among its inputs; new parameters are.
    let record = product("loop", "spin-forever@1", json!({"again": 1}));
    assert_eq!(server.put("/api/v1/products/loop", &record).0, 200);
    let (status, again, took) = usage("loop");
    assert_eq!(status, 502, "{again}");
    assert!(
        took.as_secs_f64() >= 1.5,
        "new parameters run it again: {took:?}"
    );
}

/// Issue 15.6: a plugin whose honest numbers carry megabytes a day (here a 2 MiB warning)
/// fails those days, named, once they pass the per-product-day cap, and the store keeps
/// nothing of them; a product within the cap is cached as before.
#[test]
fn a_day_over_the_stored_output_cap_fails_and_is_not_stored() {
    let runtime = runtime(licmetric::runtime::Limits {
        stored_day_bytes: 1 << 20,
        ..test_limits()
    });
    runtime
        .load_file(std::path::Path::new(LIAR))
        .expect("liar loads");
    let store = Arc::new(Store::temporary().unwrap());
    let server = TestServer::start(store.clone(), runtime);
    for (id, parameters) in [("flood", json!({ "lie": "flood" })), ("honest", json!({}))] {
        let (status, _, body) = server.put(
            &format!("/api/v1/products/{id}"),
            &product(id, "liar@^1", parameters),
        );
        assert_eq!(status, 200, "{id}: {body:?}");
    }
    let usage = |id: &str| {
        server.get(&format!(
            "/api/v1/usage?product={id}&start=2026-11-02&end=2026-11-04"
        ))
    };
    let before = store.cached_day_count();
    let (status, body) = usage("flood");
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["plugin"], "liar@1.0.0", "{body}");
    assert_eq!(body["error"]["kind"], "output", "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("product flood on 2026-11-0")
            && detail.contains("over the cap of 1048576 bytes per product-day"),
        "{detail}"
    );
    assert_eq!(store.cached_day_count(), before, "a flooded day was stored");

    let (status, body) = usage("honest");
    assert_eq!(
        (status, body["quantity"].as_str()),
        (200, Some("7")),
        "{body}"
    );
    assert_eq!(
        store.cached_day_count(),
        before + 2,
        "the honest days are cached"
    );
}
