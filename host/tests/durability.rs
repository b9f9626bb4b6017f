//! Durability under SIGKILL (issue 16.5): the service runs as a child process on a store in a
//! temporary folder while clients ingest concurrently; it is killed with SIGKILL mid-ingest,
//! several times, and restarted on the same store. Every batch answered 2xx must be there after
//! each restart, and retrying the batches that got no answer stores each of their facts once:
//! the store ends holding every fact sent, exactly once.

#![cfg(unix)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use licmetric::store::Store;

const CLIENTS: usize = 3;
const LINES: usize = 400;
const ROUNDS: usize = 3;

/// A running service and its address.
struct Service {
    child: Child,
    url: String,
}

fn start(data: &Path) -> Service {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_licmetric"))
        .args(["serve", "--data"])
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("licmetric serve");
    let url = format!("http://127.0.0.1:{port}");
    let began = Instant::now();
    while reqwest::blocking::get(format!("{url}/")).is_err() {
        assert!(began.elapsed() < Duration::from_secs(120), "no answer");
        std::thread::sleep(Duration::from_millis(50));
    }
    Service { child, url }
}

/// The batch `n` of client `c`: facts with ids of their own, so each can be found again.
fn batch(c: usize, n: usize) -> String {
    (0..LINES)
        .map(|i| {
            format!(
                r#"{{"id":"c{c}-b{n}-{i}","kind":"vm","key":"c{c}-vm-{i}","at":"2026-11-{:02}T{:02}:00:00Z","attrs":{{"vcpus":{}}}}}"#,
                1 + n % 28,
                i % 24,
                1 + (n + i) % 16
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Posts a batch: `Some((stored, duplicates))` on 2xx, `None` when no answer came.
fn post(url: &str, token: &str, body: String) -> Option<(u64, u64)> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let r = client
        .post(format!("{url}/api/v1/facts"))
        .bearer_auth(token)
        .body(body)
        .send()
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    let v: serde_json::Value = r.json().ok()?;
    Some((v["stored"].as_u64()?, v["duplicates"].as_u64()?))
}

#[test]
fn acknowledged_facts_survive_sigkill_and_retries_add_no_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    // (client, batch) → answered?
    let sent: Arc<Mutex<Vec<((usize, usize), bool)>>> = Default::default();
    let mut next = [0usize; CLIENTS];
    for round in 0..ROUNDS {
        let mut service = start(&data);
        let token = std::fs::read_to_string(data.join("admin-token"))
            .unwrap()
            .trim()
            .to_string();
        // Batches acknowledged before this round are all there.
        for ((c, n), answered) in sent.lock().unwrap().clone() {
            if answered {
                assert_eq!(
                    post(&service.url, &token, batch(c, n)),
                    Some((0, LINES as u64)),
                    "round {round}: acknowledged batch {c}/{n} is not whole"
                );
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (url, token, sent, stop) = (
                    service.url.clone(),
                    token.clone(),
                    sent.clone(),
                    stop.clone(),
                );
                let first = next[c];
                std::thread::spawn(move || {
                    let mut n = first;
                    while !stop.load(Ordering::Relaxed) {
                        let answered = post(&url, &token, batch(c, n)).is_some();
                        sent.lock().unwrap().push(((c, n), answered));
                        n += 1;
                        if !answered {
                            break;
                        }
                    }
                    n
                })
            })
            .collect();
        // Let ingest run, then kill the service in the middle of it.
        std::thread::sleep(Duration::from_millis(700 + 400 * round as u64));
        service.child.kill().expect("SIGKILL");
        service.child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for (c, client) in clients.into_iter().enumerate() {
            next[c] = client.join().unwrap();
        }
    }
    let sent = sent.lock().unwrap().clone();
    assert!(
        sent.iter().filter(|(_, answered)| *answered).count() >= CLIENTS,
        "too few batches were acknowledged to prove anything: {sent:?}"
    );
    assert!(
        sent.iter().any(|(_, answered)| !answered),
        "no batch was cut off by the kill: {sent:?}"
    );

    // Retry every batch that got no answer: each stores what the kill lost, and a second
    // retry stores nothing.
    let service = start(&data);
    let token = std::fs::read_to_string(data.join("admin-token"))
        .unwrap()
        .trim()
        .to_string();
    for ((c, n), answered) in &sent {
        let (stored, duplicates) = post(&service.url, &token, batch(*c, *n)).expect("retry");
        assert_eq!(stored + duplicates, LINES as u64);
        if *answered {
            assert_eq!(stored, 0, "batch {c}/{n} was acknowledged but not whole");
        }
        assert_eq!(
            post(&service.url, &token, batch(*c, *n)),
            Some((0, LINES as u64))
        );
    }
    let mut child = service.child;
    child.kill().unwrap();
    child.wait().unwrap();
    let store = Store::open(&data).unwrap();
    assert_eq!(store.observation_count(), sent.len() * LINES);
}
