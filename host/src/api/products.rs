//! Product and bundle records (SPEC §5.6): `PUT /api/v1/products/{id}`,
//! `GET /api/v1/products[/{id}]`, `PUT /api/v1/bundles/{id}`, `GET /api/v1/bundles[/{id}]`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::Value;

use super::auth::Caller;
use super::openapi::{RouteDoc, param};
use super::problem::Problem;
use super::routes::{Route, route};
use super::state::{AppState, blocking};
use crate::eval::EvalError;
use crate::store::audit::AuditEntry;
use crate::store::numbers::ClaimError;
use crate::store::records::{Bundle, Product};
use crate::store::tokens::Role;

const ID: [super::openapi::Param; 1] = [param("id", "path", true, "string", "record id")];

/// The routes of this module: each one's documentation (role, parameters) beside its handler.
pub fn routes() -> Vec<Route> {
    vec![
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/api/v1/products",
                    role: Some(Role::Reader),
                    summary: "Every product record",
                    params: &[],
                    produces: "application/json",
                }
            },
            list,
        ),
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/api/v1/products/{id}",
                    role: Some(Role::Reader),
                    summary: "One product record",
                    params: &ID,
                    produces: "application/json",
                }
            },
            get,
        ),
        route(
            const {
                RouteDoc {
                    method: "PUT",
                    path: "/api/v1/products/{id}",
                    role: Some(Role::Operator),
                    summary: "Store a product record; its plugin checks the parameters first",
                    params: &ID,
                    produces: "application/json",
                }
            },
            put,
        ),
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/api/v1/bundles",
                    role: Some(Role::Reader),
                    summary: "Every bundle record",
                    params: &[],
                    produces: "application/json",
                }
            },
            list_bundles,
        ),
        route(
            const {
                RouteDoc {
                    method: "GET",
                    path: "/api/v1/bundles/{id}",
                    role: Some(Role::Reader),
                    summary: "One bundle record",
                    params: &ID,
                    produces: "application/json",
                }
            },
            get_bundle,
        ),
        route(
            const {
                RouteDoc {
                    method: "PUT",
                    path: "/api/v1/bundles/{id}",
                    role: Some(Role::Operator),
                    summary: "Store a bundle record",
                    params: &ID,
                    produces: "application/json",
                }
            },
            put_bundle,
        ),
    ]
}

/// `PUT /api/v1/products/{id}`: stores a product once its plugin accepts the parameters.
pub async fn put(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: String,
) -> Result<Json<Product>, Problem> {
    let product: Product = serde_json::from_str(&body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-product",
            format!("product record: {e}"),
        )
    })?;
    if product.id != id {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-product",
            format!(
                "id: the record says {:?} but the path says {id:?}",
                product.id
            ),
        ));
    }
    product
        .validate()
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid-product", e))?;
    blocking(move || {
        // The plugin validates the parameters (and says where they are wrong) before storing.
        if let Err(e) = state.evaluator.check_parameters(&product) {
            let status = match &e {
                EvalError::Rule { .. } => StatusCode::BAD_REQUEST,
                _ => StatusCode::BAD_GATEWAY,
            };
            return Err(Problem::new(status, "invalid-product", e.to_string())
                .with("parameter", "parameters")
                .with("error", &e));
        }
        let store = &state.evaluator.store;
        let product = store
            .put_product(&product)
            .map_err(|e| claim_problem("invalid-product", e))?;
        store.audit(AuditEntry::now(
            &caller.who(),
            "product.put",
            &format!("product:{}", product.id),
            None,
        ))?;
        Ok(Json(product))
    })
    .await
}

/// `GET /api/v1/products/{id}`.
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Product>, Problem> {
    blocking(move || match state.evaluator.store.product(&id)? {
        Some(p) => Ok(Json(p)),
        None => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-product",
            format!("no product {id:?}"),
        )),
    })
    .await
}

/// `GET /api/v1/products`.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    blocking(move || {
        Ok(Json(
            serde_json::to_value(state.evaluator.store.products()?).map_err(anyhow::Error::from)?,
        ))
    })
    .await
}

/// `PUT /api/v1/bundles/{id}`.
pub async fn put_bundle(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: String,
) -> Result<Json<Bundle>, Problem> {
    let bundle: Bundle = serde_json::from_str(&body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-bundle",
            format!("bundle record: {e}"),
        )
    })?;
    if bundle.id != id {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-bundle",
            format!(
                "id: the record says {:?} but the path says {id:?}",
                bundle.id
            ),
        ));
    }
    crate::store::records::validate_terms(
        bundle.threshold.as_ref(),
        bundle.entitlement.as_ref(),
        bundle.chargeback.as_ref(),
    )
    .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid-bundle", e))?;
    if let Some(kind) = bundle.kind.as_deref() {
        if !matches!(kind, "cloud_pak" | "flexpoint") {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-bundle",
                format!("kind: {kind:?} is neither \"cloud_pak\" nor \"flexpoint\""),
            ));
        }
    }
    blocking(move || {
        let store = &state.evaluator.store;
        let bundle = store
            .put_bundle(&bundle)
            .map_err(|e| claim_problem("invalid-bundle", e))?;
        store.audit(AuditEntry::now(
            &caller.who(),
            "bundle.put",
            &format!("bundle:{}", bundle.id),
            None,
        ))?;
        Ok(Json(bundle))
    })
    .await
}

/// `GET /api/v1/bundles/{id}`.
pub async fn get_bundle(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Bundle>, Problem> {
    blocking(move || match state.evaluator.store.bundle(&id)? {
        Some(b) => Ok(Json(b)),
        None => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-bundle",
            format!("no bundle {id:?}"),
        )),
    })
    .await
}

/// `GET /api/v1/bundles`.
pub async fn list_bundles(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    blocking(move || {
        Ok(Json(
            serde_json::to_value(state.evaluator.store.bundles()?).map_err(anyhow::Error::from)?,
        ))
    })
    .await
}

/// A record whose `numeric_id` is not its own is the client's error; the rest is the store's.
fn claim_problem(kind: &str, e: ClaimError) -> Problem {
    match e {
        ClaimError::Conflict(c) => {
            Problem::new(StatusCode::BAD_REQUEST, kind, c.to_string()).with("field", "numeric_id")
        }
        ClaimError::Store(e) => e.into(),
    }
}
