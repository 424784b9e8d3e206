//! Tasks (host products post and close an organization's outstanding work items with
//! `tasks.write`), the organization's task categories, and each member's notification
//! settings (seed 002, *Manage notifications*): how often the digest of open tasks comes
//! and which categories it lists.

use super::bodies::{present, ListParams};
use super::members::{member_error, member_id, org_view};
use super::orgs::{cursor_of, org_grant, page_request};
use crate::auth::Authed;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, Problem};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use roster_core::ids::{CustomerId, MembershipId, TaskId};
use roster_core::model::{DigestFrequency, Permission, Task, TaskCategory, TaskFilter, TaskStatus};
use roster_core::usecases::notifications::{NotificationSettings, PrefsInput};
use roster_core::usecases::tasks::{NewTask, TaskPatch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct TaskBody {
    pub id: Uuid,
    pub category: String,
    pub title: String,
    pub url: Option<String>,
    pub customer_id: Option<Uuid>,
    /// The member it is assigned to; only their digest lists it.
    pub assignee_id: Option<Uuid>,
    /// `open` or `done`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl From<&Task> for TaskBody {
    fn from(t: &Task) -> Self {
        Self {
            id: t.id.as_uuid(),
            category: t.category.clone(),
            title: t.title.clone(),
            url: t.url.clone(),
            customer_id: t.customer_id.map(|c| c.as_uuid()),
            assignee_id: t.assignee_id.map(|m| m.as_uuid()),
            status: t.status.as_str().to_owned(),
            created_at: t.created_at,
            updated_at: t.updated_at,
            closed_at: t.closed_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TaskList {
    pub items: Vec<TaskBody>,
    pub next_cursor: Option<String>,
    pub total: u64,
}

/// A task to post. The category is created on first use.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTaskRequest {
    /// Key of the task's category: 1–64 of `a-z 0-9 . _ -`, e.g. `renewals`.
    pub category: String,
    /// What members read for the category; sets or replaces its label.
    pub category_label: Option<String>,
    /// One line, at most 200 characters.
    pub title: String,
    /// Where the work is done: an absolute `http`/`https` URL.
    pub url: Option<String>,
    /// A customer of the organization; only members who may see it get the task.
    pub customer_id: Option<Uuid>,
    /// A member of the organization; only their digest lists it.
    pub assignee_id: Option<Uuid>,
}

/// Changes to a task; absent fields stay as they are, `url: null` clears the link.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskPatchRequest {
    /// `open` or `done`.
    pub status: Option<String>,
    pub title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub url: Option<Option<String>>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TaskListParams {
    /// 1–200, default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `open` or `done`.
    pub status: Option<String>,
    pub category: Option<String>,
    /// Customer id.
    pub customer: Option<String>,
    /// Membership id.
    pub assignee: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TaskCategoryBody {
    pub key: String,
    pub label: String,
}

impl From<&TaskCategory> for TaskCategoryBody {
    fn from(c: &TaskCategory) -> Self {
        Self {
            key: c.key.clone(),
            label: c.label.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TaskCategoryList {
    pub items: Vec<TaskCategoryBody>,
}

fn status_of(s: &str) -> Result<TaskStatus, ApiError> {
    TaskStatus::parse(s).map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))
}

/// Posts a task for the organization's digests.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/tasks", tag = "tasks", request_body = NewTaskRequest,
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug")),
    responses(
        (status = 201, body = TaskBody),
        (status = 400, description = "`invalid_body`, `malformed_json`, `unknown_customer`, `unknown_member`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `tasks.write`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_task(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
    ApiJson(body): ApiJson<NewTaskRequest>,
) -> Result<(StatusCode, Json<TaskBody>), ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::TasksWrite).await?;
    let task = state
        .roster
        .create_task(
            &grant,
            NewTask {
                category: body.category,
                category_label: body.category_label,
                title: body.title,
                url: body.url,
                customer_id: body.customer_id.map(CustomerId::from_uuid),
                assignee_id: body.assignee_id.map(MembershipId::from_uuid),
            },
        )
        .await
        .map_err(member_error)?;
    Ok((StatusCode::CREATED, Json((&task).into())))
}

/// The organization's tasks, oldest first, filtered.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/tasks", tag = "tasks",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug"), TaskListParams),
    responses(
        (status = 200, body = TaskList),
        (status = 400, description = "`invalid_query`, `invalid_cursor`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `tasks.write`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_tasks(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
    ApiQuery(params): ApiQuery<TaskListParams>,
) -> Result<Json<TaskList>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::TasksWrite).await?;
    let bad = |what: &str| ApiError::bad_request("invalid_query", format!("{what} is not valid."));
    let filter = TaskFilter {
        status: params
            .status
            .as_deref()
            .map(|s| TaskStatus::parse(s).map_err(|_| bad("status (open or done)")))
            .transpose()?,
        category: params
            .category
            .clone()
            .map(|c| {
                roster_core::model::valid_category_key(&c)
                    .then_some(c)
                    .ok_or_else(|| bad("category"))
            })
            .transpose()?,
        customer: params
            .customer
            .as_deref()
            .map(|c| c.parse::<CustomerId>().map_err(|_| bad("customer")))
            .transpose()?,
        assignee: params
            .assignee
            .as_deref()
            .map(|m| m.parse::<MembershipId>().map_err(|_| bad("assignee")))
            .transpose()?,
    };
    let page = page_request(&ListParams {
        limit: params.limit,
        cursor: params.cursor.clone(),
    })?;
    let page = state.roster.list_tasks(&grant, &filter, page).await?;
    Ok(Json(TaskList {
        items: page.items.iter().map(TaskBody::from).collect(),
        next_cursor: cursor_of(page.next_after),
        total: page.total,
    }))
}

/// One task.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/tasks/{task}", tag = "tasks",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug"),
           ("task" = String, Path, description = "task id")),
    responses(
        (status = 200, body = TaskBody),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `tasks.write`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_task(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, task)): ApiPath<(String, String)>,
) -> Result<Json<TaskBody>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::TasksWrite).await?;
    let id = task.parse::<TaskId>().map_err(|_| ApiError::not_found())?;
    let task = state
        .roster
        .task(&grant, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json((&task).into()))
}

