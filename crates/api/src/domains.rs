//! Sending domains through the API (issue 13.9), `admin` scope:
//! `GET /v1/domains`, `POST /v1/domains` (pending; answers the TXT record to
//! publish), `POST /v1/domains/{domain}/verify`, `DELETE /v1/domains/{domain}`.
//! Asserting a domain without DNS is the operator's, on the CLI only.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sealpost_core::senders::{DomainError, TxtRecord};
use sealpost_model::Scope;
use sealpost_store::SendingDomainRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::extract::{ApiPath, Body};
use super::{ApiError, parse_json};
use crate::Api;

/// `POST /v1/domains` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDomain {
    /// The domain (Unicode or ASCII form; stored lowercase ASCII).
    pub domain: String,
}

/// One sending domain.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainItem {
    /// Lowercase ASCII (IDNA) form.
    pub domain: String,
    /// `pending` (not usable yet), `verified` or `asserted`.
    pub state: String,
    /// The TXT record that proves it: publish `name` with `value`.
    pub txt: TxtItem,
}

/// A TXT record to publish.
#[derive(Debug, Serialize, ToSchema)]
pub struct TxtItem {
    /// `_sealpost.DOMAIN`.
    pub name: String,
    /// `sealpost-verify=TOKEN`.
    pub value: String,
}

/// `GET /v1/domains` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainList {
    /// The tenant's sending domains, by name.
    pub domains: Vec<DomainItem>,
}

fn item(r: &SendingDomainRecord) -> DomainItem {
    let TxtRecord { name, value } = TxtRecord::of(r);
    DomainItem { domain: r.domain.clone(), state: r.state.as_str().to_owned(), txt: TxtItem { name, value } }
}

fn refusal(e: DomainError) -> ApiError {
    match e {
        DomainError::Invalid(_) => ApiError::invalid("invalid_domain", "domain", "not a domain name"),
        DomainError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
        DomainError::OwnedElsewhere(_) => ApiError::new(StatusCode::CONFLICT, "domain_owned", e.to_string()),
        DomainError::NotVerified { .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "domain_not_verified", e.to_string())
        }
        DomainError::Server(e) => ApiError::internal(e),
    }
}

/// Adds a sending domain, pending until its TXT record is verified.
#[utoipa::path(
    post, path = "/v1/domains", operation_id = "add_domain", tag = "domains",
    security(("api_key" = ["admin"])),
    request_body = AddDomain,
    responses(
        (status = 201, description = "Added (or already there), with the TXT record to publish", body = DomainItem),
        (status = 409, description = "`domain_owned`: another tenant owns it", body = super::error::ErrorBody),
    )
)]
pub async fn add(State(app): State<Arc<Api>>, caller: Caller, Body(body): Body) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let req: AddDomain = parse_json(&body)?;
    let (record, _) = app.senders.add(p.tenant(), p.actor(), &req.domain).await.map_err(refusal)?;
    Ok((StatusCode::CREATED, Json(item(&record))).into_response())
}

/// Lists the tenant's sending domains.
#[utoipa::path(
    get, path = "/v1/domains", operation_id = "list_domains", tag = "domains",
    security(("api_key" = ["admin"])),
    responses((status = 200, description = "The domains", body = DomainList))
)]
pub async fn list(State(app): State<Arc<Api>>, caller: Caller) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let records = app.senders.list(p.tenant()).await.map_err(refusal)?;
    Ok(Json(DomainList { domains: records.iter().map(item).collect() }).into_response())
}

/// Looks up the domain's TXT record and marks it verified when it carries the token.
#[utoipa::path(
    post, path = "/v1/domains/{domain}/verify", operation_id = "verify_domain", tag = "domains",
    security(("api_key" = ["admin"])),
    params(("domain" = String, Path, description = "The domain")),
    responses(
        (status = 200, description = "Verified", body = DomainItem),
        (status = 409, description = "`domain_owned`: another tenant owns it", body = super::error::ErrorBody),
        (status = 422, description = "`domain_not_verified`: no TXT record with the token was found (the message says what was)", body = super::error::ErrorBody),
    )
)]
pub async fn verify(
    State(app): State<Arc<Api>>,
    caller: Caller,
    ApiPath(domain): ApiPath<String>,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let record = app.senders.verify(p.tenant(), p.actor(), &domain).await.map_err(refusal)?;
    Ok(Json(item(&record)).into_response())
}

/// Removes a sending domain.
#[utoipa::path(
    delete, path = "/v1/domains/{domain}", operation_id = "remove_domain", tag = "domains",
    security(("api_key" = ["admin"])),
    params(("domain" = String, Path, description = "The domain")),
    responses((status = 204, description = "Removed"))
)]
pub async fn remove(
    State(app): State<Arc<Api>>,
    caller: Caller,
    ApiPath(domain): ApiPath<String>,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    app.senders.remove(p.tenant(), p.actor(), &domain).await.map_err(refusal)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
