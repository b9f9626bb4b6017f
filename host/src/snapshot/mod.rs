//! Audit snapshots in the spirit of IBM License Service's: a zip of CSV reports for a period,
//! a `data_condition.txt` saying what produced them, `checksums.txt` (SHA-256 of every other
//! file but the signature), and an Ed25519 signature of the checksums with its public key.
//!
//! The CSV files are a function of the facts, records and plugins only: regenerating a
//! snapshot for the same period gives byte-identical CSV entries. The generation time lives
//! in `data_condition.txt` alone, and entries are written in a fixed order with a fixed
//! timestamp.

pub mod numbers;
pub mod tables;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read, Write};

use chrono::{Duration, NaiveDate};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

use crate::eval::report::Report;
use tables::DaysById;

/// The checksum list, the signature of it, and the key that verifies the signature.
pub const CHECKSUMS: &str = "checksums.txt";
/// The Ed25519 signature of the checksums file, hex.
pub const SIGNATURE: &str = "signature.txt";
/// The public key the signature verifies with, hex.
pub const PUBLIC_KEY: &str = "public_key.txt";
/// What the figures were made from: versions, period, plugins, rule data, generation time.
pub const DATA_CONDITION: &str = "data_condition.txt";

/// A loaded plugin, as `data_condition.txt` lists it.
#[derive(Debug, Clone)]
pub struct PluginLine {
    pub name: String,
    pub version: String,
    pub digest: String,
}

/// The snapshot's file name for `report` (`licmetric_snapshot_<start>_<end>.zip`, end
/// inclusive as License Service writes it).
pub fn file_name(report: &Report) -> String {
    let (start, last) = dates(report);
    format!("licmetric_snapshot_{start}_{last}.zip")
}

/// First and last (inclusive) day of the report.
fn dates(report: &Report) -> (NaiveDate, NaiveDate) {
    (report.start, report.end - Duration::days(1))
}

/// The files of a snapshot in the order they are written, before checksums and signature.
fn files(
    report: &Report,
    days: &DaysById,
    plugins: &[PluginLine],
    metric: Option<&str>,
) -> Vec<(String, Vec<u8>)> {
    let (start, last) = dates(report);
    let span = format!("{start}_{last}");
    vec![
        (
            format!("products_{span}.csv"),
            tables::products(report, metric, true).to_csv(),
        ),
        (
            format!("products_daily_{span}.csv"),
            tables::products_daily(report, metric).to_csv(),
        ),
        (
            format!("bundled_products_{span}.csv"),
            tables::bundled_products(report, metric, None).to_csv(),
        ),
        (
            format!("bundled_products_daily_{span}.csv"),
            tables::bundled_daily(report, metric).to_csv(),
        ),
        (
            format!("chargeback_{span}.csv"),
            tables::chargeback(report, days, metric).to_csv(),
        ),
        (
            DATA_CONDITION.to_string(),
            data_condition(report, plugins, metric).into_bytes(),
        ),
    ]
}

/// What produced the snapshot: version, period, metrics, plugins and rule data, time, facts.
fn data_condition(report: &Report, plugins: &[PluginLine], metric: Option<&str>) -> String {
    let (start, last) = dates(report);
    let mut out = String::new();
    let mut line = |k: &str, v: &str| out.push_str(&format!("{k}: {v}\n"));
    line(
        "generator",
        &format!("licmetric {}", env!("CARGO_PKG_VERSION")),
    );
    line("period start", &start.to_string());
    line("period end (inclusive)", &last.to_string());
    line(
        "generated",
        &chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    line("fact sequence", &report.fact_sequence.to_string());
    // Only a filtered snapshot says so: an unfiltered one stays byte-identical to before.
    if let Some(metric) = metric {
        line("only metric", metric);
    }
    line(
        "scope",
        &report
            .scope
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_else(|| "all consumers".into()),
    );
    let mut metrics = BTreeSet::new();
    let mut evaluated = BTreeSet::new();
    for p in &report.products {
        if let Ok(u) = &p.usage {
            metrics.insert(u.metric_code_name.clone());
            evaluated.insert(format!(
                "{} digest {} rule data {}",
                u.plugin, u.plugin_digest, u.rule_data_version
            ));
        }
    }
    line(
        "metrics",
        &metrics.into_iter().collect::<Vec<_>>().join(", "),
    );
    for e in evaluated {
        line("evaluated with", &e);
    }
    for p in plugins {
        line(
            "plugin loaded",
            &format!("{}@{} digest {}", p.name, p.version, p.digest),
        );
    }
    line(
        "products",
        &format!(
            "{} ({} failed)",
            report.products.len(),
            report.products.iter().filter(|p| p.usage.is_err()).count()
        ),
    );
    line("bundles", &report.bundles.len().to_string());
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `<hex>  <name>` per file, sorted by name.
fn checksums(files: &[(String, Vec<u8>)]) -> String {
    let sorted: BTreeMap<&str, String> = files
        .iter()
        .map(|(n, b)| (n.as_str(), sha256_hex(b)))
        .collect();
    sorted
        .iter()
        .map(|(name, hash)| format!("{hash}  {name}\n"))
        .collect()
}

/// Builds and signs the snapshot of `report` (whose evaluated days are `days`) as zip bytes;
/// with `metric`, of the products and bundles counting that metric code name only.
pub fn build(
    report: &Report,
    days: &DaysById,
    plugins: &[PluginLine],
    metric: Option<&str>,
    key: &SigningKey,
) -> anyhow::Result<Vec<u8>> {
    let mut files = files(report, days, plugins, metric);
    files.push((
        PUBLIC_KEY.to_string(),
        format!("{}\n", hex::encode(key.verifying_key().to_bytes())).into_bytes(),
    ));
    let sums = checksums(&files);
    let signature = key.sign(sums.as_bytes());
    files.push((CHECKSUMS.to_string(), sums.into_bytes()));
    files.push((
        SIGNATURE.to_string(),
        format!("{}\n", hex::encode(signature.to_bytes())).into_bytes(),
    ));
    write_zip(&files)
}

/// Writes `files` in order, each with the same fixed timestamp and permissions.
pub fn write_zip(files: &[(String, Vec<u8>)]) -> anyhow::Result<Vec<u8>> {
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in files {
        zip.start_file(name.as_str(), options)?;
        zip.write_all(bytes)?;
    }
    Ok(zip.finish()?.into_inner())
}

/// Every entry of a zip, in archive order.
pub fn read_zip(bytes: &[u8]) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))?;
    let mut out = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        out.push((entry.name().to_string(), data));
    }
    Ok(out)
}

