//! `licmetric bench`: ingest over HTTP and evaluation on a generated estate of session facts,
//! and one plugin call against the same logic compiled natively. Figures: docs/BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use clap::Args;
use licmetric_sdk::types::{self as sdk, Selection};

use licmetric::api::{self, AppState};
use licmetric::eval::calendar;
use licmetric::runtime::LoadedPlugin;
use licmetric::store::DAY_MS;
use licmetric::store::records::Product;
use licmetric::store::timeline::{Interner, Window};

#[derive(Args)]
pub struct BenchArgs {
    /// Session facts to generate (each one NDJSON line).
    #[arg(long, default_value_t = 1_000_000)]
    sessions: usize,
    /// Days the sessions spread over.
    #[arg(long, default_value_t = 90)]
    days: u32,
    /// Licence types (one product each, plus the ALL CONCURRENT aggregate).
    #[arg(long, default_value_t = 10)]
    license_types: usize,
    /// Lines per HTTP batch.
    #[arg(long, default_value_t = 20_000)]
    batch: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Repetitions of the plugin-versus-native comparison (the median is reported).
    #[arg(long, default_value_t = 5)]
    repeat: usize,
}

const FIRST_DAY: &str = "2026-08-01";

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let (_dir, evaluator) = crate::evaluator()?;
    let store = evaluator.store.clone();
    let start: NaiveDate = FIRST_DAY.parse()?;
    let end = start + chrono::Days::new(args.days as u64);

    println!(
        "generating {} sessions over {} days …",
        args.sessions, args.days
    );
    let batches = generate(
        Sessions {
            count: args.sessions,
            days: args.days,
            license_types: args.license_types,
            batch: args.batch,
        },
        start,
    );

    // Ingest over HTTP, as collectors do.
    let state = AppState::new(evaluator.clone(), Default::default());
    let (token, _) =
        evaluator
            .store
            .create_token(licmetric::store::tokens::Role::Ingest, None, None)?;
    let rt = tokio::runtime::Runtime::new()?;
    let ingest_time = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/api/v1/facts", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, api::router(state)).await });
        let client = reqwest::Client::new();
        let queue = Arc::new(tokio::sync::Mutex::new(batches));
        let began = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..args.clients {
            let (queue, client, url, token) =
                (queue.clone(), client.clone(), url.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let Some(body) = queue.lock().await.pop() else {
                        break;
                    };
                    let response = client
                        .post(&url)
                        .bearer_auth(&token)
                        .body(body)
                        .send()
                        .await?;
                    anyhow::ensure!(
                        response.status().is_success(),
                        "ingest failed: {}",
                        response.text().await?
                    );
                }
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        anyhow::Ok(began.elapsed())
    })?;
    println!(
        "ingest over HTTP: {} facts in {:.2} s = {:.0} facts/s ({} clients, {} lines per batch)",
        args.sessions,
        ingest_time.as_secs_f64(),
        args.sessions as f64 / ingest_time.as_secs_f64(),
        args.clients,
        args.batch
    );

    let mut products: Vec<Product> = (0..args.license_types)
        .map(|i| product(&format!("lt-{i}"), serde_json::json!({})))
        .collect();
    products.push(product(
        "all-concurrent",
        serde_json::json!({"license_type": "license_type.aggregated.cc.all"}),
    ));
    for p in &products {
        store.put_product(p)?;
    }
    let run_at = calendar::midnight(chrono_tz::Tz::UTC, end);
    let timed = |label: &str, products: &[Product]| -> anyhow::Result<Duration> {
        let began = Instant::now();
        let results = evaluator.days(products, start, end, run_at)?;
        let elapsed = began.elapsed();
        for r in results {
            r.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        println!("evaluate {label}: {:.3} s", elapsed.as_secs_f64());
        Ok(elapsed)
    };
    timed(
        &format!("{} products x {} days, cold", products.len(), args.days),
        &products,
    )?;
    timed(
        &format!("{} products x {} days, cached", products.len(), args.days),
        &products,
    )?;

    // One plugin call against the same logic compiled natively, on the same input.
    let plugin = evaluator
        .runtime
        .resolve("concurrent", &semver::VersionReq::STAR)
        .expect("built in");
    let (input, read_time) = evaluation_input(&store, &plugin, &products, start, end, run_at)?;
    let states: usize = input.timelines.iter().map(|t| t.entity.len()).sum();
    println!(
        "read timelines: {states} states in {:.3} s",
        read_time.as_secs_f64()
    );
    let (w, n) = wasm_and_native(&plugin, &input, args.repeat, |input| {
        licmetric_sdk::__private::count::<licmetric_plugin_concurrent::Concurrent>(input)
    })?;
    println!(
        "one evaluate call, {} products x {} days, {states} sessions: wasm {:.3} s, native {:.3} s, ratio {:.2} (median of {})",
        products.len(),
        args.days,
        w.as_secs_f64(),
        n.as_secs_f64(),
        w.as_secs_f64() / n.as_secs_f64(),
        args.repeat.max(1)
    );
    let _ = Selection::States;
    Ok(())
}

