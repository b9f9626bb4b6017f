//! `licmetric bench-read`: read latency of the query APIs under many concurrent connections,
//! against a store holding a period of evaluated days for many products. Figures:
//! docs/BENCHMARKS.md.
//!
//! The estate is concurrent-use sessions (one licence type per product), evaluated once before
//! the clock starts, so the reads measure the steady state a dashboard sees: every day cached.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use clap::Args;

use crate::sessions::{Sessions, generate, product};
use licmetric::api::{self, AppState};
use licmetric::eval::calendar;
use licmetric::store::tokens::Role;

#[derive(Args)]
pub struct ReadArgs {
    /// Products (one licence type each).
    #[arg(long, default_value_t = 1_000)]
    products: usize,
    /// Days of facts and of the queried period.
    #[arg(long, default_value_t = 90)]
    days: u32,
    /// Session facts spread over the products and days.
    #[arg(long, default_value_t = 300_000)]
    sessions: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of load per path.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Paths to load (`{start}`, `{end}`, `{last}` are replaced by the period's dates, `{last}`
    /// being its last day); default: License Service `/products` and ILMT `license_usage`.
    #[arg(long)]
    path: Vec<String>,
    /// Collector batches (100 back-dated sessions each) after each path's load, each followed
    /// by one timed read.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

const FIRST_DAY: &str = "2026-06-01";

/// Builds the estate, evaluates it, then loads each path and prints its latencies.
pub fn run(args: ReadArgs) -> anyhow::Result<()> {
    let (_dir, evaluator) = crate::evaluator()?;
    let store = evaluator.store.clone();
    let start: NaiveDate = FIRST_DAY.parse()?;
    let end = start + chrono::Days::new(args.days as u64);
    let last = end.pred_opt().expect("a day before the end");

    let began = Instant::now();
    for batch in generate(
        Sessions {
            count: args.sessions,
            days: args.days,
            license_types: args.products,
            batch: 50_000,
        },
        start,
    ) {
        store
            .ingest(&batch)
            .map_err(|e| anyhow::anyhow!("ingest: {e:?}"))?;
    }
    let products: Vec<_> = (0..args.products)
        .map(|i| product(&format!("lt-{i}"), serde_json::json!({})))
        .collect();
    for p in &products {
        store.put_product(p)?;
    }
    println!(
        "estate: {} sessions, {} products, ingested in {:.1} s",
        args.sessions,
        args.products,
        began.elapsed().as_secs_f64()
    );
    let began = Instant::now();
    let run_at = calendar::midnight(chrono_tz::Tz::UTC, end);
    for r in evaluator.days(&products, start, end, run_at)? {
        r.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    println!(
        "evaluated {} products x {} days (cold) in {:.1} s",
        args.products,
        args.days,
        began.elapsed().as_secs_f64()
    );

    let (token, _) = store.create_token(Role::Reader, None, Some("bench".into()))?;
    // Two services on the same store: one keeps answers of repeated reads, one renders each.
    let kept = AppState::new(evaluator.clone(), Default::default());
    let rendered = AppState::new(
        evaluator,
        api::Settings {
            keep_answers: false,
            ..Default::default()
        },
    );
    let paths: Vec<String> = if args.path.is_empty() {
        vec![
            "/products?startDate={start}&endDate={last}".into(),
            "/api/sam/v2/license_usage?startdate={start}&enddate={last}\
             &columns[]=product_name&columns[]=metric_code_name&columns[]=hwm_quantity\
             &columns[]=hwm_peak_time"
                .into(),
        ]
    } else {
        args.path.clone()
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let mut bases = Vec::new();
        for (label, state) in [("kept answers", kept), ("rendered per request", rendered)] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            bases.push((label, format!("http://{}", listener.local_addr()?)));
            tokio::spawn(async move { axum::serve(listener, api::router(state)).await });
        }
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(args.connections)
            .build()?;
        for template in &paths {
            let path = template
                .replace("{start}", &start.to_string())
                .replace("{end}", &end.to_string())
                .replace("{last}", &last.to_string());
            println!("{path}");
            for (label, base) in &bases {
                let url = format!("{base}{path}");
                // The first read builds the period's report from the cached days.
                let began = Instant::now();
                let first = client.get(&url).bearer_auth(&token).send().await?;
                anyhow::ensure!(
                    first.status().is_success(),
                    "{path}: {}",
                    first.text().await?
                );
                let bytes = first.bytes().await?.len();
                let first_ms = began.elapsed().as_secs_f64() * 1e3;
                let load = load(&client, &url, &token, args.connections, args.seconds).await?;
                println!(
                    "  {label}: first read {first_ms:.1} ms ({bytes} bytes); {} connections, {} s: {} requests, {} failed, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                    args.connections,
                    args.seconds,
                    load.latencies.len(),
                    load.failed,
                    load.latencies.len() as f64 / load.elapsed.as_secs_f64(),
                    percentile(&load.latencies, 0.50),
                    percentile(&load.latencies, 0.99),
                    percentile(&load.latencies, 1.0),
                );
                // What a collector batch costs the next reader: 100 back-dated sessions on
                // the period's middle day dirty that day for 100 products.
                let middle = start + chrono::Days::new(args.days as u64 / 2);
                let mut after = Vec::new();
                let tag = format!("{}-{}", label.replace(' ', "-"), path.len());
                for round in 0..args.rounds.max(1) {
                    let lines: Vec<String> = (0..100)
                        .map(|k| {
                            format!(
                                r#"{{"kind":"session","key":"late-{tag}-{round}-{k}","at":"{middle}T12:00:00Z","attrs":{{"license_type":"lt-{}","user":"late-{k}","start":"{middle}T10:00:00Z","end":"{middle}T12:00:00Z"}}}}"#,
                                k % args.products.max(1)
                            )
                        })
                        .collect();
                    store
                        .ingest(&lines.join("\n"))
                        .map_err(|e| anyhow::anyhow!("ingest: {e:?}"))?;
                    let began = Instant::now();
                    let read = client.get(&url).bearer_auth(&token).send().await?;
                    anyhow::ensure!(read.status().is_success(), "{path}: {}", read.text().await?);
                    read.bytes().await?;
                    after.push(began.elapsed().as_secs_f64() * 1e3);
                }
                after.sort_by(f64::total_cmp);
                println!(
                    "  {label}: first read after a batch of 100 back-dated sessions: median {:.1} ms of {} (min {:.1}, max {:.1})",
                    after[after.len() / 2],
                    after.len(),
                    after[0],
                    after[after.len() - 1]
                );
            }
        }
        anyhow::Ok(())
    })
}

/// What one path's load produced.
struct Load {
    /// Milliseconds per successful request, sorted.
    latencies: Vec<f64>,
    failed: usize,
    elapsed: Duration,
}

async fn load(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    connections: usize,
    seconds: u64,
) -> anyhow::Result<Load> {
    let began = Instant::now();
    let deadline = began + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, url, token) = (client.clone(), url.to_string(), token.to_string());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failed = 0usize;
            while Instant::now() < deadline {
                let sent = Instant::now();
                match client.get(&url).bearer_auth(&token).send().await {
                    Ok(r) if r.status().is_success() => {
                        // The whole body, as a client reads it.
                        if r.bytes().await.is_ok() {
                            latencies.push(sent.elapsed().as_secs_f64() * 1e3);
                        } else {
                            failed += 1;
                        }
                    }
                    _ => failed += 1,
                }
            }
            (latencies, failed)
        }));
    }
    let mut latencies = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let (l, f) = t.await?;
        latencies.extend(l);
        failed += f;
    }
    latencies.sort_by(f64::total_cmp);
    Ok(Load {
        latencies,
        failed,
        elapsed: began.elapsed(),
    })
}

/// The `q` quantile of sorted values (nearest rank).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
