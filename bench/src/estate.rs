//! `licmetric bench-estate`: evaluation of the pvu plugin on a generated IBM estate (servers,
//! VMs, installations over 90 days), for one product and for many, cold and cached.
//! Figures: docs/BENCHMARKS.md.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use clap::Args;

use licmetric::eval::calendar;
use licmetric::store::records::Product;
use licmetric::store::timeline::{Interner, Window};

#[derive(Args)]
pub struct EstateArgs {
    /// Physical servers.
    #[arg(long, default_value_t = 10_000)]
    servers: usize,
    /// Virtual machines, spread over the servers.
    #[arg(long, default_value_t = 100_000)]
    vms: usize,
    /// Installations, spread over the VMs and products.
    #[arg(long, default_value_t = 200_000)]
    installations: usize,
    /// Products (pvu@^1), the installations spread over them.
    #[arg(long, default_value_t = 100)]
    products: usize,
    /// Days of the reported period.
    #[arg(long, default_value_t = 90)]
    days: u32,
    /// Products evaluated per `Evaluator::days` call; 0 = all in one.
    #[arg(long, default_value_t = 0)]
    group: usize,
    /// Back-dated VM changes (moves to another server, all on the period's middle day) in the
    /// batch ingested before the "after a batch" figure.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Repetitions of the cached and after-a-batch figures (the median is printed).
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// VMs moved (vMotion) to another server once during the period, per thousand.
    #[arg(long, default_value_t = 10)]
    moves_per_mille: u64,
}

const FIRST_DAY: &str = "2026-08-01";

