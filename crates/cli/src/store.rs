//! Picks and opens the store the configuration names. Every command goes through here, so
//! the CLI always acts on the same store a running server uses.

use crate::config::{Config, Database};
use anyhow::Context;
use roster_core::store::Store;
use roster_store_postgres::PostgresStore;
use roster_store_sqlite::SqliteStore;
use std::sync::Arc;

/// Opens the store and brings its schema up to date.
pub async fn open(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let store: Arc<dyn Store> = match &config.database {
        Database::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| {
                    format!("cannot create the data directory {}", dir.display())
                })?;
            }
            let s = SqliteStore::open(path)
                .await
                .with_context(|| format!("cannot open {}", path.display()))?;
            s.migrate().await?;
            Arc::new(s)
        }
        Database::SqliteUrl(url) => {
            let s = SqliteStore::open_url(url)
                .await
                .context("cannot open the SQLite database")?;
            s.migrate().await?;
            Arc::new(s)
        }
        Database::Postgres(url) => {
            let s = PostgresStore::connect(url)
                .await
                .context("cannot connect to PostgreSQL")?;
            s.migrate().await?;
            Arc::new(s)
        }
    };
    Ok(store)
}
