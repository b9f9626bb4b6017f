//! ILMT's v2 query API over HTTP (`/api/sam/v2/license_usage` and its schema): three pvu
//! products — one in a Cloud Pak at 2:1, one with an entitlement, one that cannot be evaluated —
//! and the Cloud Pak's parent row, queried with columns, criteria, order, pages, dates, computer
//! groups and scoped tokens.

use std::sync::Arc;

use licmetric::store::Store;
use licmetric_tests::*;
use serde_json::{Value, json};

/// `[2026-11-02, 2026-11-05)`: ILMT's enddate is inclusive.
const NOV_2_4: &str = "startdate=2026-11-02&enddate=2026-11-04";

/// Percent-encodes a query value.
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The rows of an answer, checking that `total` is at least their number.
fn rows(answer: &Value) -> &Vec<Value> {
    let rows = answer["rows"].as_array().expect("rows");
    assert!(answer["total"].as_u64().unwrap() as usize >= rows.len());
    rows
}

/// One column of every row.
fn column<'a>(answer: &'a Value, name: &str) -> Vec<&'a Value> {
    rows(answer).iter().map(|r| &r[name]).collect()
}

/// The integer ids the setup's records get, in the order they are stored (products and
/// bundles draw from one sequence).
const NUMBERS: [(&str, i64); 4] = [("cp4i", 1), ("was", 2), ("mq", 3), ("db2", 4)];

/// The record id of every row, from its integer `product_id`.
fn ids(answer: &Value) -> Vec<&'static str> {
    column(answer, "product_id")
        .into_iter()
        .map(|v| {
            let n = v
                .as_i64()
                .unwrap_or_else(|| panic!("{v} is not an integer"));
            NUMBERS
                .iter()
                .find(|(_, m)| *m == n)
                .expect("a known number")
                .0
        })
        .collect()
}

fn setup() -> TestServer {
    let server = TestServer::start(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
    );
    load_pvu_estate(&server);
    // Each record got its number, shown with it.
    let (status, records) = server.get("/api/v1/products");
    assert_eq!(status, 200, "{records}");
    for record in records.as_array().unwrap() {
        let id = record["id"].as_str().unwrap();
        let number = NUMBERS.iter().find(|(i, _)| *i == id).unwrap().1;
        assert_eq!(record["numeric_id"], number, "{record}");
    }
    server
}

