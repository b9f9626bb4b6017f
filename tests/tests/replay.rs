//! Every fixture under tests/fixtures replays with the expected figures, and the harness does
//! fail on a wrong expectation.

use licmetric::lifecycle::replay;
use licmetric_tests::*;

#[test]
fn every_fixture_replays() {
    let fixtures = replay::find_fixtures(&fixtures());
    assert!(fixtures.len() >= 5, "fixtures found: {fixtures:?}");
    let reports = replay::replay(&runtime(test_limits()), &fixtures).unwrap();
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
