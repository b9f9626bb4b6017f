//! The pvu and vpc plugins and bundles over HTTP: a usage answer explains each server, a bundle
//! answer shows measured, conversion and converted quantity, bad facts give an error that names
//! the fact (never a zero), and data-quality warnings reach the health endpoint.

use std::sync::Arc;

use licmetric::store::Store;
use licmetric_tests::*;
use serde_json::json;

#[test]
fn capacity_usage_bundles_errors_and_warnings_over_http() {
    let server = TestServer::start(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
    );
    let facts = [
        fact(
            "server",
            "esx-7",
            json!({"cores": 16, "sockets": 2, "pvu_per_core": 70, "region": "2"}),
        ),
        fact("vm", "vm-a", json!({"server": "esx-7", "vcpus": 10})),
        fact("vm", "vm-b", json!({"server": "esx-7", "vcpus": 10})),
        fact("vm", "vm-orphan", json!({"vcpus": 4})),
        fact(
            "installation",
            "vm-a/was",
            json!({"product": "was", "on": "vm-a"}),
        ),
        fact(
            "installation",
            "vm-a/mq",
            json!({"product": "mq", "on": "vm-a", "cost_center": "CC1"}),
        ),
        fact(
            "installation",
            "vm-b/mq",
            json!({"product": "mq", "on": "vm-b"}),
        ),
        fact(
            "installation",
            "vm-orphan/db2",
            json!({"product": "db2", "on": "vm-orphan"}),
        ),
        fact(
            "installation",
            "ghost/ace",
            json!({"product": "ace", "on": "vm-ghost"}),
        ),
    ]
    .join("\n");
    assert_eq!(server.post("/api/v1/facts", &facts).0, 200);
    for (id, metric, bundle) in [
        ("was", "pvu@^1", None),
        ("mq", "vpc@^1", Some(("cp4i", "2:1"))),
        ("mq-pvu", "pvu@^1", None),
        ("db2", "pvu@^1", None),
        ("ace", "vpc@^1", Some(("cp4i", "1:3"))),
    ] {
        let mut record = product(id, metric, json!({}));
        if let Some((b, ratio)) = bundle {
            record["bundle"] = json!({"id": b, "ratio": ratio});
        }
        assert_eq!(
            server.put(&format!("/api/v1/products/{id}"), &record).0,
            200
        );
    }
    let cp4i = json!({"id": "cp4i", "name": "IBM Cloud Pak for Integration", "kind": "cloud_pak",
        "metric_name": "VIRTUAL_PROCESSOR_CORE"});
    assert_eq!(server.put("/api/v1/bundles/cp4i", &cp4i).0, 200);

    // SPEC PVU-A: one line per server at its peak, in the SPEC's words.
    let (status, was) = server.get("/api/v1/usage?product=was&start=2026-11-02&end=2026-11-04");
    assert_eq!(status, 200, "{was}");
    assert_eq!(was["quantity"], "700");
    assert_eq!(was["partitions"][0]["partition"], "region:2");
    assert!(
        was["explanation"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "esx-7: min(10 vCPU, 16 cores) = 10 × 70 = 700 PVU"),
        "{was}"
    );
    let contributors = was["contributors"].as_array().unwrap();
    assert_eq!(contributors[0]["unit"], "server:esx-7");
    assert_eq!(contributors[0]["weight"], "700");

    // The bundle: mq's 16 VPC at 2:1 is 8; ace fails, so the bundle fails rather than
    // reporting a figure without it.
    let (status, body) = server.get("/api/v1/usage?bundle=cp4i&start=2026-11-02&end=2026-11-04");
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("unknown_reference"),
        "{body}"
    );

    // Errors, not zeros: the installation on a vm that does not exist names the fact.
    let (status, ace) = server.get("/api/v1/usage?product=ace&start=2026-11-02&end=2026-11-04");
    assert_eq!(status, 422, "{ace}");
    assert_eq!(ace["error"]["code"], "unknown_reference");
    assert_eq!(ace["error"]["fact_kind"], "installation");
    assert_eq!(ace["error"]["fact_key"], "ghost/ace");
    assert!(ace.get("quantity").is_none());

    // Fix the fact; the bundle now answers with each member's conversion.
    let fixed = fact("vm", "vm-ghost", json!({"server": "esx-7", "vcpus": 2}));
    assert_eq!(server.post("/api/v1/facts", &fixed).0, 200);
    let (status, bundle) = server.get("/api/v1/usage?bundle=cp4i&start=2026-11-02&end=2026-11-04");
    assert_eq!(status, 200, "{bundle}");
    // mq: min(20, 16) = 16 VPC → 8; ace: 2 VPC at 1:3 → 6.
    assert_eq!(bundle["quantity"], "14", "{bundle}");
    let members = bundle["products"].as_array().unwrap();
    let mq = members.iter().find(|m| m["product"] == "mq").unwrap();
    assert_eq!(
        (
            mq["measured"].as_str(),
            mq["conversion"].as_str(),
            mq["converted"].as_str()
        ),
        (Some("16"), Some("2:1"), Some("8"))
    );

    // Default counting is a warning the operator sees in health, with the figure kept.
    let (status, db2) = server.get("/api/v1/usage?product=db2&start=2026-11-02&end=2026-11-04");
    assert_eq!(status, 200, "{db2}");
    assert_eq!(db2["quantity"], "480");
    let (_, health) = server.get("/api/v1/health");
    let warnings = health["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w["product"] == "db2" && w["code"] == "default_counting"),
        "{health}"
    );
}
