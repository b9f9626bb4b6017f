//! The HTTP API (axum): one module per API family. Blocking work (sled, wasm) runs on tokio's
//! blocking pool so a long evaluation never stalls other requests.

mod chargeback;
mod facts;
mod meta;
pub mod problem;
mod products;
mod usage;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};

use crate::eval::Evaluator;
pub use problem::Problem;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub evaluator: Evaluator,
    pub started: Arc<Instant>,
}

/// Largest accepted request body (a fact batch).
pub const MAX_BODY_BYTES: usize = 512 << 20;

/// The whole API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/facts", post(facts::ingest))
        .route("/api/v1/usage", get(usage::usage))
        .route("/api/v1/chargeback", get(chargeback::chargeback))
        .route("/api/v1/products", get(products::list))
        .route(
            "/api/v1/products/{id}",
            put(products::put).get(products::get),
        )
        .route("/api/v1/bundles", get(products::list_bundles))
        .route(
            "/api/v1/bundles/{id}",
            put(products::put_bundle).get(products::get_bundle),
        )
        .route("/api/v1/health", get(meta::health))
        .route("/api/v1/version", get(meta::version))
        .fallback(meta::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

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