/// What a successful verification checked.
#[derive(Debug, Clone)]
pub struct Verified {
    /// `(file, sha256)` of every checksummed file.
    pub files: Vec<(String, String)>,
    /// The public key the signature verified with (hex).
    pub public_key: String,
}

/// The first file that failed verification, and why.
#[derive(Debug, Clone)]
pub struct Failure {
    pub file: String,
    pub reason: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.reason)
    }
}

fn fail(file: &str, reason: impl Into<String>) -> Failure {
    Failure {
        file: file.to_string(),
        reason: reason.into(),
    }
}

/// Verifies a snapshot: every checksum, that every file but the signature is listed, and the
/// signature of `checksums.txt` with the key in the zip — which must equal `public_key`
/// (hex) when one is given, since a key inside the zip proves only that the zip is whole.
pub fn verify(bytes: &[u8], public_key: Option<&str>) -> Result<Verified, Failure> {
    let entries = read_zip(bytes).map_err(|e| fail("(archive)", format!("not a zip: {e:#}")))?;
    let mut by_name: BTreeMap<&str, &[u8]> = BTreeMap::new();
    for (name, data) in &entries {
        if by_name.insert(name, data).is_some() {
            return Err(fail(name, "appears twice in the archive"));
        }
    }
    let get = |name: &str| -> Result<&[u8], Failure> {
        by_name
            .get(name)
            .copied()
            .ok_or_else(|| fail(name, "missing from the archive"))
    };
    let sums = std::str::from_utf8(get(CHECKSUMS)?).map_err(|_| fail(CHECKSUMS, "not UTF-8"))?;
    let mut listed: BTreeMap<&str, &str> = BTreeMap::new();
    for (i, line) in sums.lines().enumerate() {
        let (hash, name) = line.split_once("  ").ok_or_else(|| {
            fail(
                CHECKSUMS,
                format!("line {} is not `<sha256>  <name>`", i + 1),
            )
        })?;
        if listed.insert(name, hash).is_some() {
            return Err(fail(CHECKSUMS, format!("lists {name} twice")));
        }
    }
    let mut files = Vec::new();
    for (name, hash) in &listed {
        let data = get(name)?;
        let actual = sha256_hex(data);
        if !actual.eq_ignore_ascii_case(hash) {
            return Err(fail(
                name,
                format!("checksum mismatch: {CHECKSUMS} says {hash}, the file's is {actual}"),
            ));
        }
        files.push((name.to_string(), actual));
    }
    for name in by_name.keys() {
        if *name != CHECKSUMS && *name != SIGNATURE && !listed.contains_key(name) {
            return Err(fail(name, format!("is not listed in {CHECKSUMS}")));
        }
    }
    // A signed zip of nothing proves nothing: the data condition and the figures must be there.
    for required in [DATA_CONDITION, PUBLIC_KEY] {
        if !listed.contains_key(required) {
            return Err(fail(required, format!("is not listed in {CHECKSUMS}")));
        }
    }
    if !listed.keys().any(|name| name.ends_with(".csv")) {
        return Err(fail(
            CHECKSUMS,
            "lists no CSV file: the snapshot holds no figures",
        ));
    }
    let inside = String::from_utf8_lossy(get(PUBLIC_KEY)?).trim().to_string();
    if let Some(given) = public_key
        && !given.trim().eq_ignore_ascii_case(&inside)
    {
        return Err(fail(
            PUBLIC_KEY,
            format!("holds {inside}, not the given key {}", given.trim()),
        ));
    }
    let key: [u8; 32] = hex::decode(&inside)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| fail(PUBLIC_KEY, "is not a 32-byte hex Ed25519 key"))?;
    let key = VerifyingKey::from_bytes(&key)
        .map_err(|e| fail(PUBLIC_KEY, format!("is not an Ed25519 key: {e}")))?;
    let signature: [u8; 64] = hex::decode(String::from_utf8_lossy(get(SIGNATURE)?).trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| fail(SIGNATURE, "is not a 64-byte hex Ed25519 signature"))?;
    key.verify(sums.as_bytes(), &Signature::from_bytes(&signature))
        .map_err(|_| {
            fail(
                SIGNATURE,
                format!("does not sign {CHECKSUMS} with the public key"),
            )
        })?;
    Ok(Verified {
        files,
        public_key: inside,
    })
}
