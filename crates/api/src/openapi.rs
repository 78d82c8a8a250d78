//! The OpenAPI 3.1 document of the API, generated from the handlers'
//! `#[utoipa::path]` attributes and the request and response types (the
//! router and the document come from one list in `mod.rs`), then completed
//! here from what each operation declares:
//!
//! - its scopes (from its security requirement) as `x-sealpost-scopes` and
//!   a sentence in its description;
//! - the error answers every operation of its kind can give, all with the
//!   one error body: 401/403 when it needs a key, 400 when it takes a body,
//!   a query or a path, 413 when it takes a body, 404 when it names a
//!   resource, 500 when it reaches the store.
//!
//! Served at `GET /v1/openapi.json` without authentication.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use sealpost_model::Scope;
use utoipa::OpenApi;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, Response as ApiResponse, ResponseBuilder, Type};

use super::error::ErrorBody;

/// The security scheme every key-protected operation names.
pub const SECURITY_SCHEME: &str = "api_key";

/// A plain-text endpoint outside the JSON API (probes, metrics), put in the
/// document from [`TEXT_ENDPOINTS`].
pub struct TextEndpoint {
    /// The route.
    pub path: &'static str,
    /// One line saying what it answers.
    pub summary: &'static str,
    /// Scopes needed (any one); empty: no authentication.
    pub scopes: &'static [Scope],
}

/// The plain-text `GET` routes of the router. Documenting another (a probe,
/// `/metrics`) is one line here.
pub const TEXT_ENDPOINTS: &[TextEndpoint] =
    &[TextEndpoint { path: "/healthz", summary: "Liveness: answers `ok` while the process serves", scopes: &[] }];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sealpost API",
        description = "Sealpost's REST API. Every `/v1` operation but this document needs \
            `Authorization: Bearer <api key>`; its scopes are named per operation (security \
            requirement and `x-sealpost-scopes`). Every error answers \
            `{\"error\": {\"code\", \"message\", \"field\"?}}` (`field`: the offending \
            request field as a JSON path; `position`: where a query has a syntax error)."
    ),
    paths(document),
    components(schemas(ErrorBody))
)]
pub struct ApiDoc;

/// This document (OpenAPI 3.1, JSON).
#[utoipa::path(
    get, path = "/v1/openapi.json", operation_id = "openapi_document", tag = "meta",
    responses((status = 200, description = "The OpenAPI document", body = Object))
)]
pub async fn document() -> Response {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = JSON.get_or_init(|| super::openapi().to_json().unwrap_or_else(|_| "{}".to_owned()));
    ([(header::CONTENT_TYPE, "application/json")], json.clone()).into_response()
}

/// Completes a generated document (see the module doc).
pub fn complete(doc: &mut utoipa::openapi::OpenApi) {
    for e in TEXT_ENDPOINTS {
        doc.paths.paths.insert(e.path.to_owned(), text_path(e));
    }
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        SECURITY_SCHEME,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("An API key (`sp_…`), as `Authorization: Bearer <key>`."))
                .build(),
        ),
    );
    for item in doc.paths.paths.values_mut() {
        for op in
            [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten()
        {
            complete_operation(op);
        }
    }
}

fn text_path(e: &TextEndpoint) -> PathItem {
    let text = ContentBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String))).build();
    let mut op = OperationBuilder::new()
        .summary(Some(e.summary))
        .operation_id(Some(e.path.trim_start_matches('/').replace(['/', '.', '-'], "_")))
        .tag("meta")
        .response("200", ResponseBuilder::new().description(e.summary).content("text/plain", text).build());
    if !e.scopes.is_empty() {
        op = op.securities(Some(
            e.scopes.iter().map(|s| SecurityRequirement::new(SECURITY_SCHEME, [s.as_str()])).collect::<Vec<_>>(),
        ));
    }
    PathItem::new(HttpMethod::Get, op.build())
}

/// The scopes an operation's security requirements name (any one suffices).
fn scopes(op: &Operation) -> Vec<String> {
    let mut out = Vec::new();
    for req in op.security.iter().flatten() {
        if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(req) {
            for names in map.values() {
                out.extend(names.as_array().into_iter().flatten().filter_map(|n| n.as_str().map(str::to_owned)));
            }
        }
    }
    out
}

