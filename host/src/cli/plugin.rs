//! `licmetric plugin inspect FILE [--json]`: what a plugin component declares, checked as a
//! load would check it (compiles, links against the WIT world, API major version, `describe`)
//! without registering it anywhere.
//!
//! `licmetric plugin load FILE [--data DIR]`: validates a component exactly as
//! `PUT /api/v1/plugins/{name}/{version}` does and stores it, so the service loads it at its
//! next start (the service must not be running on the store).
//!
//! `licmetric plugin new NAME [--dir DIR] [--sdk PATH]`: writes a new plugin crate
//! (see [`super::scaffold`]).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use licmetric_sdk::types as sdk;
use serde_json::{Value, json};

use crate::lifecycle::install;
use crate::runtime::{Limits, LoadedPlugin, Runtime};
use crate::store::Store;

/// What `licmetric plugin` does.
#[derive(Subcommand)]
pub enum PluginCommand {
    /// Load a component without registering it and print what it declares: name, version,
    /// digest, SDK and WIT versions, metrics, facts read, schemas and default rule data.
    /// Exits 1 with the reason when it does not load.
    Inspect {
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Validate a component as an HTTP upload does and store it (the service must not be
    /// running on the store; it loads the plugin at its next start).
    Load {
        file: PathBuf,
        #[arg(long, default_value = "licmetric-data")]
        data: PathBuf,
    },
    /// Write a new plugin crate on the SDK: an INSTALLATIONS metric with rule data, unit tests
    /// and a bundled replay example, ready to build and test (see docs/PLUGIN-GUIDE.md).
    New {
        /// The plugin's and crate's name: lowercase letters, digits and '-', starting with a
        /// letter.
        name: String,
        /// The folder to write (default ./NAME); refused when it exists and is not empty.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The licmetric-sdk folder to depend on (default: the one this licmetric was built
        /// from).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
}

/// Runs a plugin command; returns the exit code.
pub fn run(command: PluginCommand) -> anyhow::Result<i32> {
    match command {
        PluginCommand::Inspect { file, json } => {
            let plugin = prepare_file(&file)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&inspect_json(&plugin))?);
            } else {
                print!("{}", inspect_text(&plugin));
            }
            Ok(0)
        }
        PluginCommand::Load { file, data } => {
            let wasm = read(&file)?;
            let store = Store::open(&data)?;
            // What a service on this store would hold, so the same conflicts and activation
            // order apply as for an upload.
            let runtime = Runtime::with_standard_plugins(
                crate::runtime::default_cache_dir(),
                Limits::default(),
            )?;
            crate::lifecycle::install::restore(&store, &runtime)?;
            let plugin = install::install(&store, &runtime, &wasm, None, "cli")
                .with_context(|| format!("{} was not loaded", file.display()))?;
            store.flush()?;
            println!(
                "loaded {} ({}) into {}",
                plugin.label(),
                plugin.digest(),
                data.display()
            );
            Ok(0)
        }
        PluginCommand::New { name, dir, sdk } => {
            super::scaffold::run(&name, dir.as_deref(), sdk.as_deref())
        }
    }
}

fn read(file: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(file).with_context(|| format!("reading {}", file.display()))
}

/// Compiles, links and checks the component in `file` with a fresh runtime, registering
/// nothing.
pub fn prepare_file(file: &Path) -> anyhow::Result<std::sync::Arc<LoadedPlugin>> {
    let wasm = read(file)?;
    let runtime = Runtime::new(crate::runtime::default_cache_dir(), Limits::default())?;
    runtime
        .prepare(&wasm)
        .with_context(|| format!("{} does not load", file.display()))
}

fn period_rule(r: &sdk::PeriodRule) -> &'static str {
    match r {
        sdk::PeriodRule::HighWaterMark => "high-water-mark",
        sdk::PeriodRule::PartitionSum => "partition-sum",
        sdk::PeriodRule::DistinctUnion => "distinct-union",
    }
}

fn value_type(t: &sdk::ValueType) -> &'static str {
    match t {
        sdk::ValueType::Text => "text",
        sdk::ValueType::Integer => "integer",
        sdk::ValueType::Decimal => "decimal",
        sdk::ValueType::Boolean => "boolean",
        sdk::ValueType::Time => "time",
    }
}

