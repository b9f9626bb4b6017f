//! `licmetric-bench`: the benchmarks of docs/BENCHMARKS.md, kept out of the production binary
//! (they generate estates, drive the API over HTTP with reqwest and link the standard plugins'
//! logic natively to measure what the wasm boundary costs).

mod estate;
mod read;
mod sessions;

use std::sync::Arc;

use clap::{Parser, Subcommand};
use licmetric::eval::Evaluator;
use licmetric::runtime::{Limits, Runtime};
use licmetric::store::Store;

#[derive(Parser)]
#[command(name = "licmetric-bench", version, about)]
struct Cli {
    /// The store's page cache in MiB (as `serve --store-cache-mib`).
    #[arg(long, global = true, default_value_t = licmetric::store::DEFAULT_CACHE_BYTES >> 20)]
    store_cache_mib: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest over HTTP and evaluation on generated session facts (concurrent users).
    Sessions(sessions::BenchArgs),
    /// pvu evaluation on a generated estate of servers, VMs and installations.
    Estate(estate::EstateArgs),
    /// Read latency of the query APIs under concurrent connections.
    Read(read::ReadArgs),
}

/// What every benchmark starts from: an empty store in a temporary directory (removed when
/// the returned guard drops) and the standard plugins.
fn evaluator() -> anyhow::Result<(tempfile::TempDir, Evaluator)> {
    let dir = tempfile::tempdir()?;
    let cache = STORE_CACHE_BYTES.load(std::sync::atomic::Ordering::Relaxed);
    let store = Arc::new(Store::open_with_cache(dir.path(), cache)?);
    let runtime =
        Runtime::with_standard_plugins(licmetric::runtime::default_cache_dir(), Limits::default())?;
    Ok((dir, Evaluator::new(store, runtime)))
}

/// `--store-cache-mib`, in bytes, for [`evaluator`].
static STORE_CACHE_BYTES: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(licmetric::store::DEFAULT_CACHE_BYTES);

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    STORE_CACHE_BYTES.store(
        cli.store_cache_mib << 20,
        std::sync::atomic::Ordering::Relaxed,
    );
    match cli.command {
        Command::Sessions(args) => sessions::run(args),
        Command::Estate(args) => estate::run(args),
        Command::Read(args) => read::run(args),
    }
}
