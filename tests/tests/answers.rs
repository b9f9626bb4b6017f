//! Kept answers (host/src/api/answers.rs) are never stale: a repeated read gets the same bytes,
//! a new fact or a changed record changes the answer at once, and a scoped reader never gets
//! an answer kept for another scope.

use std::sync::Arc;

use licmetric::store::Store;
use licmetric_tests::*;
use serde_json::json;

/// A server with pvu product `was` on one VM: esx-1 (cost centre CC1, 16 cores) runs vm-a
/// (6 vCPU) → 6 × 70 = 420 PVU from 2026-11-01 on.
fn one_vm_estate() -> TestServer {
    let server = TestServer::start(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
    );
    let at = "2026-11-01T00:00:00Z";
    let facts = [
        fact_at(
            "server",
            "esx-1",
            at,
            json!({"cores": 16, "pvu_per_core": 70, "cost_center": "CC1"}),
        ),
        fact_at("vm", "vm-a", at, json!({"server": "esx-1", "vcpus": 6})),
        fact_at(
            "installation",
            "vm-a/was",
            at,
            json!({"product": "was", "on": "vm-a"}),
        ),
    ]
    .join("\n");
    assert_eq!(server.post("/api/v1/facts", &facts).0, 200);
    let record = product("was", "pvu@^1", json!({}));
    assert_eq!(server.put("/api/v1/products/was", &record).0, 200);
    server
}

#[test]
fn repeated_reads_follow_every_change() {
    let server = one_vm_estate();
    let at = "2026-11-01T00:00:00Z";
    let ils = "/products?startDate=2026-11-02&endDate=2026-11-03";
    let ilmt = "/api/sam/v2/license_usage?startdate=2026-11-02&enddate=2026-11-03";
    let quantity = |server: &TestServer, token: &str| {
        let (status, rows) = server.get_as(token, ils);
        assert_eq!(status, 200, "{rows}");
        rows[0]["metricQuantity"].to_string()
    };
    let admin = server.admin_token.clone();
    assert_eq!(quantity(&server, &admin), "420");
    assert_eq!(quantity(&server, &admin), "420");
    assert_eq!(server.get(ilmt).1["rows"][0]["hwm_quantity"], 420);

    // vm-b (CC2, 4 vCPU) appears on esx-1: 10 × 70 = 700 PVU, seen by the very next read.
    let more = [
        fact_at(
            "vm",
            "vm-b",
            at,
            json!({"server": "esx-1", "vcpus": 4, "cost_center": "CC2"}),
        ),
        fact_at(
            "installation",
            "vm-b/was",
            at,
            json!({"product": "was", "on": "vm-b"}),
        ),
    ]
    .join("\n");
    assert_eq!(server.post("/api/v1/facts", &more).0, 200);
    assert_eq!(quantity(&server, &admin), "700");
    assert_eq!(server.get(ilmt).1["rows"][0]["hwm_quantity"], 700);

    // The same query by readers of two scopes: each its own share (420 and 280), whatever
    // was kept for the other or for the admin.
    let cc1 = server.token(Role::Reader, Some("cost_center=CC1"));
    let cc2 = server.token(Role::Reader, Some("cost_center=CC2"));
    assert_eq!(quantity(&server, &cc1), "420");
    assert_eq!(quantity(&server, &cc2), "280");
    assert_eq!(quantity(&server, &cc1), "420");
    // A token in the query does not split or leak the kept answers either.
    let (_, rows) = server.get_as(&cc2, &format!("{ils}&token={cc1}"));
    assert_eq!(
        rows[0]["metricQuantity"].to_string(),
        "280",
        "the header wins"
    );

    // A changed record changes the answer: the product's name.
    let mut renamed = product("was", "pvu@^1", json!({}));
    renamed["name"] = json!("WebSphere ND");
    assert_eq!(server.put("/api/v1/products/was", &renamed).0, 200);
    assert_eq!(server.get(ils).1[0]["name"], "WebSphere ND");
}

/// Issue 15.2: kept answers are keyed on the decoded query written unambiguously. A reader's
/// `metricName` value `PROCESSOR_VALUE_UNIT&format=json` (sent percent-encoded; it matches no
/// metric, so its answer is empty) used to share the key of a query that really carries
/// `metricName=PROCESSOR_VALUE_UNIT&format=json`, whose caller then got the empty answer.
/// Undocumented or repeated parameters are refused with a 400 naming them.
#[test]
fn a_crafted_parameter_cannot_poison_another_callers_answer() {
    let server = one_vm_estate();
    let reader = server.token(Role::Reader, None);
    let crafted = "/products?startDate=2026-11-02&endDate=2026-11-03\
        &metricName=PROCESSOR_VALUE_UNIT%26format%3Djson";
    let (status, rows) = server.get_as(&reader, crafted);
    assert_eq!(status, 200, "{rows}");
    assert_eq!(rows, json!([]), "the crafted metric name matches nothing");
    let (status, rows) = server.get(
        "/products?startDate=2026-11-02&endDate=2026-11-03&metricName=PROCESSOR_VALUE_UNIT&format=json",
    );
    assert_eq!(status, 200, "{rows}");
    assert_eq!(rows[0]["metricQuantity"].to_string(), "420", "{rows}");

    for (query, parameter) in [
        ("/products?startDate=2026-11-02&endDate=2026-11-03&x=1", "x"),
        (
            "/products?startDate=2026-10-01&startDate=2026-11-02&endDate=2026-11-03",
            "startDate",
        ),
        (
            "/api/v1/usage?product=was&start=2026-11-02&end=2026-11-03&colour=red",
            "colour",
        ),
    ] {
        let (status, body) = server.get_as(&reader, query);
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["parameter"], parameter, "{query}: {body}");
    }
    // A list parameter of a compatible API may repeat.
    let (status, body) = server.get(
        "/api/sam/v2/license_usage?startdate=2026-11-02&enddate=2026-11-03\
         &columns[]=product_name&columns[]=hwm_quantity",
    );
    assert_eq!(status, 200, "{body}");
}
