//! Helpers for licmetric's end-to-end tests: the hostile test plugins, a runtime with a shared
//! compile cache, and a real HTTP server on a loopback port.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use licmetric::api::{self, AppState};
use licmetric::eval::Evaluator;
use licmetric::runtime::{Limits, Runtime};
use licmetric::store::Store;
pub use licmetric::store::tokens::Role;

/// Built by tests/build.rs from tests/plugins/*: the hostile test plugins.
pub const SPIN_FOREVER: &str = env!("LICMETRIC_TEST_SPIN_FOREVER");
pub const MEMORY_BOMB: &str = env!("LICMETRIC_TEST_MEMORY_BOMB");
pub const PANIC: &str = env!("LICMETRIC_TEST_PANIC");
pub const HUGE_OUTPUT: &str = env!("LICMETRIC_TEST_HUGE_OUTPUT");
/// The SWAP metric in three versions: 1.0.0 (×1), 1.1.0 (×2), 2.0.0 (×3); see tests/plugins/swap.rs.
pub const SWAP_1_0: &str = env!("LICMETRIC_TEST_SWAP_1_0");
pub const SWAP_1_1: &str = env!("LICMETRIC_TEST_SWAP_1_1");
pub const SWAP_2_0: &str = env!("LICMETRIC_TEST_SWAP_2_0");
/// The standard pvu plugin's logic as pvu@1.1.0 (tests/pvu-next): another version, other digest.
pub const PVU_NEXT: &str = env!("LICMETRIC_TEST_PVU_NEXT");
/// A well-behaved test plugin (`fixed`: every day counts the product's `units`) whose bundled
/// example passes, so uploads and loads accept it.
pub const FIXED: &str = env!("LICMETRIC_TEST_FIXED");
/// A test plugin that loads (its example passes) and lies in its answers as a product's `lie`
/// parameter asks (tests/plugins/liar).
pub const LIAR: &str = env!("LICMETRIC_TEST_LIAR");
/// A plugin built against `licmetric:plugin@2.0.0` (tests/plugins/wit-v2/wit), refused by
/// this host of the 1.x WIT.
pub const WIT_V2: &str = env!("LICMETRIC_TEST_WIT_V2");
/// `installed@1.0.0`, built against the frozen `licmetric:plugin@1.0.0` (wit/v1.0) without
/// the SDK: the host still uploads, self-tests, counts and explains it.
pub const WIT_V1_0: &str = env!("LICMETRIC_TEST_WIT_V1_0");

/// The repository's tests/fixtures folder.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A self-signed certificate for `localhost`, written as PEM files into a folder.
pub struct TestCertificate {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The certificate itself (DER), for clients that trust it.
    pub der: Vec<u8>,
}

impl TestCertificate {
    /// The certificate as a root reqwest trusts.
    pub fn root(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_der(&self.der).expect("root")
    }
}

/// Makes a self-signed certificate for `localhost` as `dir/name.crt` and `dir/name.key`.
pub fn certificate(dir: &Path, name: &str) -> TestCertificate {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let (cert_path, key_path) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key_pair.serialize_pem()).unwrap();
    TestCertificate {
        cert: cert_path,
        key: key_path,
        der: cert.der().to_vec(),
    }
}

/// A server of a fresh temporary store over HTTPS, with its certificate's folder (kept while
/// the server runs).
pub fn https_server() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("certificate folder");
    let certificate = certificate(dir.path(), "server");
    let server = TestServer::start_tls(
        Arc::new(Store::temporary().expect("store")),
        runtime(test_limits()),
        &certificate,
    );
    (server, dir)
}

/// A response read off the wire by [`TestServer::raw`].
pub struct RawResponse {
    /// `HTTP/1.1 200 OK`.
    pub status_line: String,
    /// The header lines.
    pub head: String,
    pub body: String,
}

/// Tight limits so hostile plugins fail fast.
pub fn test_limits() -> Limits {
    Limits {
        cpu: std::time::Duration::from_secs(2),
        memory_bytes: 128 << 20,
        output_bytes: 16 << 20,
        log_lines: 16,
        service_memory_bytes: 1 << 30,
        stored_day_bytes: 4 << 20,
    }
}

