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
    let r = server
        .request(Method::PUT, path)
        .bearer_auth(token)
        .body(body)
        .send()
        .expect("PUT");
    (r.status().as_u16(), r.json().unwrap_or_default())
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
    let wasm = std::fs::read(PANIC).unwrap();
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&wasm)));
    let before = loaded(&server);
    assert!(!before.iter().any(|(n, _, _)| n == "panic"));

    // Refused, and nothing changes: bytes that are no component, a name or version the plugin
    // does not describe itself with, a version that is not semver.
    let (status, problem) = upload(
        &server,
        &operator,
        "/api/v1/plugins/panic/1.0.0",
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
        detail.contains("panic@1.0.0") && detail.contains("pvu@1.0.0"),
        "names both: {problem}"
    );
    let (status, problem) = upload(
        &server,
        &operator,
        "/api/v1/plugins/panic/1.0",
        wasm.clone(),
    );
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["parameter"], "version");
    assert_eq!(
        loaded(&server),
        before,
        "a refused upload changed the plugins"
    );

    // Accepted: listed with its digest and metrics.
    let (status, answer) = upload(
        &server,
        &operator,
        "/api/v1/plugins/panic/1.0.0",
        wasm.clone(),
    );
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["digest"], digest);
    assert!(loaded(&server).contains(&("panic".into(), "1.0.0".into(), digest.clone())));

    // A product bound to it evaluates with it (and fails with the plugin's panic, alone).
    assert_eq!(
        server
            .put(
                "/api/v1/products/boom",
                &product("boom", "panic@^1", json!({}))
            )
            .0,
        200
    );
    let (status, problem) =
        server.get("/api/v1/usage?product=boom&start=2026-11-01&end=2026-11-02");
    assert_eq!(status, 502, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("panic@1.0.0"),
        "{problem}"
    );

    // The trail: who uploaded what digest, and the product stored after it.
    let (status, trail) = server.get("/api/v1/audit");
    assert_eq!(status, 200, "{trail}");
    let entries = trail["entries"].as_array().unwrap();
    let upload_entry = entries
        .iter()
        .find(|e| e["action"] == "plugin.upload")
        .expect("the upload is audited");
    assert_eq!(upload_entry["subject"], "panic@1.0.0");
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
    let evaluator = Evaluator {
        store,
        runtime: runtime(test_limits()),
    };
    assert!(
        evaluator
            .runtime
            .resolve("panic", &semver::VersionReq::STAR)
            .is_none()
    );
    assert_eq!(restore(&evaluator).unwrap(), 1);
    let again = evaluator
        .runtime
        .resolve("panic", &semver::VersionReq::STAR)
        .expect("restored");
    assert_eq!(again.digest(), digest);
}
