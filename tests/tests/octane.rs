//! The Octane licence API (`/api/shared_spaces/{space}/tenant_licenses` and `license_usage`),
//! the License Service style `/health`, `/version` and `/status` pages, and Prometheus
//! `/metrics`, over concurrent sessions of two licence types and one named product. Every
//! asserted figure is derived by hand from the facts below.

use std::collections::BTreeMap;
use std::sync::Arc;

use licmetric::store::Store;
use licmetric_tests::*;
use serde_json::{Value, json};

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

/// Past sessions (UTC):
///   2024-10-30 Wed  QC: ann 09–10                → QC 1   FT: dan, eve, fay 11–12 → FT 3
///   2024-10-31 Thu  QC: bob, cy 14–15            → QC 2   FT: gus 14:30–15:30     → FT 1
///   2024-11-01..03  nothing                      → 0, 0
///   2024-11-04 Mon  QC: hal, ivy, jo 10–11       → QC 3   FT: nothing             → FT 0
/// Today: QC sessions of kim and lou open since 00:00 → QC today 2.
fn octane_facts() -> String {
    let t = today();
    let midnight = format!("{t}T00:00:00Z");
    let ago = |days: u64| format!("{}T00:00:00Z", t - chrono::Days::new(days));
    let mut lines = vec![
        session(
            "q1",
            "QC",
            "ann",
            "2024-10-30T09:00:00Z",
            Some("2024-10-30T10:00:00Z"),
        ),
        session(
            "f1",
            "FT",
            "dan",
            "2024-10-30T11:00:00Z",
            Some("2024-10-30T12:00:00Z"),
        ),
        session(
            "f2",
            "FT",
            "eve",
            "2024-10-30T11:00:00Z",
            Some("2024-10-30T12:00:00Z"),
        ),
        session(
            "f3",
            "FT",
            "fay",
            "2024-10-30T11:00:00Z",
            Some("2024-10-30T12:00:00Z"),
        ),
        session(
            "q2",
            "QC",
            "bob",
            "2024-10-31T14:00:00Z",
            Some("2024-10-31T15:00:00Z"),
        ),
        session(
            "q3",
            "QC",
            "cy",
            "2024-10-31T14:00:00Z",
            Some("2024-10-31T15:00:00Z"),
        ),
        session(
            "f4",
            "FT",
            "gus",
            "2024-10-31T14:30:00Z",
            Some("2024-10-31T15:30:00Z"),
        ),
        session(
            "q4",
            "QC",
            "hal",
            "2024-11-04T10:00:00Z",
            Some("2024-11-04T11:00:00Z"),
        ),
        session(
            "q5",
            "QC",
            "ivy",
            "2024-11-04T10:00:00Z",
            Some("2024-11-04T11:00:00Z"),
        ),
        session(
            "q6",
            "QC",
            "jo",
            "2024-11-04T10:00:00Z",
            Some("2024-11-04T11:00:00Z"),
        ),
        session("t1", "QC", "kim", &midnight, None),
        session("t2", "QC", "lou", &midnight, None),
    ];
    // Named: Sam and Jan hold PPM from ten days ago → 2 named users.
    for user in ["Sam", "Jan"] {
        lines.push(
            json!({"kind": "assignment", "key": format!("PPM/{user}"), "at": ago(10),
                   "attrs": {"license_type": "PPM", "user": user, "active": true}})
            .to_string(),
        );
    }
    lines.join("\n")
}

fn start_server() -> TestServer {
    let server = TestServer::start(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
    );
    let mut qc = product("qc", "concurrent@^1", json!({"license_type": "QC"}));
    qc["name"] = json!("Quality Concurrent");
    qc["entitlement"] = json!({"quantity": 10});
    let mut ft = product("ft", "concurrent@^1", json!({"license_type": "FT"}));
    ft["name"] = json!("FT Runs");
    ft["threshold"] = json!(5);
    let mut ppm = product("ppm", "named@^1", json!({"license_type": "PPM"}));
    ppm["name"] = json!("PPM Named");
    ppm["entitlement"] = json!({"quantity": 20});
    for p in [qc, ft, ppm] {
        let (status, _, body) = server.put(
            &format!("/api/v1/products/{}", p["id"].as_str().unwrap()),
            &p,
        );
        assert_eq!(status, 200, "{body}");
    }
    let (status, _, body) = server.post("/api/v1/facts", &octane_facts());
    assert_eq!(status, 200, "{body}");
    server
}

/// `usage_peaks` of one licence type as (date, peak) pairs.
fn peaks_of(body: &Value, logical: &str) -> Vec<(String, i64)> {
    let entry = body["license_usage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["license_type_logical_name"] == logical)
        .unwrap_or_else(|| panic!("no {logical} in {body}"));
    entry["usage_peaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let point = p["point"].as_str().unwrap();
            assert!(point.ends_with("T00:00:00Z"), "{point}");
            (point[..10].to_string(), p["max_peak"].as_i64().unwrap())
        })
        .collect()
}