/// Closes (`status: done`), reopens or edits a task.
#[utoipa::path(patch, path = "/api/v1/orgs/{org}/tasks/{task}", tag = "tasks", request_body = TaskPatchRequest,
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug"),
           ("task" = String, Path, description = "task id")),
    responses(
        (status = 200, body = TaskBody),
        (status = 400, description = "`invalid_body`, `malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `tasks.write`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_task(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, task)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<TaskPatchRequest>,
) -> Result<Json<TaskBody>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::TasksWrite).await?;
    let id = task.parse::<TaskId>().map_err(|_| ApiError::not_found())?;
    let patch = TaskPatch {
        status: body.status.as_deref().map(status_of).transpose()?,
        title: body.title,
        url: body.url,
    };
    let task = state
        .roster
        .update_task(&grant, id, patch)
        .await
        .map_err(member_error)?;
    Ok(Json((&task).into()))
}

/// The organization's task categories: what members choose from for their digests.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/task-categories", tag = "tasks",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug")),
    responses(
        (status = 200, body = TaskCategoryList),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn task_categories(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<TaskCategoryList>, ApiError> {
    let view = org_view(&state, &authed, &org).await?;
    let items = state.roster.task_categories(&view).await?;
    Ok(Json(TaskCategoryList {
        items: items.iter().map(TaskCategoryBody::from).collect(),
    }))
}

/// A member's notification settings.
#[derive(Serialize, ToSchema)]
pub struct NotificationsBody {
    /// `daily` (08:00) or `weekly` (Monday 08:00), in the member's time zone.
    pub frequency: String,
    /// The categories the digest lists now; empty means no digest.
    pub categories: Vec<String>,
    /// True until the member chooses: every category, including ones added later.
    pub all_categories: bool,
    /// The organization's categories to choose from.
    pub available_categories: Vec<TaskCategoryBody>,
}

impl From<&NotificationSettings> for NotificationsBody {
    fn from(s: &NotificationSettings) -> Self {
        Self {
            frequency: s.prefs.frequency.as_str().to_owned(),
            categories: s.effective_categories(),
            all_categories: s.prefs.categories.is_none(),
            available_categories: s.available.iter().map(TaskCategoryBody::from).collect(),
        }
    }
}

/// New notification settings: a frequency and either the categories (an empty list for no
/// digest) or `all_categories: true`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationsRequest {
    /// `daily` or `weekly`.
    pub frequency: String,
    pub categories: Option<Vec<String>>,
    pub all_categories: Option<bool>,
}

impl NotificationsRequest {
    fn input(self) -> Result<PrefsInput, ApiError> {
        let frequency = DigestFrequency::parse(&self.frequency)
            .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
        let categories = match (self.categories, self.all_categories) {
            (Some(c), None | Some(false)) => Some(c),
            (None, Some(true)) => None,
            (Some(_), Some(true)) => {
                return Err(ApiError::bad_request(
                    "invalid_body",
                    "Give either categories or all_categories: true, not both.",
                ))
            }
            (None, _) => {
                return Err(ApiError::bad_request(
                    "invalid_body",
                    "Give categories (an empty list for no digest) or all_categories: true.",
                ))
            }
        };
        Ok(PrefsInput {
            frequency,
            categories,
        })
    }
}

/// A member's notification settings (seed 002, *Manage notifications*). Every member
/// reads their own (`me`); others' take `users.read`.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/members/{member}/notifications", tag = "members",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug"),
           ("member" = String, Path, description = "membership id, or `me`")),
    responses(
        (status = 200, body = NotificationsBody),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `users.read` for another member", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_notifications(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, member)): ApiPath<(String, String)>,
) -> Result<Json<NotificationsBody>, ApiError> {
    let (view, id) = super::members::member_view(&state, &authed, &org, &member).await?;
    let settings = state
        .roster
        .notification_settings(&view, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json((&settings).into()))
}

/// Sets a member's notification settings. Every member sets their own (`me`); others'
/// take `users.manage` over them.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/members/{member}/notifications", tag = "members",
    request_body = NotificationsRequest,
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug"),
           ("member" = String, Path, description = "membership id, or `me`")),
    responses(
        (status = 200, body = NotificationsBody),
        (status = 400, description = "`invalid_body`, `malformed_json`, `unknown_category`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `users.manage` for another member", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_notifications(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, member)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<NotificationsRequest>,
) -> Result<Json<NotificationsBody>, ApiError> {
    let settings = if member == "me" {
        let view = org_view(&state, &authed, &org).await?;
        let input = body.input()?;
        state
            .roster
            .set_own_notification_settings(&view, &authed.caller, input)
            .await
    } else {
        let grant = org_grant(&state, &authed, &org, Permission::UsersManage).await?;
        let id = member_id(&state, &authed, grant.org_id(), &member).await?;
        let input = body.input()?;
        state
            .roster
            .set_notification_settings(&grant, &authed.caller, id, input)
            .await
    }
    .map_err(member_error)?;
    Ok(Json((&settings).into()))
}
