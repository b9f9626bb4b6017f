//! The route table. Each family registers its routes in one place, its `routes()`: a route's
//! documentation (method, path, role, parameters) beside the handler that serves it. The router,
//! the OpenAPI document and the authentication table are all built from that one list, so
//! none of them can drift from the others.

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter};

use super::openapi::RouteDoc;
use super::state::AppState;

/// One route: what it is documented as, and what serves it.
pub struct Route {
    pub doc: RouteDoc,
    pub handler: MethodRouter<AppState>,
}

/// `handler` serving `doc.method` on `doc.path`. The method comes from the documentation, so a
/// route cannot be served under another method than the one its role is decided for.
pub fn route<H, T>(doc: RouteDoc, handler: H) -> Route
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let method = Method::from_bytes(doc.method.as_bytes()).expect("a documented method");
    let filter = MethodFilter::try_from(method).expect("a method axum routes");
    Route {
        doc,
        handler: axum::routing::on(filter, handler),
    }
}
