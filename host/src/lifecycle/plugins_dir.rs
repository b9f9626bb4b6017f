//! `licmetric serve --plugins-dir DIR`: a folder operators drop plugins and rule data into.
//!
//! - `*.wasm`: a new or changed file is installed exactly as an upload is (validated, self-tested,
//!   stored, activated, audited by `plugins-dir`). When a file's content changes to another
//!   version, the version it held before is deactivated; a removed file's version is
//!   deactivated (it stays held, for rollback and past periods). A refused file is logged and
//!   tried again only once it changes.
//! - `NAME.json`: rule data for plugin `NAME`, validated by its highest active version and put
//!   in force as `PUT /api/v1/plugins/{name}/config` does. Removing the file changes nothing:
//!   rule data in force is replaced, never withdrawn.
//!
//! The folder is polled (every second in `serve`): a scan reads each entry's metadata and only
//! reads files whose size or modification time changed, so an idle folder costs a directory
//! listing. Write files elsewhere and rename them in, so a scan never reads half a file (one
//! that is half-written is refused, and installed once complete).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::{install, rule_data};
use crate::runtime::Runtime;
use crate::store::Store;

/// Who the audit trail names for changes made from the folder.
pub const WHO: &str = "plugins-dir";

/// What one scan changed, file by file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A plugin file was installed and activated (`name@version`).
    Loaded { file: String, plugin: String },
    /// A plugin file was refused; nothing changed.
    Refused { file: String, reason: String },
    /// A plugin version is no longer active: its file was removed or now holds another version.
    Deactivated { file: String, plugin: String },
    /// A rule-data file was put in force (plugin name, rule-data version).
    RuleData {
        file: String,
        plugin: String,
        version: String,
    },
}

/// What a scan remembers of a file.
struct Seen {
    /// Size and modification time when last read.
    stamp: (u64, Option<SystemTime>),
    /// SHA-256 of the content last read.
    digest: [u8; 32],
    /// For a plugin file: the `name@version` it installed, if it was accepted.
    plugin: Option<(String, semver::Version)>,
}

/// A watched plugins folder and what its last scan saw.
pub struct PluginsDir {
    dir: PathBuf,
    store: Arc<Store>,
    runtime: Arc<Runtime>,
    seen: BTreeMap<PathBuf, Seen>,
}

impl PluginsDir {
    /// Watches `dir` (which must exist) for `store` and `runtime`. Nothing is read until
    /// [`PluginsDir::scan`].
    pub fn new(dir: &Path, store: Arc<Store>, runtime: Arc<Runtime>) -> anyhow::Result<Self> {
        anyhow::ensure!(
            dir.is_dir(),
            "--plugins-dir {}: not a directory",
            dir.display()
        );
        Ok(PluginsDir {
            dir: dir.to_path_buf(),
            store,
            runtime,
            seen: BTreeMap::new(),
        })
    }

