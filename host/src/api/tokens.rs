//! Token administration for a running service (admin only): `POST /api/v1/tokens`,
//! `GET /api/v1/tokens`, `DELETE /api/v1/tokens/{id}`. `licmetric token …` does the same on a
//! store no service holds open.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::openapi::{RouteDoc, param};
use super::problem::Problem;
use super::routes::{Route, route};
use super::state::{AppState, blocking};
use crate::eval::scope::Scope;
use crate::store::audit::AuditEntry;
use crate::store::tokens::{Role, TokenRecord};

/// The routes of this module: each one's documentation (role, parameters) beside its handler.
pub fn routes() -> Vec<Route> {
    vec![
        route(
            const {
                RouteDoc {
                    method: "POST",
                    path: "/api/v1/tokens",
                    role: Some(Role::Admin),
                    summary: "Make a token: {\"role\", \"scope\": \"cost_center=CC1,CC2\", \"label\"}; the token is shown only in this answer",
                    params: &[],
                    produces: "application/json",
                }
            },
            create,
        ),
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/api/v1/tokens",
                    role: Some(Role::Admin),
                    summary: "Every token's id, role, scope and label (never a secret)",
                    params: &[],
                    produces: "application/json",
                }
            },
            list,
        ),
        route(
            const {
                RouteDoc {
                    method: "DELETE",
                    path: "/api/v1/tokens/{id}",
                    role: Some(Role::Admin),
                    summary: "Revoke a token",
                    params: &[param("id", "path", true, "string", "token id")],
                    produces: "application/json",
                }
            },
            revoke,
        ),
    ]
}

/// The body of `POST /api/v1/tokens`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    role: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    label: Option<String>,
}

fn invalid(field: &str, reason: impl std::fmt::Display) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid-token-request",
        format!("{field}: {reason}"),
    )
    .with("field", field)
}

/// `POST /api/v1/tokens`.
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: String,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let request: NewToken = serde_json::from_str(&body).map_err(|e| invalid("body", e))?;
    let role: Role = request.role.parse().map_err(|e| invalid("role", e))?;
    let scope = request
        .scope
        .as_deref()
        .map(Scope::parse)
        .transpose()
        .map_err(|e| invalid("scope", e))?;
    if scope.is_some() && role != Role::Reader {
        return Err(invalid("scope", "only reader tokens can be scoped"));
    }
    blocking(move || {
        let (token, record) = state
            .evaluator
            .store
            .create_token(role, scope, request.label)?;
        state.evaluator.store.audit(AuditEntry::now(
            &caller.who(),
            "token.create",
            &format!("token:{} ({})", record.id, role.name()),
            None,
        ))?;
        Ok((
            StatusCode::CREATED,
            Json(json!({"token": token, "record": record})),
        ))
    })
    .await
}

/// `GET /api/v1/tokens`.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<TokenRecord>>, Problem> {
    blocking(move || Ok(Json(state.evaluator.store.tokens()?))).await
}

/// `DELETE /api/v1/tokens/{id}`.
pub async fn revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    blocking(move || {
        if state.evaluator.store.revoke_token(&id)? {
            state.evaluator.store.audit(AuditEntry::now(
                &caller.who(),
                "token.revoke",
                &format!("token:{id}"),
                None,
            ))?;
            Ok(Json(json!({"revoked": id})))
        } else {
            Err(Problem::new(
                StatusCode::NOT_FOUND,
                "unknown-token",
                format!("no token {id:?}"),
            )
            .with("parameter", "id"))
        }
    })
    .await
}
