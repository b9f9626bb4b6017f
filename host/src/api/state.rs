//! What every handler shares: the service's state and settings, and the way blocking work
//! (sled, wasm) runs off the async executor so a long evaluation never stalls other requests.

use std::sync::Arc;
use std::time::Instant;

use super::kept::{AnswerCache, ReportCache};
use super::openapi::RouteDoc;
use super::problem::Problem;
use crate::eval::Evaluator;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub evaluator: Evaluator,
    pub started: Arc<Instant>,
    pub settings: Arc<Settings>,
    /// Reports per (period, scope), kept until facts, records or plugins change.
    pub reports: Arc<ReportCache>,
    /// Answers of repeated reads, kept on the same terms.
    pub answers: Arc<AnswerCache>,
    /// The documentation of every route served, filled by [`super::router`]: who may call
    /// what ([`super::auth`]) and the API document ([`super::openapi`]).
    pub routes: Arc<Vec<RouteDoc>>,
}

impl AppState {
    /// A service over `evaluator` with `settings`.
    pub fn new(evaluator: Evaluator, settings: Settings) -> AppState {
        AppState {
            evaluator,
            started: Arc::new(Instant::now()),
            settings: Arc::new(settings),
            reports: Default::default(),
            answers: Default::default(),
            routes: Default::default(),
        }
    }
}

/// Operator settings of the API.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Whether a token may be sent as `?token=` (ILMT's `api_token_in_url_enabled`); a header
    /// always works and wins when both are sent.
    pub token_in_url: bool,
    /// Whether repeated reads are answered from kept answers ([`answers`]); off only to measure
    /// what rendering every answer costs.
    pub keep_answers: bool,
    /// The longest line (one fact) a batch may hold, in bytes.
    pub max_line_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            token_in_url: true,
            keep_answers: true,
            max_line_bytes: crate::store::MAX_LINE_BYTES,
        }
    }
}

/// Largest accepted request body (a fact batch).
pub const MAX_BODY_BYTES: usize = 512 << 20;

/// Runs blocking work off the async executor; a panic becomes a 500 problem.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(Problem::from(anyhow::anyhow!(
            "request handler panicked: {e}"
        )))
    })
}
