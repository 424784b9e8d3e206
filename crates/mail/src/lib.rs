//! Roster's email: notices rendered from embedded templates, transports that deliver them,
//! and the outbox worker that moves messages from the store to a transport.

pub mod render;
pub mod transport;
pub mod worker;

pub use lettre::message::Mailbox;
pub use render::{build_message, MessageSettings, RenderError};
pub use transport::{MailSpec, MailSpecError, Transport};
pub use worker::{OutboxWorker, WorkerSettings};
