//! Roster's HTTP edge: the REST API under `/api/v1`, its OpenAPI document, health checks,
//! and the authentication extractors. Web knows no SQL: every handler calls a use case on
//! [`Roster`] and renders its typed result as JSON or a problem document.

pub mod api;
pub mod auth;
pub mod client;
pub mod console;
pub mod error;
pub mod pages;
mod sign_in_pages;
mod sso;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use error::ApiError;
use roster_core::Roster;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Settings of the HTTP edge, fixed at start-up.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// True when the public URL is https: cookies get `Secure` and the `__Host-` prefix.
    pub secure_cookies: bool,
    /// Largest request body accepted.
    pub body_limit: usize,
    /// A request running longer is cut off.
    pub request_timeout: Duration,
    /// Proxies whose `X-Forwarded-For` is believed. Empty: the peer address is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl WebConfig {
    pub fn for_public_url(public_url: &str) -> Self {
        Self {
            secure_cookies: public_url.starts_with("https://"),
            body_limit: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            trusted_proxies: Vec::new(),
        }
    }

    /// `__Host-` pins the cookie to this host and path `/`, but browsers accept it only
    /// over TLS; a plain-http deployment (local use) gets the bare name.
    pub fn session_cookie_name(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-roster_session"
        } else {
            "roster_session"
        }
    }

    /// The `Set-Cookie` value for a new session.
    pub fn session_cookie(&self, token: &str, max_age_secs: i64) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        format!(
            "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}",
            self.session_cookie_name()
        )
    }

    /// The `Set-Cookie` value for a session just started: it lives as long as the session.
    pub fn cookie_for(&self, new: &roster_core::usecases::sessions::NewSession) -> String {
        let max_age = (new.session.expires_at - new.session.created_at).num_seconds();
        self.session_cookie(new.token.expose(), max_age)
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clear_session_cookie(&self) -> String {
        self.session_cookie("", 0)
    }

    /// A `Set-Cookie` value that removes cookie `name`. Browsers ignore a removal of a
    /// `__Host-` cookie unless it is `Secure` too, so the attributes match the original.
    pub fn clear_cookie(&self, name: &str) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        format!("{name}=; Path=/; HttpOnly; Max-Age=0{secure}")
    }
}

#[derive(Clone)]
pub struct AppState {
    pub roster: Roster,
    pub web: Arc<WebConfig>,
    pub templates: Arc<minijinja::Environment<'static>>,
}

impl AppState {
    pub fn new(roster: Roster, web: WebConfig) -> Self {
        Self {
            roster,
            web: Arc::new(web),
            templates: Arc::new(pages::templates()),
        }
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    // The document is dropped here and written on its first request (`openapi_json`).
    let api: Router<AppState> = api::routes().into();
    let body_limit = state.web.body_limit;
    let timeout = state.web.request_timeout;
    Router::new()
        .merge(api)
        .merge(pages::routes())
        .merge(console::routes())
        .route("/api/v1/openapi.json", axum::routing::get(openapi_json))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                        let id = req
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        // The path may carry an invitation token: log the route, not the URI.
                        let route = req
                            .extensions()
                            .get::<axum::extract::MatchedPath>()
                            .map_or("-", |p| p.as_str());
                        tracing::info_span!("request", request_id = %id, method = %req.method(), route)
                    }),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(CatchPanicLayer::custom(|_| {
                    ApiError::internal("a handler panicked").into_response()
                }))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    timeout,
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                )),
        )
        .with_state(state)
}

async fn route_not_found() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        "No such route. The API reference is at /api/v1/openapi.json.",
    )
    .into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This route does not accept this method.",
    )
    .into_response()
}

/// `GET /api/v1/openapi.json`: the document, written once on its first request.
///
/// The document never changes while the server runs, so its text is kept rather than the
/// tree (no clone per request). It is not written at start-up: writing it took about 1 MB
/// of heap, which an idle server kept, and most instances are never asked for it.
async fn openapi_json() -> Response {
    static TEXT: OnceLock<Option<axum::body::Bytes>> = OnceLock::new();
    let text = TEXT.get_or_init(|| match serde_json::to_vec(&openapi()) {
        Ok(text) => Some(text.into()),
        Err(e) => {
            tracing::error!(error = %e, "the OpenAPI document could not be written");
            None
        }
    });
    match text {
        Some(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            text.clone(),
        )
            .into_response(),
        None => ApiError::internal("the OpenAPI document could not be written").into_response(),
    }
}

/// The OpenAPI document, as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api::routes().split_for_parts().1
}
