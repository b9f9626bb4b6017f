//! Trying candidates before they are in force, and reproducing past figures (issue 6, parts 4
//! and 6): `POST /api/v1/plugins/{name}/{version}/dry-run` and `POST /api/v1/reevaluate`.
//!
//! The estate, priced by the standard pvu plugin at its default rate (no table row names the
//! models X-1 and X-2, and the servers carry no rate of their own):
//! - server p-1: 4 cores, from 2026-11-01; server p-2: 6 cores, from 2026-11-03;
//! - db2 is installed on p-1 (from 11-01) and on p-2 (from 11-03); mq on p-2 only; tivoli on p-1.
//!
//! With the default rate of 120 PVU per core:
//! - db2: 4 × 120 = 480 on 11-01 and 11-02, then (4 + 6) × 120 = 1200 from 11-03 → HWM 1200
//!   on 11-03;
//! - mq: 6 × 120 = 720 from 11-03 (nothing before) → HWM 720 on 11-03;
//! - tivoli: 4 × 120 = 480 every day → HWM 480 on 11-01.

use std::sync::Arc;

use licmetric::store::Store;
use licmetric_tests::*;
use reqwest::Method;
use serde_json::{Value, json};

fn estate(server: &TestServer) {
    let facts = [
        fact("server", "p-1", json!({"cores": 4, "model": "X-1"})),
        fact_at(
            "server",
            "p-2",
            "2026-11-03T00:00:00Z",
            json!({"cores": 6, "model": "X-2"}),
        ),
        fact(
            "installation",
            "p-1/db2",
            json!({"product": "db2", "on": "p-1"}),
        ),
        fact_at(
            "installation",
            "p-2/db2",
            "2026-11-03T00:00:00Z",
            json!({"product": "db2", "on": "p-2"}),
        ),
        fact_at(
            "installation",
            "p-2/mq",
            "2026-11-03T00:00:00Z",
            json!({"product": "mq", "on": "p-2"}),
        ),
        fact(
            "installation",
            "p-1/tivoli",
            json!({"product": "tivoli", "on": "p-1"}),
        ),
    ]
    .join("\n");
    let (status, _, answer) = server.post("/api/v1/facts", &facts);
    assert_eq!(status, 200, "{answer}");
    for (id, metric) in [
        ("db2", "pvu@^1"),
        ("mq", "pvu@^1"),
        // Stays on 1.0.x: a pvu@1.1.0 candidate does not apply to it.
        ("tivoli", "pvu@~1.0"),
        // No pvu 2 exists: fails now and under any 1.x candidate.
        ("legacy", "pvu@^2"),
    ] {
        let (status, _, answer) = server.put(
            &format!("/api/v1/products/{id}"),
            &product(id, metric, json!({})),
        );
        assert_eq!(status, 200, "{answer}");
    }
}

/// `POST path` with `token` and a raw body → (status, JSON body).
fn post_bytes(server: &TestServer, token: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    server.send_bytes(Method::POST, path, token, body)
}

fn row<'a>(answer: &'a Value, product: &str) -> &'a Value {
    answer["products"]
        .as_array()
        .expect("products")
        .iter()
        .find(|r| r["product"] == product)
        .unwrap_or_else(|| panic!("no row for {product} in {answer}"))
}

const DRY_RUN_PERIOD: &str = "start=2026-11-01&end=2026-11-05";
const USAGE_DB2: &str = "/api/v1/usage?product=db2&start=2026-11-01&end=2026-11-06";

fn audit_len(server: &TestServer) -> usize {
    let (status, trail) = server.get("/api/v1/audit");
    assert_eq!(status, 200, "{trail}");
    trail["entries"].as_array().unwrap().len()
}

