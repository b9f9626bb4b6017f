//! Chargeback and entitlements over HTTP (SPEC §4.8, §5.6): a pvu product whose servers sit
//! in two cost centres, with one installation nobody owns. The group lines and the consumer
//! lines add up to the period quantity and its cost; the page parameters, the group_by and
//! approach overrides and bad parameters behave as documented in README.md.

use std::sync::Arc;

use licmetric::store::Store;
use licmetric_tests::*;
use serde_json::json;

fn sum(values: impl Iterator<Item = f64>) -> f64 {
    (values.sum::<f64>() * 1000.0).round() / 1000.0
}

#[test]
fn chargeback_lines_add_up_and_usage_shows_threshold_delta() {
    let server = TestServer::start(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
    );
    // esx-1 (CC1, Paris): 16 cores, two VMs of 6 and 4 vCPU → 10 × 70 = 700 PVU.
    // esx-2 (CC2, Lyon): 8 cores, one VM of 12 vCPU → 8 × 70 = 560 PVU.
    // vm-c on esx-1 carries no cost centre of its own but the server's CC1; vm-x on esx-2
    // belongs to nobody: its installation has location only.
    let facts = [
        fact(
            "server",
            "esx-1",
            json!({"cores": 16, "pvu_per_core": 70, "cost_center": "CC1", "location": "Paris"}),
        ),
        fact(
            "server",
            "esx-2",
            json!({"cores": 8, "pvu_per_core": 70, "location": "Lyon"}),
        ),
        fact("vm", "vm-a", json!({"server": "esx-1", "vcpus": 6})),
        fact(
            "vm",
            "vm-b",
            json!({"server": "esx-1", "vcpus": 4, "cost_center": "CC2"}),
        ),
        fact("vm", "vm-x", json!({"server": "esx-2", "vcpus": 12})),
        fact(
            "installation",
            "vm-a/was",
            json!({"product": "was", "on": "vm-a"}),
        ),
        fact(
            "installation",
            "vm-b/was",
            json!({"product": "was", "on": "vm-b"}),
        ),
        fact(
            "installation",
            "vm-x/was",
            json!({"product": "was", "on": "vm-x"}),
        ),
    ]
    .join("\n");
    assert_eq!(server.post("/api/v1/facts", &facts).0, 200);
    let mut record = product("was", "pvu@^1", json!({}));
    record["entitlement"] = json!({"quantity": 1000, "cost_per_unit": "1.10", "currency": "USD"});
    record["chargeback"] = json!({"approach": "by_consumption_at_peak", "group_by": "cost_center"});
    assert_eq!(server.put("/api/v1/products/was", &record).0, 200);

    // Usage: 1260 PVU against 1000 licensed → threshold_delta −260.
    let (status, usage) = server.get("/api/v1/usage?product=was&start=2026-11-02&end=2026-11-04");
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["quantity"], "1260");
    assert_eq!(usage["threshold"], "1000");
    assert_eq!(usage["threshold_delta"], "-260");

    // By cost centre: vm-a 420 (CC1 via its server), vm-b 280 (CC2, its own), vm-x 560 (none).
    let (status, cb) = server.get("/api/v1/chargeback?product=was&start=2026-11-02&end=2026-11-04");
    assert_eq!(status, 200, "{cb}");
    let groups: Vec<(String, String, String)> = cb["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["group"].as_str().unwrap().to_string(),
                g["quantity"].as_str().unwrap().to_string(),
                g["cost"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("CC1".into(), "420.000".into(), "462.00".into()),
            ("CC2".into(), "280.000".into(), "308.00".into()),
            ("unallocated".into(), "560.000".into(), "616.00".into()),
        ]
    );
    assert_eq!(cb["cost"], "1386.00");
    assert_eq!(cb["approach"], "by_consumption_at_peak");
    assert_eq!(cb["total_count"], 3);
    let lines = cb["lines"].as_array().unwrap();
    let vm_a = lines
        .iter()
        .find(|l| l["consumer"]["key"] == "vm-a/was")
        .expect("a line for vm-a/was");
    assert_eq!(vm_a["group"], "CC1");
    assert_eq!(vm_a["unit"], "server:esx-1");
    assert_eq!(vm_a["machine_consumption"], "420");
    assert_eq!(vm_a["host_consumption"], "700");
    assert_eq!(vm_a["recharged_consumption"], "420.000");
    assert_eq!(vm_a["recharged_cost"], "462.00");
    let total: f64 = sum(lines.iter().map(|l| {
        l["recharged_consumption"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
    }));
    assert_eq!(total, 1260.0);

    // Pages: the second line alone; groups stay complete.
    let (status, page) = server
        .get("/api/v1/chargeback?product=was&start=2026-11-02&end=2026-11-04&offset=1&limit=1");
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["lines"].as_array().unwrap().len(), 1);
    assert_eq!(page["lines"][0], lines[1]);
    assert_eq!(page["groups"].as_array().unwrap().len(), 3);

    // Overrides: by location, split equally: Paris and Lyon get 630 each, nothing unallocated.
    let (status, by_location) = server.get(
        "/api/v1/chargeback?product=was&start=2026-11-02&end=2026-11-04&group_by=location&approach=equal_split",
    );
    assert_eq!(status, 200, "{by_location}");
    let quantities: Vec<(&str, &str)> = by_location["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["group"].as_str().unwrap(),
                g["quantity"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        quantities,
        [
            ("Lyon", "630.000"),
            ("Paris", "630.000"),
            ("unallocated", "0.000")
        ]
    );

    // Bad parameters are named; an unknown product is 404.
    for (query, parameter) in [
        (
            "product=was&start=2026-11-02&end=2026-11-04&group_by=colour",
            "group_by",
        ),
        (
            "product=was&start=2026-11-02&end=2026-11-04&approach=random",
            "approach",
        ),
        (
            "product=was&start=2026-11-02&end=2026-11-04&limit=lots",
            "limit",
        ),
        ("product=was&end=2026-11-04", "start"),
        ("start=2026-11-02&end=2026-11-04", "product"),
    ] {
        let (status, body) = server.get(&format!("/api/v1/chargeback?{query}"));
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["parameter"], parameter, "{query}: {body}");
    }
    let (status, _) = server.get("/api/v1/chargeback?product=nope&start=2026-11-02&end=2026-11-04");
    assert_eq!(status, 404);

    // A product record with a chargeback that cannot work is refused when stored.
    let mut bad = product("bad", "pvu@^1", json!({}));
    bad["chargeback"] =
        json!({"approach": "fixed_percentage", "percentages": {"CC1": 70, "CC2": 40}});
    let (status, _, body) = server.put("/api/v1/products/bad", &bad);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("percentages"),
        "{body}"
    );

    // So is one whose parameters its plugin refuses, with the plugin's JSON pointer.
    let typo = product("ppm", "named@^1", json!({"basis": "seats"}));
    let (status, _, body) = server.put("/api/v1/products/ppm", &typo);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "product_parameter_invalid", "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("/basis"),
        "{body}"
    );
    assert_eq!(server.get("/api/v1/products/ppm").0, 404);
}