/// A runtime with the standard plugins, compiling into the shared test cache.
pub fn runtime(limits: Limits) -> Arc<Runtime> {
    Runtime::with_standard_plugins(licmetric::runtime::default_cache_dir(), limits)
        .expect("runtime")
}

/// A licmetric API served on 127.0.0.1 from a background thread; stops when dropped.
pub struct TestServer {
    pub url: String,
    pub evaluator: Evaluator,
    /// An admin token the helpers below send with every request.
    pub admin_token: String,
    /// The client the helpers send with (it trusts the test certificate of an HTTPS server).
    pub client: reqwest::blocking::Client,
    /// The certificate an HTTPS server presents (DER), for [`TestServer::raw`].
    trusted: Option<Vec<u8>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Serves `store` with `runtime` (default settings).
    pub fn start(store: Arc<Store>, runtime: Arc<Runtime>) -> TestServer {
        Self::start_with(store, runtime, api::Settings::default())
    }

    /// Serves `store` with `runtime` and `settings`.
    pub fn start_with(
        store: Arc<Store>,
        runtime: Arc<Runtime>,
        settings: api::Settings,
    ) -> TestServer {
        Self::spawn(store, runtime, settings, None)
    }

    /// Serves HTTPS with `certificate` on `https://localhost:PORT`; the helpers' client (and
    /// [`TestServer::raw`]) trust it.
    pub fn start_tls(
        store: Arc<Store>,
        runtime: Arc<Runtime>,
        certificate: &TestCertificate,
    ) -> TestServer {
        let tls =
            api::serve::Tls::from_pem_files(&certificate.cert, &certificate.key).expect("tls");
        Self::spawn(
            store,
            runtime,
            api::Settings::default(),
            Some((tls, certificate.der.clone())),
        )
    }

