//! Tasks: the outstanding work items host products post for an organization
//! (`tasks.write`), and the input of notification digests. A task names a category (the
//! organization learns its categories from the tasks posted), optionally a customer, whose
//! visibility rules then apply, and optionally the member it is assigned to.
//!
//! Tasks are not audited one by one: host products post and close them in bulk, and they
//! grant nothing. The audit log keeps to changes of access.

use super::members::MemberError;
use crate::access::OrgGrant;
use crate::ids::{CustomerId, MembershipId, TaskId};
use crate::model::{
    valid_category_key, MembershipStatus, Page, PageRequest, Permission, Task, TaskCategory,
    TaskFilter, TaskStatus,
};
use crate::roster::Roster;
use crate::store::{StoreError, Tx};

/// A task as posted.
#[derive(Clone, Debug, Default)]
pub struct NewTask {
    pub category: String,
    /// The category's label, when the host product names it; the key otherwise.
    pub category_label: Option<String>,
    pub title: String,
    pub url: Option<String>,
    pub customer_id: Option<CustomerId>,
    pub assignee_id: Option<MembershipId>,
}

/// Changes to a task; absent fields stay as they are.
#[derive(Clone, Debug, Default)]
pub struct TaskPatch {
    pub status: Option<TaskStatus>,
    pub title: Option<String>,
    /// `Some(None)` clears it.
    pub url: Option<Option<String>>,
}

fn clean_text(what: &str, value: &str, max: usize) -> Result<String, MemberError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(MemberError::Invalid(format!("give the task a {what}")));
    }
    if value.chars().count() > max {
        return Err(MemberError::Invalid(format!(
            "a task {what} has at most {max} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(MemberError::Invalid(format!(
            "a task {what} is one line of text"
        )));
    }
    Ok(value.to_owned())
}

/// Digests show the link: only absolute `http`/`https` URLs, so an email never carries a
/// `javascript:` or `data:` link.
fn clean_url(url: &str) -> Result<String, MemberError> {
    let bad = || MemberError::Invalid("url must be an absolute http or https URL".into());
    let url = url.trim();
    if url.len() > 2000 {
        return Err(MemberError::Invalid(
            "url has at most 2000 characters".into(),
        ));
    }
    let parsed = url::Url::parse(url).map_err(|_| bad())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(bad());
    }
    Ok(parsed.to_string())
}

fn tasks_grant(grant: &OrgGrant) -> Result<(), MemberError> {
    if grant.permission() == Permission::TasksWrite {
        Ok(())
    } else {
        Err(MemberError::Forbidden)
    }
}

async fn check_refs(tx: &mut dyn Tx, task: &Task) -> Result<(), MemberError> {
    if let Some(customer) = task.customer_id {
        if tx.customer(task.org_id, customer).await?.is_none() {
            return Err(MemberError::UnknownReference {
                what: "customer",
                id: customer.to_string(),
            });
        }
    }
    if let Some(member) = task.assignee_id {
        let live = tx
            .membership(task.org_id, member)
            .await?
            .is_some_and(|m| m.status != MembershipStatus::Removed);
        if !live {
            return Err(MemberError::UnknownReference {
                what: "member",
                id: member.to_string(),
            });
        }
    }
    Ok(())
}

impl Roster {
    pub async fn create_task(&self, grant: &OrgGrant, new: NewTask) -> Result<Task, MemberError> {
        tasks_grant(grant)?;
        let category = new.category.trim().to_owned();
        if !valid_category_key(&category) {
            return Err(MemberError::Invalid(
                "category must be 1 to 64 of a-z, 0-9, '.', '_' and '-', e.g. renewals".into(),
            ));
        }
        let label = new
            .category_label
            .as_deref()
            .map(|l| clean_text("category label", l, 100))
            .transpose()?;
        let now = self.clock.now();
        let task = Task {
            id: TaskId::new(),
            org_id: grant.org_id(),
            category: category.clone(),
            title: clean_text("title", &new.title, 200)?,
            url: new.url.as_deref().map(clean_url).transpose()?,
            customer_id: new.customer_id,
            assignee_id: new.assignee_id,
            status: TaskStatus::Open,
            created_at: now,
            updated_at: now,
            closed_at: None,
        };
        let mut tx = self.store.begin().await?;
        check_refs(&mut *tx, &task).await?;
        tx.put_task_category(
            task.org_id,
            &TaskCategory {
                key: category.clone(),
                label: label.clone().unwrap_or(category),
                created_at: now,
            },
            label.is_some(),
        )
        .await?;
        tx.insert_task(&task).await?;
        tx.commit().await?;
        Ok(task)
    }

    pub async fn update_task(
        &self,
        grant: &OrgGrant,
        id: TaskId,
        patch: TaskPatch,
    ) -> Result<Task, MemberError> {
        tasks_grant(grant)?;
        let title = patch
            .title
            .as_deref()
            .map(|t| clean_text("title", t, 200))
            .transpose()?;
        let url = match patch.url {
            None => None,
            Some(None) => Some(None),
            Some(Some(u)) => Some(Some(clean_url(&u)?)),
        };
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let before = tx
            .task(grant.org_id(), id)
            .await?
            .ok_or(MemberError::NotFound)?;
        let mut after = before.clone();
        if let Some(title) = title {
            after.title = title;
        }
        if let Some(url) = url {
            after.url = url;
        }
        if let Some(status) = patch.status {
            if status != before.status {
                after.status = status;
                after.closed_at = (status == TaskStatus::Done).then_some(now);
            }
        }
        if after == before {
            return Ok(before);
        }
        after.updated_at = now;
        if !tx.update_task(&after).await? {
            return Err(MemberError::NotFound);
        }
        tx.commit().await?;
        Ok(after)
    }

    pub async fn task(&self, grant: &OrgGrant, id: TaskId) -> Result<Option<Task>, StoreError> {
        if grant.permission() != Permission::TasksWrite {
            return Ok(None);
        }
        self.store.reads().await?.task(grant.org_id(), id).await
    }

    pub async fn list_tasks(
        &self,
        grant: &OrgGrant,
        filter: &TaskFilter,
        page: PageRequest,
    ) -> Result<Page<Task>, StoreError> {
        if grant.permission() != Permission::TasksWrite {
            return Ok(Page {
                items: Vec::new(),
                next_after: None,
                total: 0,
                total_capped: false,
            });
        }
        self.store
            .reads()
            .await?
            .list_tasks(grant.org_id(), filter, page)
            .await
    }

    /// The organization's task categories: what members choose from for their digests.
    pub async fn task_categories(
        &self,
        view: &crate::access::OrgView,
    ) -> Result<Vec<TaskCategory>, StoreError> {
        self.store
            .reads()
            .await?
            .task_categories(view.org_id())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_http_only() {
        assert_eq!(
            clean_url(" https://portal.example.com/tasks/7 ").unwrap(),
            "https://portal.example.com/tasks/7"
        );
        for bad in [
            "javascript:alert(1)",
            "data:text/html,hi",
            "/tasks/7",
            "ftp://x.example.com/",
            "https://",
        ] {
            assert!(clean_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn titles_are_one_bounded_line() {
        assert_eq!(clean_text("title", "  Renew  ", 200).unwrap(), "Renew");
        assert!(clean_text("title", " ", 200).is_err());
        assert!(clean_text("title", "a\nb", 200).is_err());
        assert!(clean_text("title", &"x".repeat(201), 200).is_err());
    }
}
