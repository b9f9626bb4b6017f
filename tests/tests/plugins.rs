//! Uploading plugins to a running service (issue 6, first part): validated before anything
//! changes, stored so a restart loads them again, and every change is on the audit trail.

use std::sync::Arc;

use licmetric::api::plugins::restore;
use licmetric::eval::Evaluator;
use licmetric::store::Store;
use licmetric_tests::*;
use reqwest::Method;
use serde_json::json;
use sha2::Digest;

fn upload(server: &TestServer, token: &str, path: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
    server.send_bytes(Method::PUT, path, token, body)
}

fn loaded(server: &TestServer) -> Vec<(String, String, String)> {
    let (status, list) = server.get("/api/v1/plugins");
    assert_eq!(status, 200, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["version"].as_str().unwrap().to_string(),
                p["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn an_upload_is_validated_stored_activated_and_audited() {
    let store = Arc::new(Store::temporary().unwrap());
    let server = TestServer::start(store.clone(), runtime(test_limits()));
    let operator = server.token(Role::Operator, None);
    let wasm = std::fs::read(FIXED).unwrap();
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&wasm)));
    let before = loaded(&server);
    assert!(!before.iter().any(|(n, _, _)| n == "fixed"));

    // Refused, and nothing changes: bytes that are no component, a name or version the plugin
    // does not describe itself with, a version that is not semver.
    let (status, problem) = upload(
        &server,
        &operator,
        "/api/v1/plugins/fixed/1.0.0",
        b"not wasm".to_vec(),
    );
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("does not compile"),
        "{problem}"
    );
    let (status, problem) = upload(
        &server,
        &operator,
        "/api/v1/plugins/pvu/1.0.0",
        wasm.clone(),
    );
    assert_eq!(status, 400, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("fixed@1.0.0") && detail.contains("pvu@1.0.0"),
        "names both: {problem}"
    );
    let (status, problem) = upload(
        &server,
        &operator,
        "/api/v1/plugins/fixed/1.0",
        wasm.clone(),
    );
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["parameter"], "version");
    assert_eq!(
        loaded(&server),
        before,
        "a refused upload changed the plugins"
    );

    // Accepted (its example passes its self-test): listed with its digest and metrics.
    let (status, answer) = upload(
        &server,
        &operator,
        "/api/v1/plugins/fixed/1.0.0",
        wasm.clone(),
    );
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["digest"], digest);
    assert!(loaded(&server).contains(&("fixed".into(), "1.0.0".into(), digest.clone())));

    // A product bound to it evaluates with it.
    assert_eq!(
        server
            .put(
                "/api/v1/products/widgets",
                &product("widgets", "fixed@^1", json!({"units": 5}))
            )
            .0,
        200
    );
    let (status, usage) =
        server.get("/api/v1/usage?product=widgets&start=2026-11-01&end=2026-11-02");
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["quantity"], "5", "{usage}");
    assert_eq!(usage["plugin"], "fixed@1.0.0", "{usage}");

    // The trail: who uploaded what digest, and the product stored after it.
    let (status, trail) = server.get("/api/v1/audit");
    assert_eq!(status, 200, "{trail}");
    let entries = trail["entries"].as_array().unwrap();
    let upload_entry = entries
        .iter()
        .find(|e| e["action"] == "plugin.upload")
        .expect("the upload is audited");
    assert_eq!(upload_entry["subject"], "fixed@1.0.0");
    assert_eq!(upload_entry["digest"], digest);
    let operator_id = operator.split('_').nth(1).unwrap();
    assert_eq!(upload_entry["who"], format!("token:{operator_id}"));
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["plugin.upload", "product.put"],
        "refusals change nothing"
    );
    let (_, later) = server.get(&format!("/api/v1/audit?after={}", upload_entry["seq"]));
    assert_eq!(later["entries"].as_array().unwrap().len(), 1);
    // Readers do not read the trail.
    let reader = server.token(Role::Reader, None);
    assert_eq!(server.get_as(&reader, "/api/v1/audit").0, 403);
    drop(server);

    // A restart loads the stored plugin again.
    let evaluator = Evaluator::new(store, runtime(test_limits()));
    assert!(
        evaluator
            .runtime
            .resolve("fixed", &semver::VersionReq::STAR)
            .is_none()
    );
    assert_eq!(restore(&evaluator).unwrap(), 1);
    let again = evaluator
        .runtime
        .resolve("fixed", &semver::VersionReq::STAR)
        .expect("restored");
    assert_eq!(again.digest(), digest);
}

