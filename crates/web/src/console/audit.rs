//! **Audit log**: the organization's events, newest first, filtered by action, person and
//! period, with **Export CSV** of the same filters.

use super::shell::{forbidden_page, page, sentence, Person};
use crate::api::audit::{audit_log, AuditEventBody, AuditParams};
use crate::error::{ApiPath, ApiQuery};
use crate::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use minijinja::{context, Value};
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/orgs/{org}/audit", get(show))
        .route("/orgs/{org}/audit.csv", get(export))
}

/// The most rows one export holds; the file says when it stopped there.
const EXPORT_LIMIT: usize = 100_000;

#[derive(Deserialize, Default, Clone)]
struct AuditQuery {
    action: Option<String>,
    actor: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
}

impl AuditQuery {
    fn params(&self, limit: u32) -> AuditParams {
        let keep = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        AuditParams {
            limit: Some(limit),
            cursor: keep(&self.cursor),
            action: keep(&self.action),
            target: None,
            actor: keep(&self.actor),
            since: keep(&self.since),
            until: keep(&self.until),
        }
    }

    /// The filters as a query string (without the cursor), for paging and the export.
    fn filters(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("action", &self.action),
            ("actor", &self.actor),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if let Some(v) = v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }
}

/// What the *Target* column shows.
fn target_text(e: &AuditEventBody) -> String {
    match (&e.target_kind, e.target_id) {
        (Some(kind), Some(id)) => format!("{kind} {id}"),
        (Some(kind), None) => kind.clone(),
        _ => String::new(),
    }
}

fn actor_text(e: &AuditEventBody) -> String {
    match (&e.actor.email, e.actor.id) {
        (Some(email), _) => email.clone(),
        (None, Some(id)) => format!("{} {id}", e.actor.kind),
        (None, None) => e.actor.kind.clone(),
    }
}

async fn show(
    State(state): State<AppState>,
    person: Person,
    ApiPath(org): ApiPath<String>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Response {
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let org = match person.org(&state, &org).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let answer = audit_log(
        State(state.clone()),
        person.authed.clone(),
        ApiPath(org.slug().to_owned()),
        ApiQuery(query.params(50)),
    )
    .await;
    let (rows, next_cursor, status, error) = match answer {
        Ok(list) => {
            let rows: Vec<Value> = list
                .0
                .items
                .iter()
                .map(|e| {
                    context! {
                        at => e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                        actor => actor_text(e),
                        action => e.action.as_str(),
                        target => target_text(e),
                        details => if e.details.as_object().is_some_and(|o| o.is_empty()) { String::new() } else { e.details.to_string() },
                    }
                })
                .collect();
            (rows, list.0.next_cursor, StatusCode::OK, None)
        }
        Err(e) if e.code == "forbidden" || e.code == "not_found" => return forbidden_page(&state),
        Err(e) if e.code == "limited_reach" => {
            return super::shell::message_page(&state, e.status, &sentence(&e))
        }
        Err(e) => (Vec::new(), None, e.status, Some(sentence(&e))),
    };
    let filters = query.filters();
    let base = format!("/orgs/{}/audit", org.slug());
    let next_url = next_cursor.map(|c| {
        let sep = if filters.is_empty() { "" } else { "&" };
        format!(
            "{base}?{filters}{sep}cursor={}",
            url::form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()
        )
    });
    let export_url = if filters.is_empty() {
        format!("{base}.csv")
    } else {
        format!("{base}.csv?{filters}")
    };
    page(
        &state,
        status,
        "console/audit.html",
        context! {
            shell => person.shell(Some(&org), "audit"),
            rows,
            next_url,
            export_url,
            query => context! {
                action => query.action.as_deref().unwrap_or(""),
                since => query.since.as_deref().unwrap_or(""),
                until => query.until.as_deref().unwrap_or(""),
            },
            error,
        },
    )
}

/// One CSV field: quoted, inner quotes doubled, and a leading `= + - @` (or tab/CR) made
/// inert so a spreadsheet never runs a cell as a formula (CSV injection).
fn csv_field(out: &mut String, value: &str) {
    out.push('"');
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        out.push('\'');
    }
    out.push_str(&value.replace('"', "\"\""));
    out.push('"');
}

async fn export(
    State(state): State<AppState>,
    person: Person,
    ApiPath(org): ApiPath<String>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Response {
    let mut query = query.map(|Query(q)| q).unwrap_or_default();
    let org = match person.org(&state, &org).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let mut csv = String::from("time,actor,action,target_kind,target_id,details\r\n");
    let mut rows = 0;
    let mut truncated = false;
    query.cursor = None;
    loop {
        let answer = audit_log(
            State(state.clone()),
            person.authed.clone(),
            ApiPath(org.slug().to_owned()),
            ApiQuery(query.params(1000)),
        )
        .await;
        let list = match answer {
            Ok(list) => list.0,
            Err(e) if e.code == "forbidden" || e.code == "not_found" => {
                return forbidden_page(&state)
            }
            Err(e) => return super::shell::message_page(&state, e.status, &sentence(&e)),
        };
        for e in &list.items {
            for (i, field) in [
                e.at.to_rfc3339(),
                actor_text(e),
                e.action.clone(),
                e.target_kind.clone().unwrap_or_default(),
                e.target_id.map(|t| t.to_string()).unwrap_or_default(),
                e.details.to_string(),
            ]
            .iter()
            .enumerate()
            {
                if i > 0 {
                    csv.push(',');
                }
                csv_field(&mut csv, field);
            }
            csv.push_str("\r\n");
            rows += 1;
        }
        match list.next_cursor {
            Some(c) if rows < EXPORT_LIMIT => query.cursor = Some(c),
            Some(_) => {
                truncated = true;
                break;
            }
            None => break,
        }
    }
    if truncated {
        // The file says where it stopped: narrow the period to export the rest.
        csv.push_str(&format!(
            "\"\",\"\",\"export.truncated\",\"\",\"\",\"{{\"\"rows\"\":{rows}}}\"\r\n"
        ));
    }
    let name = format!("attachment; filename=\"audit-{}.csv\"", org.slug());
    let mut response = csv.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&name) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        let mut out = String::new();
        csv_field(&mut out, "say \"hi\"");
        assert_eq!(out, "\"say \"\"hi\"\"\"");
        for evil in ["=HYPERLINK(\"x\")", "+1", "-1", "@SUM(A1)"] {
            let mut out = String::new();
            csv_field(&mut out, evil);
            assert!(out.starts_with("\"'"), "{out}");
        }
    }
}
