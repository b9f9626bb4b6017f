//! The `licmetric` command: serve, ingest, replay, bench, snapshot verify, plugin
//! inspect/load/new.

mod ingest;
pub mod plugin;
pub mod scaffold;
mod snapshot;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::api::{self, AppState};
use crate::eval::Evaluator;
use crate::eval::scope::Scope;
use crate::lifecycle::plugins_dir::PluginsDir;
use crate::runtime::{Limits, Runtime};
use crate::store::Store;
use crate::store::tokens::Role;

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
        /// Refuse tokens sent as `?token=` (headers only).
        #[arg(long)]
        no_token_in_url: bool,
        /// A folder to watch: `*.wasm` dropped there are installed, removed ones deactivated;
        /// `NAME.json` is rule data for plugin NAME.
        #[arg(long)]
        plugins_dir: Option<PathBuf>,
        /// Plugin memory of the whole service, in MiB: each plugin call reserves its 1 GiB cap
        /// from it and waits while concurrent calls hold the rest.
        #[arg(long, default_value_t = 4096)]
        plugin_memory_total_mib: usize,
        /// Most a plugin's results may keep in the store per product-day, in MiB (its numbers,
        /// warnings and distinct identities); a day over it fails instead of being stored.
        #[arg(long, default_value_t = 4)]
        stored_day_mib: usize,
        /// The longest line (one fact) a batch may hold, in KiB; a longer one refuses the
        /// batch naming the line.
        #[arg(long, default_value_t = 1024)]
        max_line_kib: usize,
        /// Memory for the store's page cache, in MiB: pages evicted from it are read from
        /// disk again, which the first report after a large ingest pays.
        #[arg(long, default_value_t = 1024)]
        store_cache_mib: u64,
        /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert (keep it 0600).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Make, list or revoke API tokens (the service must not be running on the store;
    /// a running service makes them at /api/v1/tokens).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Ingest an NDJSON fact file into a store in batches (the service must not be running
    /// on it).
    Ingest {
        file: PathBuf,
        #[arg(long, default_value = "licmetric-data")]
        data: PathBuf,
        /// Lines per batch: each is validated and stored as one, as a POST would be.
        #[arg(long, default_value_t = 20_000)]
        batch_lines: usize,
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
    /// Check audit snapshots.
    Snapshot {
        #[command(subcommand)]
        command: snapshot::SnapshotCommand,
    },
    /// Inspect a plugin component, or load one into a store.
    Plugin {
        #[command(subcommand)]
        command: plugin::PluginCommand,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Make a token and print it (it is shown only once; the store keeps its hash).
    Create {
        /// reader, ingest, operator or admin.
        #[arg(long)]
        role: String,
        /// For a reader: only consumers in these groups, as attribute=group[,group…]
        /// (e.g. cost_center=CC1,CC2).
        #[arg(long)]
        scope: Option<String>,
        /// A note saying whose token it is.
        #[arg(long)]
        label: Option<String>,
        #[arg(long, default_value = "licmetric-data")]
        data: PathBuf,
    },
    /// List tokens (ids, roles, scopes; never secrets).
    List {
        #[arg(long, default_value = "licmetric-data")]
        data: PathBuf,
    },
    /// Revoke a token by id.
    Revoke {
        id: String,
        #[arg(long, default_value = "licmetric-data")]
        data: PathBuf,
    },
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
        Command::Serve {
            data,
            listen,
            no_token_in_url,
            plugins_dir,
            plugin_memory_total_mib,
            stored_day_mib,
            max_line_kib,
            store_cache_mib,
            tls_cert,
            tls_key,
        } => serve(
            Store::open_with_cache(&data, store_cache_mib << 20)?,
            data,
            listen,
            match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => Some(api::serve::Tls::from_pem_files(&cert, &key)?),
                _ => None,
            },
            plugins_dir,
            Limits {
                service_memory_bytes: plugin_memory_total_mib << 20,
                stored_day_bytes: stored_day_mib << 20,
                ..Limits::default()
            },
            api::Settings {
                token_in_url: !no_token_in_url,
                max_line_bytes: max_line_kib << 10,
                ..Default::default()
            },
        )
        .map(|_| 0),
        Command::Token { command } => token(command),
        Command::Ingest {
            file,
            data,
            batch_lines,
        } => ingest::run(&file, &data, batch_lines),
        Command::Replay { dirs, plugin } => {
            let runtime = Runtime::with_standard_plugins(
                crate::runtime::default_cache_dir(),
                Limits::default(),
            )?;
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
                .flat_map(|d| crate::lifecycle::replay::find_fixtures(d))
                .collect();
            if fixtures.is_empty() {
                anyhow::bail!("no fixture folder (with a case.json) under {dirs:?}");
            }
            let reports = crate::lifecycle::replay::replay(&runtime, &fixtures)?;
            Ok(if crate::lifecycle::replay::print(&reports) == 0 {
                0
            } else {
                1
            })
        }
        Command::Snapshot { command } => snapshot::run(command),
        Command::Plugin { command } => plugin::run(command),
    }
}

