//! HTTPS (issue 15.8): with a certificate the service speaks only TLS, so tokens never travel
//! in clear; a bad certificate or key stops the start with an error naming the file.

use licmetric::api::serve::Tls;
use licmetric_tests::*;
use serde_json::json;

#[test]
fn the_api_is_served_over_https_and_plain_http_gets_nothing() {
    let (server, _dir) = https_server();
    assert!(
        server.url.starts_with("https://localhost:"),
        "{}",
        server.url
    );

    // The whole API works over TLS, authentication included.
    server.put(
        "/api/v1/products/cad",
        &product("cad", "concurrent@^1", json!({})),
    );
    let (status, _, stored) = server.post(
        "/api/v1/facts",
        &session(
            "s1",
            "cad",
            "ann",
            "2026-11-02T09:00:00Z",
            Some("2026-11-02T11:00:00Z"),
        ),
    );
    assert_eq!((status, stored["stored"].as_u64()), (200, Some(1)));
    let (status, usage) = server.get("/api/v1/usage?product=cad&start=2026-11-01&end=2026-11-05");
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["quantity"], "1", "{usage}");
    let anonymous = server
        .request(reqwest::Method::GET, "/api/v1/usage?product=cad")
        .send()
        .expect("GET without a token");
    assert_eq!(anonymous.status().as_u16(), 401);

    // Plain HTTP on the same port is a failed handshake, never an answer.
    let port = server.url.rsplit(':').next().unwrap();
    let plain = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/v1/usage?product=cad"))
        .bearer_auth(&server.admin_token)
        .send();
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");

    // A client that does not trust the certificate refuses it.
    let untrusted = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/usage?product=cad", server.url))
        .send();
    assert!(untrusted.is_err(), "an untrusted certificate was accepted");
}

#[test]
fn a_bad_certificate_or_key_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cert = certificate(dir.path(), "one").cert;
    let other_key = certificate(dir.path(), "two").key;

    let mismatch = Tls::from_pem_files(&cert, &other_key)
        .err()
        .expect("refused");
    let text = format!("{mismatch:#}");
    assert!(
        text.contains("two.key") && text.contains("does not match"),
        "{text}"
    );

    let garbage = dir.path().join("garbage.crt");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let text = format!(
        "{:#}",
        Tls::from_pem_files(&garbage, &other_key)
            .err()
            .expect("refused")
    );
    assert!(
        text.contains("garbage.crt") && text.contains("no CERTIFICATE"),
        "{text}"
    );

    let missing = dir.path().join("missing.key");
    let text = format!(
        "{:#}",
        Tls::from_pem_files(&cert, &missing).err().expect("refused")
    );
    assert!(text.contains("missing.key"), "{text}");

    // A certificate file given as the key holds no key.
    let text = format!(
        "{:#}",
        Tls::from_pem_files(&cert, &cert).err().expect("refused")
    );
    assert!(
        text.contains("one.crt") && text.contains("PRIVATE KEY"),
        "{text}"
    );
}
