//! Single sign-on's side of the HTTP edge: sending a person to their organization's
//! OpenID Connect provider (discovery, authorization code with PKCE, `state` and `nonce`)
//! and taking them back (`/sso/callback`: the code exchanged, the ID token's signature,
//! issuer, audience, expiry and nonce checked by the `openidconnect` crate). What a
//! verified sign-in then does is core's (`Roster::complete_sso_sign_in`).
//!
//! `state` is 256 random bits whose hash finds the stored sign-in, once; the nonce and
//! the PKCE verifier never leave the server until the provider's answer is checked.

use crate::auth::cookie;
use crate::client::ClientIp;
use crate::pages::{message, render};
use crate::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use roster_core::model::{Organization, SignInCode, SsoConnection};
use roster_core::secrets::Secret;
use roster_core::usecases::sign_in::{explain, SignInError, SignInRefusal};
use roster_core::usecases::sso::SsoClaims;
use serde::Deserialize;
use std::sync::OnceLock;
use std::time::Duration;

/// The client Roster talks to providers with: no redirects followed (a provider's
/// endpoints answer directly; following them would let a redirect reach inside the
/// network), and a short timeout so a silent provider cannot hold a request.
fn http_client() -> Result<&'static openidconnect::reqwest::Client, String> {
    static CLIENT: OnceLock<openidconnect::reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let built = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    Ok(CLIENT.get_or_init(|| built))
}

fn redirect_uri(state: &AppState) -> String {
    format!("{}/sso/callback", state.roster.links.base())
}

/// The provider's metadata (discovery) turned into a client for this connection.
async fn oidc_client(
    state: &AppState,
    connection: &SsoConnection,
) -> Result<
    CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    String,
> {
    let issuer = IssuerUrl::new(connection.issuer.clone()).map_err(|e| e.to_string())?;
    let metadata = CoreProviderMetadata::discover_async(issuer, http_client()?)
        .await
        .map_err(|e| format!("discovery failed: {e}"))?;
    let redirect = RedirectUrl::new(redirect_uri(state)).map_err(|e| e.to_string())?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(connection.client_id.clone()),
        Some(ClientSecret::new(connection.client_secret.clone())),
    )
    .set_redirect_uri(redirect))
}

/// *Test connection*: the provider's discovery document answers and names the issuer.
pub(crate) async fn test_connection(
    state: &AppState,
    connection: &SsoConnection,
) -> Result<(), String> {
    oidc_client(state, connection).await.map(|_| ())
}

/// Where the sign-in page sends a person whose email `org`'s connection claims: the
/// provider's authorization URL, after remembering the sign-in for its callback.
pub(crate) async fn start(
    state: &AppState,
    org: &Organization,
    connection: &SsoConnection,
    email: &str,
    next: Option<String>,
    client_ip: Option<String>,
) -> Response {
    let client = match oidc_client(state, connection).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, org = %org.id, "single sign-on could not reach the provider");
            return refused(
                state,
                email,
                Some(org),
                client_ip,
                SignInCode::SsoProviderError,
            )
            .await;
        }
    };
    let (Ok(state_secret), Ok(nonce)) = (Secret::generate(""), Secret::generate("")) else {
        return message(
            state,
            StatusCode::SERVICE_UNAVAILABLE,
            "Please try again",
            "Roster could not start the sign-in just now.",
        );
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state_value = state_secret.expose().to_owned();
    let nonce_value = nonce.expose().to_owned();
    let mut request = client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        move || CsrfToken::new(state_value),
        move || Nonce::new(nonce_value),
    );
    for scope in &connection.scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, _, _) = request
        .set_pkce_challenge(challenge)
        .add_extra_param("login_hint", email.trim())
        .url();
    let login = state.roster.new_sso_login(
        &state_secret,
        org,
        nonce.expose().to_owned(),
        verifier.secret().clone(),
        email,
        next,
    );
    if let Err(e) = state.roster.begin_sso_login(&login).await {
        tracing::error!(error = %e, "single sign-on could not be remembered");
        return message(
            state,
            StatusCode::SERVICE_UNAVAILABLE,
            "Please try again",
            "Roster could not start the sign-in just now.",
        );
    }
    let mut response = Redirect::to(url.as_str()).into_response();
    // The state goes back to this browser only: the callback requires the same value in
    // this cookie, so a callback URL made with someone else's sign-in (login CSRF) fails.
    if let Ok(v) = state_cookie(state, state_secret.expose(), 600).parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

fn state_cookie_name(state: &AppState) -> &'static str {
    if state.web.secure_cookies {
        "__Host-roster_sso_state"
    } else {
        "roster_sso_state"
    }
}

/// `SameSite=Lax`: the provider's redirect back is a top-level navigation from another
/// site, on which a `Strict` cookie would not be sent.
fn state_cookie(state: &AppState, value: &str, max_age: i64) -> String {
    let secure = if state.web.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        state_cookie_name(state)
    )
}

