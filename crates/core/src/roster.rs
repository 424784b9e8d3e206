//! [`Roster`]: the use cases and the ports they run on. The web edge, the command line and
//! tests all drive Roster through this one type.

use crate::access::{Catalog, DefinitionsCache};
use crate::clock::Clock;
use crate::passwords::Passwords;
use crate::secrets::Secret;
use crate::store::Store;
use std::sync::Arc;

/// Builds the links that go into emails and command-line output. Only the configured public
/// URL is ever used as a base, never a request's `Host` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Links {
    base: String,
}

impl Links {
    /// `base` is an absolute http(s) URL; a trailing slash is dropped.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn invitation(&self, token: &Secret) -> String {
        format!("{}/invitations/{}", self.base, token.expose())
    }

    pub fn password_reset(&self, token: &Secret) -> String {
        format!("{}/password-reset/{}", self.base, token.expose())
    }

    pub fn email_change(&self, token: &Secret) -> String {
        format!("{}/email-change/{}", self.base, token.expose())
    }

    /// The organization's page: where a person lands after joining.
    pub fn org(&self, slug: &crate::names::Slug) -> String {
        format!("{}/orgs/{}", self.base, slug.as_str())
    }

    pub fn sign_in(&self) -> String {
        format!("{}/sign-in", self.base)
    }
}

/// Work a request starts but does not wait for, so its answer cannot reveal how much work
/// there was (a *Forgot password* request for a known address issues a link; one for an
/// unknown address does not). [`Background::settle`] waits for all of it: at shutdown, and
/// in tests before they look at the outbox.
#[derive(Clone, Default)]
pub struct Background {
    tasks: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Background {
    pub fn spawn(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(work);
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.retain(|t| !t.is_finished());
            tasks.push(handle);
        }
    }

    /// Waits until every task spawned so far (and any they spawn) has finished.
    pub async fn settle(&self) {
        loop {
            let pending: Vec<_> = match self.tasks.lock() {
                Ok(mut tasks) => tasks.drain(..).collect(),
                Err(_) => return,
            };
            if pending.is_empty() {
                return;
            }
            for task in pending {
                let _ = task.await;
            }
        }
    }
}

#[derive(Clone)]
pub struct Roster {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub passwords: Passwords,
    pub links: Links,
    pub background: Background,
    /// Every permission this deployment knows: Roster's own and the host product's.
    pub catalog: Arc<Catalog>,
    /// Each organization's custom roles and groups as last read, checked against the
    /// version read with every membership.
    pub definitions: Arc<DefinitionsCache>,
}

impl Roster {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, links: Links) -> Self {
        let hashers = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            store,
            clock,
            passwords: Passwords::new(hashers),
            links,
            background: Background::default(),
            catalog: Arc::new(Catalog::roster_only()),
            definitions: Arc::new(DefinitionsCache::new()),
        }
    }

    /// Uses a catalog with the host product's permissions.
    pub fn with_catalog(mut self, catalog: Catalog) -> Self {
        self.catalog = Arc::new(catalog);
        self
    }
}
