//! The HTTP edge: routing, authentication, JSON in and out, and the
//! OpenAPI document generated from the handlers themselves.

pub mod applications;
pub mod auth;
pub mod deliveries;
pub mod events;
pub mod json;
pub mod linger;
pub mod oauth;
pub mod ops;
pub mod orgs;
pub mod plugins;
pub mod scripts;
pub mod sign_in;
pub mod stats;
pub mod users;
pub mod webhooks;

use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

pub use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "ScaiHub", description = "Signed webhooks for ScaiDrive's audit events."),
    modifiers(&BearerAuth),
    tags(
        (name = "events", description = "Ingest and the audit log"),
        (name = "webhooks", description = "Webhooks, deliveries and their log"),
        (name = "orgs", description = "Organisations and the caller"),
        (name = "users", description = "Users and personal API keys"),
        (name = "plugins", description = "Filter and transform plugins (WASM components)"),
        (name = "applications", description = "OAuth applications (clients)"),
        (name = "oauth", description = "The authorization server: RFC 6749, 7636, 7662, 7009, 8414, 8693, 9068"),
        (name = "ops", description = "Health, readiness, metrics"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The API routes with their OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops::router())
        .merge(orgs::router())
        .merge(events::router())
        .merge(webhooks::router())
        .merge(stats::router())
        .merge(deliveries::router())
        .merge(users::router())
        .merge(sign_in::router())
        .merge(plugins::router())
        .merge(scripts::router())
        .merge(applications::router())
        .merge(oauth::router())
}

/// The OpenAPI document of this build.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, doc) = api().split_for_parts();
    doc
}

/// `?limit=&cursor=` on list endpoints.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1–500, default 50.
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of results.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// Validates a page size.
pub fn page_limit(limit: Option<i64>) -> Result<i64, crate::domain::FieldError> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=500).contains(&n) => Ok(n),
        Some(_) => Err(crate::domain::FieldError::new(
            "limit",
            "must be between 1 and 500",
        )),
    }
}