pub(super) fn product(id: &str, parameters: serde_json::Value) -> Product {
    serde_json::from_value(
        serde_json::json!({"id": id, "metric": "concurrent@^1", "parameters": parameters}),
    )
    .expect("valid product")
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The input of one `evaluate` call of `plugin` for `products` over the UTC days of
/// `[start, end)`, built as the evaluator builds it, and how long reading its timelines took.
pub(super) fn evaluation_input(
    store: &licmetric::store::Store,
    plugin: &LoadedPlugin,
    products: &[Product],
    start: NaiveDate,
    end: NaiveDate,
    run_at: i64,
) -> anyhow::Result<(sdk::Evaluation, Duration)> {
    let rule_data = plugin.info().default_rule_data.clone();
    let refs: Vec<sdk::ProductRef> = products
        .iter()
        .map(|p| sdk::ProductRef {
            id: p.id.clone(),
            parameters: p.parameters.to_string(),
        })
        .collect();
    let requests = plugin
        .call()?
        .prepare(&rule_data, &refs)?
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let days = calendar::days(chrono_tz::Tz::UTC, start, end);
    let window = Window {
        start: days[0].start,
        end: days[days.len() - 1].end,
    };
    let began = Instant::now();
    let mut strings = Interner::default();
    let timelines = store.timelines(&requests, window, &mut strings)?;
    let read_time = began.elapsed();
    let input = sdk::Evaluation {
        rule_data,
        run_at,
        products: refs
            .into_iter()
            .map(|product| sdk::ProductDays {
                product,
                days: days.clone(),
            })
            .collect(),
        strings: strings.into_table(),
        timelines,
    };
    Ok((input, read_time))
}

/// Median times of `repeat` (at least one) rounds of the same call: `evaluate` in wasm, then
/// `native` (the plugin's logic compiled into the host) on the same input. Both must succeed.
pub(super) fn wasm_and_native(
    plugin: &LoadedPlugin,
    input: &sdk::Evaluation,
    repeat: usize,
    native: impl Fn(sdk::Evaluation) -> sdk::wire::Outcome,
) -> anyhow::Result<(Duration, Duration)> {
    let (mut wasm_times, mut native_times) = (Vec::new(), Vec::new());
    for _ in 0..repeat.max(1) {
        let began = Instant::now();
        let outcome = plugin.call()?.evaluate(input.clone())?;
        wasm_times.push(began.elapsed());
        anyhow::ensure!(
            outcome.errors.is_empty(),
            "wasm evaluation failed: {:?}",
            outcome.errors
        );
        let began = Instant::now();
        // The same work as the wasm call: numbers only, as `evaluate` answers.
        let outcome = native(input.clone());
        native_times.push(began.elapsed());
        anyhow::ensure!(
            outcome.errors.is_empty(),
            "native evaluation failed: {:?}",
            outcome.errors
        );
    }
    Ok((median(&mut wasm_times), median(&mut native_times)))
}

/// What [`generate`] makes.
pub(super) struct Sessions {
    pub count: usize,
    pub days: u32,
    pub license_types: usize,
    /// Lines per NDJSON batch.
    pub batch: usize,
}

/// Sessions of 5 minutes to 8 hours, spread over the days, in NDJSON batches.
pub(super) fn generate(args: Sessions, start: NaiveDate) -> Vec<String> {
    let first = calendar::midnight(chrono_tz::Tz::UTC, start);
    let span = args.days as i64 * DAY_MS;
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut batches = Vec::new();
    let mut batch = String::with_capacity(args.batch * 220);
    for i in 0..args.count {
        let begin = first + (next() % span as u64) as i64;
        let length = 300_000 + (next() % 28_500_000) as i64;
        let lt = next() as usize % args.license_types.max(1);
        let user = next() % 5_000;
        let t = |ms: i64| licmetric::store::fact::format_time(ms);
        batch.push_str(&format!(
            "{{\"kind\":\"session\",\"key\":\"s-{i}\",\"at\":\"{}\",\"attrs\":{{\"license_type\":\"lt-{lt}\",\"user\":\"u{user}\",\"host\":\"h{}\",\"start\":\"{}\",\"end\":\"{}\",\"cost_center\":\"cc{}\"}}}}\n",
            t(begin), user % 700, t(begin), t(begin + length), user % 13
        ));
        if (i + 1) % args.batch == 0 {
            batches.push(std::mem::take(&mut batch));
        }
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    batches.reverse();
    batches
}
