//! A plugin's self-test, run before an upload or a `plugin load` is accepted: it evaluates its
//! own bundled example (example.rs) in a temporary store, as a candidate that is not active
//! anywhere, under the runtime's normal sandbox limits, and every figure must equal the
//! example's `expected` (the comparison of `licmetric replay`, `replay::run_case`).

use std::fmt;
use std::sync::Arc;

use super::replay::{Case, run_case};
use crate::eval::Evaluator;
use crate::runtime::example::Example;
use crate::runtime::{LoadedPlugin, Runtime};
use crate::store::Store;

/// Why a plugin failed its self-test.
#[derive(Debug, Clone)]
pub enum SelfTestError {
    /// The plugin bundles no example.
    NoExample { plugin: String },
    /// The example is no usable replay fixture (case.json does not parse, a fact is invalid,
    /// no product of the case is bound to the plugin).
    BadExample { plugin: String, reason: String },
    /// The host could not make the temporary store the example runs in.
    Storage(String),
    /// The example ran and differs from its expectations (or a product failed: a trap, the
    /// CPU budget, the memory or output cap, an unexpected error).
    Failed {
        plugin: String,
        title: String,
        mismatches: Vec<String>,
    },
}

impl SelfTestError {
    /// The mismatch lines of a failed example (empty for the other cases).
    pub fn mismatches(&self) -> &[String] {
        match self {
            SelfTestError::Failed { mismatches, .. } => mismatches,
            _ => &[],
        }
    }
}

impl fmt::Display for SelfTestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelfTestError::NoExample { plugin } => write!(
                f,
                "{plugin} bundles no example: add licmetric_sdk::bundle_example!(\"dir\") naming a \
                 replay fixture folder (case.json, facts.ndjson) that evaluates the plugin"
            ),
            SelfTestError::BadExample { plugin, reason } => {
                write!(f, "the example bundled in {plugin} is not usable: {reason}")
            }
            SelfTestError::Storage(reason) => {
                write!(f, "a temporary store for the self-test: {reason}")
            }
            SelfTestError::Failed {
                plugin,
                title,
                mismatches,
            } => write!(
                f,
                "{plugin} failed its self-test on its example {title:?}: {}",
                mismatches.join("; ")
            ),
        }
    }
}

impl std::error::Error for SelfTestError {}

/// Evaluates the example `plugin` bundles (see [`run_example`]); a plugin without one fails.
pub fn self_test(runtime: &Arc<Runtime>, plugin: &Arc<LoadedPlugin>) -> Result<(), SelfTestError> {
    match plugin.example() {
        Some(example) => run_example(runtime, plugin, example),
        None => Err(SelfTestError::NoExample {
            plugin: plugin.label(),
        }),
    }
}

/// Evaluates `example` with `plugin` as the candidate for products bound to its name and a
/// requirement its version matches (other products resolve to `runtime`'s active plugins), in a
/// temporary store that is dropped afterwards; nothing is cached or activated. At least one
/// product of the case must be bound to `plugin`. Costs one temporary sled store, the ingest of
/// the example's facts and one evaluation of its period per stage (milliseconds for a small
/// fixture; at most the CPU budget per plugin call when the plugin spins).
pub fn run_example(
    runtime: &Arc<Runtime>,
    plugin: &Arc<LoadedPlugin>,
    example: &Example,
) -> Result<(), SelfTestError> {
    let bad = |reason: String| SelfTestError::BadExample {
        plugin: plugin.label(),
        reason,
    };
    let case: Case = serde_json::from_str(&example.case)
        .map_err(|e| bad(format!("case.json is not a valid replay case: {e}")))?;
    let bound = case.products.iter().any(|p| {
        p.binding()
            .is_ok_and(|(name, req)| name == plugin.name() && req.matches(plugin.version()))
    });
    if !bound {
        return Err(bad(format!(
            "no product of case.json is bound to {} (e.g. \"metric\": \"{}@^{}\")",
            plugin.label(),
            plugin.name(),
            plugin.version().major
        )));
    }
    let store = Store::temporary().map_err(|e| SelfTestError::Storage(format!("{e:#}")))?;
    let evaluator =
        Evaluator::new(Arc::new(store), runtime.clone()).with_candidate_plugin(plugin.clone());
    let mismatches =
        run_case(&evaluator, &case, &example.facts, None).map_err(|e| bad(format!("{e:#}")))?;
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(SelfTestError::Failed {
            plugin: plugin.label(),
            title: case.title,
            mismatches,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{Limits, STANDARD_PLUGINS};

    fn standard() -> Arc<Runtime> {
        Runtime::with_standard_plugins(crate::runtime::default_cache_dir(), Limits::default())
            .expect("runtime")
    }

    /// Standard plugins are trusted at start (not self-tested), so their examples are
    /// checked here instead.
    #[test]
    fn every_standard_plugin_passes_its_own_example() {
        let runtime = standard();
        let plugins = runtime.registry().active();
        assert_eq!(plugins.len(), STANDARD_PLUGINS.len());
        for plugin in &plugins {
            let example = plugin
                .example()
                .unwrap_or_else(|| panic!("{} bundles no example", plugin.label()));
            let case: Case = serde_json::from_str(&example.case).unwrap();
            assert!(
                !case.expected.is_empty(),
                "{}: {}",
                plugin.label(),
                case.title
            );
            if let Err(e) = self_test(&runtime, plugin) {
                panic!("{e}");
            }
        }
    }

    #[test]
    fn a_wrong_figure_or_an_example_of_another_plugin_fails() {
        let runtime = standard();
        let resolve = |name| {
            runtime
                .registry()
                .resolve(name, &semver::VersionReq::STAR)
                .unwrap()
        };
        let (pvu, vpc) = (resolve("pvu"), resolve("vpc"));
        let example = pvu.example().unwrap();
        let wrong = Example {
            case: example
                .case
                .replacen("\"quantity\": 1200", "\"quantity\": 1201", 1),
            facts: example.facts.clone(),
        };
        assert_ne!(wrong.case, example.case);
        let e = run_example(&runtime, &pvu, &wrong).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("pvu@1.0.0 failed its self-test on its example \"PVU-B"),
            "{text}"
        );
        assert!(
            e.mismatches()
                .iter()
                .any(|m| m.starts_with("product db2: quantity expected 1201, got 1200")),
            "{text}"
        );

        // A product that fails without an expected error is a mismatch too.
        let mut case: serde_json::Value = serde_json::from_str(&example.case).unwrap();
        case["products"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"id": "ghost", "metric": "no-such-plugin@^1"}));
        let unexpected = Example {
            case: case.to_string(),
            facts: example.facts.clone(),
        };
        let e = run_example(&runtime, &pvu, &unexpected).unwrap_err();
        assert_eq!(
            e.mismatches(),
            [
                "product ghost: failed, and the case expects no error for it: product ghost: \
              no loaded plugin matches metric \"no-such-plugin@^1\""
            ]
        );

        let e = run_example(&runtime, &pvu, vpc.example().unwrap()).unwrap_err();
        assert!(
            e.to_string()
                .contains("no product of case.json is bound to pvu@1.0.0"),
            "{e}"
        );
        let broken = Example {
            case: "{".into(),
            facts: String::new(),
        };
        let e = run_example(&runtime, &pvu, &broken).unwrap_err();
        assert!(
            e.to_string()
                .contains("case.json is not a valid replay case"),
            "{e}"
        );
    }
}