fn pairs(list: &[(&str, i64)]) -> Vec<(String, i64)> {
    list.iter().map(|(d, q)| (d.to_string(), *q)).collect()
}

const PERIOD: &str = "start_date=2024-10-30&end_date=2024-11-04";

#[test]
fn tenant_licenses_show_capacity_and_consumption() {
    let server = start_server();
    let (status, body) = server.get("/api/shared_spaces/1001/tenant_licenses");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total_count"], 3);
    let by_id: BTreeMap<String, &Value> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["id"].as_str().unwrap().to_string(), l))
        .collect();
    let qc = by_id["qc"];
    assert_eq!(qc["type"], "license");
    assert_eq!(qc["license_type"], "Quality Concurrent");
    assert_eq!(qc["license_type_logical_name"], "license_type.qc");
    assert_eq!(qc["license_model"], "Concurrent");
    // kim and lou hold QC today → 2 in use; entitlement 10.
    assert_eq!(qc["consumed"], 2);
    assert_eq!(qc["capacity"], 10);
    assert_eq!(qc["editions"], Value::Null);
    assert_eq!(qc["expiration_date"], Value::Null);
    // FT: nobody today → 0; no entitlement, threshold 5.
    assert_eq!(by_id["ft"]["consumed"], 0);
    assert_eq!(by_id["ft"]["capacity"], 5);
    // PPM: Sam and Jan assigned → 2 named users of 20.
    assert_eq!(by_id["ppm"]["license_model"], "Named");
    assert_eq!(by_id["ppm"]["consumed"], 2);
    assert_eq!(by_id["ppm"]["capacity"], 20);

    let (status, body) = server.get("/api/shared_spaces/abc/tenant_licenses");
    assert_eq!(status, 400);
    assert_eq!(body["parameter"], "space");
}

