//! Where rendered messages go. `file:DIR` (the embedded default) writes one `.eml` per
//! message, named by its outbox id, so a retried delivery overwrites rather than
//! duplicates; `log` records that a message went out without its body, because bodies carry
//! live links. SMTP arrives with the email work.

use lettre::Message;
use roster_core::ids::OutboxId;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailSpec {
    File(PathBuf),
    Log,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MailSpecError {
    #[error("'file:' needs a directory, e.g. file:./roster-data/mail")]
    EmptyDir,
    #[error("SMTP delivery is not available in this version; use file:DIR or log")]
    SmtpUnsupported,
    #[error("unknown mail transport '{0}'; expected file:DIR or log")]
    Unknown(String),
}

impl MailSpec {
    pub fn parse(s: &str) -> Result<Self, MailSpecError> {
        let s = s.trim();
        if s == "log" {
            return Ok(MailSpec::Log);
        }
        if let Some(dir) = s.strip_prefix("file:") {
            if dir.is_empty() {
                return Err(MailSpecError::EmptyDir);
            }
            return Ok(MailSpec::File(PathBuf::from(dir)));
        }
        if s.starts_with("smtp://") || s.starts_with("smtps://") {
            return Err(MailSpecError::SmtpUnsupported);
        }
        Err(MailSpecError::Unknown(s.to_owned()))
    }
}

impl std::fmt::Display for MailSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MailSpec::File(dir) => write!(f, "file:{}", dir.display()),
            MailSpec::Log => f.write_str("log"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryError(pub String);

#[derive(Clone, Debug)]
pub enum Transport {
    File(PathBuf),
    Log,
}

/// The file a message delivered by the file transport lives in.
pub fn eml_path(dir: &Path, id: OutboxId) -> PathBuf {
    dir.join(format!("{id}.eml"))
}

impl Transport {
    pub fn from_spec(spec: &MailSpec) -> Self {
        match spec {
            MailSpec::File(dir) => Transport::File(dir.clone()),
            MailSpec::Log => Transport::Log,
        }
    }

    pub async fn deliver(&self, id: OutboxId, message: &Message) -> Result<(), DeliveryError> {
        match self {
            Transport::File(dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| DeliveryError(format!("cannot create {}: {e}", dir.display())))?;
                // Write then rename, so a reader never sees half a message.
                let path = eml_path(dir, id);
                let tmp = dir.join(format!(".{id}.eml.tmp"));
                tokio::fs::write(&tmp, message.formatted())
                    .await
                    .map_err(|e| DeliveryError(format!("cannot write {}: {e}", tmp.display())))?;
                tokio::fs::rename(&tmp, &path)
                    .await
                    .map_err(|e| DeliveryError(format!("cannot write {}: {e}", path.display())))?;
                Ok(())
            }
            Transport::Log => {
                let headers = message.headers();
                tracing::info!(
                    outbox_id = %id,
                    to = headers.get_raw("To").unwrap_or_default(),
                    subject = headers.get_raw("Subject").unwrap_or_default(),
                    "email delivered to the log transport (body withheld: it may hold a live link)"
                );
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(MailSpec::parse("log"), Ok(MailSpec::Log));
        assert_eq!(
            MailSpec::parse("file:/var/spool/roster"),
            Ok(MailSpec::File("/var/spool/roster".into()))
        );
        assert_eq!(MailSpec::parse("file:"), Err(MailSpecError::EmptyDir));
        assert_eq!(
            MailSpec::parse("smtp://h:25"),
            Err(MailSpecError::SmtpUnsupported)
        );
        assert!(matches!(
            MailSpec::parse("carrier-pigeon"),
            Err(MailSpecError::Unknown(_))
        ));
    }
}