    fn spawn(
        store: Arc<Store>,
        runtime: Arc<Runtime>,
        settings: api::Settings,
        tls: Option<(api::serve::Tls, Vec<u8>)>,
    ) -> TestServer {
        let (tls, trusted) = tls.unzip();
        let https = tls.is_some();
        let (admin_token, _) = store
            .create_token(Role::Admin, None, Some("tests".into()))
            .expect("admin token");
        let evaluator = Evaluator::new(store, runtime);
        let state = AppState::new(evaluator.clone(), settings);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().expect("tokio");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                addr_tx
                    .send(listener.local_addr().expect("addr"))
                    .expect("send addr");
                api::serve::serve(listener, api::router(state), tls, async {
                    let _ = rx.await;
                })
                .await
                .expect("serve");
            });
        });
        let addr: std::net::SocketAddr = addr_rx.recv().expect("server address");
        let mut client = reqwest::blocking::Client::builder();
        if let Some(der) = &trusted {
            client =
                client.add_root_certificate(reqwest::Certificate::from_der(der).expect("root"));
        }
        TestServer {
            url: if https {
                format!("https://localhost:{}", addr.port())
            } else {
                format!("http://{addr}")
            },
            evaluator,
            admin_token,
            client: client.build().expect("client"),
            trusted,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// Sends `head` (a request line and header lines, each ending in CRLF, without the blank
    /// line) byte for byte, over TLS when the server speaks it, with `Connection: close`; reads
    /// the whole answer. For request shapes an HTTP library would tidy up.
    pub fn raw(&self, head: &str) -> RawResponse {
        let port = self.url.rsplit(':').next().expect("port");
        let mut socket =
            std::net::TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect");
        let request = format!("{head}Connection: close\r\n\r\n");
        let mut bytes = Vec::new();
        match &self.trusted {
            None => {
                socket.write_all(request.as_bytes()).expect("write");
                socket.read_to_end(&mut bytes).expect("read");
            }
            Some(der) => {
                let mut roots = rustls::RootCertStore::empty();
                roots
                    .add(rustls::pki_types::CertificateDer::from(der.clone()))
                    .expect("root");
                let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .expect("protocols")
                .with_root_certificates(roots)
                .with_no_client_auth();
                let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
                let connection =
                    rustls::ClientConnection::new(Arc::new(config), name).expect("tls client");
                let mut tls = rustls::StreamOwned::new(connection, socket);
                tls.write_all(request.as_bytes()).expect("write");
                // A server that closes without close_notify still sent the whole answer.
                if let Err(e) = tls.read_to_end(&mut bytes) {
                    assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
                }
            }
        }
        let text = String::from_utf8(bytes).expect("UTF-8 answer");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
        let (status_line, head) = head.split_once("\r\n").unwrap_or((head, ""));
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        RawResponse {
            status_line: status_line.to_string(),
            head: head.to_string(),
            body: if chunked {
                unchunk(body)
            } else {
                body.to_string()
            },
        }
    }

    /// `GET path` as admin → (status, JSON body).
    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.get_as(&self.admin_token, path)
    }

    /// `GET path` with `token` (Bearer) → (status, JSON body).
    pub fn get_as(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        let r = self
            .request(reqwest::Method::GET, path)
            .bearer_auth(token)
            .send()
            .expect("GET");
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(serde_json::Value::Null))
    }

    /// `GET path` as admin → (status, content type, body text), for CSV, HTML and text.
    pub fn get_text(&self, path: &str) -> (u16, String, String) {
        let r = self
            .request(reqwest::Method::GET, path)
            .bearer_auth(&self.admin_token)
            .send()
            .expect("GET");
        let status = r.status().as_u16();
        let content_type = content_type(&r);
        (status, content_type, r.text().unwrap_or_default())
    }

    /// A request to `path` without credentials, to add them (or not) and send.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::blocking::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url))
    }

    /// Sends `body` (a component, a document …) to `path` with `token`: the status and the
    /// JSON answer (null when it is none).
    pub fn send_bytes(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Vec<u8>,
    ) -> (u16, serde_json::Value) {
        let r = self
            .request(method, path)
            .bearer_auth(token)
            .body(body)
            .send()
            .expect("send");
        (r.status().as_u16(), r.json().unwrap_or_default())
    }

    /// Makes a token of `role`, optionally scoped (`cost_center=CC1`).
    pub fn token(&self, role: Role, scope: Option<&str>) -> String {
        let scope = scope.map(|s| licmetric::eval::scope::Scope::parse(s).expect("scope"));
        self.evaluator
            .store
            .create_token(role, scope, None)
            .expect("token")
            .0
    }

    /// `POST path` as admin with a text body → (status, content type, JSON body).
    pub fn post(&self, path: &str, body: &str) -> (u16, String, serde_json::Value) {
        self.send(
            self.request(reqwest::Method::POST, path)
                .bearer_auth(&self.admin_token)
                .body(body.to_string()),
        )
    }

    /// `PUT path` as admin with a JSON body → (status, content type, JSON body).
    pub fn put(&self, path: &str, body: &serde_json::Value) -> (u16, String, serde_json::Value) {
        self.send(
            self.request(reqwest::Method::PUT, path)
                .bearer_auth(&self.admin_token)
                .body(body.to_string()),
        )
    }

    fn send(&self, request: reqwest::blocking::RequestBuilder) -> (u16, String, serde_json::Value) {
        let r = request.send().expect("request");
        let status = r.status().as_u16();
        let content_type = content_type(&r);
        (
            status,
            content_type,
            r.json().unwrap_or(serde_json::Value::Null),
        )
    }
}

/// An answer's `content-type` ("" when absent).
pub fn content_type(response: &reqwest::blocking::Response) -> String {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A fact line observed at `at` (NDJSON, SPEC §2).
pub fn fact_at(kind: &str, key: &str, at: &str, attrs: serde_json::Value) -> String {
    serde_json::json!({"kind": kind, "key": key, "at": at, "attrs": attrs}).to_string()
}

/// A fact line observed at 2026-11-01T00:00:00Z, where most test estates begin.
pub fn fact(kind: &str, key: &str, attrs: serde_json::Value) -> String {
    fact_at(kind, key, "2026-11-01T00:00:00Z", attrs)
}

/// A product record bound to `metric`.
pub fn product(id: &str, metric: &str, parameters: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "id": id, "metric": metric, "parameters": parameters })
}

/// One session fact as an NDJSON line.
pub fn session(
    key: &str,
    license_type: &str,
    user: &str,
    start: &str,
    end: Option<&str>,
) -> String {
    let mut attrs =
        serde_json::json!({ "license_type": license_type, "user": user, "start": start });
    if let Some(end) = end {
        attrs["end"] = end.into();
    }
    serde_json::json!({ "kind": "session", "key": key, "at": end.unwrap_or(start), "attrs": attrs })
        .to_string()
}

