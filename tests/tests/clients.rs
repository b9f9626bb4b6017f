//! The compatibility suite: each client family licmetric promises to serve sends exactly the
//! requests it sends in the field, over HTTPS (what those clients speak by default), and the
//! answers are decoded by the types the client declares, with its language's null rules.
//!
//! - IBM's Go ILMT client (the `ilmt` package of Red Hat Marketplace's `datactl`): per day,
//!   three `license_usage` queries with the token in the query and raw quotes, braces and
//!   `<`/`>` in the request line; rows decoded into `int64`/`int`/`string` fields as Go's
//!   `encoding/json` would; members paired with their parent row by `bundle_id` = `flex_id`.
//! - IBM's ILMT validation client: lower-cases every row's `metric_code_name`.
//! - A Python IBM License Service client: `/products`, `/bundled_products` and `/services` with
//!   and without `groupName`, `/snapshot` with `metricName`, `/health` as its connection check
//!   (it must need the token), `GET /` as liveness.

use std::collections::BTreeMap;

use licmetric_tests::*;
use serde_json::Value;

/// A Go field type of the client's structs.
#[derive(Debug, Clone, Copy)]
enum Go {
    /// `int64` and `int` (64 bits on the client's platforms).
    Int,
    String,
}

/// A decoded Go value.
#[derive(Debug, Clone, PartialEq)]
enum GoValue {
    Int(i64),
    Str(String),
}

impl GoValue {
    fn int(&self) -> i64 {
        match self {
            GoValue::Int(n) => *n,
            GoValue::Str(s) => panic!("{s:?} is not an int"),
        }
    }

    fn str(&self) -> &str {
        match self {
            GoValue::Str(s) => s,
            GoValue::Int(n) => panic!("{n} is not a string"),
        }
    }
}

/// The fields of the client's `StandaloneProductLicenceUsage`, `ProductPartOfBndlLicenceUsage`
/// and `ParentProductLicenceUsage` (all three alike).
const ROW: &[(&str, Go)] = &[
    ("product_id", Go::Int),
    ("product_name", Go::String),
    ("metric_code_name", Go::String),
    ("hwm_quantity", Go::Int),
    ("bundle_id", Go::Int),
    ("flex_id", Go::Int),
    ("bundle_type", Go::Int),
    ("bundle_name", Go::String),
    ("bundle_metric_contribution", Go::Int),
    ("product_bundle_ratio_factor", Go::Int),
    ("product_bundle_ratio_divider", Go::Int),
];

