//! `licmetric plugin inspect` and `licmetric plugin load`.

use licmetric::store::Store;
use sha2::{Digest, Sha256};

fn run(args: &[&str]) -> i32 {
    let mut all = vec!["licmetric", "plugin"];
    all.extend_from_slice(args);
    licmetric::cli::run_args(all)
}

fn digest(path: &str) -> String {
    let bytes = std::fs::read(path).unwrap();
    format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
}

fn garbage(dir: &std::path::Path) -> String {
    let path = dir.join("garbage.wasm");
    std::fs::write(&path, b"\0asm but not really a component at all").unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn inspect_prints_what_the_plugin_declares() {
    let path = std::path::Path::new(licmetric_tests::PANIC);
    assert_eq!(run(&["inspect", licmetric_tests::PANIC]), 0);
    assert_eq!(run(&["inspect", "--json", licmetric_tests::PANIC]), 0);

    let plugin = licmetric::cli::plugin::prepare_file(path).unwrap();
    let json = licmetric::cli::plugin::inspect_json(&plugin);
    assert_eq!(json["name"], "panic");
    assert_eq!(json["version"], "1.0.0");
    assert_eq!(json["digest"], digest(licmetric_tests::PANIC).as_str());
    assert_eq!(json["sdk_version"], licmetric_sdk::SDK_VERSION);
    assert_eq!(
        json["wit"],
        format!("licmetric:plugin@{}", licmetric::runtime::wit::API_VERSION).as_str()
    );
    assert_eq!(json["metrics"][0]["code_name"], "HOSTILE");
    assert_eq!(json["metrics"][0]["unit"], "units");
    assert_eq!(json["metrics"][0]["period_rule"], "high-water-mark");
    assert_eq!(json["facts"], serde_json::json!([]));
    assert_eq!(json["default_rule_data"]["version"], "test");
    assert_eq!(json["default_rule_data"]["bytes"], 18);

    let text = licmetric::cli::plugin::inspect_text(&plugin);
    assert!(text.contains("name:         panic\n"), "{text}");
    assert!(
        text.contains("HOSTILE  A hostile test plugin (unit units, period rule high-water-mark)"),
        "{text}"
    );
    assert!(text.contains("licmetric:plugin@"), "{text}");
    assert!(
        text.contains("default rule data: 18 bytes, version test"),
        "{text}"
    );
}

#[test]
fn inspect_of_garbage_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = garbage(dir.path());
    assert_eq!(run(&["inspect", &file]), 1);
    assert_eq!(run(&["inspect", "--json", &file]), 1);
    let Err(e) = licmetric::cli::plugin::prepare_file(std::path::Path::new(&file)) else {
        panic!("garbage loaded");
    };
    assert!(format!("{e:#}").contains("does not load"), "{e:#}");
    // A missing file is an error too, not a panic.
    let missing = dir.path().join("missing.wasm");
    assert_eq!(run(&["inspect", missing.to_str().unwrap()]), 1);
}

#[test]
fn load_stores_the_plugin_and_audits_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    assert_eq!(
        run(&["load", licmetric_tests::FIXED, "--data", data_arg]),
        0
    );
    let store = Store::open(&data).unwrap();
    let stored = store.stored_plugins().unwrap();
    assert_eq!(stored.len(), 1);
    let (record, wasm) = &stored[0];
    assert_eq!(record.name, "fixed");
    assert_eq!(record.version, "1.0.0");
    assert_eq!(record.digest, digest(licmetric_tests::FIXED));
    assert_eq!(record.by, "cli");
    assert_eq!(wasm, &std::fs::read(licmetric_tests::FIXED).unwrap());
    let trail = store.audit_trail(0, 10).unwrap();
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0].who, "cli");
    assert_eq!(trail[0].action, "plugin.upload");
    assert_eq!(trail[0].subject, "fixed@1.0.0");
    assert_eq!(trail[0].digest.as_deref(), Some(record.digest.as_str()));
}

#[test]
fn loading_garbage_exits_1_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = garbage(dir.path());
    assert_eq!(run(&["load", &file, "--data", data.to_str().unwrap()]), 1);
    let store = Store::open(&data).unwrap();
    assert!(store.stored_plugins().unwrap().is_empty());
    assert!(store.audit_trail(0, 10).unwrap().is_empty());
}

/// `plugin load` validates as an upload does: a plugin failing its self-test, or built against
/// another WIT major version, exits 1 with the reason and stores nothing.
#[test]
fn loading_a_plugin_failing_validation_exits_1_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    for (path, reason) in [
        (
            licmetric_tests::PANIC,
            "panic@1.0.0 failed its self-test on its example",
        ),
        (
            licmetric_tests::WIT_V2,
            "the plugin was built for licmetric:plugin@2.0.0, but this host speaks licmetric:plugin@1.1.0",
        ),
    ] {
        assert_eq!(run(&["load", path, "--data", data_arg]), 1, "{path}");
        let e = licmetric::cli::plugin::run(licmetric::cli::plugin::PluginCommand::Load {
            file: path.into(),
            data: data.clone(),
        })
        .unwrap_err();
        let message = format!("{e:#}");
        assert!(
            message.contains(&format!("{path} was not loaded")) && message.contains(reason),
            "{message}"
        );
    }
    let store = Store::open(&data).unwrap();
    assert!(store.stored_plugins().unwrap().is_empty());
    assert!(store.audit_trail(0, 10).unwrap().is_empty());
}