fn token(command: TokenCommand) -> anyhow::Result<i32> {
    match command {
        TokenCommand::Create {
            role,
            scope,
            label,
            data,
        } => {
            let role: Role = role.parse().map_err(|e| anyhow::anyhow!("--role: {e}"))?;
            let scope = scope
                .map(|s| Scope::parse(&s).map_err(|e| anyhow::anyhow!("--scope: {e}")))
                .transpose()?;
            let store = Store::open(&data)?;
            let (token, record) = store.create_token(role, scope, label)?;
            eprintln!(
                "token {} ({}) created; it is shown only once:",
                record.id,
                role.name()
            );
            println!("{token}");
            Ok(0)
        }
        TokenCommand::List { data } => {
            let store = Store::open(&data)?;
            for t in store.tokens()? {
                println!("{}", serde_json::to_string(&t)?);
            }
            Ok(0)
        }
        TokenCommand::Revoke { id, data } => {
            let store = Store::open(&data)?;
            if store.revoke_token(&id)? {
                eprintln!("token {id} revoked");
                Ok(0)
            } else {
                eprintln!("licmetric: no token {id}");
                Ok(1)
            }
        }
    }
}

/// A store without tokens gets an admin token on first start, written to
/// `<data>/admin-token` (readable by the owner only) so the service is usable at once.
fn first_admin_token(store: &Store, data: &std::path::Path) -> anyhow::Result<()> {
    if !store.tokens()?.is_empty() {
        return Ok(());
    }
    let (token, record) = store.create_token(Role::Admin, None, Some("first start".into()))?;
    let path = data.join("admin-token");
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create_new(true);
    #[cfg(unix)]
    {
        // Readable by the owner only from the moment it exists.
        use std::os::unix::fs::OpenOptionsExt;
        file.mode(0o600);
    }
    use std::io::Write;
    file.open(&path)
        .and_then(|mut f| writeln!(f, "{token}"))
        .with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(
        "no tokens yet: made admin token {} and wrote it to {}",
        record.id,
        path.display()
    );
    Ok(())
}

/// Opens the store and runtime under `data` and serves the API until Ctrl-C.
fn serve(
    store: Store,
    data: PathBuf,
    listen: SocketAddr,
    tls: Option<api::serve::Tls>,
    plugins_dir: Option<PathBuf>,
    limits: Limits,
    settings: api::Settings,
) -> anyhow::Result<()> {
    let store = Arc::new(store);
    first_admin_token(&store, &data)?;
    let runtime = Runtime::with_standard_plugins(data.join("compiled"), limits)?;
    for p in runtime.plugins() {
        tracing::info!(plugin = %p.label(), digest = %p.digest(), "plugin loaded");
    }
    let evaluator = Evaluator::new(store.clone(), runtime);
    let restored = api::plugins::restore(&evaluator)?;
    if restored > 0 {
        tracing::info!("{restored} uploaded plugin versions loaded from the store");
    }
    if let Some(dir) = plugins_dir {
        PluginsDir::new(&dir, store.clone(), evaluator.runtime.clone())?
            .watch(std::time::Duration::from_secs(1))?;
        tracing::info!("watching {} for plugins and rule data", dir.display());
    }
    let state = AppState::new(evaluator, settings);
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        tracing::info!(
            "licmetric serving on {}://{} (store {})",
            if tls.is_some() { "https" } else { "http" },
            listener.local_addr()?,
            data.display()
        );
        api::serve::serve(listener, api::router(state), tls, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        store.flush()?;
        anyhow::Ok(())
    })
}
