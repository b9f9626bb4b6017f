//! The `licmetric` command: serve, ingest, replay, bench.

mod bench;
mod bench_estate;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::api::{self, AppState};
use crate::eval::Evaluator;
use crate::runtime::{Limits, Runtime};
use crate::store::{BatchError, Store};

/// Licence metric evaluation engine.
#[derive(Parser)]
#[command(name = "licmetric", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service with an embedded store and the standard plugins.
    Serve {
        /// Store directory.
        #[arg(long, default_value = "licmetric-data")]
        data: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Ingest an NDJSON fact file into a store (the service must not be running on it).
    Ingest {
        file: PathBuf,
        #[arg(long, default_value = "licmetric-data")]
        data: PathBuf,
    },
    /// Replay fixture folders (facts + expected results); exits 1 on any mismatch.
    Replay {
        /// Fixture folders, or folders to search for them.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// A plugin under development, used instead of a built-in one of the same name.
        #[arg(long)]
        plugin: Vec<PathBuf>,
    },
    /// Measure ingest and evaluation on a generated estate (see docs/BENCHMARKS.md).
    Bench(bench::BenchArgs),
    /// Benchmark pvu evaluation on a generated estate of servers, VMs and installations.
    BenchEstate(bench_estate::EstateArgs),
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    run_args(std::env::args_os())
}

/// Runs the command line with `args` (the first is the program name); returns the exit code.
pub fn run_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("licmetric: {e:#}");
            1
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Serve { data, listen } => serve(data, listen).map(|_| 0),
        Command::Ingest { file, data } => {
            let store = Store::open(&data)?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            match store.ingest(&text) {
                Ok(report) => {
                    println!("{}", serde_json::to_string(&report)?);
                    Ok(0)
                }
                Err(BatchError::Invalid(e)) => {
                    eprintln!(
                        "licmetric: {}: {e}; nothing from this file was stored",
                        file.display()
                    );
                    Ok(2)
                }
                Err(BatchError::Storage(e)) => Err(e),
            }
        }
        Command::Replay { dirs, plugin } => {
            let runtime = Runtime::with_standard_plugins(default_cache_dir(), Limits::default())?;
            for p in &plugin {
                let loaded = runtime.load_file(p)?;
                eprintln!(
                    "using plugin {} ({}) from {}",
                    loaded.label(),
                    loaded.digest(),
                    p.display()
                );
            }
            let fixtures: Vec<PathBuf> = dirs
                .iter()
                .flat_map(|d| crate::replay::find_fixtures(d))
                .collect();
            if fixtures.is_empty() {
                anyhow::bail!("no fixture folder (with a case.json) under {dirs:?}");
            }
            let reports = crate::replay::replay(&runtime, &fixtures)?;
            Ok(if crate::replay::print(&reports) == 0 {
                0
            } else {
                1
            })
        }
        Command::Bench(args) => bench::run(args).map(|_| 0),
        Command::BenchEstate(args) => bench_estate::run(args).map(|_| 0),
    }
}

/// Where compiled plugins are cached when no store directory is at hand.
pub fn default_cache_dir() -> PathBuf {
    std::env::temp_dir().join("licmetric-compiled")
}

/// Opens the store and runtime under `data` and serves the API until Ctrl-C.
fn serve(data: PathBuf, listen: SocketAddr) -> anyhow::Result<()> {
    let store = Arc::new(Store::open(&data)?);
    let runtime = Runtime::with_standard_plugins(data.join("compiled"), Limits::default())?;
    for p in runtime.plugins() {
        tracing::info!(plugin = %p.label(), digest = %p.digest(), "plugin loaded");
    }
    let state = AppState {
        evaluator: Evaluator {
            store: store.clone(),
            runtime,
        },
        started: Arc::new(Instant::now()),
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        tracing::info!(
            "licmetric serving on http://{} (store {})",
            listener.local_addr()?,
            data.display()
        );
        axum::serve(listener, api::router(state))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        store.flush()?;
        anyhow::Ok(())
    })
}
