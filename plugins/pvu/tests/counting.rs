//! Counting (numbers only) and explaining take different paths through the day results: a
//! day strictly inside a unit's segment is added as a range when counting, day by day when
//! explaining. Both must give every day the same quantity and peak instant.

use licmetric_plugin_pvu::Pvu;
use licmetric_sdk::testing::TestInput;
use licmetric_sdk::types::Outcome;

/// (product, date, partition) → (quantity, peak instant), in order.
fn figures(outcome: &Outcome) -> Vec<(String, String, String, String, i64)> {
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    let mut out: Vec<_> = outcome
        .days
        .iter()
        .map(|d| {
            (
                d.product.clone(),
                d.date.clone(),
                d.partition.clone(),
                d.quantity.clone(),
                d.peak_at,
            )
        })
        .collect();
    out.sort();
    out
}

fn time(day: u32, hour: u32) -> String {
    format!("2026-11-{day:02}T{hour:02}:00:00Z")
}

#[test]
fn counting_and_explaining_agree_on_every_day() {
    let rules = licmetric_sdk::__private::describe::<Pvu>().default_rule_data;
    let mut input = TestInput::new::<Pvu>(&rules, &[("db2", "{}"), ("mq", "{}")]);
    // Servers in two regions; one gains cores mid-period.
    for (s, region) in [(0, "1"), (1, "2"), (2, "2")] {
        let key = format!("esx-{s}");
        let attrs = [("cores", "16"), ("pvu_per_core", "70"), ("region", region)];
        if s == 2 {
            input.state("server", &key, &time(1, 0), Some(&time(12, 6)), &attrs);
            let more = [("cores", "32"), ("pvu_per_core", "70"), ("region", region)];
            input.state("server", &key, &time(12, 6), None, &more);
        } else {
            input.state("server", &key, &time(1, 0), None, &attrs);
        }
    }
    // VMs: some stay, some move between servers (and regions) on given days, some resize
    // within a day, one leaves before the period ends.
    for v in 0..12u32 {
        let key = format!("vm-{v}");
        let on = |s: u32| format!("esx-{}", s % 3);
        let vcpus = (2 + v % 5).to_string();
        match v % 4 {
            0 => {
                input.state(
                    "vm",
                    &key,
                    &time(1, 0),
                    None,
                    &[("server", &on(v)), ("vcpus", &vcpus)],
                );
            }
            1 => {
                let moved = 3 + v % 20;
                input.state(
                    "vm",
                    &key,
                    &time(1, 0),
                    Some(&time(moved, 13)),
                    &[("server", &on(v)), ("vcpus", &vcpus)],
                );
                input.state(
                    "vm",
                    &key,
                    &time(moved, 13),
                    None,
                    &[("server", &on(v + 1)), ("vcpus", &vcpus)],
                );
            }
            2 => {
                let day = 5 + v % 10;
                input.state(
                    "vm",
                    &key,
                    &time(1, 0),
                    Some(&time(day, 9)),
                    &[("server", &on(v)), ("vcpus", "4")],
                );
                input.state(
                    "vm",
                    &key,
                    &time(day, 9),
                    Some(&time(day, 17)),
                    &[("server", &on(v)), ("vcpus", "12")],
                );
                input.state(
                    "vm",
                    &key,
                    &time(day, 17),
                    None,
                    &[("server", &on(v)), ("vcpus", "4")],
                );
            }
            _ => {
                input.state(
                    "vm",
                    &key,
                    &time(2, 6),
                    Some(&time(20, 0)),
                    &[("server", &on(v)), ("vcpus", &vcpus)],
                );
            }
        }
        let product = if v % 3 == 0 { "mq" } else { "db2" };
        // An installation lives while its vm does.
        let (from, to) = match v % 4 {
            3 => (time(2, 6), Some(time(20, 0))),
            _ => (time(1, 0), None),
        };
        input.state(
            "installation",
            &format!("{product}-on-{key}"),
            &from,
            to.as_deref(),
            &[("product", product), ("on", &key)],
        );
    }
    let explained = figures(&input.evaluate::<Pvu>("2026-11-01", "2026-12-01"));
    let counted = figures(&input.count::<Pvu>("2026-11-01", "2026-12-01"));
    assert_eq!(explained.len(), counted.len());
    for (e, c) in explained.iter().zip(&counted) {
        assert_eq!(e, c);
    }
    // The estate really changes: not every day has the same figure.
    let mut quantities: Vec<&str> = counted.iter().map(|f| f.3.as_str()).collect();
    quantities.sort();
    quantities.dedup();
    assert!(quantities.len() > 3, "{quantities:?}");
}