/// The body of a chunked answer.
fn unchunk(mut text: &str) -> String {
    let mut body = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        body.push_str(&rest[..size]);
        text = &rest[size + 2..];
    }
    body
}

/// When the estate of [`load_pvu_estate`] is first seen.
pub const ESTATE_AT: &str = "2026-11-01T00:00:00Z";

/// The estate of the ILMT and compatibility tests, posted and configured through `server`'s
/// API: three pvu products — WAS with an entitlement of 1000, MQ in the Cloud Pak `cp4i` at
/// 2:1, Db2 installed on a machine no fact names (it cannot be evaluated) — stored in the
/// order cp4i, was, mq, db2 (so their numbers are 1, 2, 3, 4).
pub fn load_pvu_estate(server: &TestServer) {
    // esx-1 (CC1): 16 cores at 70 PVU; vm-a 6 vCPU runs WAS, vm-b 4 vCPU runs MQ.
    // esx-2 (CC2): 8 cores at 70 PVU; vm-x 4 vCPU runs WAS.
    // On 2026-11-10 vm-a grows to 10 vCPU. DB2 is installed on "ghost", which no fact names.
    let facts = [
        fact_at(
            "server",
            "esx-1",
            ESTATE_AT,
            serde_json::json!({"cores": 16, "pvu_per_core": 70, "cost_center": "CC1"}),
        ),
        fact_at(
            "server",
            "esx-2",
            ESTATE_AT,
            serde_json::json!({"cores": 8, "pvu_per_core": 70, "cost_center": "CC2"}),
        ),
        fact_at(
            "vm",
            "vm-a",
            ESTATE_AT,
            serde_json::json!({"server": "esx-1", "vcpus": 6}),
        ),
        fact_at(
            "vm",
            "vm-b",
            ESTATE_AT,
            serde_json::json!({"server": "esx-1", "vcpus": 4}),
        ),
        fact_at(
            "vm",
            "vm-x",
            ESTATE_AT,
            serde_json::json!({"server": "esx-2", "vcpus": 4}),
        ),
        fact_at(
            "vm",
            "vm-a",
            "2026-11-10T00:00:00Z",
            serde_json::json!({"server": "esx-1", "vcpus": 10}),
        ),
        fact_at(
            "installation",
            "vm-a/was",
            ESTATE_AT,
            serde_json::json!({"product": "was", "on": "vm-a"}),
        ),
        fact_at(
            "installation",
            "vm-x/was",
            ESTATE_AT,
            serde_json::json!({"product": "was", "on": "vm-x"}),
        ),
        fact_at(
            "installation",
            "vm-b/mq",
            ESTATE_AT,
            serde_json::json!({"product": "mq", "on": "vm-b"}),
        ),
        fact_at(
            "installation",
            "ghost/db2",
            ESTATE_AT,
            serde_json::json!({"product": "db2", "on": "ghost"}),
        ),
    ]
    .join("\n");
    let (status, _, body) = server.post("/api/v1/facts", &facts);
    assert_eq!(status, 200, "{body}");
    let bundle = serde_json::json!({"id": "cp4i", "name": "IBM Cloud Pak for Integration", "kind": "cloud_pak"});
    let (status, _, body) = server.put("/api/v1/bundles/cp4i", &bundle);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["numeric_id"], 1, "{body}");
    let mut was = product("was", "pvu@^1", serde_json::json!({}));
    was["name"] = serde_json::json!("WebSphere Application Server");
    was["entitlement"] = serde_json::json!({"quantity": 1000});
    let mut mq = product("mq", "pvu@^1", serde_json::json!({}));
    mq["name"] = serde_json::json!("IBM MQ");
    mq["bundle"] = serde_json::json!({"id": "cp4i", "ratio": "2:1"});
    let mut db2 = product("db2", "pvu@^1", serde_json::json!({}));
    db2["name"] = serde_json::json!("Db2");
    db2["threshold"] = serde_json::json!(500);
    for (id, record) in [("was", was), ("mq", mq), ("db2", db2)] {
        let (status, _, body) = server.put(&format!("/api/v1/products/{id}"), &record);
        assert_eq!(status, 200, "{body}");
    }
}