#[test]
fn a_rule_data_dry_run_shows_current_and_candidate_side_by_side_and_changes_nothing() {
    let server = TestServer::start(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
    );
    estate(&server);
    let operator = server.token(Role::Operator, None);
    let (status, before) = server.get(USAGE_DB2);
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["quantity"], "1200", "{before}");
    let trail = audit_len(&server);

    // A table whose default rate is 100 PVU per core.
    let document = json!({
        "version": "site-2026-11", "default_pvu_per_core": 100, "cloud_pvu_per_vcpu": 70,
        "overrides": {}, "table": [],
    })
    .to_string();
    let path = format!("/api/v1/plugins/pvu/1.0.0/dry-run?{DRY_RUN_PERIOD}");
    let (status, answer) = post_bytes(&server, &operator, &path, document.clone().into_bytes());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["candidate"]["kind"], "rule_data", "{answer}");
    assert_eq!(answer["candidate"]["version"], "site-2026-11");
    assert_eq!(answer["candidate"]["validated_by"], "pvu@1.0.0");
    assert_eq!(answer["period"]["first_day"], "2026-11-01");
    assert_eq!(answer["period"]["last_day"], "2026-11-05");
    // Only the products bound to pvu, each once.
    assert_eq!(answer["products"].as_array().unwrap().len(), 4, "{answer}");

    // db2: 1200 now; (4 + 6) × 100 = 1000 with the candidate; 1000 − 1200 = −200.
    let db2 = row(&answer, "db2");
    assert_eq!(db2["affected"], true);
    assert_eq!(db2["current"]["quantity"], "1200", "{db2}");
    assert_eq!(db2["current"]["peak_date"], "2026-11-03");
    assert_eq!(db2["current"]["plugin"], "pvu@1.0.0");
    assert_eq!(db2["current"]["rule_data_version"], "ibm-pvu-2026-01-09");
    assert_eq!(db2["candidate"]["quantity"], "1000", "{db2}");
    assert_eq!(db2["candidate"]["peak_date"], "2026-11-03");
    assert_eq!(db2["candidate"]["rule_data_version"], "site-2026-11");
    assert_eq!(
        db2["candidate"]["plugin_digest"],
        db2["current"]["plugin_digest"]
    );
    assert_eq!(db2["difference"], "-200");
    // mq: 720 now; 6 × 100 = 600; −120.
    let mq = row(&answer, "mq");
    assert_eq!(
        (
            &mq["current"]["quantity"],
            &mq["candidate"]["quantity"],
            &mq["difference"]
        ),
        (&json!("720"), &json!("600"), &json!("-120")),
        "{mq}"
    );
    // tivoli: rule data is per plugin name, so 1.0.x gets it too: 480 → 4 × 100 = 400.
    let tivoli = row(&answer, "tivoli");
    assert_eq!(tivoli["affected"], true);
    assert_eq!(tivoli["difference"], "-80", "{tivoli}");
    // legacy resolves to no plugin, now or then: errors side by side, no difference.
    let legacy = row(&answer, "legacy");
    assert_eq!(legacy["affected"], false);
    assert_eq!(legacy["current"]["error"]["type"], "no_plugin", "{legacy}");
    assert_eq!(
        legacy["candidate"]["error"]["type"], "no_plugin",
        "{legacy}"
    );
    assert_eq!(legacy["difference"], Value::Null);

    // Nothing changed: the rule data in force, the figures served, the audit trail.
    let (_, config) = server.get("/api/v1/plugins/pvu/config");
    assert_eq!(config["source"], "default", "{config}");
    assert_eq!(config["version"], "ibm-pvu-2026-01-09");
    assert_eq!(config["loaded_versions"], json!([]));
    let (_, after) = server.get(USAGE_DB2);
    assert_eq!(after, before);
    assert_eq!(audit_len(&server), trail, "a dry run is not a change");

    // Refused candidates, each naming why.
    let refuse = |path: &str, body: &[u8]| {
        let (status, problem) = post_bytes(&server, &operator, path, body.to_vec());
        assert_eq!(status, 400, "{path}: {problem}");
        problem
    };
    let problem = refuse(&path, b"{");
    assert_eq!(problem["field"], "body", "{problem}");
    let problem = refuse(
        &path,
        br#"{"version": "t0", "default_pvu_per_core": 0, "table": []}"#,
    );
    assert_eq!(problem["code"], "rule_data_invalid", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("/default_pvu_per_core"),
        "{problem}"
    );
    // The default's version with other content: it could never be loaded.
    let problem = refuse(
        &path,
        br#"{"version": "ibm-pvu-2026-01-09", "default_pvu_per_core": 90}"#,
    );
    assert_eq!(problem["field"], "/version", "{problem}");
    // Dates and version, by parameter.
    for (query, parameter) in [
        ("start=2026-11-05&end=2026-11-01", "end"),
        ("start=2026-11-1x&end=2026-11-05", "start"),
        ("end=2026-11-05", "start"),
    ] {
        let problem = refuse(&format!("/api/v1/plugins/pvu/1.0.0/dry-run?{query}"), b"");
        assert_eq!(problem["parameter"], parameter, "{query}: {problem}");
    }
    let problem = refuse(
        &format!("/api/v1/plugins/pvu/1.0/dry-run?{DRY_RUN_PERIOD}"),
        b"",
    );
    assert_eq!(problem["parameter"], "version", "{problem}");
    // Unknown plugin or version (nothing to try without a component): 404 naming which.
    for (path, parameter) in [
        ("/api/v1/plugins/nope/1.0.0/dry-run", "name"),
        ("/api/v1/plugins/pvu/9.9.9/dry-run", "version"),
    ] {
        let (status, problem) = post_bytes(
            &server,
            &operator,
            &format!("{path}?{DRY_RUN_PERIOD}"),
            document.clone().into_bytes(),
        );
        assert_eq!(
            (status, problem["parameter"].as_str()),
            (404, Some(parameter)),
            "{problem}"
        );
    }
    // Readers may not try candidates.
    let reader = server.token(Role::Reader, None);
    assert_eq!(
        post_bytes(&server, &reader, &path, document.into_bytes()).0,
        403
    );
    assert_eq!(audit_len(&server), trail);
}