#[test]
fn license_usage_peaks_per_type_and_all_concurrent() {
    let server = start_server();

    // Days: QC 1, 2, 0, 0, 0, 3; FT 3, 1, 0, 0, 0, 0; ALL CONCURRENT = per-day sums 4, 3, 0,
    // 0, 0, 3.
    let (status, body) = server.get(&format!(
        "/api/shared_spaces/1001/license_usage?{PERIOD}&new_format=true"
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["time_unit"], "Days");
    assert_eq!(body["space_id"], 1001);
    assert_eq!(body["start_date"], "2024-10-30");
    assert_eq!(body["end_date"], "2024-11-04");
    let days = |q: [i64; 6]| -> Vec<(String, i64)> {
        [
            "2024-10-30",
            "2024-10-31",
            "2024-11-01",
            "2024-11-02",
            "2024-11-03",
            "2024-11-04",
        ]
        .iter()
        .zip(q)
        .map(|(d, q)| (d.to_string(), q))
        .collect()
    };
    assert_eq!(peaks_of(&body, "license_type.qc"), days([1, 2, 0, 0, 0, 3]));
    assert_eq!(peaks_of(&body, "license_type.ft"), days([3, 1, 0, 0, 0, 0]));
    assert_eq!(
        peaks_of(&body, "license_type.aggregated.cc.all"),
        days([4, 3, 0, 0, 0, 3])
    );
    let names: Vec<&str> = body["license_usage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["license_type_logical_name"].as_str().unwrap())
        .collect();
    // The named product is not a concurrent licence type; ALL CONCURRENT comes last.
    assert_eq!(
        names,
        [
            "license_type.ft",
            "license_type.qc",
            "license_type.aggregated.cc.all"
        ]
    );
    let all = body["license_usage"].as_array().unwrap().last().unwrap();
    assert_eq!(all["license_type_display_name"], "ALL CONCURRENT");

    // Weeks (ISO), each keyed by its peak day. Week of Mon 10-28 (cut to 10-30..11-03): QC 2 on
    // 10-31, FT 3 on 10-30, ALL max(4, 3, 0, 0, 0) = 4 on 10-30 — not 2 + 3 = 5, the sum of the
    // type peaks. Week of 11-04: QC 3, FT 0, ALL 3.
    let (status, body) = server.get(&format!(
        "/api/shared_spaces/1001/license_usage?{PERIOD}&new_format=true&time_unit=weeks"
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["time_unit"], "Weeks");
    let qc = peaks_of(&body, "license_type.qc");
    let ft = peaks_of(&body, "license_type.ft");
    let all = peaks_of(&body, "license_type.aggregated.cc.all");
    assert_eq!(qc, pairs(&[("2024-10-31", 2), ("2024-11-04", 3)]));
    assert_eq!(ft, pairs(&[("2024-10-30", 3), ("2024-11-04", 0)]));
    assert_eq!(all, pairs(&[("2024-10-30", 4), ("2024-11-04", 3)]));
    assert_ne!(
        all[0].1,
        qc[0].1 + ft[0].1,
        "ALL is the max of sums, not a sum of maxima"
    );

    // Months: October (30, 31): QC 2 on 10-31, FT 3 on 10-30, ALL 4 on 10-30; November (1–4):
    // QC 3 on 11-04, FT 0 (earliest day with 0: 11-01), ALL 3 on 11-04.
    let (_, body) = server.get(&format!(
        "/api/shared_spaces/1001/license_usage?{PERIOD}&new_format=true&time_unit=months"
    ));
    assert_eq!(body["time_unit"], "Months");
    assert_eq!(
        peaks_of(&body, "license_type.ft"),
        pairs(&[("2024-10-30", 3), ("2024-11-01", 0)])
    );
    assert_eq!(
        peaks_of(&body, "license_type.aggregated.cc.all"),
        pairs(&[("2024-10-30", 4), ("2024-11-04", 3)])
    );

    // Filters: license_type (quoted, as in Octane's document) and query=(license_type IN …).
    let (status, body) = server.get(&format!(
        "/api/shared_spaces/1001/license_usage?{PERIOD}&new_format=true&license_type=%22license_type.qc%22"
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["license_usage"].as_array().unwrap().len(), 1);
    assert_eq!(peaks_of(&body, "license_type.qc").len(), 6);
    let (status, body) = server.get(&format!(
        "/api/shared_spaces/1001/license_usage?{PERIOD}&new_format=true\
         &query=%22(license_type%20IN%20'license_type.ft','license_type.aggregated.cc.all')%22"
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["license_usage"].as_array().unwrap().len(), 2);
    assert_eq!(
        peaks_of(&body, "license_type.ft")[0],
        ("2024-10-30".into(), 3)
    );

    // Legacy format (the default): ALL CONCURRENT per point, keys as in Octane's document.
    let (status, body) = server.get(&format!("/api/shared_spaces/1001/license_usage?{PERIOD}"));
    assert_eq!(status, 200, "{body}");
    let expected = json!({
        "2024-10-30:00:00.000+0000": 4, "2024-10-31:00:00.000+0000": 3,
        "2024-11-01:00:00.000+0000": 0, "2024-11-02:00:00.000+0000": 0,
        "2024-11-03:00:00.000+0000": 0, "2024-11-04:00:00.000+0000": 3,
    });
    assert_eq!(body["license_usage"], expected);
    assert_eq!(body["space_id"], 1001);
    assert_eq!(body["start_date"], "2024-10-30");
    let (_, body) = server.get(&format!(
        "/api/shared_spaces/1001/license_usage?{PERIOD}&time_unit=weeks&new_format=false"
    ));
    assert_eq!(
        body["license_usage"],
        json!({"2024-10-30:00:00.000+0000": 4, "2024-11-04:00:00.000+0000": 3})
    );

    // With a product counting the aggregate itself (SPEC §3.4.1 step 7), ALL CONCURRENT is
    // the peak of the instant sum: 10-30 QC 09–10 and FT 11–12 never overlap → max(1, 3) = 3;
    // 10-31 bob and cy 14–15 overlap gus 14:30–15:30 → 3; 11-04 → 3. That product is not a
    // licence type of its own.
    let all = product(
        "all",
        "concurrent@^1",
        json!({"license_type": "license_type.aggregated.cc.all"}),
    );
    let (status, _, body) = server.put("/api/v1/products/all", &all);
    assert_eq!(status, 200, "{body}");
    let (_, body) = server.get(&format!(
        "/api/shared_spaces/1001/license_usage?{PERIOD}&new_format=true"
    ));
    assert_eq!(
        peaks_of(&body, "license_type.aggregated.cc.all"),
        days([3, 3, 0, 0, 0, 3])
    );
    assert_eq!(body["license_usage"].as_array().unwrap().len(), 3);
    let (_, body) = server.get("/api/shared_spaces/1001/tenant_licenses");
    assert_eq!(body["total_count"], 3);
}

#[test]
fn license_usage_bad_parameters_are_named() {
    let server = start_server();
    for (query, parameter) in [
        ("time_unit=hours", "time_unit"),
        ("start_date=2024-13-01", "start_date"),
        ("start_date=2024-11-04&end_date=2024-10-30", "end_date"),
        ("new_format=yes", "new_format"),
        (
            "new_format=true&license_type=license_type.nope",
            "license_type",
        ),
        ("new_format=true&query=(user%20IN%20'x')", "query"),
    ] {
        let (status, body) = server.get(&format!("/api/shared_spaces/1001/license_usage?{query}"));
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["parameter"], parameter, "{query}: {body}");
    }
    let (_, doc) = server.get("/api/openapi.json");
    for path in [
        "/api/shared_spaces/{space}/tenant_licenses",
        "/api/shared_spaces/{space}/license_usage",
        "/status",
        "/metrics",
    ] {
        assert_eq!(
            doc["paths"][path]["get"]["x-required-role"], "reader",
            "{path}"
        );
    }
    assert_eq!(doc["paths"]["/"]["get"]["security"], json!([]));
    assert_eq!(doc["paths"]["/health"]["get"]["x-required-role"], "reader");
    let (status, body) = server.get("/api/shared_spaces/x1/license_usage");
    assert_eq!(status, 400);
    assert_eq!(body["parameter"], "space");
}

#[test]
fn status_page_metrics_health_and_version() {
    let server = start_server();
    let mut xss = product("xss", "concurrent@^1", json!({"license_type": "XSS"}));
    xss["name"] = json!("<script>alert(1)</script>");
    let (status, _, body) = server.put("/api/v1/products/xss", &xss);
    assert_eq!(status, 200, "{body}");
    // Bound to no loaded plugin: its evaluation fails, the others are unaffected.
    let (status, _, body) = server.put(
        "/api/v1/products/broken",
        &product("broken", "nosuch@^1", json!({})),
    );
    assert_eq!(status, 200, "{body}");

    // Public pages answer without a token; the status page does not.
    for path in ["/", "/version"] {
        let r = server.request(reqwest::Method::GET, path).send().unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    let r = server
        .request(reqwest::Method::GET, "/version")
        .send()
        .unwrap();
    let version: Value = r.json().unwrap();
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    // License Service's /health is its data-quality answer: a client's connection check
    // relies on it needing a token.
    for path in ["/status", "/metrics", "/health"] {
        let r = server.request(reqwest::Method::GET, path).send().unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
    }

    // QC over the last 30 days: 2 (kim and lou today), peak day today.
    let t = today();
    let (status, content_type, html) = server.get_text("/status");
    assert_eq!(status, 200, "{html}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(html.contains("Quality Concurrent"), "{html}");
    assert!(html.contains("PPM Named"), "{html}");
    assert!(
        html.contains(&format!(
            "<td class=\"n\">2</td><td class=\"n\">10</td><td class=\"n\">8</td><td>{t}</td>"
        )),
        "QC: quantity 2, peak {t}, threshold 10, delta 8: {html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("no loaded plugin matches"), "{html}");
    let (status, _, html) = server.get_text("/status?startDate=2024-10-30&endDate=2024-11-04");
    assert_eq!(status, 200);
    // QC's high-water mark in that period: 3 on 2024-11-04.
    assert!(
        html.contains(
            "<td class=\"n\">3</td><td class=\"n\">10</td><td class=\"n\">7</td><td>2024-11-04</td>"
        ),
        "{html}"
    );
    let (status, _, _) = server.get_text("/status?endDate=yesterday");
    assert_eq!(status, 400);

    // Prometheus text format: HELP/TYPE lines, then samples `name{labels} value`.
    let (status, content_type, text) = server.get_text("/metrics");
    assert_eq!(status, 200, "{text}");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let mut samples: BTreeMap<String, f64> = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
        assert!(
            series.chars().next().unwrap().is_ascii_lowercase(),
            "sample line: {line}"
        );
        samples.insert(series.to_string(), value);
    }
    let get = |series: &str| {
        *samples
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in {text}"))
    };
    assert_eq!(
        get(r#"licmetric_daily_high_water_mark{product="qc",metric="CONCURRENT_USERS"}"#),
        2.0
    );
    assert_eq!(
        get(r#"licmetric_daily_high_water_mark{product="ft",metric="CONCURRENT_USERS"}"#),
        0.0
    );
    assert_eq!(
        get(
            r#"licmetric_period_high_water_mark{product="ppm",metric="NAMED_PEAK_ACTIVE",period="30d"}"#
        ),
        2.0
    );
    assert_eq!(
        get(r#"licmetric_product_evaluation_failed{product="qc"}"#),
        0.0
    );
    assert_eq!(
        get(r#"licmetric_product_evaluation_failed{product="broken"}"#),
        1.0
    );
    assert!(get("licmetric_fact_sequence") >= 1.0);
    assert!(text.contains("# TYPE licmetric_daily_high_water_mark gauge"));

    // A scoped reader sees no warnings (they name consumers).
    let scoped = server.token(Role::Reader, Some("cost_center=CC1"));
    let r = server
        .request(reqwest::Method::GET, "/status")
        .bearer_auth(&scoped)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().unwrap().contains("Not shown to a scoped token"));
}
