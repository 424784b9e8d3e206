//! Roster's domain: the model, its rules, the use cases and the ports they run on.
//!
//! Core knows no HTTP and no SQL. The web edge turns requests into use-case calls; the
//! store crates implement [`store::Store`]; the mail crate renders and delivers
//! [`model::Notice`]s from the outbox.

pub mod access;
pub mod clock;
pub mod email;
pub mod ids;
pub mod model;
pub mod names;
pub mod passwords;
pub mod roster;
pub mod secrets;
pub mod store;
pub mod usecases;

pub use roster::{Links, Roster};
