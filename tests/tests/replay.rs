//! Every fixture under tests/fixtures, and every standard plugin's bundled example
//! (plugins/*/example), replays with the expected figures, and the harness does fail on a wrong
//! expectation.

use licmetric::lifecycle::replay;
use licmetric_tests::*;

#[test]
fn every_fixture_replays() {
    let mut found = replay::find_fixtures(&fixtures());
    let plugins = fixtures().join("../../plugins");
    for entry in std::fs::read_dir(&plugins).unwrap() {
        let example = entry.unwrap().path().join("example");
        if example.is_dir() {
            found.extend(replay::find_fixtures(&example));
        }
    }
    assert!(found.len() >= 10, "fixtures found: {found:?}");
    assert!(
        found.iter().any(|f| f.ends_with("pvu/example")),
        "{found:?}"
    );
    let reports = replay::replay(&runtime(test_limits()), &found).unwrap();
    let failed = replay::print(&reports);
    assert_eq!(failed, 0, "see the diff above");
}

#[test]
fn a_wrong_expectation_fails_with_a_readable_diff() {
    let dir = tempfile::tempdir().unwrap();
    let source = fixtures().join("concurrent/cc-a-buckets");
    std::fs::copy(source.join("facts.ndjson"), dir.path().join("facts.ndjson")).unwrap();
    let case = std::fs::read_to_string(source.join("case.json"))
        .unwrap()
        .replace("\"quantity\": 74", "\"quantity\": 75");
    std::fs::write(dir.path().join("case.json"), case).unwrap();
    let reports = replay::replay(&runtime(test_limits()), &[dir.path().to_path_buf()]).unwrap();
    assert!(!reports[0].passed());
    assert!(
        reports[0].mismatches[0].contains("quantity expected 75, got 74"),
        "{:?}",
        reports[0].mismatches
    );
    let code = licmetric::cli::run_args(["licmetric", "replay", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1);
}
