//! Server-rendered pages. The invitation page arrives with the members work.

use crate::AppState;
use axum::Router;

pub fn routes() -> Router<AppState> {
    Router::new()
}