fn selection(s: &sdk::Selection) -> Value {
    match s {
        sdk::Selection::States => json!({ "states": {} }),
        sdk::Selection::Intervals(i) => json!({ "intervals": {
            "start": i.start, "end": i.end, "margin_ms": i.margin_ms,
        }}),
        sdk::Selection::Instants(i) => json!({ "instants": {
            "time": i.time, "margin_ms": i.margin_ms,
        }}),
    }
}

fn selection_name(s: &sdk::Selection) -> &'static str {
    match s {
        sdk::Selection::States => "states",
        sdk::Selection::Intervals(_) => "intervals",
        sdk::Selection::Instants(_) => "instants",
    }
}

/// A JSON document (or, if it does not parse, the text as a string).
fn document(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// The `version` member of the default rule data, if it has one.
fn rule_data_version(text: &str) -> Option<String> {
    match serde_json::from_str::<Value>(text).ok()?.get("version")? {
        Value::String(s) => Some(s.clone()),
        v => Some(v.to_string()),
    }
}

/// The WIT package `plugin` was built against, e.g. `licmetric:plugin@1.0.0` (this host runs
/// every 1.x up to its own `runtime::wit::API_VERSION`).
pub fn wit_package(plugin: &LoadedPlugin) -> String {
    format!("licmetric:plugin@{}", plugin.contract())
}

/// What `plugin inspect --json` prints.
pub fn inspect_json(plugin: &LoadedPlugin) -> Value {
    let info = plugin.info();
    json!({
        "name": info.name,
        "version": plugin.version().to_string(),
        "digest": plugin.digest(),
        "sdk_version": info.sdk_version,
        "wit": wit_package(plugin),
        "metrics": info.metrics.iter().map(|m| json!({
            "code_name": m.code_name,
            "name": m.name,
            "unit": m.unit,
            "period_rule": period_rule(&m.period_rule),
        })).collect::<Vec<_>>(),
        "facts": info.facts.iter().map(|f| json!({
            "kind": f.kind,
            "attributes": f.attributes.iter().map(|a| json!({
                "name": a.name, "type": value_type(&a.type_),
            })).collect::<Vec<_>>(),
            "selection": selection(&f.selection),
        })).collect::<Vec<_>>(),
        "rule_data_schema": document(&info.rule_data_schema),
        "parameter_schema": document(&info.parameter_schema),
        "default_rule_data": {
            "bytes": info.default_rule_data.len(),
            "version": rule_data_version(&info.default_rule_data),
            "document": document(&info.default_rule_data),
        },
    })
}

/// What `plugin inspect` prints.
pub fn inspect_text(plugin: &LoadedPlugin) -> String {
    use std::fmt::Write;
    let info = plugin.info();
    let mut out = String::new();
    let _ = writeln!(out, "name:         {}", info.name);
    let _ = writeln!(out, "version:      {}", plugin.version());
    let _ = writeln!(out, "digest:       {}", plugin.digest());
    let _ = writeln!(out, "sdk version:  {}", info.sdk_version);
    let _ = writeln!(out, "wit:          {}", wit_package(plugin));
    let _ = writeln!(
        out,
        "metrics:{}",
        if info.metrics.is_empty() { " none" } else { "" }
    );
    for m in &info.metrics {
        let _ = writeln!(
            out,
            "  {}  {} (unit {}, period rule {})",
            m.code_name,
            m.name,
            m.unit,
            period_rule(&m.period_rule)
        );
    }
    let _ = writeln!(
        out,
        "facts read:{}",
        if info.facts.is_empty() { " none" } else { "" }
    );
    for f in &info.facts {
        let attributes: Vec<String> = f
            .attributes
            .iter()
            .map(|a| format!("{}: {}", a.name, value_type(&a.type_)))
            .collect();
        let _ = writeln!(
            out,
            "  {} ({}) [{}]",
            f.kind,
            selection_name(&f.selection),
            attributes.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "rule data schema:  {} bytes",
        info.rule_data_schema.len()
    );
    let _ = writeln!(
        out,
        "parameter schema:  {} bytes",
        info.parameter_schema.len()
    );
    let _ = writeln!(
        out,
        "default rule data: {} bytes, version {}",
        info.default_rule_data.len(),
        rule_data_version(&info.default_rule_data).unwrap_or_else(|| "(none)".into())
    );
    out
}
