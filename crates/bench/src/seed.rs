//! Seed data, made the way a real deployment makes it: `roster setup` creates the
//! organization and invites its admin, and the admin accepts over HTTP. What comes out is a
//! person who can sign in and a live session.

use crate::server::StoreSpec;
use anyhow::{anyhow, bail, Context};
use reqwest::{header, Client, StatusCode};
use serde_json::json;
use std::path::Path;

pub const ADMIN_EMAIL: &str = "admin@bench.example";

/// The seeded person and one of their sessions.
pub struct Person {
    pub email: String,
    pub password: String,
    /// `name=value`, ready for a `Cookie` header.
    pub session_cookie: String,
    /// The session's CSRF token, for `X-CSRF-Token` on unsafe requests.
    pub csrf_token: String,
    pub identity_id: String,
}

/// A random password long enough to pass any policy. Hex digits cannot spell the email's
/// local part ("admin") or the organization's name ("Bench"), which the policy refuses.
pub fn random_password() -> anyhow::Result<String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| anyhow!("no randomness for the password: {e}"))?;
    Ok(hex::encode(bytes))
}

/// Runs `roster setup` against the server's store, accepts the invitation it prints, and
/// checks that the password signs in.
pub async fn seed(
    binary: &Path,
    store: &StoreSpec,
    client: &Client,
    base_url: &str,
) -> anyhow::Result<Person> {
    let output = store
        .command(binary)
        .args([
            "setup",
            "--org-name",
            "Bench",
            "--org-kind",
            "company",
            "--admin-email",
            ADMIN_EMAIL,
        ])
        .output()
        .context("cannot run roster setup")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "roster setup failed ({}): {}{}",
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let token = stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("http") && l.contains("/invitations/"))
        .and_then(|link| link.rsplit('/').next())
        .ok_or_else(|| {
            anyhow!("roster setup printed no invitation link (is the database fresh?): {stdout}")
        })?;

    let password = random_password()?;
    let resp = client
        .post(format!("{base_url}/api/v1/invitations/{token}/accept"))
        .json(&json!({ "password": password, "password_confirmation": password }))
        .send()
        .await
        .context("accepting the invitation")?;
    let status = resp.status();
    let cookie = session_cookie(resp.headers());
    let body = resp.text().await.unwrap_or_default();
    if status != StatusCode::OK {
        bail!("accepting the invitation answered {status}: {body}");
    }
    let accepted = serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default();
    let csrf_token = accepted["csrf_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("accepting the invitation gave no CSRF token: {body}"))?;
    let identity_id = accepted["identity"]["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("accepting the invitation gave no identity: {body}"))?;
    let session_cookie =
        cookie.ok_or_else(|| anyhow!("accepting the invitation set no session cookie"))?;

    let resp = client
        .post(format!("{base_url}/api/v1/auth/sign-in"))
        .json(&json!({ "email": ADMIN_EMAIL, "password": password }))
        .send()
        .await
        .context("signing in")?;
    if resp.status() != StatusCode::OK {
        let status = resp.status();
        bail!(
            "signing in with the new password answered {status}: {}",
            resp.text().await.unwrap_or_default()
        );
    }
    Ok(Person {
        email: ADMIN_EMAIL.to_owned(),
        password,
        session_cookie,
        csrf_token,
        identity_id,
    })
}

/// What the check scenario asks, and with which token.
pub struct CheckSetup {
    pub token: String,
    pub body: serde_json::Value,
}

/// Gives the seeded admin the access model's whole path to evaluate — a custom role held
/// through a group, and a customer — and makes a host product's token with
/// `access.check`. The scenario asks whether the admin may read that customer.
pub async fn seed_access(
    client: &Client,
    base_url: &str,
    person: &Person,
) -> anyhow::Result<CheckSetup> {
    let call = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        client
            .request(method, format!("{base_url}/api/v1/orgs/bench{path}"))
            .header(header::COOKIE, &person.session_cookie)
            .header("x-csrf-token", &person.csrf_token)
            .json(&body)
            .send()
    };
    async fn answer(
        resp: reqwest::Result<reqwest::Response>,
        what: &str,
    ) -> anyhow::Result<serde_json::Value> {
        let resp = resp.with_context(|| what.to_owned())?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{what} answered {status}: {body}");
        }
        Ok(body)
    }
    let customer = answer(
        call(
            reqwest::Method::POST,
            "/customers",
            json!({ "name": "Customer one" }),
        )
        .await,
        "creating a customer",
    )
    .await?;
    let role = answer(
        call(
            reqwest::Method::POST,
            "/roles",
            json!({ "name": "Account reader", "permissions": ["customers.read", "users.read"] }),
        )
        .await,
        "creating a custom role",
    )
    .await?;
    let group = answer(
        call(
            reqwest::Method::POST,
            "/groups",
            json!({ "name": "Accounts", "roles": ["user", role["id"]] }),
        )
        .await,
        "creating a group",
    )
    .await?;
    answer(
        call(
            reqwest::Method::PUT,
            "/members/me/groups",
            json!({ "groups": [group["id"]] }),
        )
        .await,
        "putting the admin in the group",
    )
    .await?;
    let token = answer(
        call(
            reqwest::Method::POST,
            "/tokens",
            json!({ "name": "host product", "permissions": ["access.check"] }),
        )
        .await,
        "creating the host product's token",
    )
    .await?;
    let setup = CheckSetup {
        token: token["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("the token answer holds no token: {token}"))?,
        body: json!({
            "identity_id": person.identity_id,
            "permission": "customers.read",
            "customer_id": customer["id"],
        }),
    };
    // The scenario measures the allowing path through the group's custom role; a refusal
    // would measure something else.
    let answer = answer(
        client
            .post(format!("{base_url}/api/v1/orgs/bench/check/explain"))
            .bearer_auth(&setup.token)
            .json(&setup.body)
            .send()
            .await,
        "asking the check once",
    )
    .await?;
    if answer["allowed"] != true {
        bail!("the seeded check is not allowed: {answer}");
    }
    Ok(setup)
}

/// The session cookie a response sets, as `name=value`.
fn session_cookie(headers: &header::HeaderMap) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| {
            pair.split_once('=')
                .is_some_and(|(name, value)| name.ends_with("roster_session") && !value.is_empty())
        })
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_passes_the_policy_with_the_seeded_names() {
        let password = random_password().unwrap();
        assert_eq!(password.len(), 48);
        let orgs = ["Bench".to_owned()];
        let context = roster_core::passwords::PolicyContext {
            email: Some(ADMIN_EMAIL),
            org_names: &orgs,
        };
        assert!(roster_core::passwords::PasswordPolicy::default()
            .check(&password, &context)
            .is_ok());
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = header::HeaderMap::new();
        headers.append(header::SET_COOKIE, "other=1; Path=/".parse().unwrap());
        headers.append(
            header::SET_COOKIE,
            "roster_session=abc; HttpOnly; Path=/".parse().unwrap(),
        );
        assert_eq!(
            session_cookie(&headers).as_deref(),
            Some("roster_session=abc")
        );
        headers.clear();
        headers.append(
            header::SET_COOKIE,
            "roster_session=; Max-Age=0".parse().unwrap(),
        );
        assert_eq!(session_cookie(&headers), None);
    }
}
