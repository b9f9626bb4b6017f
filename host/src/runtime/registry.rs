//! Which plugin versions the runtime holds, and which of them products resolve to.
//!
//! A [`Registry`] is an immutable value. Every change (activate, deactivate, rollback) builds a
//! new one and publishes it with one atomic pointer swap, so an evaluation that took the registry
//! at its start resolves every product against one consistent set of versions, and finishes on
//! them even if an operator swaps a plugin meanwhile (the old plugin lives until its last `Arc`
//! is dropped). Reading the registry costs an atomic load and a reference count.
//!
//! Several versions of one plugin live side by side. A product bound to `pvu@^1.2` resolves to
//! the highest *active* version matching the requirement. Inactive versions stay held: for
//! rollback, dry runs and re-evaluating past periods with the versions recorded for them.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::LoadedPlugin;

/// One plugin version the runtime holds.
#[derive(Clone)]
pub struct Held {
    pub plugin: Arc<LoadedPlugin>,
    /// Whether products may resolve to it.
    pub active: bool,
    /// When it was last activated, in activation order (0 = present from the start, as the
    /// standard plugins are). Rollback undoes the most recent activation.
    pub activated: u64,
}

/// An immutable view of every plugin version held (see the module documentation).
#[derive(Clone, Default)]
pub struct Registry {
    generation: u64,
    /// Per plugin name, its versions in ascending semver order.
    versions: BTreeMap<String, Vec<Held>>,
}

impl Registry {
    /// Changes with every published change: what cached reports compare to know they are stale.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The highest active version of `name` matching `requirement`.
    pub fn resolve(
        &self,
        name: &str,
        requirement: &semver::VersionReq,
    ) -> Option<Arc<LoadedPlugin>> {
        self.versions
            .get(name)?
            .iter()
            .rev()
            .find(|h| h.active && requirement.matches(h.plugin.version()))
            .map(|h| h.plugin.clone())
    }

    /// Every active plugin version, by name then version.
    pub fn active(&self) -> Vec<Arc<LoadedPlugin>> {
        self.held()
            .filter(|h| h.active)
            .map(|h| h.plugin.clone())
            .collect()
    }

    /// Every version held, active or not, by name then version.
    pub fn held(&self) -> impl Iterator<Item = &Held> {
        self.versions.values().flatten()
    }

    /// A held version of `name`.
    pub fn version(&self, name: &str, version: &semver::Version) -> Option<&Held> {
        self.versions
            .get(name)?
            .iter()
            .find(|h| h.plugin.version() == version)
    }

    /// A held plugin with this component digest.
    pub fn by_digest(&self, digest: &str) -> Option<Arc<LoadedPlugin>> {
        self.held()
            .find(|h| h.plugin.digest() == digest)
            .map(|h| h.plugin.clone())
    }

    /// The active version of `name` activated most recently: what a rollback undoes.
    pub fn current(&self, name: &str) -> Option<&Held> {
        self.versions
            .get(name)?
            .iter()
            .filter(|h| h.active)
            .max_by_key(|h| (h.activated, h.plugin.version().clone()))
    }

    /// A copy with `held` in place of any held version of the same name and version.
    pub(super) fn with(&self, held: Held) -> Registry {
        let mut next = self.clone();
        next.generation += 1;
        let versions = next
            .versions
            .entry(held.plugin.name().to_string())
            .or_default();
        versions.retain(|h| h.plugin.version() != held.plugin.version());
        versions.push(held);
        versions.sort_by(|a, b| a.plugin.version().cmp(b.plugin.version()));
        next
    }

    /// The newest activation order number in use.
    pub(super) fn last_activation(&self) -> u64 {
        self.held().map(|h| h.activated).max().unwrap_or(0)
    }
}
