//! A real OpenID provider for the single sign-on tests: `node e2e/oidc-provider.mjs` (the
//! `oidc-provider` package from `e2e/node_modules`) on a free loopback port, with one
//! confidential client and the accounts a test gives; and a helper that signs in at its
//! pages the way a browser without JavaScript does.
//!
//! It needs `node` on PATH and `e2e/node_modules/oidc-provider` (`npm ci --prefix e2e`).
//! Without them [`Provider::start`] says SKIPPED and returns `None`, or panics when
//! `ROSTER_REQUIRE_OIDC=1` (as CI sets).
//!
//! The provider: issuer `http://127.0.0.1:<port>`, discovery at
//! `/.well-known/openid-configuration`, `/auth`, `/token`, `/jwks`, `/me`; response type
//! `code` only, PKCE S256 required, client_secret_basic or client_secret_post. Sign-in is
//! its development page (a form with `login` and `password`): any password for a login of
//! the accounts, a 400 page for another login. No consent screen (the client is pre-granted
//! `openid email profile`). The ID token carries `sub` (the login), `email`,
//! `email_verified` and `name`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

/// How long the provider may take to start (it normally takes well under a second).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How an ID token from [`Provider::start_tampered`] is altered (re-signed with the
/// provider's own key unless said otherwise), for tests that Roster refuses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tamper {
    /// `aud` names another client.
    Audience,
    /// `nonce` is not the one of the authorization request.
    Nonce,
    /// `iss` is another issuer.
    Issuer,
    /// `exp` (and `iat`) are in the past.
    Expired,
    /// The signature does not verify.
    Signature,
    /// Unsigned: `alg` is `none` and the signature is empty.
    AlgNone,
}

impl Tamper {
    fn env_value(self) -> &'static str {
        match self {
            Tamper::Audience => "audience",
            Tamper::Nonce => "nonce",
            Tamper::Issuer => "issuer",
            Tamper::Expired => "expired",
            Tamper::Signature => "signature",
            Tamper::AlgNone => "alg-none",
        }
    }
}

/// A running `e2e/oidc-provider.mjs`, stopped when dropped.
pub struct Provider {
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub issuer: String,
    child: Child,
    output: Arc<Mutex<String>>,
}

impl Provider {
    /// A provider with one client and `accounts` (`{"<login>": {"email": ..,
    /// "email_verified": .., "name": ..}}`), or `None` (said loudly) when node or
    /// `e2e/node_modules/oidc-provider` is missing and `ROSTER_REQUIRE_OIDC` is not `1`.
    pub async fn start(
        client_id: &str,
        client_secret: &str,
        redirect_uri: &str,
        accounts: Value,
    ) -> Option<Provider> {
        Self::launch(client_id, client_secret, redirect_uri, accounts, None, 0).await
    }

    /// As [`Provider::start`], on a given port: a provider started again where it was
    /// keeps its issuer (its people's `sub` stay theirs), with other accounts' claims.
    pub async fn restart_on(
        port: u16,
        client_id: &str,
        client_secret: &str,
        redirect_uri: &str,
        accounts: Value,
    ) -> Option<Provider> {
        Self::launch(client_id, client_secret, redirect_uri, accounts, None, port).await
    }

    /// The port the provider listens on.
    pub fn port(&self) -> u16 {
        self.issuer
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the issuer ends with a port")
    }

    /// As [`Provider::start`], but its token endpoint hands out ID tokens altered as
    /// `tamper` says.
    pub async fn start_tampered(
        client_id: &str,
        client_secret: &str,
        redirect_uri: &str,
        accounts: Value,
        tamper: Tamper,
    ) -> Option<Provider> {
        Self::launch(
            client_id,
            client_secret,
            redirect_uri,
            accounts,
            Some(tamper),
            0,
        )
        .await
    }

