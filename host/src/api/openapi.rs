//! The API document (`GET /api/openapi.json`, OpenAPI 3.1), built from the route table
//! ([`super::routes`]): the same list the router serves and [`super::auth`] reads every
//! route's required role from, so the document cannot drift from what is served.

use serde_json::{Map, Value, json};

use crate::store::tokens::Role;

/// One documented route.
#[derive(Debug, Clone)]
pub struct RouteDoc {
    /// `GET`, `POST`, `PUT`, `DELETE`.
    pub method: &'static str,
    /// axum's path template, which is also OpenAPI's (`/api/v1/products/{id}`).
    pub path: &'static str,
    /// The role a token needs; None = public (no token).
    pub role: Option<Role>,
    pub summary: &'static str,
    pub params: &'static [Param],
    /// Media type of a successful answer.
    pub produces: &'static str,
}

/// One parameter of a route.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    /// `query`, `path` or `header`.
    pub location: &'static str,
    pub required: bool,
    /// JSON schema type: `string`, `integer`, `boolean`, or `date` (a `string` with format date).
    pub kind: &'static str,
    pub description: &'static str,
}

/// Shorthand for a documented parameter.
pub const fn param(
    name: &'static str,
    location: &'static str,
    required: bool,
    kind: &'static str,
    description: &'static str,
) -> Param {
    Param {
        name,
        location,
        required,
        kind,
        description,
    }
}

/// The documentation of `method path` (path as the router matched it) among `routes`.
pub fn route<'r>(routes: &'r [RouteDoc], method: &str, path: &str) -> Option<&'r RouteDoc> {
    routes.iter().find(|r| r.method == method && r.path == path)
}

fn schema(kind: &str) -> Value {
    match kind {
        "date" => json!({"type": "string", "format": "date"}),
        "array" => json!({"type": "array", "items": {"type": "string"}}),
        other => json!({"type": other}),
    }
}

/// The OpenAPI 3.1 document of `routes`.
pub fn document(routes: &[RouteDoc]) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for r in routes {
        let parameters: Vec<Value> = r
            .params
            .iter()
            .map(|p| {
                json!({
                    "name": p.name, "in": p.location, "required": p.required,
                    "description": p.description, "schema": schema(p.kind),
                })
            })
            .collect();
        let mut operation = json!({
            "summary": r.summary,
            "operationId": format!("{} {}", r.method, r.path),
            "parameters": parameters,
            "responses": {
                "200": {"description": "OK", "content": {r.produces: {}}},
                "400": {"$ref": "#/components/responses/Problem"},
                "default": {"$ref": "#/components/responses/Problem"},
            },
        });
        match r.role {
            None => operation["security"] = json!([]),
            Some(role) => {
                operation["x-required-role"] = json!(role.name());
                operation["responses"]["401"] = json!({"$ref": "#/components/responses/Problem"});
                operation["responses"]["403"] = json!({"$ref": "#/components/responses/Problem"});
            }
        }
        paths
            .entry(r.path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("a path item is an object")
            .insert(r.method.to_ascii_lowercase(), operation);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "licmetric",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Licence metric evaluation engine: facts in, licence figures out. \
                Roles: reader, ingest, operator (reads too), admin (everything).",
        },
        "paths": paths,
        "security": [{"token": []}, {"bearer": []}, {"query_token": []}],
        "components": {
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "Token"},
                "bearer": {"type": "http", "scheme": "bearer"},
                "query_token": {"type": "apiKey", "in": "query", "name": "token"},
            },
            "responses": {
                "Problem": {
                    "description": "An RFC 7807 problem",
                    "content": {"application/problem+json": {"schema": {
                        "type": "object",
                        "required": ["type", "title", "status", "detail"],
                        "properties": {
                            "type": {"type": "string"}, "title": {"type": "string"},
                            "status": {"type": "integer"}, "detail": {"type": "string"},
                            "parameter": {"type": "string"},
                        },
                    }}},
                },
            },
        },
    })
}
