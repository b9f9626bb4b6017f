//! Failed evaluations remembered for their inputs (issue 15.5): a plugin that spins to its CPU
//! budget, runs out of memory or answers garbage fails the same way on the same inputs, so
//! the next read answers at once with the remembered error instead of running it again.
//!
//! The inputs are those of a cached day: plugin digest, rule-data version, parameters, product
//! and day, and the ingest sequence the failure was computed at; a newer ingest touching the day
//! (its dirty stamp) or any other change of input makes it run again. Storage failures are not
//! remembered (they are not the plugin's). Kept in memory only: a restart tries again.
//!
//! Cost: one hash lookup per product-day not in the day cache; at most [`MAX_REMEMBERED`]
//! entries (an error each), dropped together when full.

use std::collections::HashMap;
use std::sync::Mutex;

use super::EvalError;
use crate::store::results::ResultKey;

/// (plugin digest, rule-data version, parameters digest, product, date).
pub type FailureKey = (String, String, String, String, String);

/// The key of one product-day: the day cache's key and the date.
pub fn key(result: &ResultKey<'_>, date: &str) -> FailureKey {
    (
        result.plugin_digest.to_string(),
        result.rule_version.to_string(),
        result.parameters_digest.to_string(),
        result.product.to_string(),
        date.to_string(),
    )
}

/// How many failed product-days are remembered at most.
pub const MAX_REMEMBERED: usize = 100_000;

/// The remembered failures of one service (shared by its evaluators).
#[derive(Default)]
pub struct Failures {
    entries: Mutex<HashMap<FailureKey, (u64, EvalError)>>,
}

impl Failures {
    /// The error remembered for `key`, if it was computed at or after `newest` (the newest
    /// ingest that touched the day).
    pub fn get(&self, key: &FailureKey, newest: u64) -> Option<EvalError> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(sequence, _)| *sequence >= newest)
            .map(|(_, e)| e.clone())
    }

    /// Remembers `error` for `key`, computed at ingest `sequence`; storage failures are not.
    pub fn put(&self, key: FailureKey, sequence: u64, error: &EvalError) {
        if matches!(error, EvalError::Storage(_)) {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_REMEMBERED {
            entries.clear();
        }
        entries.insert(key, (sequence, error.clone()));
    }
}
