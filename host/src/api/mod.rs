//! The HTTP API (axum): one module per API family. Blocking work (sled, wasm) runs on tokio's
//! blocking pool so a long evaluation never stalls other requests.

mod answers;
pub mod auth;
mod chargeback;
mod dry_run;
mod facts;
mod ilmt;
mod license_service;
mod meta;
mod metrics;
mod octane;
pub mod openapi;
pub mod plugins;
pub mod problem;
mod products;
pub mod read;
mod reevaluate;
mod request_target;
pub mod serve;
mod status;
mod tokens;
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
    pub settings: Arc<Settings>,
    /// Reports per (period, scope), kept until facts, records or plugins change.
    pub reports: Arc<read::ReportCache>,
    /// Answers of repeated reads, kept on the same terms.
    pub answers: Arc<answers::AnswerCache>,
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
        .route("/api/openapi.json", get(openapi::serve))
        .route("/api/v1/tokens", post(tokens::create).get(tokens::list))
        .route("/api/v1/plugins", get(plugins::list))
        .route("/api/v1/plugins/{name}/{version}", put(plugins::upload))
        .route("/api/v1/plugins/{name}/rollback", post(plugins::rollback))
        .route(
            "/api/v1/plugins/{name}/{version}/activate",
            post(plugins::activate),
        )
        .route(
            "/api/v1/plugins/{name}/{version}/deactivate",
            post(plugins::deactivate),
        )
        .route(
            "/api/v1/plugins/{name}/config",
            put(plugins::put_config).get(plugins::get_config),
        )
        .route(
            "/api/v1/plugins/{name}/{version}/dry-run",
            post(dry_run::dry_run),
        )
        .route("/api/v1/reevaluate", post(reevaluate::reevaluate))
        .route("/api/v1/audit", get(plugins::audit))
        .route("/api/v1/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route(
            "/api/shared_spaces/{space}/tenant_licenses",
            get(octane::tenant_licenses),
        )
        .route(
            "/api/shared_spaces/{space}/license_usage",
            get(octane::license_usage),
        )
        .route("/", get(status::liveness))
        .route("/health", get(status::health))
        .route("/version", get(status::version))
        .route("/status", get(status::status))
        .route("/status/products/{id}", get(status::product))
        .route("/metrics", get(metrics::metrics))
        .route("/products", get(license_service::products))
        .route("/bundled_products", get(license_service::bundled_products))
        .route("/services", get(license_service::services))
        .route("/snapshot", get(license_service::snapshot))
        .route("/api/v1/snapshot", get(license_service::snapshot))
        .route("/api/sam/v2/license_usage", get(ilmt::license_usage))
        .route("/api/sam/v2/schemas/license_usage.json", get(ilmt::schema))
        // Inside authentication: only an allowed caller reaches a kept answer.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            answers::keep,
        ))
        // After routing, so the matched route's documented role is known.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .fallback(meta::not_found)
        .layer(axum::middleware::map_response(problem::ensure_problem))
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

#[cfg(test)]
mod tests {
    /// Every path the router serves is in the API document (the other direction, every
    /// documented route being served, is walked over HTTP in tests/tests/auth.rs).
    #[test]
    fn every_routed_path_is_documented() {
        let source = include_str!("mod.rs");
        let source = &source[..source.find("#[cfg(test)]").expect("this module")];
        let mut seen = 0;
        for piece in source.split(".route(").skip(1) {
            let piece = piece.trim_start();
            let Some(piece) = piece.strip_prefix('"') else {
                continue;
            };
            let path = &piece[..piece.find('"').expect("a quoted path")];
            assert!(
                super::openapi::routes().any(|d| d.path == path),
                "{path} is routed but not in the API document"
            );
            seen += 1;
        }
        assert!(seen >= 10, "found only {seen} routes");
    }
}

// After `tests`: that test reads this file's routes up to the first test attribute.
#[cfg(test)]
mod fuzz;