#[test]
fn a_plugin_dry_run_takes_a_component_or_a_held_version() {
    let server = TestServer::start(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
    );
    estate(&server);
    let operator = server.token(Role::Operator, None);
    let next = std::fs::read(PVU_NEXT).unwrap();
    let path = format!("/api/v1/plugins/pvu/1.1.0/dry-run?{DRY_RUN_PERIOD}");

    // Refused as an upload would be: not a component, another plugin, its own name and
    // version in the path or not.
    let (status, problem) = post_bytes(
        &server,
        &operator,
        &path,
        b"\0asm\x01\0\0\0garbage".to_vec(),
    );
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("does not compile"),
        "{problem}"
    );
    let (status, problem) = post_bytes(&server, &operator, &path, std::fs::read(PANIC).unwrap());
    assert_eq!(
        (status, problem["parameter"].as_str()),
        (400, Some("name")),
        "{problem}"
    );
    let (status, problem) = post_bytes(
        &server,
        &operator,
        &format!("/api/v1/plugins/pvu/1.0.0/dry-run?{DRY_RUN_PERIOD}"),
        next.clone(),
    );
    assert_eq!(
        (status, problem["parameter"].as_str()),
        (400, Some("name")),
        "{problem}"
    );
    assert!(
        problem["detail"].as_str().unwrap().contains("pvu@1.1.0"),
        "{problem}"
    );

    // pvu@1.1.0 from the body: the same logic, so the same figures, by another version.
    let (status, answer) = post_bytes(&server, &operator, &path, next.clone());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["candidate"]["kind"], "plugin");
    assert_eq!(answer["candidate"]["source"], "body");
    assert_eq!(answer["candidate"]["plugin"], "pvu@1.1.0");
    assert_eq!(answer["candidate"]["active"], false);
    let candidate_digest = answer["candidate"]["digest"].clone();
    let db2 = row(&answer, "db2");
    assert_eq!(db2["affected"], true, "^1 admits 1.1.0");
    assert_eq!(db2["current"]["plugin"], "pvu@1.0.0");
    assert_eq!(db2["candidate"]["plugin"], "pvu@1.1.0");
    assert_eq!(db2["candidate"]["plugin_digest"], candidate_digest);
    assert_ne!(
        db2["candidate"]["plugin_digest"],
        db2["current"]["plugin_digest"]
    );
    assert_eq!(
        (
            &db2["current"]["quantity"],
            &db2["candidate"]["quantity"],
            &db2["difference"]
        ),
        (&json!("1200"), &json!("1200"), &json!("0")),
        "{db2}"
    );
    // tivoli (~1.0) does not take 1.1.0: still evaluated by 1.0.0 on the candidate side.
    let tivoli = row(&answer, "tivoli");
    assert_eq!(tivoli["affected"], false);
    assert_eq!(tivoli["candidate"]["plugin"], "pvu@1.0.0");
    assert_eq!(tivoli["difference"], "0");
    // Nothing was uploaded.
    let (_, plugins) = server.get("/api/v1/plugins");
    assert!(
        !plugins
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["version"] == "1.1.0"),
        "{plugins}"
    );

    // Uploaded and deactivated, 1.1.0 is held but inactive: an empty body tries it.
    let r = server
        .request(Method::PUT, "/api/v1/plugins/pvu/1.1.0")
        .bearer_auth(&operator)
        .body(next)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let (status, _) = post_bytes(
        &server,
        &operator,
        "/api/v1/plugins/pvu/1.1.0/deactivate",
        vec![],
    );
    assert_eq!(status, 200);
    let trail = audit_len(&server);
    let (status, answer) = post_bytes(&server, &operator, &path, Vec::new());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["candidate"]["source"], "held");
    assert_eq!(answer["candidate"]["active"], false);
    assert_eq!(answer["candidate"]["digest"], candidate_digest);
    let db2 = row(&answer, "db2");
    assert_eq!(
        db2["current"]["plugin"], "pvu@1.0.0",
        "still inactive: {db2}"
    );
    assert_eq!(db2["candidate"]["plugin"], "pvu@1.1.0");
    assert_eq!(audit_len(&server), trail);
    let (_, plugins) = server.get("/api/v1/plugins");
    let held = plugins
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["version"] == "1.1.0")
        .unwrap();
    assert_eq!(held["active"], false, "a dry run activates nothing");
}