    /// Brings the runtime in line with the folder: plugin files first (so rule data dropped
    /// with its plugin finds it), then rule data, then removals.
    pub fn scan(&mut self) -> anyhow::Result<Vec<Change>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort_by_key(|p| (extension(p) != "wasm", p.clone()));
        let mut changes = Vec::new();
        for path in &files {
            match extension(path) {
                "wasm" | "json" => {}
                _ => continue,
            }
            let Ok(meta) = std::fs::metadata(path) else {
                continue;
            };
            let stamp = (meta.len(), meta.modified().ok());
            if self.seen.get(path).is_some_and(|s| s.stamp == stamp) {
                continue;
            }
            let Ok(bytes) = std::fs::read(path) else {
                continue;
            };
            let digest: [u8; 32] = Sha256::digest(&bytes).into();
            let previous = self.seen.remove(path);
            if let Some(p) = previous.as_ref().filter(|p| p.digest == digest) {
                self.seen.insert(
                    path.clone(),
                    Seen {
                        stamp,
                        digest,
                        plugin: p.plugin.clone(),
                    },
                );
                continue;
            }
            let before = previous.and_then(|p| p.plugin);
            let plugin = if extension(path) == "wasm" {
                self.plugin_file(path, &bytes, before, &mut changes)
            } else {
                self.rule_data_file(path, &bytes, &mut changes);
                None
            };
            self.seen.insert(
                path.clone(),
                Seen {
                    stamp,
                    digest,
                    plugin,
                },
            );
        }
        let removed: Vec<PathBuf> = self
            .seen
            .keys()
            .filter(|p| !files.contains(p))
            .cloned()
            .collect();
        for path in removed {
            if let Some((name, version)) = self.seen.remove(&path).and_then(|s| s.plugin) {
                self.retire(&path, &name, &version, &mut changes);
            }
        }
        for change in &changes {
            tracing::info!(?change, "plugins dir");
        }
        Ok(changes)
    }

    /// Scans now, then every `every` on a background thread for as long as the process runs.
    pub fn watch(mut self, every: Duration) -> anyhow::Result<std::thread::JoinHandle<()>> {
        self.scan()?;
        Ok(std::thread::Builder::new()
            .name("licmetric-plugins-dir".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(every);
                    if let Err(e) = self.scan() {
                        tracing::warn!("scanning {}: {e:#}", self.dir.display());
                    }
                }
            })?)
    }

    /// Installs a plugin file (or notes that its exact component is already held); deactivates
    /// the version the file held before when it now holds another.
    fn plugin_file(
        &self,
        path: &Path,
        wasm: &[u8],
        before: Option<(String, semver::Version)>,
        changes: &mut Vec<Change>,
    ) -> Option<(String, semver::Version)> {
        let file = file_name(path);
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(wasm)));
        // Already held (a restart, or the same bytes under another file name): leave its
        // state alone, so a rollback made over HTTP is not undone by the next start.
        let now = match self.runtime.registry().by_digest(&digest) {
            Some(plugin) => Some((plugin.name().to_string(), plugin.version().clone())),
            None => match install::install(&self.store, &self.runtime, wasm, None, WHO) {
                Ok(plugin) => {
                    changes.push(Change::Loaded {
                        file: file.clone(),
                        plugin: plugin.label(),
                    });
                    Some((plugin.name().to_string(), plugin.version().clone()))
                }
                Err(e) => {
                    tracing::warn!("plugins dir: {file} refused: {e:#}");
                    changes.push(Change::Refused {
                        file: file.clone(),
                        reason: format!("{e:#}"),
                    });
                    None
                }
            },
        };
        if let Some((name, version)) = before
            && now.as_ref() != Some(&(name.clone(), version.clone()))
        {
            self.retire(path, &name, &version, changes);
        }
        now
    }

    /// Deactivates `name@version` unless another file of the folder still holds it.
    fn retire(
        &self,
        path: &Path,
        name: &str,
        version: &semver::Version,
        changes: &mut Vec<Change>,
    ) {
        let held_elsewhere = self.seen.iter().any(|(p, s)| {
            p != path
                && s.plugin
                    .as_ref()
                    .is_some_and(|(n, v)| n == name && v == version)
        });
        if held_elsewhere {
            return;
        }
        match install::deactivate(&self.store, &self.runtime, name, version, WHO) {
            Ok(_) => changes.push(Change::Deactivated {
                file: file_name(path),
                plugin: format!("{name}@{version}"),
            }),
            Err(e) => tracing::warn!("plugins dir: deactivating {name}@{version}: {e:#}"),
        }
    }

    /// Puts `NAME.json` in force as rule data of plugin `NAME`.
    fn rule_data_file(&self, path: &Path, bytes: &[u8], changes: &mut Vec<Change>) {
        let file = file_name(path);
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let refuse = |reason: String, changes: &mut Vec<Change>| {
            tracing::warn!("plugins dir: {file} refused: {reason}");
            changes.push(Change::Refused {
                file: file.clone(),
                reason,
            });
        };
        let Some(plugin) = self.runtime.resolve(&name, &semver::VersionReq::STAR) else {
            return refuse(
                format!(
                    "no active plugin {name:?} for this rule data (the file is named after its plugin)"
                ),
                changes,
            );
        };
        let Ok(document) = std::str::from_utf8(bytes) else {
            return refuse("not UTF-8 text".into(), changes);
        };
        // Already in force (a restart): nothing to record again.
        if self.store.rule_data(&name).ok().flatten().as_deref() == Some(document) {
            return;
        }
        match rule_data::load(&self.store, &plugin, document, WHO) {
            Ok(validated) => changes.push(Change::RuleData {
                file: file.clone(),
                plugin: name,
                version: validated.version,
            }),
            Err(e) => refuse(e.to_string(), changes),
        }
    }
}

fn extension(path: &Path) -> &str {
    path.extension().and_then(|e| e.to_str()).unwrap_or("")
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
