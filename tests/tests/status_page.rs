//! The status page as a person sees it: a fixture estate with an over-entitled product is
//! served, headless Chromium (Debian's `chromium`, installed by scripts/test-deps) loads
//! `/status` with `?token=` as a browser would, and the rendered DOM is checked for the red
//! row first, one chart per product and bundle with its entitlement line, and drill-down links
//! that lead to the peak day and the chargeback.

use std::process::Command;
use std::sync::Arc;

use licmetric::store::Store;
use licmetric_tests::*;
use serde_json::json;

const PERIOD: &str = "startDate=2026-11-02&endDate=2026-11-12";

/// The DOM Chromium renders for `url`.
fn dom(url: &str) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--dump-dom",
            url,
        ])
        .output()
        .expect("chromium runs (scripts/test-deps installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 DOM")
}

/// The value of attribute `name` in the first element of `html` from `from` on.
fn attribute<'a>(html: &'a str, from: usize, name: &str) -> &'a str {
    let at = from + html[from..].find(&format!("{name}=\"")).expect(name) + name.len() + 2;
    &html[at..at + html[at..].find('"').unwrap()]
}

#[test]
fn the_status_page_shows_compliance_charts_and_drill_down_in_a_browser() {
    let server = TestServer::start(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
    );
    load_pvu_estate(&server);
    // MQ uses 280 PVU against an entitlement of 200: over. WAS, 980 of 1000 at its peak: near.
    let mut mq = product("mq", "pvu@^1", json!({}));
    mq["name"] = json!("IBM MQ");
    mq["bundle"] = json!({"id": "cp4i", "ratio": "2:1"});
    mq["entitlement"] = json!({"quantity": 200});
    assert_eq!(server.put("/api/v1/products/mq", &mq).0, 200);
    let token = server.token(Role::Reader, None);

    let page = dom(&format!("{}/status?{PERIOD}&token={token}", server.url));

    // Compliance first: the over-entitled product is the first row, in its red state.
    let compliance = &page[page
        .find("<table class=\"compliance\"")
        .expect("compliance")..];
    let first_row = &compliance[compliance.find("<tbody>").unwrap()..];
    let first_row = &first_row[..first_row.find("</tr>").unwrap()];
    assert!(
        first_row.contains("class=\"over\"") && first_row.contains("data-product=\"mq\""),
        "{first_row}"
    );
    assert!(first_row.contains(">-80<"), "delta 200 − 280: {first_row}");
    assert!(page.contains("data-product=\"was\""), "{page}");
    assert!(page.contains("class=\"near\""), "WAS 980 of 1000: {page}");
    assert!(page.contains("class=\"failed\""), "Db2: {page}");
    // Red is red as rendered: the row's computed background comes from the page's own style.
    assert!(page.contains("tr.over{background:#f8d7da}"));

    // One chart per product and bundle: 3 products and the Cloud Pak.
    assert_eq!(page.matches("<figure class=\"chart\"").count(), 4, "{page}");
    let mq_section = &page[page.find("id=\"product-mq\"").expect("MQ's section")..];
    let mq_section = &mq_section[..mq_section.find("</section>").unwrap()];
    assert!(mq_section.contains("<svg"), "{mq_section}");
    assert_eq!(attribute(mq_section, 0, "data-entitlement"), "200");
    // The entitlement line, in its colour.
    assert!(mq_section.contains("#C0392B"), "{mq_section}");
    assert_eq!(attribute(mq_section, 0, "data-peak"), "2026-11-02");

    // Drill-down: the link from MQ's figure leads to its peak day and consumers.
    let link = attribute(
        mq_section,
        mq_section.find("class=\"peak\"").unwrap(),
        "href",
    )
    .replace("&amp;", "&");
    assert!(link.starts_with("/status/products/mq?"), "{link}");
    let drill = dom(&format!("{}{link}", server.url));
    assert!(drill.contains("Peak day 2026-11-02"), "{drill}");
    assert!(drill.contains("<table id=\"consumers\""), "{drill}");
    assert!(drill.contains("installation:vm-b/mq"), "{drill}");
    assert!(drill.contains("<td>CC1</td>"), "its group: {drill}");
    assert!(drill.contains("id=\"chargeback\""), "{drill}");
    assert!(drill.contains("table=consumers&amp;format=csv"), "{drill}");
    let csv_link = format!("{link}&table=consumers&format=csv");
    let (status, content_type, csv) = server.get_text(&csv_link);
    assert_eq!(status, 200, "{csv_link}: {csv}");
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    assert!(csv.starts_with("consumer,unit,weight,group"), "{csv}");

    // The README's picture of the page: LICMETRIC_STATUS_SCREENSHOT=docs/status-page.png.
    if let Ok(path) = std::env::var("LICMETRIC_STATUS_SCREENSHOT") {
        let shot = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .arg("--window-size=1100,1500")
            .arg(format!("--screenshot={path}"))
            .arg(format!("{}/status?{PERIOD}&token={token}", server.url))
            .output()
            .unwrap();
        assert!(
            shot.status.success(),
            "{}",
            String::from_utf8_lossy(&shot.stderr)
        );
    }

    // Without a token the browser gets no page.
    let refused = server
        .request(reqwest::Method::GET, &format!("/status?{PERIOD}"))
        .send()
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
}