/// Validation before activation (issue 6 §3): a plugin must evaluate its own bundled example
/// within the sandbox limits, and one built against another WIT major version is refused
/// naming both versions. A refused upload stores nothing and changes no plugin.
#[test]
fn uploads_failing_their_self_test_or_of_another_wit_major_are_refused() {
    let store = Arc::new(Store::temporary().unwrap());
    let server = TestServer::start(store.clone(), runtime(test_limits()));
    let operator = server.token(Role::Operator, None);
    let before = loaded(&server);
    let refused = |name: &str, path: &str| {
        let (status, problem) = upload(
            &server,
            &operator,
            &format!("/api/v1/plugins/{name}/1.0.0"),
            std::fs::read(path).unwrap(),
        );
        assert_eq!(status, 400, "{name}: {problem}");
        assert_eq!(problem["type"], "urn:licmetric:problem:invalid-plugin");
        problem
    };

    // Every evaluation panics: the example fails, naming the plugin and the panic.
    let problem = refused("panic", PANIC);
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("panic@1.0.0 failed its self-test on its example \"panic: one product")
            && detail.contains("deliberate test panic for 1 products"),
        "{problem}"
    );
    let mismatches = problem["mismatches"].as_array().unwrap();
    assert_eq!(mismatches.len(), 1, "{problem}");
    assert!(
        mismatches[0]
            .as_str()
            .unwrap()
            .starts_with("product boom: expected quantity 0, got error: plugin panic@1.0.0 failed"),
        "{problem}"
    );

    // Spins forever: stopped by the CPU budget of the runtime's limits (2 s here).
    let problem = refused("spin-forever", SPIN_FOREVER);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("plugin spin-forever@1.0.0 failed: exceeded its CPU budget of 2000 ms"),
        "{problem}"
    );

    // No example at all.
    let problem = refused("memory-bomb", MEMORY_BOMB);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("memory-bomb@1.0.0 bundles no example: add licmetric_sdk::bundle_example!"),
        "{problem}"
    );

    // Built against licmetric:plugin@2.0.0: refused before linking, naming both versions.
    let problem = refused("wit-v2", WIT_V2);
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("licmetric:plugin@2.0.0")
            && detail.contains(&format!(
                "licmetric:plugin@{}",
                licmetric::runtime::wit::API_VERSION
            ))
            && detail.contains("major versions differ"),
        "{problem}"
    );

    assert_eq!(
        loaded(&server),
        before,
        "a refused upload changed the plugins"
    );
    assert!(store.stored_plugins().unwrap().is_empty());
    let (_, trail) = server.get("/api/v1/audit");
    assert_eq!(trail["entries"], json!([]), "refusals are not changes");
}

#[test]
fn rule_data_is_validated_by_its_plugin_versioned_and_changes_the_figures() {
    let server = TestServer::start(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
    );
    let operator = server.token(Role::Operator, None);
    // A server with no PVU rate of its own and a model no table row names: the table's
    // default rate applies. 4 cores × default 120 = 480 PVU.
    let facts = [
        fact("server", "p-1", json!({"cores": 4, "model": "X-1"})),
        fact(
            "installation",
            "p-1/db2",
            json!({"product": "db2", "on": "p-1"}),
        ),
    ]
    .join("\n");
    assert_eq!(server.post("/api/v1/facts", &facts).0, 200);
    assert_eq!(
        server
            .put("/api/v1/products/db2", &product("db2", "pvu@^1", json!({})))
            .0,
        200
    );
    let usage = "/api/v1/usage?product=db2&start=2026-11-02&end=2026-11-03";
    let (status, before) = server.get(usage);
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["quantity"], "480", "{before}");

    let (_, config) = server.get("/api/v1/plugins/pvu/config");
    assert_eq!(config["source"], "default");
    assert_eq!(config["version"], "ibm-pvu-2026-01-09");

    let put = |body: &str| {
        let r = server
            .request(Method::PUT, "/api/v1/plugins/pvu/config")
            .bearer_auth(&operator)
            .body(body.to_string())
            .send()
            .unwrap();
        (
            r.status().as_u16(),
            r.json::<serde_json::Value>().unwrap_or_default(),
        )
    };
    // Not JSON; refused by the plugin (naming the pointer); a changed document under the
    // version in force. None of them changes anything.
    let (status, problem) = put("{");
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("body")),
        "{problem}"
    );
    let (status, problem) = put(
        r#"{"version": "t2", "default_pvu_per_core": 0, "cloud_pvu_per_vcpu": 70, "overrides": {}, "table": []}"#,
    );
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["code"], "rule_data_invalid");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("/default_pvu_per_core"),
        "{problem}"
    );
    let (status, problem) = put(
        r#"{"version": "ibm-pvu-2026-01-09", "default_pvu_per_core": 100, "cloud_pvu_per_vcpu": 70, "overrides": {}, "table": []}"#,
    );
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("/version")),
        "{problem}"
    );
    assert_eq!(server.get(usage).1["quantity"], "480");

    // A new table with a default of 100: 4 × 100 = 400 PVU, at once, under its version.
    let (status, answer) = put(
        r#"{"version": "site-2026-11", "default_pvu_per_core": 100, "cloud_pvu_per_vcpu": 70, "overrides": {}, "table": []}"#,
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["validated_by"], "pvu@1.0.0");
    let (_, after) = server.get(usage);
    assert_eq!(after["quantity"], "400", "{after}");
    assert_eq!(after["rule_data_version"], "site-2026-11");

    let (_, trail) = server.get("/api/v1/audit");
    let last = trail["entries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "rule_data.put");
    assert_eq!(last["subject"], "pvu rule data site-2026-11");
    assert!(last["digest"].as_str().unwrap().starts_with("sha256:"));
}