#[derive(Deserialize, Default)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The provider sends the person back here with a code (or an error).
pub(crate) async fn callback(
    State(state): State<AppState>,
    client_ip: ClientIp,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Response {
    let mut response = finish(&state, client_ip, &headers, query).await;
    if let Ok(v) = state_cookie(&state, "", 0).parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

async fn finish(
    state: &AppState,
    client_ip: ClientIp,
    headers: &HeaderMap,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Response {
    let state = state.clone();
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let ip = client_ip.as_string();
    // This browser must be the one that started the sign-in (constant-time comparison).
    let bound = cookie(headers, state_cookie_name(&state)).unwrap_or_default();
    let presented = query.state.as_deref().unwrap_or_default();
    let same_browser =
        !bound.is_empty() && Secret::presented(presented).matches(&Secret::presented(bound).hash());
    let login = match query
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && same_browser)
    {
        Some(s) => match state.roster.take_sso_login(&Secret::presented(s)).await {
            Ok(login) => login,
            Err(e) => {
                tracing::error!(error = %e, "single sign-on callback failed");
                None
            }
        },
        None => None,
    };
    let Some(login) = login else {
        return refused(&state, "", None, ip, SignInCode::SsoStateInvalid).await;
    };
    let org = state.roster.store.reads().await.ok();
    let (org, connection) = match org {
        Some(mut reads) => (
            reads.org(login.org_id).await.ok().flatten(),
            reads.sso_connection(login.org_id).await.ok().flatten(),
        ),
        None => (None, None),
    };
    let (Some(org), Some(connection)) = (org, connection) else {
        return refused(
            &state,
            &login.email_hint,
            None,
            ip,
            SignInCode::SsoProviderError,
        )
        .await;
    };
    let fail = |code| refused(&state, &login.email_hint, Some(&org), ip.clone(), code);
    if let Some(error) = &query.error {
        tracing::info!(provider_error = %error, org = %org.id, "the provider refused a sign-in");
        return fail(SignInCode::SsoProviderError).await;
    }
    let Some(code) = query.code.filter(|c| !c.is_empty()) else {
        return fail(SignInCode::SsoProviderError).await;
    };
    let claims = match verify(&state, &connection, &login, code).await {
        Ok(claims) => claims,
        Err(e) => {
            tracing::info!(error = %e, org = %org.id, "a single sign-on answer did not verify");
            return fail(SignInCode::SsoProviderError).await;
        }
    };
    match state
        .roster
        .complete_sso_sign_in(&login, claims, ip.clone())
        .await
    {
        Ok(signed) => {
            let next = login
                .next
                .clone()
                .filter(|n| n.starts_with('/') && !n.starts_with("//"))
                .unwrap_or_else(|| format!("/orgs/{}", org.slug.as_str()));
            let mut response = Redirect::to(&next).into_response();
            if let Ok(v) = state.web.cookie_for(&signed.session).parse() {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
            response
        }
        Err(SignInError::Refused(r)) => error_page(&state, &r),
        Err(e) => {
            tracing::error!(error = %e, "single sign-on failed");
            message(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "Roster could not finish the sign-in just now.",
            )
        }
    }
}

/// The code exchanged (with the PKCE verifier) and the ID token checked: signature against
/// the provider's keys, issuer, audience (this client), expiry and the nonce we sent.
async fn verify(
    state: &AppState,
    connection: &SsoConnection,
    login: &roster_core::model::SsoLogin,
    code: String,
) -> Result<SsoClaims, String> {
    let client = oidc_client(state, connection).await?;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| e.to_string())?
        .set_pkce_verifier(PkceCodeVerifier::new(login.pkce_verifier.clone()))
        .request_async(http_client()?)
        .await
        .map_err(|e| format!("code exchange failed: {e}"))?;
    let id_token = tokens.id_token().ok_or("no ID token in the answer")?;
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &Nonce::new(login.nonce.clone()))
        .map_err(|e| format!("ID token refused: {e}"))?;
    Ok(SsoClaims {
        subject: claims.subject().to_string(),
        email: claims.email().map(|e| e.to_string()).unwrap_or_default(),
        email_verified: claims.email_verified() == Some(true),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.to_string()),
    })
}

/// Records the refusal and shows the sign-in error page.
async fn refused(
    state: &AppState,
    email: &str,
    org: Option<&Organization>,
    client_ip: Option<String>,
    code: SignInCode,
) -> Response {
    match state.roster.refuse_sso(email, org, client_ip, code).await {
        Ok(SignInError::Refused(r)) | Err(SignInError::Refused(r)) => error_page(state, &r),
        Ok(e) | Err(e) => {
            tracing::error!(error = %e, "recording a refused single sign-on failed");
            message(
                state,
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "Roster could not finish the sign-in just now.",
            )
        }
    }
}

/// The sign-in error page: the code, what it means, who can fix it, the time, the email
/// and the reference to quote.
pub(crate) fn error_page(state: &AppState, r: &SignInRefusal) -> Response {
    let code = r.code.public_code();
    let (meaning, who_can_fix) = explain(code);
    let status = crate::api::auth::refusal(r).status;
    render(
        &state.templates,
        status,
        "sign_in_error.html",
        context! {
            diagnostics => context! {
                code,
                meaning,
                who_can_fix,
                organization => r.organization.as_deref(),
                time => r.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                email => r.email.as_str(),
                reference => r.reference.as_str(),
            },
        },
    )
}
