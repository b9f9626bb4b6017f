//! The HTTP API (axum): one module per API family. Blocking work (sled, wasm) runs on tokio's
//! blocking pool so a long evaluation never stalls other requests.

mod answers;
pub mod auth;
mod chargeback;
mod dry_run;
mod facts;
mod ilmt;
mod kept;
mod license_service;
mod meta;
mod metrics;
mod octane;
pub mod openapi;
mod params;
pub mod plugins;
pub mod problem;
mod products;
pub mod read;
mod reevaluate;
mod request_target;
mod routes;
pub mod serve;
pub mod state;
mod status;
mod tokens;
mod usage;

use axum::Router;
use axum::extract::DefaultBodyLimit;

pub use problem::Problem;
pub use state::{AppState, MAX_BODY_BYTES, Settings, blocking};

/// Every route, family by family, each documented beside its handler ([`routes`]).
fn table() -> Vec<routes::Route> {
    [
        meta::routes(),
        facts::routes(),
        usage::routes(),
        chargeback::routes(),
        products::routes(),
        tokens::routes(),
        plugins::routes(),
        dry_run::routes(),
        reevaluate::routes(),
        octane::routes(),
        status::routes(),
        metrics::routes(),
        license_service::routes(),
        ilmt::routes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The documentation of every route: the API document's and the authentication table's.
pub fn docs() -> Vec<openapi::RouteDoc> {
    table().into_iter().map(|r| r.doc).collect()
}

/// The whole API: the router of [`table`], with authentication decided for every request from
/// the same table before any handler runs.
pub fn router(mut state: AppState) -> Router {
    let table = table();
    state.routes = std::sync::Arc::new(table.iter().map(|r| r.doc.clone()).collect());
    let mut router = Router::new();
    for r in table {
        router = router.route(r.doc.path, r.handler);
    }
    router
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

#[cfg(test)]
mod fuzz;
