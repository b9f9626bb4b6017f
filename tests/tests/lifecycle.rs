//! The plugin lifecycle in a running service (issue 6 part 5): versions side by side, resolution
//! to the highest active matching version, rollback and activation, states that survive a
//! restart, and a plugin swapped 100 times while 32 clients query and ingest.
//!
//! The SWAP test plugins (tests/plugins/swap.rs) count a product's installations at the start
//! of each day times their version's factor: swap@1.0.0 ×1, swap@1.1.0 ×2, swap@2.0.0 ×3. So a
//! figure says which version computed it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use licmetric::eval::Evaluator;
use licmetric::store::Store;
use licmetric_tests::*;
use reqwest::Method;
use serde_json::{Value, json};

const PERIOD: &str = "start=2026-11-01&end=2026-11-03";

fn upload(server: &TestServer, token: &str, version: &str, path: &str) -> Value {
    let (status, body) = server.send_bytes(
        Method::PUT,
        &format!("/api/v1/plugins/swap/{version}"),
        token,
        std::fs::read(path).unwrap(),
    );
    assert_eq!(status, 201, "upload swap@{version}: {body}");
    body
}

fn post(server: &TestServer, token: &str, path: &str) -> (u16, Value) {
    server.send_bytes(Method::POST, path, token, Vec::new())
}

/// `(quantity, plugin label)` of a product over PERIOD, or the error title.
fn figure(server: &TestServer, product: &str) -> Result<(String, String), String> {
    let (status, body) = server.get(&format!("/api/v1/usage?product={product}&{PERIOD}"));
    if status == 200 {
        Ok((
            body["quantity"].as_str().unwrap().to_string(),
            body["plugin"].as_str().unwrap().to_string(),
        ))
    } else {
        Err(body["detail"].as_str().unwrap_or_default().to_string())
    }
}

