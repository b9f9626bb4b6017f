//! `licmetric bench-estate`: evaluation of the pvu plugin on a generated IBM estate (servers,
//! VMs, installations over 90 days), for one product and for many, cold and cached.
//! Figures: docs/BENCHMARKS.md.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use clap::Args;

use crate::eval::calendar;
use crate::store::records::Product;
use crate::store::timeline::{Interner, Window};

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
    /// Products evaluated per `Evaluator::days` call (all of a call's day records, with their
    /// contributors, are held in memory at once).
    #[arg(long, default_value_t = 10)]
    group: usize,
    /// VMs moved (vMotion) to another server once during the period, per thousand.
    #[arg(long, default_value_t = 10)]
    moves_per_mille: u64,
}

const FIRST_DAY: &str = "2026-08-01";

pub fn run(args: EstateArgs) -> anyhow::Result<()> {
    let (_dir, evaluator) = super::bench_evaluator()?;
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

    let timed = |label: String, products: &[Product]| -> anyhow::Result<Duration> {
        let mut elapsed = Duration::ZERO;
        let mut quantity = 0usize;
        for group in products.chunks(args.group.max(1)) {
            let began = Instant::now();
            let results = evaluator.days(group, start, end, run_at)?;
            elapsed += began.elapsed();
            for r in results {
                let days = r.map_err(|e| anyhow::anyhow!("{e}"))?;
                let usage =
                    crate::eval::period::usage(&days, start, end, None, chrono::Weekday::Mon)?;
                quantity += usage.quantity.parse::<usize>().unwrap_or(0);
            }
        }
        println!(
            "evaluate {label}: {:.3} s (Σ period PVU {quantity})",
            elapsed.as_secs_f64()
        );
        Ok(elapsed)
    };
    let one = &products[..1];
    timed(format!("1 product x {} days, cold", args.days), one)?;
    timed(format!("1 product x {} days, cached", args.days), one)?;
    timed(
        format!(
            "{} products x {} days in groups of {}, cold (p-000 already cached)",
            products.len(),
            args.days,
            args.group
        ),
        &products,
    )?;
    timed(
        format!(
            "{} products x {} days in groups of {}, cached",
            products.len(),
            args.days,
            args.group
        ),
        &products,
    )?;
    Ok(())
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
