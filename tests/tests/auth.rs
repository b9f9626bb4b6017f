//! Tokens, roles and scopes over HTTP (issue 5.5, 5.6): every documented route is walked with
//! no token, a wrong token, each role it does not allow and a reader of another scope; the
//! document at /api/openapi.json is checked against what the router serves.
//!
//! The estate: pvu product `was` on two servers. esx-1 (cost centre CC1, 16 cores) runs vm-alpha
//! (6 vCPU): 6 × 70 = 420 PVU. esx-2 (CC2, 8 cores) runs vm-secret (12 vCPU), capped at the
//! server: 8 × 70 = 560 PVU. Unscoped the product needs 980 PVU. Product `db2` runs on
//! vm-secret-broken (CC2), which lacks `vcpus`: its evaluation fails with an error that names
//! that fact, which a CC1 reader must not see either.

use std::io::Read;
use std::sync::Arc;

use licmetric::api::{self, Settings};
use licmetric::store::Store;
use licmetric_tests::*;
use reqwest::Method;
use serde_json::json;

/// Strings only the CC2 side of the estate produces.
const CC2_ONLY: [&str; 4] = ["vm-secret", "esx-2", "CC2", "vm-secret/was"];

fn estate(server: &TestServer) {
    let facts = [
        fact(
            "server",
            "esx-1",
            json!({"cores": 16, "pvu_per_core": 70, "cost_center": "CC1"}),
        ),
        fact(
            "server",
            "esx-2",
            json!({"cores": 8, "pvu_per_core": 70, "cost_center": "CC2"}),
        ),
        fact("vm", "vm-alpha", json!({"server": "esx-1", "vcpus": 6})),
        fact("vm", "vm-secret", json!({"server": "esx-2", "vcpus": 12})),
        fact(
            "installation",
            "vm-alpha/was",
            json!({"product": "was", "on": "vm-alpha"}),
        ),
        fact(
            "installation",
            "vm-secret/was",
            json!({"product": "was", "on": "vm-secret"}),
        ),
        fact("vm", "vm-secret-broken", json!({"server": "esx-2"})),
        fact(
            "installation",
            "vm-secret-broken/db2",
            json!({"product": "db2", "on": "vm-secret-broken"}),
        ),
    ]
    .join("\n");
    assert_eq!(server.post("/api/v1/facts", &facts).0, 200);
    let mut record = product("was", "pvu@^1", json!({}));
    record["name"] = json!("WebSphere");
    record["entitlement"] = json!({"quantity": 1000});
    record["chargeback"] = json!({"group_by": "cost_center"});
    assert_eq!(server.put("/api/v1/products/was", &record).0, 200);
    assert_eq!(
        server
            .put("/api/v1/products/db2", &product("db2", "pvu@^1", json!({})))
            .0,
        200
    );
}

/// A documented path with its parameters filled in, and a query every family understands.
fn concrete(path: &str) -> String {
    concrete_for(path, "was")
}

/// [`concrete`] about product `product`.
fn concrete_for(path: &str, product: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').expect("closing brace") + open;
        out.push_str(&rest[..open]);
        out.push_str(match &rest[open + 1..close] {
            "space" => "1001",
            "id" => product,
            _ => "x",
        });
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    // The subject and period in every family's words, each sent only where the route takes
    // it (an undocumented parameter is a 400).
    let pairs = [
        ("product", product),
        ("start", "2026-11-02"),
        ("end", "2026-11-04"),
        ("startDate", "2026-11-02"),
        ("endDate", "2026-11-03"),
        ("startdate", "2026-11-02"),
        ("enddate", "2026-11-03"),
        ("start_date", "2026-11-02"),
        ("end_date", "2026-11-03"),
    ];
    let query: Vec<String> = pairs
        .iter()
        .filter(|(name, _)| {
            api::docs().into_iter().filter(|r| r.path == path).any(|r| {
                r.params
                    .iter()
                    .any(|p| p.location == "query" && p.name == *name)
            })
        })
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    format!("{out}?{}", query.join("&"))
}