    async fn launch(
        client_id: &str,
        client_secret: &str,
        redirect_uri: &str,
        accounts: Value,
        tamper: Option<Tamper>,
        port: u16,
    ) -> Option<Provider> {
        let (node, e2e) = tools()?;
        let script = e2e.join("oidc-provider.mjs");
        assert!(script.is_file(), "{} is missing", script.display());
        let mut child = Command::new(node)
            .arg(&script)
            .current_dir(&e2e)
            // 0: the script lets the system pick the port and reports it (no race).
            .env("PORT", port.to_string())
            .env("CLIENT_ID", client_id)
            .env("CLIENT_SECRET", client_secret)
            .env("REDIRECT_URI", redirect_uri)
            .env("ACCOUNTS", accounts.to_string())
            .env("TAMPER", tamper.map_or("none", Tamper::env_value))
            .env_remove("NODE_OPTIONS")
            .env_remove("DEBUG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node starts");
        let output = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let stdout = child.stdout.take().unwrap();
        let out = output.clone();
        std::thread::spawn(move || {
            let mut ready_tx = Some(ready_tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(issuer) = line.strip_prefix("listening ") {
                    if let Some(tx) = ready_tx.take() {
                        let _ = tx.send(issuer.trim().to_owned());
                    }
                }
                let mut out = out.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
            }
            // Dropping `ready_tx` here tells the waiter that the provider is gone.
        });
        let mut stderr = child.stderr.take().unwrap();
        let out = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut provider = Provider {
            issuer: String::new(),
            child,
            output,
        };
        match tokio::time::timeout(START_TIMEOUT, ready_rx).await {
            Ok(Ok(issuer)) => provider.issuer = issuer,
            Ok(Err(_)) => {
                let status = provider.child.wait().ok();
                panic!(
                    "e2e/oidc-provider.mjs exited ({status:?}) before listening:\n{}",
                    provider.output()
                );
            }
            Err(_) => panic!(
                "e2e/oidc-provider.mjs did not listen within {START_TIMEOUT:?}:\n{}",
                provider.output()
            ),
        }
        Some(provider)
    }

    /// `path` (starting with `/`) at the provider.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// What the provider printed so far (stdout and stderr), for failure messages.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        // Closing stdin alone would stop it too; killing does not wait for node to notice.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `name` in a directory of PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// node and the e2e folder, or `None` (said loudly) when the tests are to be skipped.
fn tools() -> Option<(PathBuf, PathBuf)> {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../e2e");
    let e2e = e2e.canonicalize().unwrap_or(e2e);
    let mut missing = vec![];
    let node = on_path("node");
    if node.is_none() {
        missing.push("`node` is not on PATH".to_owned());
    }
    if !e2e
        .join("node_modules/oidc-provider/package.json")
        .is_file()
    {
        missing.push("e2e/node_modules/oidc-provider is missing (npm ci --prefix e2e)".to_owned());
    }
    if missing.is_empty() {
        return Some((node?, e2e));
    }
    let problem = missing.join("; ");
    if std::env::var("ROSTER_REQUIRE_OIDC").as_deref() == Ok("1") {
        panic!("the OpenID provider is required (ROSTER_REQUIRE_OIDC=1) but {problem}");
    }
    // Straight to stderr: the harness captures `eprintln!` of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "!!! skipping: {problem}: OpenID Connect test SKIPPED; set ROSTER_REQUIRE_OIDC=1 to \
         make this fatal"
    );
    None
}

/// The provider's discovery document (asserting that it answers and names `issuer`).
pub async fn discovery(issuer: &str) -> Value {
    let url = format!("{issuer}/.well-known/openid-configuration");
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "GET {url}");
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["issuer"], issuer, "the discovery document's issuer");
    doc
}

/// A page of the provider that ended the sign-in: not a redirect, and not a form to fill.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub url: String,
    pub body: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} from {}: {}", self.status, self.url, self.body)
    }
}

/// Signs in as `login` (any password) from `authorize_url`, the provider URL Roster
/// redirected to, with `client` (cookie store on, redirects off: each hop is followed
/// here). Returns the URL the provider finally redirects to at the authorization request's
/// `redirect_uri` (with `code` and `state`, or `error`), without requesting it.
pub async fn sign_in_at_provider(client: &Client, authorize_url: &str, login: &str) -> String {
    try_sign_in_at_provider(client, authorize_url, login)
        .await
        .unwrap_or_else(|refusal| panic!("the provider refused to sign in {login}: {refusal}"))
}

/// As [`sign_in_at_provider`], but a page that ends the sign-in (an unknown login gets a
/// 400 page saying `access_denied` / `unknown login`) is an `Err`.
pub async fn try_sign_in_at_provider(
    client: &Client,
    authorize_url: &str,
    login: &str,
) -> Result<String, Refusal> {
    walk(client, authorize_url, Some(login)).await
}

