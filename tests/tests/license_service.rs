//! The IBM License Service compatible endpoints and the signed audit snapshot over HTTP.
//!
//! Estate (facts from 2026-11-01, unchanged over the period 2026-11-02 … 2026-11-03):
//! server esx-7 with 16 cores at 70 PVU per core; vm-a (10 vCPU, cost centre CC1) runs mq and
//! ace; vm-b (10 vCPU, CC2) runs mq and was.
//! - mq (vpc, Cloud Pak cp4i at 2:1): 20 vCPU on a 16-core server → 16 VPC; the weights are
//!   the uncapped vCPUs 10 and 10, so vm-a/mq and vm-b/mq contribute 8 each.
//! - ace (vpc, cp4i at 1:3): vm-a's 10 vCPU → 10 VPC.
//! - was (pvu, no bundle): vm-b's 10 vCPU × 70 = 700 PVU.
//! - cp4i: mq 16 → ceil(16 × 1 / 2) = 8, ace 10 → ceil(10 × 3 / 1) = 30; 38 every day, so the
//!   peak is the first day, 2026-11-02.

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::sync::Arc;

use licmetric::store::Store;
use licmetric_tests::*;
use serde_json::{Value, json};
use sha2::Digest;

const PERIOD: &str = "startDate=2026-11-02&endDate=2026-11-03";
const SPAN: &str = "2026-11-02_2026-11-03";

fn setup() -> TestServer {
    let server = TestServer::start(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
    );
    let facts = [
        fact(
            "server",
            "esx-7",
            json!({"cores": 16, "sockets": 2, "pvu_per_core": 70}),
        ),
        fact(
            "vm",
            "vm-a",
            json!({"server": "esx-7", "vcpus": 10, "cost_center": "CC1"}),
        ),
        fact(
            "vm",
            "vm-b",
            json!({"server": "esx-7", "vcpus": 10, "cost_center": "CC2"}),
        ),
        fact(
            "installation",
            "vm-a/mq",
            json!({"product": "mq", "on": "vm-a"}),
        ),
        fact(
            "installation",
            "vm-b/mq",
            json!({"product": "mq", "on": "vm-b"}),
        ),
        fact(
            "installation",
            "vm-a/ace",
            json!({"product": "ace", "on": "vm-a"}),
        ),
        fact(
            "installation",
            "vm-b/was",
            json!({"product": "was", "on": "vm-b"}),
        ),
    ]
    .join("\n");
    assert_eq!(server.post("/api/v1/facts", &facts).0, 200);
    for (id, name, metric, bundle) in [
        ("mq", "IBM MQ Advanced", "vpc@^1", Some("2:1")),
        ("ace", "IBM App Connect Enterprise", "vpc@^1", Some("1:3")),
        ("was", "WebSphere", "pvu@^1", None),
    ] {
        let mut record = product(id, metric, json!({}));
        record["name"] = json!(name);
        if let Some(ratio) = bundle {
            record["bundle"] = json!({"id": "cp4i", "ratio": ratio});
        }
        let (status, _, body) = server.put(&format!("/api/v1/products/{id}"), &record);
        assert_eq!(status, 200, "{body}");
    }
    let cp4i = json!({"id": "cp4i", "name": "IBM Cloud Pak for Integration", "kind": "cloud_pak",
        "metric_name": "VIRTUAL_PROCESSOR_CORE", "version": "2023.4.1"});
    assert_eq!(server.put("/api/v1/bundles/cp4i", &cp4i).0, 200);
    server
}

/// Rows of a JSON array keyed by `field`.
fn by<'a>(rows: &'a Value, field: &str) -> BTreeMap<String, &'a Value> {
    rows.as_array()
        .unwrap_or_else(|| panic!("not an array: {rows}"))
        .iter()
        .map(|r| (r[field].as_str().unwrap().to_string(), r))
        .collect()
}

/// CSV text as one map per row, column name → value.
fn csv_rows(text: &[u8]) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_reader(text);
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn get_bytes(server: &TestServer, token: &str, path: &str) -> (u16, String, Vec<u8>) {
    let r = server
        .request(reqwest::Method::GET, path)
        .bearer_auth(token)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let ct = content_type(&r);
    (status, ct, r.bytes().unwrap().to_vec())
}

fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut e = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (e.name().to_string(), data)
        })
        .collect()
}

fn rezip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in files {
        w.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn entry<'a>(files: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    &files
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} in the snapshot"))
        .1
}

#[test]
fn products_bundled_products_and_services() {
    let server = setup();

    // /products: License Service's fields, figures from the header's arithmetic.
    let (status, products) = server.get(&format!("/products?{PERIOD}"));
    assert_eq!(status, 200, "{products}");
    let rows = by(&products, "id");
    assert_eq!(
        rows.keys().collect::<Vec<_>>(),
        ["ace", "mq", "was"],
        "{products}"
    );
    assert_eq!(
        *rows["mq"],
        json!({"name": "IBM MQ Advanced", "id": "mq", "metricPeakDate": "2026-11-02",
            "metricQuantity": 16, "metricName": "VIRTUAL_PROCESSOR_CORE"})
    );
    assert_eq!(rows["ace"]["metricQuantity"], 10);
    assert_eq!(rows["was"]["metricQuantity"], 700);
    assert_eq!(rows["was"]["metricName"], "PROCESSOR_VALUE_UNIT");

    // metricName keeps only that metric's products.
    let (_, pvu) = server.get(&format!(
        "/products?{PERIOD}&metricName=PROCESSOR_VALUE_UNIT"
    ));
    assert_eq!(by(&pvu, "id").keys().collect::<Vec<_>>(), ["was"]);

    // groupName=CC1: mq's 16 split 8 (vm-a, CC1) / 8 (vm-b, CC2) → 8.000; ace all on vm-a →
    // 10.000; was has no CC1 consumer and is left out.
    let (status, cc1) = server.get(&format!("/products?{PERIOD}&groupName=CC1"));
    assert_eq!(status, 200, "{cc1}");
    let rows = by(&cc1, "id");
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["ace", "mq"], "{cc1}");
    assert_eq!(rows["mq"]["metricQuantity"].to_string(), "8.000");
    assert_eq!(rows["ace"]["metricQuantity"].to_string(), "10.000");
    assert_eq!(rows["mq"]["groupName"], "CC1");

    // CSV: the same fields as columns, read by name.
    let (status, content_type, text) = server.get_text(&format!("/products?{PERIOD}&format=csv"));
    assert_eq!(status, 200, "{text}");
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let rows = csv_rows(text.as_bytes());
    let was = rows.iter().find(|r| r["id"] == "was").unwrap();
    assert_eq!(was["metricQuantity"], "700");
    assert_eq!(was["metricPeakDate"], "2026-11-02");
    assert_eq!(was["name"], "WebSphere");
    assert_eq!(was["error"], "");

    // /bundled_products: each member on the bundle's peak day.
    let (status, bundled) = server.get(&format!("/bundled_products?{PERIOD}"));
    assert_eq!(status, 200, "{bundled}");
    let rows = by(&bundled, "productId");
    assert_eq!(
        *rows["mq"],
        json!({"productName": "IBM MQ Advanced", "productId": "mq",
            "cloudpakName": "IBM Cloud Pak for Integration", "cloudpakId": "cp4i",
            "cloudpakMetric": "VIRTUAL_PROCESSOR_CORE",
            "cloudpakMetricName": "VIRTUAL_PROCESSOR_CORE", "cloudpakVersion": "2023.4.1",
            "metricName": "VIRTUAL_PROCESSOR_CORE",
            "metricPeakDate": "2026-11-02", "metricMeasuredQuantity": 16,
            "metricConversion": "2:1", "metricConvertedQuantity": 8})
    );
    assert_eq!(rows["ace"]["metricMeasuredQuantity"], 10);
    assert_eq!(rows["ace"]["metricConvertedQuantity"], 30);
    let (_, _, text) = server.get_text(&format!("/bundled_products?{PERIOD}&format=csv"));
    let rows = csv_rows(text.as_bytes());
    let ace = rows.iter().find(|r| r["productId"] == "ace").unwrap();
    assert_eq!(
        (
            ace["metricConversion"].as_str(),
            ace["metricConvertedQuantity"].as_str()
        ),
        ("1:3", "30")
    );
    let (_, none) = server.get(&format!(
        "/bundled_products?{PERIOD}&metricName=PROCESSOR_VALUE_UNIT"
    ));
    assert_eq!(none, json!([]));

    // /services: each consumer's part of its product's measured quantity on the peak day.
    let (status, services) = server.get(&format!("/services?{PERIOD}"));
    assert_eq!(status, 200, "{services}");
    let rows = by(&services, "serviceId");
    assert_eq!(
        rows.keys().collect::<Vec<_>>(),
        [
            "installation:vm-a/ace",
            "installation:vm-a/mq",
            "installation:vm-b/mq"
        ],
        "{services}"
    );
    assert_eq!(
        *rows["installation:vm-b/mq"],
        json!({"cloudpakId": "cp4i", "cloudpakMetricName": "VIRTUAL_PROCESSOR_CORE",
            "productName": "IBM MQ Advanced", "productId": "mq",
            "metricName": "VIRTUAL_PROCESSOR_CORE", "serviceName": "vm-b/mq",
            "serviceId": "installation:vm-b/mq", "serviceMetricValue": 8,
            "metricPeakDate": "2026-11-02", "metricDate": "2026-11-02"})
    );
    assert_eq!(rows["installation:vm-a/ace"]["serviceMetricValue"], 10);

    // groupName on /bundled_products and /services too (the License Service client offers it
    // on all three): each member's part in the group on the bundle's peak day, by its
    // consumers' cost_center. CC2 holds vm-b: half of mq (16 → 8, converted 8 → 4), no ace.
    let (status, cc2) = server.get(&format!("/bundled_products?{PERIOD}&groupName=CC2"));
    assert_eq!(status, 200, "{cc2}");
    let rows = by(&cc2, "productId");
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["mq"], "{cc2}");
    assert_eq!(rows["mq"]["metricMeasuredQuantity"], 8, "{cc2}");
    assert_eq!(rows["mq"]["metricConvertedQuantity"], 4, "{cc2}");
    assert_eq!(rows["mq"]["groupName"], "CC2", "{cc2}");
    // CC1 holds vm-a: the other half of mq, and all of ace (10 → 30).
    let (_, cc1) = server.get(&format!("/bundled_products?{PERIOD}&groupName=CC1"));
    let rows = by(&cc1, "productId");
    assert_eq!(rows["mq"]["metricConvertedQuantity"], 4, "{cc1}");
    assert_eq!(rows["ace"]["metricMeasuredQuantity"], 10, "{cc1}");
    assert_eq!(rows["ace"]["metricConvertedQuantity"], 30, "{cc1}");
    let (status, cc2) = server.get(&format!("/services?{PERIOD}&groupName=CC2"));
    assert_eq!(status, 200, "{cc2}");
    let rows = by(&cc2, "serviceId");
    assert_eq!(
        rows.keys().collect::<Vec<_>>(),
        ["installation:vm-b/mq"],
        "{cc2}"
    );
    assert_eq!(rows["installation:vm-b/mq"]["serviceMetricValue"], 8);
    assert_eq!(rows["installation:vm-b/mq"]["groupName"], "CC2");
    let (_, nobody) = server.get(&format!("/services?{PERIOD}&groupName=CC9"));
    assert_eq!(nobody, json!([]));

    // Bad parameters are named.
    for (query, parameter) in [
        ("/products?startDate=2026-13-01", "startDate"),
        ("/products?startDate=2026-11-02&endDate=soon", "endDate"),
        (
            "/products?startDate=2026-11-05&endDate=2026-11-02",
            "endDate",
        ),
        ("/products?format=xml", "format"),
        ("/products?metricName=", "metricName"),
        ("/bundled_products?groupName=", "groupName"),
        ("/services?format=yaml", "format"),
        ("/snapshot?groupName=X", "groupName"),
    ] {
        let (status, body) = server.get(query);
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["parameter"], parameter, "{query}: {body}");
    }

    // A product that fails keeps its row: no quantity, and the reason (an installation on a
    // vm nobody reported).
    let ghost = fact(
        "installation",
        "ghost/db2",
        json!({"product": "db2", "on": "vm-ghost"}),
    );
    assert_eq!(server.post("/api/v1/facts", &ghost).0, 200);
    assert_eq!(
        server
            .put("/api/v1/products/db2", &product("db2", "vpc@^1", json!({})))
            .0,
        200
    );
    let (status, products) = server.get(&format!("/products?{PERIOD}"));
    assert_eq!(status, 200, "{products}");
    let db2 = by(&products, "id")["db2"].clone();
    // Every column keeps its type (clients decode them): -1 and the plugin's metric.
    assert_eq!(db2["metricQuantity"], -1, "{db2}");
    assert_eq!(db2["metricName"], "VIRTUAL_PROCESSOR_CORE", "{db2}");
    assert!(
        db2["error"].as_str().unwrap().contains("unknown_reference"),
        "{db2}"
    );
    assert!(by(&products, "id")["mq"].get("error").is_none());
    let (_, _, text) = server.get_text(&format!("/products?{PERIOD}&format=csv"));
    let rows = csv_rows(text.as_bytes());
    let db2 = rows.iter().find(|r| r["id"] == "db2").unwrap();
    assert_eq!(db2["metricQuantity"], "-1");
    assert!(db2["error"].contains("unknown_reference"), "{db2:?}");

    // Defaults: the 30 days ending today; a reader may call it, no token may not.
    let reader = server.token(Role::Reader, None);
    let (status, body) = server.get_as(&reader, "/products");
    assert_eq!(status, 200, "{body}");
    assert!(body.is_array());
    let (status, _) = server.get_as("nope", "/products");
    assert_eq!(status, 401);
}

