//! `serve --plugins-dir DIR` (issue 6 part 2): plugin files dropped into a folder are installed,
//! removed ones deactivated, `NAME.json` is rule data for plugin NAME; refused files change
//! nothing; every change is audited as `plugins-dir`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use licmetric::lifecycle::plugins_dir::{Change, PluginsDir};
use licmetric::store::Store;
use licmetric_tests::*;

fn resolved(server: &TestServer) -> Option<String> {
    server
        .evaluator
        .runtime
        .resolve("swap", &semver::VersionReq::STAR)
        .map(|p| p.label())
}

/// Copies via a temporary name and a rename, as the module asks of operators.
fn drop_in(dir: &std::path::Path, name: &str, bytes: &[u8]) {
    let partial = dir.join(format!(".{name}.partial"));
    std::fs::write(&partial, bytes).unwrap();
    std::fs::rename(&partial, dir.join(name)).unwrap();
}

#[test]
fn the_folder_installs_deactivates_and_loads_rule_data() {
    let store = Arc::new(Store::temporary().unwrap());
    let server = TestServer::start(store.clone(), runtime(test_limits()));
    let folder = tempfile::tempdir().unwrap();
    let mut dir = PluginsDir::new(
        folder.path(),
        store.clone(),
        server.evaluator.runtime.clone(),
    )
    .unwrap();
    assert_eq!(dir.scan().unwrap(), []);

    // A dropped plugin is installed and active; another version next to it takes over.
    drop_in(
        folder.path(),
        "swap.wasm",
        &std::fs::read(SWAP_1_0).unwrap(),
    );
    assert_eq!(
        dir.scan().unwrap(),
        [Change::Loaded {
            file: "swap.wasm".into(),
            plugin: "swap@1.0.0".into()
        }]
    );
    assert_eq!(resolved(&server).as_deref(), Some("swap@1.0.0"));
    drop_in(
        folder.path(),
        "swap-next.wasm",
        &std::fs::read(SWAP_1_1).unwrap(),
    );
    assert_eq!(dir.scan().unwrap().len(), 1);
    assert_eq!(resolved(&server).as_deref(), Some("swap@1.1.0"));
    // An unchanged folder changes nothing.
    assert_eq!(dir.scan().unwrap(), []);

    // Garbage is refused, named, and changes nothing.
    drop_in(folder.path(), "broken.wasm", b"\0asm not a component");
    let changes = dir.scan().unwrap();
    assert!(
        matches!(&changes[..], [Change::Refused { file, reason }] if file == "broken.wasm" && !reason.is_empty()),
        "{changes:?}"
    );
    assert_eq!(resolved(&server).as_deref(), Some("swap@1.1.0"));

    // Removing a file deactivates its version: swap@^1 resolves to 1.0.0 again, and 1.1.0 is
    // still held (for rollback and past periods).
    std::fs::remove_file(folder.path().join("swap-next.wasm")).unwrap();
    assert_eq!(
        dir.scan().unwrap(),
        [Change::Deactivated {
            file: "swap-next.wasm".into(),
            plugin: "swap@1.1.0".into()
        }]
    );
    assert_eq!(resolved(&server).as_deref(), Some("swap@1.0.0"));
    let registry = server.evaluator.runtime.registry();
    let held = registry
        .version("swap", &semver::Version::new(1, 1, 0))
        .unwrap();
    assert!(!held.active);

    // A file whose content becomes another version: the new one in, the old one out.
    drop_in(
        folder.path(),
        "swap.wasm",
        &std::fs::read(SWAP_2_0).unwrap(),
    );
    let changes = dir.scan().unwrap();
    assert_eq!(
        changes,
        [
            Change::Loaded {
                file: "swap.wasm".into(),
                plugin: "swap@2.0.0".into()
            },
            Change::Deactivated {
                file: "swap.wasm".into(),
                plugin: "swap@1.0.0".into()
            }
        ]
    );
    assert_eq!(resolved(&server).as_deref(), Some("swap@2.0.0"));

    // Rule data: refused by the plugin (naming the pointer), then accepted and in force.
    drop_in(
        folder.path(),
        "pvu.json",
        br#"{"version": "t2", "default_pvu_per_core": 0, "cloud_pvu_per_vcpu": 70, "overrides": {}, "table": []}"#,
    );
    let changes = dir.scan().unwrap();
    assert!(
        matches!(&changes[..], [Change::Refused { file, reason }] if file == "pvu.json" && reason.contains("/default_pvu_per_core")),
        "{changes:?}"
    );
    let good = r#"{"version": "site-2026-11", "default_pvu_per_core": 100, "cloud_pvu_per_vcpu": 70, "overrides": {}, "table": []}"#;
    drop_in(folder.path(), "pvu.json", good.as_bytes());
    assert_eq!(
        dir.scan().unwrap(),
        [Change::RuleData {
            file: "pvu.json".into(),
            plugin: "pvu".into(),
            version: "site-2026-11".into()
        }]
    );
    assert_eq!(store.rule_data("pvu").unwrap().as_deref(), Some(good));
    // Rule data for a plugin nobody loaded is refused, naming it.
    drop_in(folder.path(), "nosuch.json", br#"{"version": "1"}"#);
    let changes = dir.scan().unwrap();
    assert!(
        matches!(&changes[..], [Change::Refused { file, reason }] if file == "nosuch.json" && reason.contains("\"nosuch\"")),
        "{changes:?}"
    );

    // Every change is audited as the folder.
    let (_, audit) = server.get("/api/v1/audit");
    let by_folder: Vec<(String, String)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["who"] == "plugins-dir")
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        by_folder,
        [
            ("plugin.upload", "swap@1.0.0"),
            ("plugin.upload", "swap@1.1.0"),
            ("plugin.deactivate", "swap@1.1.0"),
            ("plugin.upload", "swap@2.0.0"),
            ("plugin.deactivate", "swap@1.0.0"),
            ("rule_data.put", "pvu rule data site-2026-11"),
        ]
        .map(|(a, s)| (a.to_string(), s.to_string()))
    );
}

/// `watch` scans at once, then keeps polling in the background.
#[test]
fn a_watched_folder_is_polled() {
    let store = Arc::new(Store::temporary().unwrap());
    let server = TestServer::start(store.clone(), runtime(test_limits()));
    let folder = tempfile::tempdir().unwrap();
    drop_in(
        folder.path(),
        "swap.wasm",
        &std::fs::read(SWAP_1_0).unwrap(),
    );
    let dir = PluginsDir::new(
        folder.path(),
        store.clone(),
        server.evaluator.runtime.clone(),
    )
    .unwrap();
    let runtime = server.evaluator.runtime.clone();
    let swap = || {
        runtime
            .resolve("swap", &semver::VersionReq::STAR)
            .map(|p| p.label())
    };
    dir.watch(Duration::from_millis(50)).unwrap();
    assert_eq!(
        swap().as_deref(),
        Some("swap@1.0.0"),
        "scanned before returning"
    );
    drop_in(
        folder.path(),
        "swap-2.wasm",
        &std::fs::read(SWAP_2_0).unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while swap().as_deref() != Some("swap@2.0.0") {
        assert!(Instant::now() < deadline, "the dropped plugin never loaded");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A folder that is not one is refused at start, naming the flag.
    let error = PluginsDir::new(&folder.path().join("missing"), store, runtime.clone())
        .err()
        .unwrap();
    assert!(error.to_string().contains("--plugins-dir"), "{error}");
}
