//! (placeholder, filled in by its own change)

use crate::AppState;
use axum::Router;
use minijinja::Environment;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
}

pub(super) fn add_templates(_env: &mut Environment<'static>) -> Result<(), minijinja::Error> {
    Ok(())
}
