//! `POST /api/v1/facts`: an NDJSON batch, validated whole, stored durably, idempotent.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::openapi::RouteDoc;
use super::problem::Problem;
use super::routes::{Route, route};
use super::state::{AppState, blocking};
use crate::store::tokens::Role;
use crate::store::{BatchError, IngestReport};

/// The routes of this module: each one's documentation (role, parameters) beside its handler.
pub fn routes() -> Vec<Route> {
    vec![route(
        const {
            RouteDoc {
                method: "POST",
                path: "/api/v1/facts",
                role: Some(Role::Ingest),
                summary: "Ingest an NDJSON batch of facts: validated whole, stored durably, idempotent",
                params: &[],
                produces: "application/json",
            }
        },
        ingest,
    )]
}

/// `POST /api/v1/facts`: validates the whole batch, stores it durably, answers what was new.
pub async fn ingest(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<IngestReport>, Problem> {
    let store = state.evaluator.store.clone();
    let max_line = state.settings.max_line_bytes;
    blocking(move || match store.ingest_bytes(&body, max_line) {
        Ok(report) => Ok(Json(report)),
        Err(BatchError::Invalid(e)) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-fact",
            format!("{e}; nothing from this batch was stored"),
        )
        .with("line", e.line)
        .with("field", &e.field)
        .with("reason", &e.reason)),
        Err(BatchError::Storage(e)) => Err(Problem::from(e)),
    })
    .await
}