/// Decodes `object` into a struct of `fields` as Go's `encoding/json` does: null or absent
/// keeps the zero value; a value of another type is an `UnmarshalTypeError`, which the client
/// ignores (keeping zero), so here it fails the test naming the field.
fn go_decode(object: &Value, fields: &[(&'static str, Go)]) -> BTreeMap<&'static str, GoValue> {
    let mut out = BTreeMap::new();
    for (name, kind) in fields {
        let value = object.get(*name).unwrap_or(&Value::Null);
        let decoded = match (kind, value) {
            (Go::Int, Value::Null) => GoValue::Int(0),
            (Go::String, Value::Null) => GoValue::Str(String::new()),
            // Go refuses a fraction or an exponent for an integer field.
            (Go::Int, Value::Number(n)) => GoValue::Int(
                n.as_i64()
                    .unwrap_or_else(|| panic!("{name}: {n} does not fit a Go int")),
            ),
            (Go::String, Value::String(s)) => GoValue::Str(s.clone()),
            _ => panic!("{name}: {value} cannot be decoded into a Go {kind:?} in {object}"),
        };
        out.insert(*name, decoded);
    }
    out
}

/// The client's three criteria, as its source writes them.
const COLUMN_NAMES_APPEND: &str = "&columns[]=product_id&columns[]=product_name&columns[]=metric_code_name&columns[]=bundle_id&columns[]=flex_id&columns[]=bundle_type&columns[]=bundle_name&columns[]=hwm_quantity&columns[]=bundle_metric_contribution&columns[]=product_bundle_ratio_factor&columns[]=product_bundle_ratio_divider";
const CRITERIA_STANDALONE: &str = "&limit=2&criteria={'and':[['bundle_id','<=','0']]}&criteria={'and':[['bundle_type','=','-1']]}";
const CRITERIA_PRODUCT_PART_OF_BUNDLE: &str = "&criteria={'and':[['bundle_id','>','0']]}";
const CRITERIA_PARENT_PRODUCT: &str = "&criteria={'and':[['bundle_type','>','-1']]}";

/// One of the client's requests for `day`, byte for byte as Go's net/http writes it; the
/// `{"total": int, "rows": [...]}` answer decoded.
fn go_fetch(
    server: &TestServer,
    token: &str,
    criteria: &str,
    day: &str,
) -> (i64, Vec<BTreeMap<&'static str, GoValue>>) {
    let port = server.url.rsplit(':').next().unwrap();
    let response = server.raw(&format!(
        "GET /api/sam/v2/license_usage?token={token}{COLUMN_NAMES_APPEND}{criteria}\
         &startdate={day}&enddate={day} HTTP/1.1\r\nHost: localhost:{port}\r\n\
         User-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n"
    ));
    // The client swallows a refusal and reports an empty data set; here it is a failure.
    assert_eq!(
        response.status_line, "HTTP/1.1 200 OK",
        "{criteria}: {}",
        response.body
    );
    let answer: Value = serde_json::from_str(&response.body).expect("JSON");
    // The client's `TotalRows int \`json:"total"\``.
    let total = go_decode(&answer, &[("total", Go::Int)])["total"].int();
    let rows = answer["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| go_decode(row, ROW))
        .collect();
    (total, rows)
}

fn https_estate() -> (TestServer, tempfile::TempDir) {
    let (server, dir) = https_server();
    assert!(server.url.starts_with("https://"), "{}", server.url);
    load_pvu_estate(&server);
    (server, dir)
}

#[test]
fn ibms_go_ilmt_client_gets_every_row_with_its_types_and_pairs_members_with_parents() {
    let (server, _dir) = https_estate();
    let token = server.token(Role::Reader, None);
    let day = "2026-11-03";

    // Standalone products: WAS 700 (min(6, 16) × 70 + min(4, 8) × 70) and Db2, which cannot
    // be evaluated (-1, its metric still named).
    let (total, standalone) = go_fetch(&server, &token, CRITERIA_STANDALONE, day);
    assert_eq!(total, 2);
    let by_name: BTreeMap<&str, &BTreeMap<&str, GoValue>> = standalone
        .iter()
        .map(|r| (r["product_name"].str(), r))
        .collect();
    let was = by_name["WebSphere Application Server"];
    assert_eq!(
        (was["product_id"].int(), was["hwm_quantity"].int()),
        (2, 700)
    );
    let db2 = by_name["Db2"];
    assert_eq!(
        (db2["product_id"].int(), db2["hwm_quantity"].int()),
        (4, -1)
    );
    for row in &standalone {
        assert_eq!(row["bundle_id"].int(), 0);
        assert_eq!(row["bundle_type"].int(), -1);
        assert!(!row["metric_code_name"].str().is_empty());
    }

    // Members: MQ, 280 PVU in cp4i at 2:1 → 140.
    let (_, members) = go_fetch(&server, &token, CRITERIA_PRODUCT_PART_OF_BUNDLE, day);
    assert_eq!(members.len(), 1, "{members:?}");
    let mq = &members[0];
    assert_eq!(mq["product_name"].str(), "IBM MQ");
    assert_eq!(mq["hwm_quantity"].int(), 280);
    assert_eq!(mq["bundle_metric_contribution"].int(), 140);

    // Parents: the Cloud Pak's own row.
    let (_, parents) = go_fetch(&server, &token, CRITERIA_PARENT_PRODUCT, day);
    assert_eq!(parents.len(), 1, "{parents:?}");
    assert_eq!(parents[0]["bundle_type"].int(), 1);

    // The client's GetParentProduct and GetProductConversionRatio, as it writes them.
    let parent = parents
        .iter()
        .find(|p| p["flex_id"] == mq["bundle_id"])
        .expect("MQ's parent row");
    assert_eq!(parent["product_id"].int(), 1);
    assert_eq!(
        parent["product_name"].str(),
        "IBM Cloud Pak for Integration"
    );
    assert_eq!(parent["hwm_quantity"].int(), 140);
    assert_eq!(parent["metric_code_name"], mq["metric_code_name"]);
    let ratio = format!(
        "{}:{}",
        mq["product_bundle_ratio_divider"].int(),
        mq["product_bundle_ratio_factor"].int()
    );
    assert_eq!(ratio, "2:1");

    // Its ids are the records' stable numbers, as every API shows them.
    let (_, records) = server.get("/api/v1/products");
    let numbers: BTreeMap<&str, i64> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["numeric_id"].as_i64().unwrap()))
        .collect();
    assert_eq!(numbers["mq"], mq["product_id"].int());
    assert_eq!(numbers["was"], was["product_id"].int());
    let (_, cp4i) = server.get("/api/v1/bundles/cp4i");
    assert_eq!(cp4i["numeric_id"], parent["flex_id"].int());
    let (_, usage) = server.get("/api/v1/usage?product=mq&start=2026-11-03&end=2026-11-04");
    assert_eq!(usage["numeric_id"], mq["product_id"].int(), "{usage}");
    let (_, usage) = server.get("/api/v1/usage?bundle=cp4i&start=2026-11-03&end=2026-11-04");
    assert_eq!(usage["numeric_id"], parent["product_id"].int(), "{usage}");

    // A bad token is refused, never an empty data set.
    let refused = server.raw(&format!(
        "GET /api/sam/v2/license_usage?token=wrong{COLUMN_NAMES_APPEND} HTTP/1.1\r\n\
         Host: localhost\r\n"
    ));
    assert!(
        refused.status_line.starts_with("HTTP/1.1 401"),
        "{}",
        refused.status_line
    );
}

#[test]
fn ibms_ilmt_validation_client_can_lower_case_every_metric_code_name() {
    let (server, _dir) = https_estate();
    let token = server.token(Role::Reader, None);
    let r = server
        .request(
            reqwest::Method::GET,
            "/api/sam/v2/license_usage?startdate=2026-11-02&enddate=2026-11-04",
        )
        .header("Token", &token)
        .header("Accept-Language", "en-US")
        .send()
        .expect("GET");
    assert_eq!(r.status().as_u16(), 200);
    let answer: Value = r.json().unwrap();
    let rows = answer["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{answer}");
    for row in rows {
        // Python's row["metric_code_name"].lower() needs a str, the failed Db2's too.
        let code = row["metric_code_name"].as_str();
        assert!(code.is_some_and(|c| !c.is_empty()), "{row}");
        assert!(row["hwm_quantity"].is_i64(), "{row}");
    }
}

#[test]
fn a_python_license_service_client_reads_every_route_with_its_types() {
    let (server, _dir) = https_estate();
    let token = server.token(Role::Reader, None);
    let period = "startDate=2026-11-02&endDate=2026-11-04";
    let get = |path: &str| -> Value {
        let r = server
            .request(reqwest::Method::GET, &format!("{path}&token={token}"))
            .send()
            .expect("GET");
        assert_eq!(r.status().as_u16(), 200, "{path}");
        r.json().expect("JSON")
    };
    // Column types stay whole: figures are numbers (a failed product's -1 too), names text.
    let numbers_and_text = |rows: &Value, numbers: &[&str], texts: &[&str]| {
        for row in rows.as_array().expect("an array") {
            for n in numbers {
                assert!(row[*n].is_number(), "{n} in {row}");
            }
            for t in texts {
                assert!(row[*t].is_string(), "{t} in {row}");
            }
        }
    };

    let products = get(&format!("/products?{period}"));
    assert_eq!(products.as_array().unwrap().len(), 3, "{products}");
    numbers_and_text(
        &products,
        &["metricQuantity"],
        &["name", "id", "metricName"],
    );
    let db2 = products
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "db2")
        .unwrap();
    assert_eq!(db2["metricQuantity"], -1, "{db2}");
    assert!(db2["error"].is_string(), "{db2}");

    // groupName on all three data routes: CC1 owns esx-1 (vm-a's WAS, vm-b's MQ).
    let cc1 = get(&format!("/products?{period}&groupName=CC1"));
    numbers_and_text(&cc1, &["metricQuantity"], &["groupName"]);
    let bundled = get(&format!("/bundled_products?{period}"));
    numbers_and_text(
        &bundled,
        &["metricMeasuredQuantity", "metricConvertedQuantity"],
        &[
            "productId",
            "cloudpakId",
            "cloudpakName",
            "cloudpakMetricName",
            "metricName",
            "metricPeakDate",
        ],
    );
    assert_eq!(bundled[0]["metricConvertedQuantity"], 140, "{bundled}");
    let bundled_cc1 = get(&format!("/bundled_products?{period}&groupName=CC1"));
    assert_eq!(
        bundled_cc1[0]["metricConvertedQuantity"], 140,
        "{bundled_cc1}"
    );
    assert_eq!(bundled_cc1[0]["groupName"], "CC1");
    let bundled_cc2 = get(&format!("/bundled_products?{period}&groupName=CC2"));
    assert_eq!(
        bundled_cc2,
        Value::Array(vec![]),
        "MQ runs on CC1's server only"
    );
    let services = get(&format!("/services?{period}&groupName=CC1"));
    numbers_and_text(
        &services,
        &["serviceMetricValue"],
        &["serviceId", "metricDate", "groupName"],
    );

    // The snapshot for one metric.
    let metric = db2["metricName"].as_str().unwrap();
    let r = server
        .request(
            reqwest::Method::GET,
            &format!("/snapshot?{period}&metricName={metric}&token={token}"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/zip"
    );
    assert!(r.bytes().unwrap().starts_with(b"PK"));

    // Its connection check: /health needs the token; liveness is GET /, open.
    let health = get("/health?");
    assert!(
        health["incompleteAnnotations"]["count"].is_u64(),
        "{health}"
    );
    assert!(
        health["incompleteAnnotations"]["pods"].is_array(),
        "{health}"
    );
    for bad in ["/health?token=wrong", "/health"] {
        let r = server.request(reqwest::Method::GET, bad).send().unwrap();
        assert_eq!(r.status().as_u16(), 401, "{bad}");
    }
    let r = server.request(reqwest::Method::GET, "/").send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
}