fn error_response(description: &str) -> RefOr<ApiResponse> {
    let body = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
    ResponseBuilder::new().description(description).content("application/json", body).build().into()
}

fn complete_operation(op: &mut Operation) {
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let scopes = scopes(op);
    if secured {
        let list = scopes.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(" or ");
        let sentence = format!(
            "Requires an API key with the {list} scope{} (an `admin` key may do everything).",
            if scopes.len() > 1 { " (either)" } else { "" }
        );
        op.description = Some(match op.description.take() {
            Some(d) if !d.is_empty() => format!("{d}\n\n{sentence}"),
            _ => sentence,
        });
        let ext = ExtensionsBuilder::new().add("x-sealpost-scopes", serde_json::json!(scopes)).build();
        match &mut op.extensions {
            Some(e) => e.merge(ext),
            None => op.extensions = Some(ext),
        }
    }
    let params = op.parameters.iter().flatten().filter_map(|p| match p {
        RefOr::T(p) => Some(p),
        RefOr::Ref(_) => None,
    });
    let mut has_params = false;
    let mut has_path = false;
    for p in params {
        has_params = true;
        has_path |= matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Path);
    }
    let has_body = op.request_body.is_some();
    let mut add = |status: &str, description: &str| {
        op.responses.responses.entry(status.to_owned()).or_insert_with(|| error_response(description));
    };
    if has_body || has_params {
        add("400", "Invalid request: `error.field` names the offending field or parameter");
    }
    if secured {
        add("401", "Missing or invalid API key");
        add("403", "The API key lacks the scope, or the action is refused");
        add(
            "429",
            "Too many failed authentications from this client or for this key (`Retry-After` says when to retry)",
        );
    }
    if has_path {
        add("404", "No such resource");
    }
    if has_body {
        add("413", "The request body (or the message in it) is too large");
    }
    if secured {
        add("500", "Internal error; nothing was stored");
    }
}

#[cfg(test)]
mod tests {
    /// `(METHOD, path)` of every route the router source registers with
    /// `.route(…)` (plain axum routes, not from the documented list).
    fn plain_routes() -> Vec<String> {
        let src = include_str!("lib.rs");
        let mut out = Vec::new();
        for part in src.split(".route(\"").skip(1) {
            let Some((path, _)) = part.split_once('"') else { continue };
            out.push(path.to_owned());
        }
        out
    }

    #[test]
    fn every_plain_route_is_in_the_document() {
        let doc = crate::openapi();
        let routes = plain_routes();
        assert!(routes.iter().any(|r| r == "/healthz"), "the scan found {routes:?}");
        for r in routes {
            assert!(doc.paths.paths.contains_key(&r), "{r} is routed but not documented: add it to TEXT_ENDPOINTS");
        }
    }

    #[test]
    fn every_operation_names_its_scopes_and_errors() {
        let doc = crate::openapi();
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["openapi"], "3.1.0");
        let mut count = 0;
        for (path, item) in json["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                count += 1;
                let open = ["/healthz", "/livez", "/readyz", "/v1/openapi.json", "/p/{token}"].contains(&path.as_str());
                let scopes = &op["x-sealpost-scopes"];
                if open {
                    assert!(op.get("security").is_none() && scopes.is_null(), "{method} {path}");
                    continue;
                }
                assert!(scopes.as_array().is_some_and(|s| !s.is_empty()), "{method} {path}: no scopes");
                assert!(op["description"].as_str().unwrap().contains("Requires an API key"), "{method} {path}");
                for status in ["401", "403", "429", "500"] {
                    let schema = &op["responses"][status]["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/ErrorBody", "{method} {path} {status}");
                }
                if path.contains('{') {
                    assert!(op["responses"]["404"].is_object(), "{method} {path}: no 404");
                }
                if op.get("requestBody").is_some() {
                    assert!(op["responses"]["413"].is_object(), "{method} {path}: no 413");
                    assert!(op["responses"]["400"].is_object(), "{method} {path}: no 400");
                }
            }
        }
        assert!(count >= 30, "only {count} operations");
        assert_eq!(json["paths"]["/v1/settings"]["put"]["x-sealpost-scopes"], serde_json::json!(["admin"]));
        assert_eq!(
            json["paths"]["/v1/messages/{id}"]["get"]["x-sealpost-scopes"],
            serde_json::json!(["read-events", "send"])
        );
    }
}