/// `version → active` for every held swap version.
fn swap_states(server: &TestServer) -> BTreeMap<String, bool> {
    let (status, list) = server.get("/api/v1/plugins");
    assert_eq!(status, 200, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "swap")
        .map(|p| {
            (
                p["version"].as_str().unwrap().to_string(),
                p["active"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// `n` installations of `product` from 2026-10-31 on.
fn installations(product: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            fact_at(
                "installation",
                &format!("host-{i}/{product}"),
                "2026-10-31T00:00:00Z",
                json!({"product": product, "on": format!("host-{i}")}),
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn days_evaluated(server: &TestServer, version: &str) -> u64 {
    let registry = server.evaluator.runtime.registry();
    let held = registry
        .version("swap", &version.parse().unwrap())
        .expect("held");
    held.plugin.evaluation_counts().1
}

#[test]
fn versions_live_side_by_side_roll_back_and_survive_a_restart() {
    let store = Arc::new(Store::temporary().unwrap());
    let server = TestServer::start(store.clone(), runtime(test_limits()));
    let operator = server.token(Role::Operator, None);
    upload(&server, &operator, "1.0.0", SWAP_1_0);
    upload(&server, &operator, "2.0.0", SWAP_2_0);
    for (id, metric) in [("one", "swap@^1"), ("two", "swap@^2")] {
        let (status, _, body) = server.put(
            &format!("/api/v1/products/{id}"),
            &product(id, metric, json!({})),
        );
        assert!(status < 300, "{body}");
    }
    // 3 installations of each product.
    let facts = [installations("one", 3), installations("two", 3)].join("\n");
    let (status, _, body) = server.post("/api/v1/facts", &facts);
    assert!(status < 300, "{body}");

    // one → swap@1.0.0: 3 × 1; two → swap@2.0.0: 3 × 3.
    assert_eq!(
        figure(&server, "one"),
        Ok(("3".into(), "swap@1.0.0".into()))
    );
    assert_eq!(
        figure(&server, "two"),
        Ok(("9".into(), "swap@2.0.0".into()))
    );

    // A new minor version takes over `swap@^1` only: 3 × 2 = 6. `two`'s binding did not change,
    // so its days come from the results cache: swap@2.0.0 evaluates nothing more.
    let two_days = days_evaluated(&server, "2.0.0");
    upload(&server, &operator, "1.1.0", SWAP_1_1);
    assert_eq!(
        figure(&server, "one"),
        Ok(("6".into(), "swap@1.1.0".into()))
    );
    assert_eq!(
        figure(&server, "two"),
        Ok(("9".into(), "swap@2.0.0".into()))
    );
    assert_eq!(days_evaluated(&server, "2.0.0"), two_days);

    // Rollback undoes the most recent activation (1.1.0): `one` is back on 1.0.0.
    let (status, body) = post(&server, &operator, "/api/v1/plugins/swap/rollback");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rolled_back"]["version"], "1.1.0");
    assert_eq!(body["rolled_back"]["active"], false);
    assert_eq!(body["current"]["version"], "2.0.0");
    assert_eq!(
        figure(&server, "one"),
        Ok(("3".into(), "swap@1.0.0".into()))
    );
    assert_eq!(
        swap_states(&server),
        BTreeMap::from([
            ("1.0.0".into(), true),
            ("1.1.0".into(), false),
            ("2.0.0".into(), true)
        ])
    );

    // The next rollback undoes 2.0.0: `two` now resolves to nothing and fails, naming its
    // metric (never a zero); `one` is unaffected.
    let (status, body) = post(&server, &operator, "/api/v1/plugins/swap/rollback");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rolled_back"]["version"], "2.0.0");
    let error = figure(&server, "two").unwrap_err();
    assert!(error.contains("swap@^2"), "{error}");
    assert_eq!(
        figure(&server, "one"),
        Ok(("3".into(), "swap@1.0.0".into()))
    );

    // 1.0.0 is the only active version left: nothing to roll back to, nothing changes.
    let (status, body) = post(&server, &operator, "/api/v1/plugins/swap/rollback");
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("swap@1.0.0"),
        "{body}"
    );
    assert_eq!(
        figure(&server, "one"),
        Ok(("3".into(), "swap@1.0.0".into()))
    );

    // Activating a held version again; unknown versions and bad semver are named.
    let (status, body) = post(&server, &operator, "/api/v1/plugins/swap/1.1.0/activate");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["active"], true);
    assert_eq!(
        figure(&server, "one"),
        Ok(("6".into(), "swap@1.1.0".into()))
    );
    let (status, body) = post(&server, &operator, "/api/v1/plugins/swap/9.9.9/activate");
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["parameter"], "version");
    let (status, body) = post(&server, &operator, "/api/v1/plugins/swap/latest/activate");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["parameter"], "version");
    // Readers may not change plugins.
    let reader = server.token(Role::Reader, None);
    let (status, _) = post(&server, &reader, "/api/v1/plugins/swap/rollback");
    assert_eq!(status, 403);

    // Uploading a version's bytes under another version is refused; nothing changes.
    let r = server
        .request(Method::PUT, "/api/v1/plugins/swap/1.2.0")
        .bearer_auth(&operator)
        .body(std::fs::read(SWAP_1_1).unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    // Every change is on the audit trail, with who and which digest.
    let (status, audit) = server.get("/api/v1/audit");
    assert_eq!(status, 200);
    let actions: Vec<(String, String)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("plugin."))
        .map(|e| {
            assert!(e["digest"].as_str().unwrap().starts_with("sha256:"), "{e}");
            assert!(e["who"].as_str().unwrap().starts_with("token:"), "{e}");
            (
                e["action"].as_str().unwrap().to_string(),
                e["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("plugin.upload", "swap@1.0.0"),
            ("plugin.upload", "swap@2.0.0"),
            ("plugin.upload", "swap@1.1.0"),
            (
                "plugin.rollback",
                "swap@1.1.0 rolled back; swap@2.0.0 current"
            ),
            (
                "plugin.rollback",
                "swap@2.0.0 rolled back; swap@1.0.0 current"
            ),
            ("plugin.activate", "swap@1.1.0"),
        ]
        .map(|(a, s)| (a.to_string(), s.to_string()))
    );

    // A restart restores the same versions in the same states.
    let before = swap_states(&server);
    drop(server);
    let evaluator = Evaluator::new(store.clone(), runtime(test_limits()));
    licmetric::api::plugins::restore(&evaluator).unwrap();
    let server = TestServer::start(store, evaluator.runtime.clone());
    assert_eq!(swap_states(&server), before);
    assert_eq!(
        figure(&server, "one"),
        Ok(("6".into(), "swap@1.1.0".into()))
    );
    // And rollback still knows the activation order: 1.1.0 was activated last.
    let operator = server.token(Role::Operator, None);
    let (status, body) = post(&server, &operator, "/api/v1/plugins/swap/rollback");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rolled_back"]["version"], "1.1.0");
}

/// 100 swaps (rollback 1.1.0 → 1.0.0, activate 1.1.0 again, …) while 24 clients read every
/// product's figures and 8 ingest facts. No request fails, and in every answer all products
/// were computed by one version: products `s1`..`s4` hold 1..4 installations, so an answer
/// by swap@1.0.0 reads 1, 2, 3, 4 and one by swap@1.1.0 reads 2, 4, 6, 8.
#[test]
fn a_plugin_swapped_100_times_under_load_fails_no_request() {
    let store = Arc::new(Store::temporary().unwrap());
    let server = TestServer::start(store.clone(), runtime(test_limits()));
    let operator = server.token(Role::Operator, None);
    let ingest = server.token(Role::Ingest, None);
    let reader = server.token(Role::Reader, None);
    upload(&server, &operator, "1.0.0", SWAP_1_0);
    upload(&server, &operator, "1.1.0", SWAP_1_1);
    let mut facts = Vec::new();
    for k in 1..=4 {
        let id = format!("s{k}");
        let (status, _, body) = server.put(
            &format!("/api/v1/products/{id}"),
            &product(&id, "swap@^1", json!({})),
        );
        assert!(status < 300, "{body}");
        facts.push(installations(&id, k));
    }
    let (status, _, body) = server.post("/api/v1/facts", &facts.join("\n"));
    assert!(status < 300, "{body}");

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let ingested = Arc::new(AtomicUsize::new(0));
    let url = server.url.clone();
    let mut clients = Vec::new();
    for client in 0..32 {
        let (stop, failures, seen, ingested) = (
            stop.clone(),
            failures.clone(),
            seen.clone(),
            ingested.clone(),
        );
        let (url, token) = if client < 24 {
            (url.clone(), reader.clone())
        } else {
            (url.clone(), ingest.clone())
        };
        clients.push(std::thread::spawn(move || {
            let http = reqwest::blocking::Client::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                if client >= 24 {
                    // Installations of a product nobody licenses: they dirty the days the
                    // swap plugins read, so answers are computed again, not served from cache.
                    let line = fact_at(
                        "installation",
                        &format!("noise-{client}-{n}/other"),
                        "2026-11-02T12:00:00Z",
                        json!({"product": "other", "on": "noise"}),
                    );
                    match http
                        .post(format!("{url}/api/v1/facts"))
                        .bearer_auth(&token)
                        .body(line)
                        .send()
                    {
                        Ok(r) if r.status().is_success() => {
                            ingested.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => failures.lock().unwrap().push(format!(
                            "ingest: {} {}",
                            r.status(),
                            r.text().unwrap()
                        )),
                        Err(e) => failures.lock().unwrap().push(format!("ingest: {e}")),
                    }
                    continue;
                }
                let answer = http
                    .get(format!(
                        "{url}/products?startDate=2026-11-01&endDate=2026-11-03"
                    ))
                    .bearer_auth(&token)
                    .send()
                    .map_err(|e| e.to_string())
                    .and_then(|r| {
                        if r.status().is_success() {
                            r.json::<Value>().map_err(|e| e.to_string())
                        } else {
                            Err(format!("{} {}", r.status(), r.text().unwrap_or_default()))
                        }
                    });
                match answer {
                    Err(e) => failures.lock().unwrap().push(format!("read: {e}")),
                    Ok(rows) => match one_version(&rows) {
                        Ok(factor) => {
                            seen[factor as usize - 1].fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => failures.lock().unwrap().push(e),
                    },
                }
            }
        }));
    }

    for swap in 0..100 {
        let (status, body) = if swap % 2 == 0 {
            post(&server, &operator, "/api/v1/plugins/swap/rollback")
        } else {
            post(&server, &operator, "/api/v1/plugins/swap/1.1.0/activate")
        };
        assert_eq!(status, 200, "swap {swap}: {body}");
        // Let a few answers through between swaps.
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed requests, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let (by_1_0, by_1_1) = (
        seen[0].load(Ordering::Relaxed),
        seen[1].load(Ordering::Relaxed),
    );
    eprintln!(
        "answers by swap@1.0.0: {by_1_0}, by swap@1.1.0: {by_1_1}; facts ingested: {}",
        ingested.load(Ordering::Relaxed)
    );
    assert!(
        by_1_0 > 0 && by_1_1 > 0,
        "answers by 1.0.0: {by_1_0}, by 1.1.0: {by_1_1}"
    );
    assert!(ingested.load(Ordering::Relaxed) > 0);
    // 100 swaps from 1.1.0 end on 1.1.0 (rollback, activate, …, activate).
    assert_eq!(
        swap_states(&server),
        BTreeMap::from([("1.0.0".into(), true), ("1.1.0".into(), true)])
    );
}

/// The factor of the one version that computed every `s*` row of a License Service `/products`
/// answer, or why the answer is not wholly one version's.
fn one_version(rows: &Value) -> Result<u64, String> {
    let rows = rows
        .as_array()
        .ok_or_else(|| format!("not a list: {rows}"))?;
    let mut factors = Vec::new();
    for row in rows {
        let id = row["id"].as_str().unwrap_or_default();
        let Some(k) = id.strip_prefix('s').and_then(|k| k.parse::<u64>().ok()) else {
            continue;
        };
        let quantity = row["metricQuantity"]
            .as_u64()
            .or_else(|| row["metricQuantity"].as_str().and_then(|q| q.parse().ok()))
            .ok_or_else(|| format!("row without a quantity: {row}"))?;
        if quantity % k != 0 {
            return Err(format!("{id}: {quantity} is no multiple of {k}: {row}"));
        }
        factors.push(quantity / k);
    }
    if factors.len() != 4 {
        return Err(format!("expected 4 swap products: {rows:?}"));
    }
    factors.dedup();
    if factors.len() != 1 || !(1..=2).contains(&factors[0]) {
        return Err(format!("an answer mixes versions: factors {factors:?}"));
    }
    Ok(factors[0])
}

#[test]
fn an_answer_mixing_versions_is_caught() {
    let row = |id: &str, q: u64| json!({"id": id, "metricQuantity": q});
    let one = json!([
        row("s1", 1),
        row("s2", 2),
        row("s3", 3),
        row("s4", 4),
        row("x", 7)
    ]);
    assert_eq!(one_version(&one), Ok(1));
    let mixed = json!([row("s1", 1), row("s2", 4), row("s3", 3), row("s4", 4)]);
    assert!(one_version(&mixed).unwrap_err().contains("mixes"));
    assert!(one_version(&json!([row("s1", 1)])).is_err());
}