/// Opens the sign-in page from `authorize_url` and cancels it (the page's Cancel link);
/// returns the redirect to `redirect_uri` (with `error=access_denied` and `state`),
/// without requesting it.
pub async fn cancel_at_provider(client: &Client, authorize_url: &str) -> String {
    walk(client, authorize_url, None)
        .await
        .unwrap_or_else(|refusal| panic!("cancelling at the provider failed: {refusal}"))
}

/// Follows the provider's pages: redirects by hand, the login form filled with `login`
/// (or its Cancel link followed when `login` is `None`), a consent form submitted as is.
async fn walk(
    client: &Client,
    authorize_url: &str,
    login: Option<&str>,
) -> Result<String, Refusal> {
    let authorize = url::Url::parse(authorize_url).expect("an absolute authorization URL");
    let redirect_uri = authorize
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .expect("the authorization URL has a redirect_uri");
    let mut url = authorize;
    let mut form: Option<Vec<(String, String)>> = None;
    let mut logins_sent = 0;
    for _ in 0..20 {
        let requested = url.to_string();
        let resp = match form.take() {
            Some(fields) => client.post(url.clone()).form(&fields).send().await,
            None => client.get(url.clone()).send().await,
        }
        .unwrap_or_else(|e| panic!("{requested}: {e}"));
        assert_eq!(
            resp.url().as_str(),
            requested,
            "the client followed a redirect by itself; build it with redirect::Policy::none()"
        );
        let status = resp.status();
        if status.is_redirection() {
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{status} from {requested} without a Location"));
            let next = url.join(location).unwrap();
            if is_at(next.as_str(), &redirect_uri) {
                return Ok(next.to_string());
            }
            url = next;
            continue;
        }
        let body = resp.text().await.unwrap_or_default();
        let refusal = |body: String| Refusal {
            status,
            url: requested.clone(),
            body,
        };
        if status != StatusCode::OK {
            return Err(refusal(body));
        }
        let Some((action, mut fields)) = post_form(&body) else {
            return Err(refusal(body));
        };
        let prompt = fields
            .iter()
            .find(|(k, _)| k == "prompt")
            .map(|(_, v)| v.clone());
        match (prompt.as_deref(), login) {
            (Some("login"), Some(login)) => {
                logins_sent += 1;
                if logins_sent > 1 {
                    return Err(refusal(body));
                }
                fields.retain(|(k, _)| k != "login" && k != "password");
                fields.push(("login".into(), login.into()));
                fields.push(("password".into(), "any password".into()));
            }
            (Some(_), None) => {
                let cancel = abort_link(&body).unwrap_or_else(|| {
                    panic!("no Cancel link on the provider's page {requested}:\n{body}")
                });
                url = url.join(&cancel).unwrap();
                continue;
            }
            // The consent page (not expected: the client is pre-granted) is submitted as is.
            (Some("consent"), Some(_)) => {}
            _ => return Err(refusal(body)),
        }
        url = url.join(&action).unwrap();
        form = Some(fields);
    }
    panic!("more than 20 hops at the provider from {authorize_url}");
}

/// `url` is `base` or `base` with a query or fragment.
fn is_at(url: &str, base: &str) -> bool {
    url.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('?') || rest.starts_with('#'))
}

/// The action and fields (`<input>`s with a name) of the page's first POST form.
fn post_form(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let mut rest = html;
    while let Some(start) = rest.find("<form") {
        let tag_end = rest[start..].find('>')? + start;
        let tag = &rest[start..tag_end];
        let end = rest[tag_end..]
            .find("</form>")
            .map_or(rest.len(), |i| i + tag_end);
        let inner = &rest[tag_end..end];
        if attr(tag, "method").is_some_and(|m| m.eq_ignore_ascii_case("post")) {
            let action = attr(tag, "action").unwrap_or_default();
            let fields = inner
                .split("<input")
                .skip(1)
                .filter_map(|input| {
                    let input = &input[..input.find('>').unwrap_or(input.len())];
                    Some((
                        attr(input, "name")?,
                        attr(input, "value").unwrap_or_default(),
                    ))
                })
                .collect();
            return Some((action, fields));
        }
        rest = &rest[end..];
    }
    None
}