#[test]
fn signed_snapshot_verifies_regenerates_identically_and_respects_scope() {
    let server = setup();
    let admin = server.admin_token.clone();
    let (status, content_type, zip_bytes) =
        get_bytes(&server, &admin, &format!("/api/v1/snapshot?{PERIOD}"));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&zip_bytes));
    assert_eq!(content_type, "application/zip");
    let files = unzip(&zip_bytes);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let csv = |stem: &str| format!("{stem}_{SPAN}.csv");
    assert_eq!(
        names,
        [
            csv("products").as_str(),
            &csv("products_daily"),
            &csv("bundled_products"),
            &csv("bundled_products_daily"),
            &csv("chargeback"),
            "data_condition.txt",
            "public_key.txt",
            "checksums.txt",
            "signature.txt",
        ]
    );

    // Contents, read by column name.
    let products = csv_rows(entry(&files, &csv("products")));
    let mq = products.iter().find(|r| r["id"] == "mq").unwrap();
    assert_eq!(mq["metricQuantity"], "16");
    assert_eq!(mq["metricName"], "VIRTUAL_PROCESSOR_CORE");
    assert!(mq["pluginDigest"].len() >= 64, "{mq:?}");
    // Two days per product: ace 10, mq 16, was 700 each day.
    let daily = csv_rows(entry(&files, &csv("products_daily")));
    assert_eq!(daily.len(), 6);
    assert!(
        daily
            .iter()
            .any(|r| r["id"] == "was" && r["date"] == "2026-11-03" && r["metricQuantity"] == "700")
    );
    let bundled = csv_rows(entry(&files, &csv("bundled_products")));
    assert_eq!(bundled.len(), 2);
    let bundle_daily = csv_rows(entry(&files, &csv("bundled_products_daily")));
    assert_eq!(
        bundle_daily
            .iter()
            .map(|r| (r["date"].as_str(), r["metricQuantity"].as_str()))
            .collect::<Vec<_>>(),
        [("2026-11-02", "38"), ("2026-11-03", "38")]
    );
    // Chargeback by cost centre (default): mq 8 + 8, ace 10 to CC1, was 700 to CC2.
    let chargeback = csv_rows(entry(&files, &csv("chargeback")));
    let lines: Vec<(&str, &str, &str)> = chargeback
        .iter()
        .map(|r| {
            (
                r["productId"].as_str(),
                r["groupName"].as_str(),
                r["metricQuantity"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("ace", "CC1", "10.000"),
            ("ace", "unallocated", "0.000"),
            ("mq", "CC1", "8.000"),
            ("mq", "CC2", "8.000"),
            ("mq", "unallocated", "0.000"),
            ("was", "CC2", "700.000"),
            ("was", "unallocated", "0.000"),
        ]
    );
    let condition = String::from_utf8(entry(&files, "data_condition.txt").to_vec()).unwrap();
    assert!(
        condition.contains("period start: 2026-11-02"),
        "{condition}"
    );
    assert!(
        condition.contains("period end (inclusive): 2026-11-03"),
        "{condition}"
    );
    assert!(condition.contains("VIRTUAL_PROCESSOR_CORE"), "{condition}");
    let checksums = String::from_utf8(entry(&files, "checksums.txt").to_vec()).unwrap();
    assert_eq!(checksums.lines().count(), 7, "{checksums}");
    assert!(!condition.contains("only metric"), "{condition}");

    // metricName, as License Service takes it: the products and bundles of that metric only.
    let was_metric = products.iter().find(|r| r["id"] == "was").unwrap()["metricName"].clone();
    assert_ne!(was_metric, "VIRTUAL_PROCESSOR_CORE");
    let (status, _, only) = get_bytes(
        &server,
        &admin,
        &format!("/snapshot?{PERIOD}&metricName={was_metric}"),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&only));
    let only = unzip(&only);
    let ids = |stem: &str, column: &str| -> Vec<String> {
        csv_rows(entry(&only, &csv(stem)))
            .iter()
            .map(|r| r[column].clone())
            .collect()
    };
    assert_eq!(ids("products", "id"), ["was"]);
    assert_eq!(ids("products_daily", "id"), ["was", "was"]);
    assert!(ids("bundled_products", "productId").is_empty());
    assert!(ids("bundled_products_daily", "cloudpakId").is_empty());
    assert_eq!(ids("chargeback", "productId"), ["was", "was"]);
    let condition = String::from_utf8(entry(&only, "data_condition.txt").to_vec()).unwrap();
    assert!(
        condition.contains(&format!("only metric: {was_metric}")),
        "{condition}"
    );

    // verify: good as served, with the key in the zip or the same key given.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot.zip");
    std::fs::write(&path, &zip_bytes).unwrap();
    let path_arg = path.to_str().unwrap().to_string();
    let verify = |extra: &[&str]| -> i32 {
        let mut args = vec!["licmetric", "snapshot", "verify", path_arg.as_str()];
        args.extend_from_slice(extra);
        licmetric::cli::run_args(args)
    };
    assert_eq!(verify(&[]), 0);
    let key = String::from_utf8(entry(&files, "public_key.txt").to_vec()).unwrap();
    // The service publishes the key its snapshots verify with.
    let (_, version) = server.get("/api/v1/version");
    assert_eq!(version["snapshot_public_key"], key.trim());
    assert_eq!(verify(&["--public-key", key.trim()]), 0);
    assert_eq!(verify(&["--public-key", &"ab".repeat(32)]), 1);

    // One changed byte in one CSV: verify fails and names that file.
    let mut tampered = files.clone();
    let target = tampered
        .iter_mut()
        .find(|(n, _)| *n == csv("chargeback"))
        .unwrap();
    let at = target.1.len() - 3;
    target.1[at] ^= 0x01;
    let tampered_zip = rezip(&tampered);
    std::fs::write(&path, &tampered_zip).unwrap();
    assert_eq!(verify(&[]), 1);
    let failure = licmetric::snapshot::verify(&tampered_zip, None).unwrap_err();
    assert_eq!(failure.file, csv("chargeback"), "{failure}");
    // The CSV change with checksums.txt recomputed to match: the signature no longer holds.
    let mut resummed = tampered.clone();
    let sums: String = {
        let mut lines: Vec<(String, String)> = resummed
            .iter()
            .filter(|(n, _)| n != "checksums.txt" && n != "signature.txt")
            .map(|(n, d)| (n.clone(), hex::encode(sha2::Sha256::digest(d))))
            .collect();
        lines.sort();
        lines.iter().map(|(n, h)| format!("{h}  {n}\n")).collect()
    };
    for (name, data) in resummed.iter_mut() {
        if name == "checksums.txt" {
            *data = sums.clone().into_bytes();
        }
    }
    let failure = licmetric::snapshot::verify(&rezip(&resummed), None).unwrap_err();
    assert_eq!(failure.file, "signature.txt", "{failure}");

    // Regenerated for the same period from the same facts and rules, by a new service on the
    // same store (nothing kept in memory): CSVs byte-identical.
    let restarted = TestServer::start(server.evaluator.store.clone(), runtime(test_limits()));
    let (_, _, again) = get_bytes(
        &restarted,
        &restarted.admin_token,
        &format!("/snapshot?{PERIOD}"),
    );
    let again = unzip(&again);
    for (name, data) in files.iter().filter(|(n, _)| n.ends_with(".csv")) {
        assert_eq!(entry(&again, name), data.as_slice(), "{name} changed");
    }
    assert_eq!(
        entry(&again, "public_key.txt"),
        entry(&files, "public_key.txt")
    );

    // A reader scoped to CC1 sees only CC1's consumers: mq 8, ace 10, was 0; chargeback lines
    // name no other group, and nothing is left unallocated.
    let scoped = server.token(Role::Reader, Some("cost_center=CC1"));
    let (status, _, bytes) = get_bytes(&server, &scoped, &format!("/snapshot?{PERIOD}"));
    assert_eq!(status, 200);
    assert!(licmetric::snapshot::verify(&bytes, Some(key.trim())).is_ok());
    let files = unzip(&bytes);
    let products = csv_rows(entry(&files, &csv("products")));
    let quantity =
        |id: &str| products.iter().find(|r| r["id"] == id).unwrap()["metricQuantity"].clone();
    assert_eq!(
        (quantity("mq"), quantity("ace"), quantity("was")),
        ("8".to_string(), "10".to_string(), "0".to_string())
    );
    for row in csv_rows(entry(&files, &csv("chargeback"))) {
        match row["groupName"].as_str() {
            "CC1" => {}
            "unallocated" => assert_eq!(row["metricQuantity"], "0.000", "{row:?}"),
            other => panic!("a CC1 reader's snapshot names group {other}: {row:?}"),
        }
    }
    let condition = String::from_utf8(entry(&files, "data_condition.txt").to_vec()).unwrap();
    assert!(condition.contains("scope: cost_center=CC1"), "{condition}");
    for (name, data) in &files {
        assert!(
            !String::from_utf8_lossy(data).contains("CC2"),
            "{name} mentions CC2"
        );
    }
}

