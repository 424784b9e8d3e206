//! The one error type at the edge: every refusal leaves as `application/problem+json`
//! (RFC 9457) with a stable `code` that clients can branch on. Server faults are logged with
//! the request's span (which carries its request id) and answered without details.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:roster:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `slug_taken`.
    pub code: String,
    /// Extra facts for some codes (e.g. the password policy's reasons).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<serde_json::Value>,
    /// For a refused sign-in: what the code means, who can fix it, the time, the email as
    /// typed and the reference to quote to support.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub diagnostics: Option<serde_json::Value>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub errors: Option<serde_json::Value>,
    /// Boxed: rare, and it keeps `Result<_, ApiError>` small.
    pub diagnostics: Option<Box<serde_json::Value>>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: None,
            diagnostics: None,
            retry_after: None,
        }
    }

    /// An address whose domain signs in through `org_name`'s identity provider only.
    pub fn sso_enforced(org_name: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "sso_enforced",
            format!(
                "{org_name} signs the people of this email domain in through its identity \
                 provider (single sign-on): they have no password here, and they join {org_name} \
                 by signing in through the provider."
            ),
        )
    }

    pub fn with_diagnostics(mut self, diagnostics: serde_json::Value) -> Self {
        self.diagnostics = Some(Box::new(diagnostics));
        self
    }

    /// 429 with `Retry-After`.
    pub fn too_many(code: &'static str, detail: impl Into<String>, retry_after: u64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, code, detail);
        e.retry_after = Some(retry_after);
        e
    }

    /// 400 `password_policy` listing every reason.
    pub fn password_policy(violations: &[roster_core::passwords::PolicyViolation]) -> Self {
        let detail = violations
            .iter()
            .map(|v| v.message())
            .collect::<Vec<_>>()
            .join(" ");
        Self::bad_request("password_policy", detail)
            .with_errors(serde_json::to_value(violations).unwrap_or_default())
    }

    pub fn with_errors(mut self, errors: serde_json::Value) -> Self {
        self.errors = Some(errors);
        self
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "There is nothing here, or you cannot see it.",
        )
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "You do not have permission to do this.",
        )
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Sign in, or send a bearer token in the Authorization header.",
        )
    }

    /// A fault on our side: logged in full, answered in general terms.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side. Quote the x-request-id header when reporting it.",
        )
    }

    pub fn unavailable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, detail)
    }

    fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: format!("urn:roster:problem:{}", self.code),
            title: self.title().to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_owned(),
            errors: self.errors,
            diagnostics: self.diagnostics.map(|d| *d),
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.status, json).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<roster_core::store::StoreError> for ApiError {
    fn from(e: roster_core::store::StoreError) -> Self {
        match e {
            roster_core::store::StoreError::Busy => {
                Self::unavailable("busy", "The service is busy; try again in a moment.")
            }
            e => Self::internal(e),
        }
    }
}

impl From<roster_core::passwords::HashError> for ApiError {
    fn from(e: roster_core::passwords::HashError) -> Self {
        match e {
            roster_core::passwords::HashError::Busy => Self::unavailable(
                "busy",
                "Too many sign-ins are being checked right now; try again in a moment.",
            ),
            e => Self::internal(e),
        }
    }
}

impl From<roster_core::secrets::RandomError> for ApiError {
    fn from(e: roster_core::secrets::RandomError) -> Self {
        Self::internal(e)
    }
}

impl From<roster_core::access::Denied> for ApiError {
    fn from(e: roster_core::access::Denied) -> Self {
        use roster_core::access::Denied;
        match e {
            Denied::Forbidden => Self::forbidden(),
            Denied::NotVisible => Self::not_found(),
            Denied::Store(e) => e.into(),
        }
    }
}

/// JSON body extractor whose refusals are problem documents: 415 for a wrong content type,
/// 413 past the body limit, 400 for malformed JSON or a body of the wrong shape (unknown
/// fields included where the type denies them).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r.status() {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as JSON with Content-Type: application/json.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The request body is too large.",
        ),
        StatusCode::UNPROCESSABLE_ENTITY => ApiError::bad_request("invalid_body", r.body_text()),
        _ => match r {
            JsonRejection::JsonSyntaxError(_) => {
                ApiError::bad_request("malformed_json", r.body_text())
            }
            other => ApiError::bad_request("invalid_body", other.body_text()),
        },
    }
}

/// Query-string extractor with problem-document refusals.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(r) => Err(query_rejection(r)),
        }
    }
}

fn query_rejection(r: QueryRejection) -> ApiError {
    ApiError::bad_request("invalid_query", r.body_text())
}

/// Path-parameter extractor with problem-document refusals (e.g. a path segment that is not
/// valid UTF-8).
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Self(v)),
            Err(r) => Err(path_rejection(r)),
        }
    }
}

fn path_rejection(r: PathRejection) -> ApiError {
    ApiError::bad_request("invalid_path", r.body_text())
}