/// The body of a re-evaluation of `usage`'s period with its recorded provenance.
fn reevaluation(usage: &Value) -> String {
    json!({
        "start": usage["period"]["start"],
        "end": usage["period"]["end"],
        "products": [{
            "product": usage["product"],
            "plugin_digest": usage["plugin_digest"],
            "rule_data_version": usage["rule_data_version"],
        }],
    })
    .to_string()
}

#[test]
fn a_past_period_reevaluated_with_its_recorded_versions_reproduces_its_figures() {
    let store = Arc::new(Store::temporary().unwrap());
    let server = TestServer::start(store.clone(), runtime(test_limits()));
    estate(&server);
    let operator = server.token(Role::Operator, None);
    let put_config = |document: Value| {
        let r = server
            .request(Method::PUT, "/api/v1/plugins/pvu/config")
            .bearer_auth(&operator)
            .body(document.to_string())
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    };

    // 1. As first reported: pvu@1.0.0 with its default table, 1200 PVU.
    let (status, first) = server.get(USAGE_DB2);
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["quantity"], "1200");
    assert_eq!(first["plugin"], "pvu@1.0.0");
    assert_eq!(first["rule_data_version"], "ibm-pvu-2026-01-09");

    // 2. A new table (100 per core) and then pvu@1.1.0: (4 + 6) × 100 = 1000.
    put_config(json!({"version": "site-2026-11", "default_pvu_per_core": 100, "table": []}));
    let r = server
        .request(Method::PUT, "/api/v1/plugins/pvu/1.1.0")
        .bearer_auth(&operator)
        .body(std::fs::read(PVU_NEXT).unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let (_, second) = server.get(USAGE_DB2);
    assert_eq!(second["quantity"], "1000", "{second}");
    assert_eq!(second["plugin"], "pvu@1.1.0");
    assert_eq!(second["rule_data_version"], "site-2026-11");

    // 3. And another table (80 per core): (4 + 6) × 80 = 800 now.
    put_config(json!({"version": "site-2026-12", "default_pvu_per_core": 80, "table": []}));
    let (_, now) = server.get(USAGE_DB2);
    assert_eq!(now["quantity"], "800", "{now}");
    let (_, config) = server.get("/api/v1/plugins/pvu/config");
    assert_eq!(
        config["loaded_versions"],
        json!(["site-2026-11", "site-2026-12"])
    );

    // Each earlier answer, re-evaluated with its own provenance, comes back whole: quantity,
    // peak, daily values, contributors, explanation, versions.
    let reader = server.token(Role::Reader, None);
    for earlier in [&first, &second] {
        let (status, _, again) = server.post("/api/v1/reevaluate", &reevaluation(earlier));
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["products"][0], *earlier);
        let r = server
            .request(Method::POST, "/api/v1/reevaluate")
            .bearer_auth(&reader)
            .body(reevaluation(earlier))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "readers may re-evaluate");
    }
    // What is served now did not change by it.
    assert_eq!(server.get(USAGE_DB2).1, now);

    // Scoped readers see their scope's share, as in every read: these facts name no cost
    // centre, so nothing of db2 is CC1's.
    let scoped = server.token(Role::Reader, Some("cost_center=CC1"));
    let r = server
        .request(Method::POST, "/api/v1/reevaluate")
        .bearer_auth(&scoped)
        .body(reevaluation(&first))
        .send()
        .unwrap();
    let answer: Value = r.json().unwrap();
    assert_eq!(answer["products"][0]["quantity"], "0", "{answer}");
    assert_eq!(
        answer["products"][0]["quantity"],
        server.get_as(&scoped, USAGE_DB2).1["quantity"]
    );

    // Unknown versions: 422 naming the product and the field.
    let made_up = format!("sha256:{}", "ab".repeat(32));
    let mut body: Value = serde_json::from_str(&reevaluation(&first)).unwrap();
    body["products"][0]["plugin_digest"] = json!(made_up);
    let (status, _, problem) = server.post("/api/v1/reevaluate", &body.to_string());
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["product"], "db2");
    assert_eq!(problem["field"], "products[0].plugin_digest");
    assert!(
        problem["detail"].as_str().unwrap().contains(&made_up),
        "{problem}"
    );
    let mut body: Value = serde_json::from_str(&reevaluation(&first)).unwrap();
    body["products"][0]["rule_data_version"] = json!("site-1999");
    let (status, _, problem) = server.post("/api/v1/reevaluate", &body.to_string());
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["field"], "products[0].rule_data_version");
    assert!(
        problem["detail"].as_str().unwrap().contains("site-1999"),
        "{problem}"
    );
    // A malformed request: 400 naming the field.
    let (status, _, problem) = server.post(
        "/api/v1/reevaluate",
        r#"{"start": "2026-11-01", "end": "2026-11-06", "products": [{"product": "db2"}]}"#,
    );
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["field"], "products[0].plugin_digest");
    drop(server);

    // After a restart that has not loaded the uploaded plugin again, its stored component
    // still reproduces the second answer.
    let server = TestServer::start(store, runtime(test_limits()));
    let (status, _, again) = server.post("/api/v1/reevaluate", &reevaluation(&second));
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["products"][0], second);
}