pub fn run(args: EstateArgs) -> anyhow::Result<()> {
    let (_dir, evaluator) = crate::evaluator()?;
    let store = evaluator.store.clone();
    let start: NaiveDate = FIRST_DAY.parse()?;
    let end = start + chrono::Days::new(args.days as u64);

    println!(
        "generating {} servers, {} VMs, {} installations of {} products …",
        args.servers, args.vms, args.installations, args.products
    );
    let lines = generate(&args, start);
    let began = Instant::now();
    for batch in lines.chunks(20_000) {
        store
            .ingest(&batch.join("\n"))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    println!(
        "ingest {} facts (store API, no HTTP): {:.1} s",
        lines.len(),
        began.elapsed().as_secs_f64()
    );

    let products: Vec<Product> = (0..args.products)
        .map(|i| {
            serde_json::from_value(
                serde_json::json!({"id": format!("p-{i:03}"), "metric": "pvu@^1"}),
            )
            .expect("a valid product")
        })
        .collect();
    for p in &products {
        store.put_product(p)?;
    }
    let run_at = calendar::midnight(chrono_tz::Tz::UTC, end);

    // What reading the facts costs on its own (included in every cold figure below).
    let pvu = evaluator
        .runtime
        .resolve("pvu", &semver::VersionReq::STAR)
        .ok_or_else(|| anyhow::anyhow!("the pvu plugin is not loaded"))?;
    let began = Instant::now();
    let mut strings = Interner::default();
    let window = Window {
        start: calendar::midnight(chrono_tz::Tz::UTC, start),
        end: run_at,
    };
    let timelines = store.timelines(&pvu.info().facts, window, &mut strings)?;
    println!(
        "read timelines ({} states): {:.3} s",
        timelines.iter().map(|t| t.entity.len()).sum::<usize>(),
        began.elapsed().as_secs_f64()
    );

    // One evaluate call's worth of products, in wasm and natively on the same input: what the
    // sandbox costs, and a native run to profile.
    {
        let per_call = (licmetric::eval::PRODUCT_DAYS_PER_CALL / args.days.max(1) as usize)
            .clamp(1, products.len());
        let (input, _) = crate::sessions::evaluation_input(
            &store,
            &pvu,
            &products[..per_call],
            start,
            end,
            run_at,
        )?;
        let (wasm, native) =
            crate::sessions::wasm_and_native(&pvu, &input, args.repeat, |input| {
                licmetric_sdk::__private::count::<licmetric_plugin_pvu::Pvu>(input)
            })?;
        println!(
            "one evaluate call, {per_call} products x {} days: wasm {:.3} s, native {:.3} s, ratio {:.2} (median of {})",
            args.days,
            wasm.as_secs_f64(),
            native.as_secs_f64(),
            wasm.as_secs_f64() / native.as_secs_f64(),
            args.repeat.max(1)
        );
    }

    let group = if args.group == 0 {
        products.len()
    } else {
        args.group
    };
    // The report every reader of the estate pays: each product's days and period figures.
    let report = |products: &[Product]| -> anyhow::Result<(Duration, usize)> {
        let began = Instant::now();
        let mut quantity = 0usize;
        for chunk in products.chunks(group.max(1)) {
            for r in evaluator.days(chunk, start, end, run_at)? {
                let days = r.map_err(|e| anyhow::anyhow!("{e}"))?;
                let usage =
                    licmetric::eval::period::usage(&days, start, end, None, chrono::Weekday::Mon)?;
                quantity += usage.quantity.parse::<usize>().unwrap_or(0);
            }
        }
        Ok((began.elapsed(), quantity))
    };
    let median_of = |label: &str,
                     runs: usize,
                     before: &mut dyn FnMut(usize) -> anyhow::Result<()>|
     -> anyhow::Result<()> {
        let mut times = Vec::new();
        let mut quantity = 0;
        for i in 0..runs.max(1) {
            before(i)?;
            let (t, q) = report(&products)?;
            times.push(t);
            quantity = q;
        }
        times.sort();
        println!(
            "{label}: median {:.3} s of {} (min {:.3}, max {:.3}; Σ period PVU {quantity})",
            times[times.len() / 2].as_secs_f64(),
            times.len(),
            times[0].as_secs_f64(),
            times[times.len() - 1].as_secs_f64(),
        );
        Ok(())
    };
    let n = products.len();
    let (cold, quantity) = report(&products)?;
    println!(
        "report {n} products x {} days in groups of {group}, cold: {:.3} s (Σ period PVU {quantity})",
        args.days,
        cold.as_secs_f64()
    );
    median_of(
        &format!("report {n} products x {} days, every day cached", args.days),
        args.repeat,
        &mut |_| Ok(()),
    )?;
    // A collector batch of back-dated VM moves on the middle day dirties that day (and the
    // days after it the moved VMs' new placement reaches) for every product.
    let middle = start + chrono::Days::new(args.days as u64 / 2);
    let vms = args.vms.max(1);
    median_of(
        &format!(
            "report {n} products x {} days after a batch of {} back-dated VM moves on {middle}",
            args.days, args.batch
        ),
        args.repeat,
        &mut |round| {
            let lines: Vec<String> = (0..args.batch)
                .map(|k| {
                    let vm = (k * 7919 + round * 104_729) % vms;
                    let to = (k * 31 + round * 17) % args.servers.max(1);
                    format!(
                        r#"{{"kind":"vm","key":"vm-{vm:06}","at":"{middle}T{:02}:{:02}:00Z","attrs":{{"server":"srv-{to:05}","vcpus":4}}}}"#,
                        1 + round % 20,
                        k % 60
                    )
                })
                .collect();
            store
                .ingest(&lines.join("\n"))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(())
        },
    )?;
    // Who held one product's peak: the details of its peak day, explained on demand.
    let began = Instant::now();
    let explained = evaluator.days_with(
        &products[..1],
        start,
        end,
        run_at,
        licmetric::eval::Detail::Peaks,
    )?;
    let contributors: usize = explained
        .iter()
        .flatten()
        .flat_map(|d| d.days.iter())
        .flat_map(|(_, r)| r.iter().flatten())
        .map(|r| r.contributors.len())
        .sum();
    println!(
        "explain the peak of 1 product: {:.3} s ({contributors} contributors)",
        began.elapsed().as_secs_f64()
    );
    if let Some(peak) = peak_rss() {
        println!("peak RSS of the whole run: {:.0} MB", peak as f64 / 1e6);
    }
    Ok(())
}

/// The process's peak resident set size in bytes (Linux `VmHWM`).
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Deterministic estate: servers with 16–64 cores in three regions, VMs of 2–16 vCPUs, a few
/// of them moved once, installations spread evenly over VMs and products.
fn generate(args: &EstateArgs, start: NaiveDate) -> Vec<String> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let at = format!("{start}T00:00:00Z");
    let mut lines = Vec::with_capacity(args.servers + args.vms + args.installations);
    let rates = [70, 100, 120];
    for s in 0..args.servers {
        lines.push(format!(
            r#"{{"kind":"server","key":"srv-{s:05}","at":"{at}","attrs":{{"cores":{},"pvu_per_core":{},"region":"{}","cost_center":"CC{}"}}}}"#,
            16 * (1 + next() % 4),
            rates[(next() % 3) as usize],
            1 + next() % 3,
            next() % 20
        ));
    }
    for v in 0..args.vms {
        let server = next() as usize % args.servers.max(1);
        let vcpus = 2 * (1 + next() % 8);
        lines.push(format!(
            r#"{{"kind":"vm","key":"vm-{v:06}","at":"{at}","attrs":{{"server":"srv-{server:05}","vcpus":{vcpus}}}}}"#
        ));
        if next() % 1000 < args.moves_per_mille {
            let day = next() % args.days.max(1) as u64;
            let moved = start + chrono::Days::new(day);
            let to = next() as usize % args.servers.max(1);
            lines.push(format!(
                r#"{{"kind":"vm","key":"vm-{v:06}","at":"{moved}T12:00:00Z","attrs":{{"server":"srv-{to:05}","vcpus":{vcpus}}}}}"#
            ));
        }
    }
    for i in 0..args.installations {
        let vm = i % args.vms.max(1);
        let product = next() as usize % args.products.max(1);
        lines.push(format!(
            r#"{{"kind":"installation","key":"vm-{vm:06}/i{i}","at":"{at}","attrs":{{"product":"p-{product:03}","on":"vm-{vm:06}"}}}}"#
        ));
    }
    lines
}