/// The href of the page's link to the provider's `…/abort`.
fn abort_link(html: &str) -> Option<String> {
    html.split("<a ")
        .skip(1)
        .filter_map(|a| attr(&a[..a.find('>').unwrap_or(a.len())], "href"))
        .find(|href| href.ends_with("/abort"))
}

/// The double-quoted attribute `name` of a tag, HTML entities decoded.
fn attr(tag: &str, name: &str) -> Option<String> {
    let tag = format!(" {}", tag.replace(['\n', '\t'], " "));
    let marker = format!(" {name}=\"");
    let start = tag.find(&marker)? + marker.len();
    let value = &tag[start..start + tag[start..].find('"')?];
    Some(unescape(value))
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(semi) = rest.find(';').filter(|&j| j <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The value of query parameter `name` of `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Unpadded (or padded) base64url, as in JWTs.
pub fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The header and payload of a JWT, unverified.
pub fn jwt_parts(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let mut part = || -> Value {
        let bytes = base64url_decode(parts.next().expect("a JWT part")).expect("base64url");
        serde_json::from_slice(&bytes).expect("a JSON JWT part")
    };
    let header = part();
    let payload = part();
    (header, payload)
}

const CLIENT_ID: &str = "roster-test";
const CLIENT_SECRET: &str = "a client secret";
// Nothing listens there: the callback URL is only read, never requested.
const REDIRECT_URI: &str = "http://127.0.0.1:9/sso/callback";
// A fixed PKCE pair: BASE64URL(SHA-256(VERIFIER)) == CHALLENGE (RFC 7636, S256).
const VERIFIER: &str = "roster-test-pkce-verifier-0123456789-ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const CHALLENGE: &str = "ZAx3kWy_ggFEXSbHD0RzlCCWsnqR8yMxjKgWuV6gLgI";

fn accounts() -> Value {
    json!({
        "alice": {"email": "alice@example.com", "email_verified": true, "name": "Alice Liddell"},
        "bob": {"email": "bob@example.com", "email_verified": false, "name": "Bob"},
    })
}

/// Cookies on, redirects off: what the helpers expect.
fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn authorize_url(doc: &Value, state: &str, nonce: &str, challenge: Option<&str>) -> String {
    let mut url = url::Url::parse(doc["authorization_endpoint"].as_str().unwrap()).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", "openid email profile")
        .append_pair("state", state)
        .append_pair("nonce", nonce);
    if let Some(challenge) = challenge {
        url.query_pairs_mut()
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
    }
    url.to_string()
}

/// Signs in as `login` and returns the callback URL, checking its state and issuer.
async fn code_for(provider: &Provider, doc: &Value, login: &str, nonce: &str) -> String {
    let state = uuid::Uuid::now_v7().simple().to_string();
    let url = authorize_url(doc, &state, nonce, Some(CHALLENGE));
    let callback = sign_in_at_provider(&browser(), &url, login).await;
    assert!(
        callback.starts_with(&format!("{REDIRECT_URI}?")),
        "{callback}"
    );
    assert_eq!(query_param(&callback, "state").as_deref(), Some(&*state));
    assert_eq!(query_param(&callback, "iss"), Some(provider.issuer.clone()));
    query_param(&callback, "code").unwrap_or_else(|| panic!("no code in {callback}"))
}

async fn exchange(doc: &Value, code: &str, verifier: &str, basic: bool) -> reqwest::Response {
    let token_endpoint = doc["token_endpoint"].as_str().unwrap();
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier),
    ];
    let request = Client::new().post(token_endpoint);
    let request = if basic {
        request.basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
    } else {
        form.extend([("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)]);
        request
    };
    request.form(&form).send().await.unwrap()
}

#[tokio::test]
async fn the_test_provider_signs_in_and_issues_an_id_token() {
    let Some(provider) = Provider::start(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, accounts()).await
    else {
        return;
    };
    let doc = discovery(&provider.issuer).await;
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(doc["response_types_supported"], json!(["code"]));

    // client_secret_basic, a verified email.
    let nonce = uuid::Uuid::now_v7().simple().to_string();
    let code = code_for(&provider, &doc, "alice", &nonce).await;
    let resp = exchange(&doc, &code, VERIFIER, true).await;
    assert_eq!(resp.status(), StatusCode::OK, "{}", provider.output());
    let tokens: Value = resp.json().await.unwrap();
    let (header, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(header["alg"], "RS256");
    let jwks: Value = reqwest::get(provider.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], header["kid"], "{jwks}");
    assert!(
        jwks["keys"][0].get("d").is_none(),
        "no private key in {jwks}"
    );
    assert_eq!(claims["iss"], provider.issuer);
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["nonce"], nonce);
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], "Alice Liddell");
    // A code is used once.
    let again = exchange(&doc, &code, VERIFIER, true).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    // client_secret_post, an unverified email.
    let nonce = uuid::Uuid::now_v7().simple().to_string();
    let code = code_for(&provider, &doc, "bob", &nonce).await;
    let resp = exchange(&doc, &code, VERIFIER, false).await;
    assert_eq!(resp.status(), StatusCode::OK, "{}", provider.output());
    let tokens: Value = resp.json().await.unwrap();
    let (_, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "bob");
    assert_eq!(claims["nonce"], nonce);
    assert_eq!(claims["email"], "bob@example.com");
    assert_eq!(claims["email_verified"], false);

    // PKCE is checked: a wrong verifier gets no tokens.
    let code = code_for(&provider, &doc, "alice", "n").await;
    let resp = exchange(&doc, &code, &VERIFIER.replace('0', "1"), true).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");

    // An unknown login is refused on the provider's page.
    let url = authorize_url(&doc, "s", "n", Some(CHALLENGE));
    let refusal = try_sign_in_at_provider(&browser(), &url, "mallory")
        .await
        .unwrap_err();
    assert_eq!(refusal.status, StatusCode::BAD_REQUEST);
    assert!(refusal.body.contains("unknown login"), "{refusal}");
}

#[tokio::test]
async fn the_test_provider_requires_pkce_and_can_be_cancelled() {
    let Some(provider) = Provider::start(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, accounts()).await
    else {
        return;
    };
    let doc = discovery(&provider.issuer).await;

    // Without a code challenge the request goes back with an error.
    let url = authorize_url(&doc, "st", "n", None);
    let callback = cancel_at_provider(&browser(), &url).await;
    assert_eq!(
        query_param(&callback, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(query_param(&callback, "state").as_deref(), Some("st"));

    // Cancel on the sign-in page: access_denied.
    let url = authorize_url(&doc, "st2", "n", Some(CHALLENGE));
    let callback = cancel_at_provider(&browser(), &url).await;
    assert!(
        callback.starts_with(&format!("{REDIRECT_URI}?")),
        "{callback}"
    );
    assert_eq!(
        query_param(&callback, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&callback, "state").as_deref(), Some("st2"));
}

#[tokio::test]
async fn the_tampering_test_provider_alters_the_id_token() {
    for tamper in [
        Tamper::Audience,
        Tamper::Nonce,
        Tamper::Issuer,
        Tamper::Expired,
        Tamper::Signature,
        Tamper::AlgNone,
    ] {
        let Some(provider) =
            Provider::start_tampered(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, accounts(), tamper)
                .await
        else {
            return;
        };
        let doc = discovery(&provider.issuer).await;
        let code = code_for(&provider, &doc, "alice", "the nonce").await;
        let resp = exchange(&doc, &code, VERIFIER, true).await;
        assert_eq!(resp.status(), StatusCode::OK, "{}", provider.output());
        let tokens: Value = resp.json().await.unwrap();
        let id_token = tokens["id_token"].as_str().unwrap();
        let (header, claims) = jwt_parts(id_token);
        let signature = id_token.rsplit('.').next().unwrap();
        assert_eq!(claims["email"], "alice@example.com", "{tamper:?}");
        assert_eq!(
            claims["aud"] == CLIENT_ID,
            tamper != Tamper::Audience,
            "{tamper:?}"
        );
        assert_eq!(
            claims["nonce"] == "the nonce",
            tamper != Tamper::Nonce,
            "{tamper:?}"
        );
        assert_eq!(
            claims["iss"] == *provider.issuer,
            tamper != Tamper::Issuer,
            "{tamper:?}"
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(
            claims["exp"].as_u64().unwrap() > now,
            tamper != Tamper::Expired,
            "{tamper:?}"
        );
        assert_eq!(
            header["alg"] == "none",
            tamper == Tamper::AlgNone,
            "{tamper:?}"
        );
        assert_eq!(
            signature.is_empty(),
            tamper == Tamper::AlgNone,
            "{tamper:?}"
        );
    }
}
