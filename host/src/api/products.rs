//! Product records (SPEC §5.6): `PUT /api/v1/products/{id}`, `GET /api/v1/products[/{id}]`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::Value;

use super::{AppState, Problem, blocking};
use crate::store::records::Product;

pub async fn put(
    State(state): State<AppState>,
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
        state.evaluator.store.put_product(&product)?;
        Ok(Json(product))
    })
    .await
}

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

pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    blocking(move || {
        Ok(Json(
            serde_json::to_value(state.evaluator.store.products()?).map_err(anyhow::Error::from)?,
        ))
    })
    .await
}