/// A plugin built against `licmetric:plugin@1.0.0` (tests/plugins/wit-v1-0, wit-bindgen on
/// the frozen wit/v1.0, no SDK) uploads after its self-test, counts, and explains its peak:
/// the host derives the numbers and the details from its one `evaluate`.
#[test]
fn a_plugin_of_the_1_0_contract_uploads_counts_and_explains() {
    let store = Arc::new(Store::temporary().unwrap());
    let server = TestServer::start(store.clone(), runtime(test_limits()));
    let operator = server.token(Role::Operator, None);
    let wasm = std::fs::read(WIT_V1_0).unwrap();
    let (status, answer) = upload(&server, &operator, "/api/v1/plugins/installed/1.0.0", wasm);
    assert_eq!(status, 201, "{answer}");

    let plugin = licmetric::cli::plugin::prepare_file(std::path::Path::new(WIT_V1_0)).unwrap();
    assert_eq!(plugin.contract(), "1.0.0");
    assert_eq!(
        licmetric::cli::plugin::inspect_json(&plugin)["wit"],
        "licmetric:plugin@1.0.0"
    );

    let facts = [
        r#"{"kind":"installation","key":"vm-1/db","at":"2026-11-02T08:00:00Z","attrs":{"product":"db","on":"vm"}}"#,
        r#"{"kind":"installation","key":"vm-2/db","at":"2026-11-02T10:00:00Z","attrs":{"product":"db","on":"vm"}}"#,
        r#"{"kind":"installation","key":"vm-3/db","at":"2026-11-03T12:00:00Z","attrs":{"product":"db","on":"vm"}}"#,
        r#"{"kind":"installation","key":"vm-9/db-all","at":"2026-11-02T12:00:00Z","attrs":{"product":"db-all","on":"vm"}}"#,
        r#"{"kind":"installation","key":"vm-8/db-all","at":"2026-11-03T12:00:00Z","attrs":{"product":"db-all","on":"vm"}}"#,
        r#"{"kind":"installation","key":"vm-9/db-all","at":"2026-11-03T18:00:00Z","retired":true}"#,
    ];
    let (status, body, _) = server.post("/api/v1/facts", &facts.join("\n"));
    assert_eq!(status, 200, "{body}");
    for (id, parameters) in [("db", json!({})), ("db-all", json!({"distinct": true}))] {
        let (status, body, _) = server.put(
            &format!("/api/v1/products/{id}"),
            &product(id, "installed@^1", parameters),
        );
        assert_eq!(status, 200, "{body}");
    }

    // db: 2 on 11-02 (from 10:00), 3 on 11-03 (from 12:00): the peak is 11-03's.
    let (status, usage) = server.get("/api/v1/usage?product=db&start=2026-11-02&end=2026-11-04");
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["quantity"], "3", "{usage}");
    assert_eq!(usage["peak_date"], "2026-11-03", "{usage}");
    assert_eq!(usage["plugin"], "installed@1.0.0");
    assert_eq!(
        usage["explanation"],
        json!(["db: 3 installations"]),
        "{usage}"
    );
    let keys: Vec<&str> = usage["contributors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["vm-1/db", "vm-2/db", "vm-3/db"], "{usage}");

    // db-all counts distinct installations over the period: vm-9 and vm-8, each day 1 or 2.
    let (status, usage) =
        server.get("/api/v1/usage?product=db-all&start=2026-11-02&end=2026-11-04");
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["quantity"], "2", "{usage}");
    assert_eq!(
        usage["metric_code_name"], "INSTALLATIONS_DISTINCT",
        "{usage}"
    );
    let daily: Vec<&str> = usage["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["quantity"].as_str().unwrap())
        .collect();
    assert_eq!(daily, ["1", "2"], "{usage}");
    // One period of 11-02 alone counts only vm-9.
    let (_, usage) = server.get("/api/v1/usage?product=db-all&start=2026-11-02&end=2026-11-03");
    assert_eq!(usage["quantity"], "1", "{usage}");
}