#[test]
fn health_lists_the_pods_whose_licensing_data_is_incomplete() {
    let server = TestServer::start(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
    );
    assert_eq!(
        server
            .put("/api/v1/products/mq", &product("mq", "vpc@^1", json!({})))
            .0,
        200
    );
    let at = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let pod = |key: &str, attrs: Value| {
        let mut attrs = attrs;
        attrs["cluster"] = json!("k1");
        attrs["namespace"] = json!("apps");
        json!({"kind": "pod", "key": key, "at": at, "attrs": attrs}).to_string()
    };
    let facts = [
        pod("complete", json!({"product": "mq"})),
        pod(
            "bundled",
            json!({"product": "mq", "bundle": "cp4i", "ratio": "2:1"}),
        ),
        pod("unknown-product", json!({"product": "nosuch"})),
        pod("half-bundle", json!({"product": "mq", "bundle": "cp4i"})),
    ]
    .join("\n");
    let (status, _, body) = server.post("/api/v1/facts", &facts);
    assert_eq!(status, 200, "{body}");
    // A pod retired since is not reported.
    let gone = json!({"kind": "pod", "key": "unknown-gone", "at": at,
        "attrs": {"cluster": "k1", "namespace": "apps", "product": "nosuch"}})
    .to_string();
    let retired = json!({"kind": "pod", "key": "unknown-gone",
        "at": (chrono::Utc::now() - chrono::Duration::minutes(30)).to_rfc3339(), "retired": true})
    .to_string();
    assert_eq!(
        server
            .post("/api/v1/facts", &format!("{gone}\n{retired}"))
            .0,
        200
    );

    let (status, health) = server.get("/health");
    assert_eq!(status, 200, "{health}");
    assert_eq!(
        health,
        json!({"incompleteAnnotations": {"pods": [
            {"name": "half-bundle", "namespace": "apps"},
            {"name": "unknown-product", "namespace": "apps"},
        ], "count": 2}})
    );
    let (status, _) = server.get_as("nope", "/health");
    assert_eq!(status, 401);
    let (status, up) = server.get_as("nope", "/");
    assert_eq!((status, up), (200, json!({"status": "UP"})));
}