#[test]
fn license_usage_answers_ilmt_queries() {
    let server = setup();
    let reader = server.token(Role::Reader, None);
    let get = |query: &str| {
        let (status, body) = server.get_as(&reader, &format!("/api/sam/v2/license_usage?{query}"));
        assert_eq!(status, 200, "{query}: {body}");
        body
    };
    let code_name = {
        let (status, usage) =
            server.get("/api/v1/usage?product=was&start=2026-11-02&end=2026-11-05");
        assert_eq!(status, 200, "{usage}");
        // WAS, 2–4 November: esx-1 min(6 vCPU, 16) × 70 = 420, esx-2 min(4, 8) × 70 = 280.
        assert_eq!(usage["quantity"], "700");
        usage["metric_code_name"].as_str().unwrap().to_string()
    };

    // Default columns, report order (by product id, then each bundle's parent row): db2
    // cannot be evaluated → −1.
    let answer = get(NOV_2_4);
    assert_eq!(answer["total"], 4);
    assert_eq!(
        answer["rows"],
        json!([
            // Its descriptive columns stay filled (IBM's validation client lower-cases them).
            {"product_name": "Db2", "metric_code_name": code_name, "hwm_quantity": -1},
            // MQ: esx-1 min(4 vCPU, 16) × 70 = 280.
            {"product_name": "IBM MQ", "metric_code_name": code_name, "hwm_quantity": 280},
            {"product_name": "WebSphere Application Server", "metric_code_name": code_name, "hwm_quantity": 700},
            // The Cloud Pak's parent row: MQ's 280 at 2:1 → 140, in its member's metric.
            {"product_name": "IBM Cloud Pak for Integration", "metric_code_name": code_name, "hwm_quantity": 140},
        ])
    );

    // Chosen columns, in the order asked.
    let chosen = [
        "threshold_delta",
        "product_id",
        "metric_id",
        "hwm_quantity",
        "hwm_peak_time",
        "threshold",
        "entitled",
        "bundle_id",
        "flex_id",
        "bundle_name",
        "bundle_type",
        "bundle_guid",
        "bundle_metric_contribution",
        "product_bundle_ratio_factor",
        "product_bundle_ratio_divider",
        "is_reaggregation_needed",
        "ibm_provided",
    ];
    let query: String = chosen
        .iter()
        .map(|c| format!("columns[]={c}&"))
        .collect::<String>()
        + NOV_2_4;
    let answer = get(&query);
    let pvu = format!("pvu/{code_name}");
    assert_eq!(
        answer["rows"],
        json!([
            // Db2: threshold 500 but no quantity → ILMT's markers.
            {"threshold_delta": 2147483647, "product_id": 4, "metric_id": pvu,
             "hwm_quantity": -1, "hwm_peak_time": null, "threshold": 500, "entitled": 0,
             "bundle_id": 0, "flex_id": 0, "bundle_name": null, "bundle_type": -1, "bundle_guid": null,
             "bundle_metric_contribution": null, "product_bundle_ratio_factor": null,
             "product_bundle_ratio_divider": null, "is_reaggregation_needed": 0, "ibm_provided": 0},
            // MQ in cp4i at 2:1: contribution ceil(280 × 1 / 2) = 140; divider 2, factor 1.
            // A member is a product row (-1) that names its bundle's number.
            {"threshold_delta": null, "product_id": 3, "metric_id": pvu,
             "hwm_quantity": 280, "hwm_peak_time": "2026-11-02T00:00:00Z", "threshold": null,
             "entitled": 0, "bundle_id": 1, "flex_id": 1, "bundle_name": "IBM Cloud Pak for Integration",
             "bundle_type": -1, "bundle_guid": null, "bundle_metric_contribution": 140,
             "product_bundle_ratio_factor": 1, "product_bundle_ratio_divider": 2,
             "is_reaggregation_needed": 0, "ibm_provided": 0},
            // WAS: entitlement 1000 − 700 = 300.
            {"threshold_delta": 300, "product_id": 2, "metric_id": pvu,
             "hwm_quantity": 700, "hwm_peak_time": "2026-11-02T00:00:00Z", "threshold": 1000,
             "entitled": 1, "bundle_id": 0, "flex_id": 0, "bundle_name": null, "bundle_type": -1,
             "bundle_guid": null, "bundle_metric_contribution": null,
             "product_bundle_ratio_factor": null, "product_bundle_ratio_divider": null,
             "is_reaggregation_needed": 0, "ibm_provided": 0},
            // The Cloud Pak's parent row: its own number as product_id and flex_id.
            {"threshold_delta": null, "product_id": 1, "metric_id": null,
             "hwm_quantity": 140, "hwm_peak_time": null, "threshold": null,
             "entitled": 0, "bundle_id": 0, "flex_id": 1, "bundle_name": "IBM Cloud Pak for Integration",
             "bundle_type": 1, "bundle_guid": null, "bundle_metric_contribution": null,
             "product_bundle_ratio_factor": null, "product_bundle_ratio_divider": null,
             "is_reaggregation_needed": 0, "ibm_provided": 0},
        ])
    );
    // The keys come in the order asked.
    let (status, _, text) = server.get_text(&format!("/api/sam/v2/license_usage?{query}"));
    assert_eq!(status, 200);
    let first_row = &text[text.find("\"rows\"").unwrap()..];
    let positions: Vec<usize> = chosen
        .iter()
        .map(|c| first_row.find(&format!("\"{c}\"")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");

    // Criteria.
    let criteria = |c: &str| {
        get(&format!(
            "columns[]=product_id&{NOV_2_4}&criteria={}",
            enc(c)
        ))
    };
    for (c, want) in [
        // MQ 280 and the Cloud Pak's 140 < 500 (text operators ignore case); WAS 700 is not;
        // Db2's −1 never matches.
        (
            r#"{"and":[["product_name","contains","m"],["hwm_quantity","<",500]]}"#,
            vec!["mq", "cp4i"],
        ),
        (
            r#"{"and":[["hwm_quantity","<","1000"]]}"#,
            vec!["mq", "was", "cp4i"],
        ),
        (
            r#"{"or":[["product_id","=","2"],["bundle_type","in","[0,1]"]]}"#,
            vec!["was", "cp4i"],
        ),
        // Parent rows only, as IBM's client asks for them.
        (r#"{"and":[["bundle_type","in","[0,1]"]]}"#, vec!["cp4i"]),
        (r#"{"and":[["bundle_type",">","-1"]]}"#, vec!["cp4i"]),
        // Members only.
        (r#"{"and":[["bundle_id",">","0"]]}"#, vec!["mq"]),
        // Standalone products: ILMT's convention, bundle_id <= 0 and bundle_type = -1.
        (
            r#"{"and":[["bundle_id","<=","0"],["bundle_type","=","-1"]]}"#,
            vec!["db2", "was"],
        ),
        (r#"{"and":[["flex_id","=",1]]}"#, vec!["mq", "cp4i"]),
        (r#"{"and":[["threshold","=",]]}"#, vec!["mq", "cp4i"]),
        (r#"{"and":[["threshold","!=",]]}"#, vec!["db2", "was"]),
        // Db2's 2147483647 is not a delta > 0.
        (r#"{"and":[["threshold_delta",">",0]]}"#, vec!["was"]),
        (
            r#"{"and":[["entitled","=",0],{"or":[["product_name","begins_with","D"],["hwm_quantity",">=",280]]}]}"#,
            vec!["db2", "mq"],
        ),
        (
            r#"{"and":[["hwm_peak_time","=","2026-11-02"]]}"#,
            vec!["mq", "was"],
        ),
    ] {
        let answer = criteria(c);
        assert_eq!(ids(&answer), want, "{c}: {answer}");
        assert_eq!(answer["total"], want.len(), "{c}");
    }
    // IBM's Go client sends criteria with raw `"`, `<` and `>` in the request line, as ILMT
    // takes them; the `http` crate's parser alone would answer 400 before any handler.
    let raw = |query: &str| {
        let r = server.raw(&format!(
            "GET /api/sam/v2/license_usage?{query} HTTP/1.1\r\nHost: localhost\r\n\
             Authorization: Bearer {}\r\n",
            server.admin_token
        ));
        (r.status_line, r.body)
    };
    let (status, body) = raw(&format!(
        r#"columns[]=product_id&{NOV_2_4}&criteria={{"and":[["hwm_quantity","<","1000"],["hwm_quantity",">",0]]}}"#
    ));
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ids(&answer), ["mq", "was", "cp4i"], "{answer}");
    // Its criteria in single quotes, as ILMT takes them.
    let (status, body) = raw(&format!(
        "columns[]=product_id&{NOV_2_4}&criteria={{'and':[['hwm_quantity','<','1000']]}}"
    ));
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ids(&answer), ["mq", "was", "cp4i"], "{answer}");
    // Criteria given twice: both hold (the last used to win alone).
    let answer = get(&format!(
        "columns[]=product_id&{NOV_2_4}&criteria={}&criteria={}",
        enc(r#"{"and":[["hwm_quantity","<","1000"]]}"#),
        enc(r#"{"and":[["product_id","=",2]]}"#)
    ));
    assert_eq!(ids(&answer), ["was"], "{answer}");

    // Order: descending quantity puts the unmeasured −1 last; ties keep their order.
    let answer = get(&format!(
        "columns[]=product_id&order[]={}&{NOV_2_4}",
        enc("hwm_quantity desc")
    ));
    assert_eq!(ids(&answer), ["was", "mq", "cp4i", "db2"]);
    let answer = get(&format!(
        "columns[]=product_id&order[]=hwm_quantity&{NOV_2_4}"
    ));
    assert_eq!(ids(&answer), ["cp4i", "mq", "was", "db2"]);
    let answer = get(&format!(
        "columns[]=product_id&order[]={}&order[]={}&{NOV_2_4}",
        enc("bundle_type desc"),
        enc("product_name desc")
    ));
    assert_eq!(ids(&answer), ["cp4i", "was", "mq", "db2"]);

    // Pages: total counts every matching row.
    let answer = get(&format!(
        "columns[]=product_id&order[]=product_id&limit=1&offset=1&countSwitch=true&{NOV_2_4}"
    ));
    assert_eq!(answer["total"], 4);
    assert_eq!(ids(&answer), ["was"]);
    let answer = get(&format!("columns[]=product_id&offset=5&{NOV_2_4}"));
    assert_eq!(answer["total"], 4);
    assert!(rows(&answer).is_empty());

    // Dates: through 12 November vm-a has grown on the 10th: min(10, 16) × 70 = 700 on esx-1,
    // + 280 on esx-2 = 980, peaking on the 10th.
    let answer = get(
        "columns[]=product_id&columns[]=hwm_quantity&columns[]=hwm_peak_time&columns[]=threshold_delta\
         &criteria=%7B%22and%22%3A%5B%5B%22product_id%22%2C%22%3D%22%2C2%5D%5D%7D\
         &startdate=2026-11-02&enddate=2026-11-12",
    );
    assert_eq!(
        answer["rows"],
        json!([{"product_id": 2, "hwm_quantity": 980,
                "hwm_peak_time": "2026-11-10T00:00:00Z", "threshold_delta": 20}])
    );
    // enddate is inclusive: ending on the 10th sees the growth, ending on the 9th does not.
    let was_on = |end: &str| {
        let a = get(&format!(
            "columns[]=hwm_quantity&criteria={}&startdate=2026-11-02&enddate={end}",
            enc(r#"{"and":[["product_id","=",2]]}"#)
        ));
        a["rows"][0]["hwm_quantity"].clone()
    };
    assert_eq!(was_on("2026-11-09"), 700);
    assert_eq!(was_on("2026-11-10"), 980);

    // Default period: the 90 days up to yesterday, told in ILMT's headers.
    let r = server
        .request(
            reqwest::Method::GET,
            "/api/sam/v2/license_usage?computerGroupId=0",
        )
        .header("Token", &reader)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let yesterday = chrono::Utc::now().date_naive() - chrono::Duration::days(1);
    let header = |name: &str| r.headers()[name].to_str().unwrap().to_string();
    assert_eq!(header("enddate"), yesterday.to_string());
    assert_eq!(
        header("startdate"),
        (yesterday - chrono::Duration::days(89)).to_string()
    );
    assert_eq!(header("computerGroupId"), "0");
    let default: Value = r.json().unwrap();
    let explicit = get(&format!(
        "startdate={}&enddate={yesterday}",
        yesterday - chrono::Duration::days(89)
    ));
    assert_eq!(default, explicit);

    // Bad parameters are named.
    for (query, parameter, column) in [
        ("computerGroupId=5", "computerGroupId", None),
        ("computerGroupId=all", "computerGroupId", None),
        ("columns[]=colour", "columns[]", Some("colour")),
        ("order[]=colour", "order[]", Some("colour")),
        (
            "criteria=%7B%22and%22%3A%5B%5B%22colour%22%2C%22%3D%22%2C1%5D%5D%7D",
            "criteria",
            Some("colour"),
        ),
        (
            "criteria=%7B%22and%22%3A%5B%5B%22product_id%22%2C%22like%22%2C1%5D%5D%7D",
            "criteria",
            Some("product_id"),
        ),
        ("startdate=2026-02-30", "startdate", None),
        ("enddate=yesterday", "enddate", None),
        ("startdate=2026-11-05&enddate=2026-11-04", "enddate", None),
        ("limit=-3", "limit", None),
        ("offset=two", "offset", None),
    ] {
        let (status, body) = server.get_as(&reader, &format!("/api/sam/v2/license_usage?{query}"));
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["parameter"], parameter, "{query}: {body}");
        if let Some(column) = column {
            assert_eq!(body["column"], column, "{query}: {body}");
        }
    }
    let (_, body) = server.get_as(
        &reader,
        "/api/sam/v2/license_usage?criteria=%7B%22and%22%3A%5B%5B%22product_id%22%2C%22like%22%2C1%5D%5D%7D",
    );
    assert_eq!(body["operator"], "like", "{body}");

    // No token, no data.
    let r = server
        .request(reqwest::Method::GET, "/api/sam/v2/license_usage")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

#[test]
fn schema_lists_every_column() {
    let server = setup();
    let reader = server.token(Role::Reader, None);
    let (status, schema) = server.get_as(&reader, "/api/sam/v2/schemas/license_usage.json");
    assert_eq!(status, 200, "{schema}");
    let columns = schema[0].as_object().expect("an object in an array");
    for name in [
        "product_id",
        "product_name",
        "metric_id",
        "metric_code_name",
        "metric_name",
        "hwm_quantity",
        "hwm_peak_time",
        "threshold",
        "threshold_delta",
        "bundle_id",
        "flex_id",
        "bundle_guid",
        "bundle_name",
        "bundle_type",
        "bundle_metric_contribution",
        "product_bundle_ratio_factor",
        "product_bundle_ratio_divider",
        "entitled",
        "is_reaggregation_needed",
        "ibm_provided",
    ] {
        let c = &columns.get(name).unwrap_or_else(|| panic!("no {name}"));
        assert!(c["type"].is_string(), "{name}");
        assert!(!c["description"].as_str().unwrap().is_empty(), "{name}");
    }
    assert_eq!(columns["product_name"]["type"], "string");
    assert_eq!(columns["bundle_type"]["type"], "integer");
    assert_eq!(columns["entitled"]["type"], "boolean");
    // Every column the schema lists can be asked for.
    let query: String = columns
        .keys()
        .map(|c| format!("columns[]={c}"))
        .collect::<Vec<_>>()
        .join("&");
    let (status, answer) = server.get_as(
        &reader,
        &format!("/api/sam/v2/license_usage?{query}&{NOV_2_4}"),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["rows"][0].as_object().unwrap().len(), columns.len());
}

#[test]
fn scoped_reader_sees_its_own_share() {
    let server = setup();
    let query = format!(
        "/api/sam/v2/license_usage?columns[]=product_id&columns[]=hwm_quantity\
         &columns[]=threshold_delta&columns[]=bundle_metric_contribution&{NOV_2_4}"
    );
    // CC1 owns esx-1: WAS on vm-a 420 (delta 1000 − 420 = 580), MQ on vm-b 280 (→ 140 in cp4i).
    let cc1 = server.token(Role::Reader, Some("cost_center=CC1"));
    let (status, answer) = server.get_as(&cc1, &query);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["rows"],
        json!([
            {"product_id": 4, "hwm_quantity": -1, "threshold_delta": 2147483647,
             "bundle_metric_contribution": null},
            {"product_id": 3, "hwm_quantity": 280, "threshold_delta": null,
             "bundle_metric_contribution": 140},
            {"product_id": 2, "hwm_quantity": 420, "threshold_delta": 580,
             "bundle_metric_contribution": null},
            {"product_id": 1, "hwm_quantity": 140, "threshold_delta": null,
             "bundle_metric_contribution": null},
        ])
    );
    // CC2 owns esx-2: WAS on vm-x 280 (delta 720); no MQ there.
    let cc2 = server.token(Role::Reader, Some("cost_center=CC2"));
    let (status, answer) = server.get_as(
        &cc2,
        &format!(
            "{query}&criteria={}",
            enc(r#"{"and":[["hwm_quantity",">",0]]}"#)
        ),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["rows"],
        json!([{"product_id": 2, "hwm_quantity": 280, "threshold_delta": 720,
                "bundle_metric_contribution": null}])
    );
    assert_eq!(answer["total"], 1);
}