/// The text of an answer; a zip's entries are read out so their content is checked too.
fn body_text(response: reqwest::blocking::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let content_type = content_type(&response);
    let bytes = response.bytes().expect("body").to_vec();
    if content_type.contains("zip") {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
        let mut text = String::new();
        for i in 0..archive.len() {
            archive
                .by_index(i)
                .expect("entry")
                .read_to_string(&mut text)
                .expect("text entry");
        }
        return (status, content_type, text);
    }
    (
        status,
        content_type,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[test]
fn every_route_refuses_who_may_not_call_it_and_hides_other_scopes() {
    let server = TestServer::start(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
    );
    estate(&server);
    let tokens: Vec<(Role, String)> = Role::ALL
        .into_iter()
        .map(|r| (r, server.token(r, None)))
        .collect();
    let cc1_reader = server.token(Role::Reader, Some("cost_center=CC1"));
    let send = |method: Method, path: &str, token: Option<&str>| {
        let mut request = server.request(method.clone(), path);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if method != Method::GET {
            request = request.body("");
        }
        body_text(request.send().expect("request"))
    };

    let mut walked = 0;
    for route in api::docs().into_iter() {
        let method: Method = route.method.parse().unwrap();
        let path = concrete(route.path);
        let what = format!("{} {}", route.method, route.path);
        walked += 1;

        let Some(required) = route.role else {
            let (status, _, body) = send(method.clone(), &path, None);
            assert!(
                status < 400,
                "{what} is public but answered {status}: {body}"
            );
            continue;
        };
        // No token, a made-up token, a malformed one: 401 and a problem, no data.
        for token in [None, Some("lmt_000000000000_00"), Some("not-a-token")] {
            let (status, content_type, body) = send(method.clone(), &path, token);
            assert_eq!(status, 401, "{what} with {token:?}: {body}");
            assert_eq!(content_type, "application/problem+json", "{what}");
            assert!(!body.contains("was\""), "{what} leaked data: {body}");
        }
        // Each role: 403 when it may not call the route, otherwise the route is reached.
        for (role, token) in &tokens {
            let (status, content_type, body) = send(method.clone(), &path, Some(token));
            if role.allows(required) {
                assert!(
                    status != 401 && status != 403 && status != 404 || route.path.contains('{'),
                    "{what} as {role:?}: {status} {body}"
                );
                assert!(
                    !body.contains("undocumented-route"),
                    "{what} as {role:?}: {body}"
                );
            } else {
                assert_eq!(status, 403, "{what} as {role:?}: {body}");
                assert_eq!(content_type, "application/problem+json", "{what}");
                assert!(!body.contains("vm-alpha"), "{what} leaked data: {body}");
            }
        }
        // A reader of CC1 never sees CC2's consumers, on any route it may call, not even in
        // the error of a product that fails on a CC2 fact (db2: a 422 or an error field).
        for product in ["was", "db2"] {
            let path = concrete_for(route.path, product);
            let (status, _, body) = send(method.clone(), &path, Some(&cc1_reader));
            if required == Role::Reader {
                // A reader route taking a body (re-evaluation) refuses the empty one: 400.
                assert!(
                    status == 200
                        || status == 403
                        || status == 422
                        || status == 404 && route.path.contains('{')
                        || status == 400 && route.method == "POST",
                    "{what} ({product}) as the CC1 reader: {status} {body}"
                );
                for secret in CC2_ONLY {
                    assert!(
                        !body.contains(secret),
                        "{what} ({product}) showed {secret:?} to the CC1 reader: {body}"
                    );
                }
            } else {
                assert_eq!(status, 403, "{what} as the CC1 reader: {body}");
            }
        }
    }
    assert!(walked >= 12, "walked only {walked} routes");
}

/// Issue 15.1: authentication is decided for every request before any handler runs, whatever
/// the method. HEAD needs what GET needs (it used to reach the GET handler without a token and
/// answer its Content-Length); a method no route documents for a path is refused with 405.
#[test]
fn every_method_is_authenticated_before_a_handler_runs() {
    let server = TestServer::start(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
    );
    estate(&server);
    let head = |path: &str, token: Option<&str>| {
        let mut request = server.request(Method::HEAD, path);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request.send().expect("HEAD")
    };
    let mut walked = 0;
    for route in api::docs().into_iter().filter(|r| r.method == "GET") {
        let path = concrete(route.path);
        if route.role.is_none() {
            let status = head(&path, None).status().as_u16();
            assert!(
                status < 400,
                "HEAD {} is public but answered {status}",
                route.path
            );
            continue;
        }
        for token in [None, Some("lmt_000000000000_00")] {
            let status = head(&path, token).status().as_u16();
            assert_eq!(status, 401, "HEAD {} with {token:?}", route.path);
        }
        let status = head(&path, Some(&server.admin_token)).status().as_u16();
        assert!(
            !matches!(status, 401 | 403),
            "HEAD {} as admin: {status}",
            route.path
        );
        walked += 1;
    }
    assert!(walked >= 12, "walked only {walked} GET routes");

    let documented = |path: &str, method: &Method| {
        let method = if *method == Method::HEAD {
            "GET"
        } else {
            method.as_str()
        };
        api::docs()
            .into_iter()
            .any(|r| r.path == path && r.method == method)
    };
    for route in api::docs().into_iter() {
        let path = concrete(route.path);
        for method in [
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
            Method::TRACE,
        ] {
            if documented(route.path, &method) {
                continue;
            }
            for token in [None, Some(server.admin_token.as_str())] {
                let mut request = server.request(method.clone(), &path);
                if let Some(t) = token {
                    request = request.bearer_auth(t);
                }
                let status = request.send().expect("request").status().as_u16();
                assert_eq!(status, 405, "{method} {} with {token:?}", route.path);
            }
        }
    }
}

#[test]
fn a_scoped_reader_sees_its_own_consumers_only() {
    let server = TestServer::start(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
    );
    estate(&server);
    let period = "product=was&start=2026-11-02&end=2026-11-04";
    let (_, all) = server.get(&format!("/api/v1/usage?{period}"));
    assert_eq!(all["quantity"], "980");

    let cc1 = server.token(Role::Reader, Some("cost_center=CC1"));
    let (status, mine) = server.get_as(&cc1, &format!("/api/v1/usage?{period}"));
    assert_eq!(status, 200, "{mine}");
    // vm-alpha's 420 PVU; the threshold is the product's, so the delta is 1000 − 420.
    assert_eq!(mine["quantity"], "420", "{mine}");
    assert_eq!(mine["threshold_delta"], "580");
    let keys: Vec<&str> = mine["contributors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["vm-alpha/was"]);

    let cc2 = server.token(Role::Reader, Some("cost_center=CC2"));
    let (_, theirs) = server.get_as(&cc2, &format!("/api/v1/usage?{period}"));
    assert_eq!(theirs["quantity"], "560");

    // Both scopes at once see both, as an unscoped reader does.
    let both = server.token(Role::Reader, Some("cost_center=CC1,CC2"));
    assert_eq!(
        server.get_as(&both, &format!("/api/v1/usage?{period}")).1["quantity"],
        "980"
    );

    // A scope nobody consumes in sees a zero, not someone else's figure.
    let nobody = server.token(Role::Reader, Some("cost_center=CC9"));
    assert_eq!(
        server.get_as(&nobody, &format!("/api/v1/usage?{period}")).1["quantity"],
        "0"
    );

    // Chargeback: the CC1 reader's lines are CC1's only, and they add up to its 420.
    let (status, cb) = server.get_as(&cc1, &format!("/api/v1/chargeback?{period}"));
    assert_eq!(status, 200, "{cb}");
    assert_eq!(cb["quantity"], "420");
    let groups: Vec<(&str, &str)> = cb["groups"]
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
    assert_eq!(groups, [("CC1", "420.000"), ("unallocated", "0.000")]);
}

#[test]
fn tokens_travel_in_headers_or_the_query_and_the_header_wins() {
    let store = Arc::new(Store::temporary().unwrap());
    let server = TestServer::start(store, runtime(test_limits()));
    let reader = server.token(Role::Reader, None);
    let status = |request: reqwest::blocking::RequestBuilder| {
        request.send().expect("request").status().as_u16()
    };
    let path = "/api/v1/products";
    assert_eq!(
        status(server.request(Method::GET, path).header("Token", &reader)),
        200
    );
    assert_eq!(
        status(server.request(Method::GET, path).bearer_auth(&reader)),
        200
    );
    assert_eq!(
        status(server.request(Method::GET, &format!("{path}?token={reader}"))),
        200
    );
    // The header wins over the query, whichever of the two is the good one.
    assert_eq!(
        status(
            server
                .request(Method::GET, &format!("{path}?token=lmt_0_0"))
                .header("Token", &reader)
        ),
        200
    );
    assert_eq!(
        status(
            server
                .request(Method::GET, &format!("{path}?token={reader}"))
                .header("Token", "lmt_0_0")
        ),
        401
    );

    // An operator can refuse tokens in URLs (they end up in proxy logs).
    let strict = TestServer::start_with(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
        Settings {
            token_in_url: false,
            ..Default::default()
        },
    );
    let reader = strict.token(Role::Reader, None);
    assert_eq!(
        status(strict.request(Method::GET, &format!("{path}?token={reader}"))),
        401
    );
    assert_eq!(
        status(strict.request(Method::GET, path).bearer_auth(&reader)),
        200
    );
}

#[test]
fn an_admin_makes_and_revokes_tokens_over_http() {
    let server = TestServer::start(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
    );
    let (status, _, made) = server.post(
        "/api/v1/tokens",
        r#"{"role": "reader", "scope": "cost_center=CC1", "label": "finance"}"#,
    );
    assert_eq!(status, 201, "{made}");
    let token = made["token"].as_str().unwrap().to_string();
    assert_eq!(made["record"]["scope"]["attribute"], "cost_center");
    assert_eq!(server.get_as(&token, "/api/v1/products").0, 200);

    // The list shows records, never the secret.
    let (_, list) = server.get("/api/v1/tokens");
    let secret = token.rsplit('_').next().unwrap();
    assert!(!list.to_string().contains(secret));

    // A scoped operator, an unknown role and an unknown attribute are refused by name.
    for (body, field) in [
        (
            r#"{"role": "operator", "scope": "cost_center=CC1"}"#,
            "scope",
        ),
        (r#"{"role": "owner"}"#, "role"),
        (r#"{"role": "reader", "scope": "colour=red"}"#, "scope"),
    ] {
        let (status, _, problem) = server.post("/api/v1/tokens", body);
        assert_eq!(status, 400, "{problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }

    let id = made["record"]["id"].as_str().unwrap();
    let revoked = server
        .request(Method::DELETE, &format!("/api/v1/tokens/{id}"))
        .bearer_auth(&server.admin_token)
        .send()
        .unwrap();
    assert_eq!(revoked.status().as_u16(), 200);
    assert_eq!(server.get_as(&token, "/api/v1/products").0, 401);
}

#[test]
fn the_api_document_lists_every_route_with_its_role() {
    let server = TestServer::start(
        Arc::new(Store::temporary().unwrap()),
        runtime(test_limits()),
    );
    // Public: a client reads it before it has a token.
    let response = server
        .request(Method::GET, "/api/openapi.json")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let document: serde_json::Value = response.json().unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let mut documented = 0;
    for route in api::docs().into_iter() {
        let operation = &document["paths"][route.path][route.method.to_ascii_lowercase()];
        assert!(
            operation.is_object(),
            "{} {} missing",
            route.method,
            route.path
        );
        match route.role {
            Some(role) => assert_eq!(operation["x-required-role"], role.name()),
            None => assert_eq!(operation["security"], json!([])),
        }
        for p in route.params {
            assert!(
                operation["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|q| q["name"] == p.name),
                "{} lacks parameter {}",
                route.path,
                p.name
            );
        }
        documented += 1;
    }
    let operations: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(
        operations, documented,
        "the document has operations no route has"
    );

    // An unknown path is a 404 problem, with or without a token.
    let (status, problem) = server.get("/api/v2/nothing");
    assert_eq!(status, 404);
    assert_eq!(problem["status"], 404);
    // axum's own rejections are problems too: a method the route lacks, a body that is not text.
    let response = server
        .request(Method::DELETE, "/api/v1/usage")
        .bearer_auth(&server.admin_token)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let response = server
        .request(Method::POST, "/api/v1/tokens")
        .bearer_auth(&server.admin_token)
        .body(vec![0xff, 0xfe, 0x00])
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let problem: serde_json::Value = response.json().unwrap();
    assert_eq!(
        problem["type"], "urn:licmetric:problem:bad-request",
        "{problem}"
    );
}

#[test]
fn the_command_line_makes_lists_and_revokes_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["licmetric", "token"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--data", data]);
        licmetric::cli::run_args(all)
    };
    assert_eq!(
        run(&[
            "create",
            "--role",
            "reader",
            "--scope",
            "cost_center=CC1,CC2"
        ]),
        0
    );
    // Refused by name, nothing made: an unknown role, a scoped admin, an unknown attribute.
    assert_eq!(run(&["create", "--role", "owner"]), 1);
    assert_eq!(
        run(&["create", "--role", "admin", "--scope", "cost_center=CC1"]),
        1
    );
    assert_eq!(
        run(&["create", "--role", "reader", "--scope", "colour=red"]),
        1
    );
    let id = {
        let store = Store::open(dir.path()).unwrap();
        let tokens = store.tokens().unwrap();
        assert_eq!(tokens.len(), 1);
        assert_eq!(tokens[0].role, Role::Reader);
        let scope = tokens[0].scope.as_ref().unwrap();
        assert_eq!(scope.to_string(), "cost_center=CC1,CC2");
        tokens[0].id.clone()
    };
    assert_eq!(run(&["list"]), 0);
    assert_eq!(run(&["revoke", &id]), 0);
    assert_eq!(run(&["revoke", &id]), 1);
    assert!(
        Store::open(dir.path())
            .unwrap()
            .tokens()
            .unwrap()
            .is_empty()
    );
}
