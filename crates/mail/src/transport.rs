//! Where rendered messages go.
//!
//! - `smtp://[user[:password]@]host[:port][?tls=required&timeout=SECONDS&ca_file=PATH]`:
//!   SMTP with STARTTLS whenever the server offers it (`tls=required` refuses a server that
//!   does not), port 587 by default.
//! - `smtps://…`: SMTP inside TLS from the first byte, port 465 by default.
//! - `file:DIR` (the embedded default) writes one `.eml` per message, named by its outbox id,
//!   so a retried delivery overwrites rather than duplicates.
//! - `log` records that a message went out without its body, because bodies carry live links.
//!
//! The password never appears in `Display` or `Debug`; it can also come from a file
//! (`ROSTER_MAIL_PASSWORD_FILE`), which keeps it out of the process list and the config file.

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use roster_core::ids::OutboxId;
use roster_core::secrets::Secret;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailSpec {
    File(PathBuf),
    Log,
    Smtp(SmtpSpec),
}

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://`: STARTTLS when the server offers it, plain otherwise; required whenever
    /// a user is given, so a password never travels in clear (nor to a server that
    /// pretends not to offer STARTTLS).
    StartTlsWhenOffered,
    /// `smtp://…?tls=required`: STARTTLS or no delivery.
    StartTlsRequired,
    /// `smtps://`: TLS from the first byte.
    ImplicitTls,
}

#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSpec {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// An extra root certificate (PEM) to trust, for relays behind a private CA.
    pub ca_file: Option<PathBuf>,
    /// Connecting; a whole delivery (greeting, TLS, commands, data) gives up after three
    /// times this, so a stuck server never holds a worker.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MailSpecError {
    #[error("'file:' needs a directory, e.g. file:./roster-data/mail")]
    EmptyDir,
    #[error("unknown mail transport '{0}'; expected smtp://HOST[:PORT], smtps://HOST[:PORT], file:DIR or log")]
    Unknown(String),
    #[error("not a valid SMTP URL: {0}")]
    BadUrl(String),
    #[error("unknown SMTP option '{0}'; expected tls, timeout or ca_file")]
    UnknownOption(String),
    #[error("tls must be 'required' (smtp://) or left out; smtps:// is always TLS")]
    BadTls,
    #[error("timeout must be a number of seconds between 1 and 600")]
    BadTimeout,
    #[error("a password needs a user name, e.g. smtp://USER:PASSWORD@HOST")]
    PasswordWithoutUser,
    #[error("the password is given twice, in the URL and in ROSTER_MAIL_PASSWORD_FILE; keep one")]
    PasswordTwice,
    #[error("ROSTER_MAIL_PASSWORD_FILE is set but the mail transport is not smtp:// or smtps://")]
    PasswordWithoutSmtp,
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
            return SmtpSpec::parse(s).map(MailSpec::Smtp);
        }
        // Never echo what might be a mistyped URL with a password in it.
        let shown = if s.contains('@') { "…" } else { s };
        Err(MailSpecError::Unknown(shown.to_owned()))
    }

    /// Sets the SMTP password (from `ROSTER_MAIL_PASSWORD_FILE`).
    pub fn with_password(self, password: Secret) -> Result<Self, MailSpecError> {
        match self {
            MailSpec::Smtp(mut spec) => {
                if spec.user.is_none() {
                    return Err(MailSpecError::PasswordWithoutUser);
                }
                if spec.password.is_some() {
                    return Err(MailSpecError::PasswordTwice);
                }
                spec.password = Some(password);
                Ok(MailSpec::Smtp(spec))
            }
            _ => Err(MailSpecError::PasswordWithoutSmtp),
        }
    }
}

impl SmtpSpec {
    fn parse(s: &str) -> Result<Self, MailSpecError> {
        let url = Url::parse(s).map_err(|e| MailSpecError::BadUrl(e.to_string()))?;
        let implicit = url.scheme() == "smtps";
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| MailSpecError::BadUrl("it needs a host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if !matches!(url.path(), "" | "/") {
            return Err(MailSpecError::BadUrl("it has no path".into()));
        }
        let decode = |raw: &str| {
            percent_decode(raw).ok_or_else(|| {
                MailSpecError::BadUrl(
                    "the user or password is not valid percent-encoded UTF-8".into(),
                )
            })
        };
        let user = (!url.username().is_empty())
            .then(|| decode(url.username()))
            .transpose()?;
        let password = url
            .password()
            .map(|p| decode(p).map(Secret::presented))
            .transpose()?;
        if password.is_some() && user.is_none() {
            return Err(MailSpecError::PasswordWithoutUser);
        }
        let mut security = if implicit {
            SmtpSecurity::ImplicitTls
        } else {
            SmtpSecurity::StartTlsWhenOffered
        };
        let mut timeout = Duration::from_secs(30);
        let mut ca_file = None;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "tls" => match (value.as_ref(), implicit) {
                    ("required", false) => security = SmtpSecurity::StartTlsRequired,
                    _ => return Err(MailSpecError::BadTls),
                },
                "timeout" => {
                    let secs: u64 = value.parse().map_err(|_| MailSpecError::BadTimeout)?;
                    if !(1..=600).contains(&secs) {
                        return Err(MailSpecError::BadTimeout);
                    }
                    timeout = Duration::from_secs(secs);
                }
                "ca_file" if !value.is_empty() => ca_file = Some(PathBuf::from(value.as_ref())),
                other => return Err(MailSpecError::UnknownOption(other.to_owned())),
            }
        }
        Ok(SmtpSpec {
            port: url.port().unwrap_or(if implicit { 465 } else { 587 }),
            host,
            security,
            user,
            password,
            ca_file,
            timeout,
        })
    }
}

/// Percent-decodes a URL's user or password part.
fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl std::fmt::Display for SmtpSpec {
    /// The URL with the password masked: safe for logs and error messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match self.security {
            SmtpSecurity::ImplicitTls => "smtps",
            _ => "smtp",
        };
        write!(f, "{scheme}://")?;
        if let Some(user) = &self.user {
            write!(f, "{user}")?;
            if self.password.is_some() {
                f.write_str(":***")?;
            }
            f.write_str("@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{}:{}", self.host, self.port)?;
        }
        let mut options = Vec::new();
        if self.security == SmtpSecurity::StartTlsRequired {
            options.push("tls=required".to_owned());
        }
        if self.timeout != Duration::from_secs(30) {
            options.push(format!("timeout={}", self.timeout.as_secs()));
        }
        if let Some(ca) = &self.ca_file {
            options.push(format!("ca_file={}", ca.display()));
        }
        if !options.is_empty() {
            write!(f, "?{}", options.join("&"))?;
        }
        Ok(())
    }
}

impl std::fmt::Display for MailSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MailSpec::File(dir) => write!(f, "file:{}", dir.display()),
            MailSpec::Log => f.write_str("log"),
            MailSpec::Smtp(spec) => write!(f, "{spec}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryError(pub String);

/// A transport that could not be set up from its spec (start-up refuses to run).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

#[derive(Clone)]
pub enum Transport {
    File(PathBuf),
    Log,
    Smtp {
        mailer: AsyncSmtpTransport<Tokio1Executor>,
        /// Where it goes, password masked, for errors.
        shown: String,
        /// The most one delivery may take. lettre's own timeout covers connecting only.
        deadline: Duration,
    },
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::File(dir) => write!(f, "File({})", dir.display()),
            Transport::Log => f.write_str("Log"),
            Transport::Smtp { shown, .. } => write!(f, "Smtp({shown})"),
        }
    }
}

/// The file a message delivered by the file transport lives in.
pub fn eml_path(dir: &Path, id: OutboxId) -> PathBuf {
    dir.join(format!("{id}.eml"))
}

impl Transport {
    /// Builds the transport. `hello_name` is the name Roster gives itself in `EHLO` (the
    /// public URL's host). Fails on an unreadable or invalid `ca_file`.
    pub fn from_spec(spec: &MailSpec, hello_name: &str) -> Result<Self, TransportError> {
        Ok(match spec {
            MailSpec::File(dir) => Transport::File(dir.clone()),
            MailSpec::Log => Transport::Log,
            MailSpec::Smtp(smtp) => Transport::Smtp {
                mailer: smtp_mailer(smtp, hello_name)?,
                shown: smtp.to_string(),
                deadline: smtp.timeout * 3,
            },
        })
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
            Transport::Smtp {
                mailer,
                shown,
                deadline,
            } => match tokio::time::timeout(*deadline, mailer.send(message.clone())).await {
                Ok(Ok(_)) => Ok(()),
                // lettre's errors name the server's reply, never the credentials.
                Ok(Err(e)) => Err(DeliveryError(format!("{shown}: {e}"))),
                Err(_) => Err(DeliveryError(format!(
                    "{shown}: no answer within {} s",
                    deadline.as_secs()
                ))),
            },
        }
    }
}

fn smtp_mailer(
    spec: &SmtpSpec,
    hello_name: &str,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, TransportError> {
    let mut tls = TlsParameters::builder(spec.host.clone());
    if let Some(path) = &spec.ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            TransportError(format!("mail ca_file {}: cannot read: {e}", path.display()))
        })?;
        let cert = Certificate::from_pem(&pem).map_err(|e| {
            TransportError(format!(
                "mail ca_file {}: not a PEM certificate: {e}",
                path.display()
            ))
        })?;
        tls = tls.add_root_certificate(cert);
    }
    let tls = tls
        .build()
        .map_err(|e| TransportError(format!("mail TLS settings: {e}")))?;
    let password = match (&spec.user, &spec.password) {
        (Some(_), None) => return Err(TransportError(
            "mail: the SMTP user has no password; put it in ROSTER_MAIL_PASSWORD_FILE (or the URL)"
                .into(),
        )),
        (_, password) => password.as_ref().map(|p| p.expose().to_owned()),
    };
    // EHLO names the client by domain, or by address literal when the public URL is one.
    let hello = match hello_name
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
    {
        Ok(std::net::IpAddr::V4(ip)) => ClientId::Ipv4(ip),
        Ok(std::net::IpAddr::V6(ip)) => ClientId::Ipv6(ip),
        Err(_) => ClientId::Domain(hello_name.to_owned()),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(spec.host.clone())
        .port(spec.port)
        .timeout(Some(spec.timeout))
        .hello_name(hello)
        .tls(match spec.security {
            // Credentials never go over a connection that STARTTLS did not secure.
            SmtpSecurity::StartTlsWhenOffered if spec.user.is_some() => Tls::Required(tls),
            SmtpSecurity::StartTlsWhenOffered => Tls::Opportunistic(tls),
            SmtpSecurity::StartTlsRequired => Tls::Required(tls),
            SmtpSecurity::ImplicitTls => Tls::Wrapper(tls),
        });
    if let (Some(user), Some(password)) = (&spec.user, password) {
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smtp(s: &str) -> SmtpSpec {
        match MailSpec::parse(s) {
            Ok(MailSpec::Smtp(spec)) => spec,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn specs() {
        assert_eq!(MailSpec::parse("log"), Ok(MailSpec::Log));
        assert_eq!(
            MailSpec::parse("file:/var/spool/roster"),
            Ok(MailSpec::File("/var/spool/roster".into()))
        );
        assert_eq!(MailSpec::parse("file:"), Err(MailSpecError::EmptyDir));
        assert!(matches!(
            MailSpec::parse("carrier-pigeon"),
            Err(MailSpecError::Unknown(_))
        ));
    }

    #[test]
    fn smtp_urls_take_their_defaults_and_options() {
        let s = smtp("smtp://mail.example.com");
        assert_eq!((s.host.as_str(), s.port), ("mail.example.com", 587));
        assert_eq!(s.security, SmtpSecurity::StartTlsWhenOffered);
        assert_eq!((s.user, s.password), (None, None));
        assert_eq!(s.timeout, Duration::from_secs(30));

        let s = smtp("smtps://mail.example.com");
        assert_eq!((s.port, s.security), (465, SmtpSecurity::ImplicitTls));

        let s = smtp("smtp://roster%40example.com:p%40ss%3Aw@relay:2525?tls=required&timeout=5&ca_file=/etc/ca.pem");
        assert_eq!(s.port, 2525);
        assert_eq!(s.security, SmtpSecurity::StartTlsRequired);
        assert_eq!(s.user.as_deref(), Some("roster@example.com"));
        assert_eq!(s.password.as_ref().map(Secret::expose), Some("p@ss:w"));
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert_eq!(s.ca_file, Some(PathBuf::from("/etc/ca.pem")));
    }

    #[test]
    fn the_password_is_never_shown() {
        let spec = MailSpec::parse("smtp://bob:hunter2hunter2@relay:25?tls=required").unwrap();
        for shown in [spec.to_string(), format!("{spec:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("bob:***@relay:25?tls=required"), "{shown}");
        }
        let with_file = MailSpec::parse("smtp://bob@relay")
            .unwrap()
            .with_password(Secret::presented("from-a-file"))
            .unwrap();
        assert!(!format!("{with_file} {with_file:?}").contains("from-a-file"));
        let MailSpec::Smtp(s) = with_file else {
            panic!()
        };
        assert_eq!(
            s.password.map(|p| p.expose().to_owned()).as_deref(),
            Some("from-a-file")
        );
        // A mistyped scheme with credentials is not echoed back either.
        let err = MailSpec::parse("smpt://bob:hunter2@relay")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn bad_smtp_urls_are_refused_with_the_reason() {
        for (url, want) in [
            ("smtp://relay?tls=none", MailSpecError::BadTls),
            ("smtps://relay?tls=required", MailSpecError::BadTls),
            ("smtp://relay?timeout=0", MailSpecError::BadTimeout),
            ("smtp://relay?timeout=soon", MailSpecError::BadTimeout),
            (
                "smtp://relay?pool=9",
                MailSpecError::UnknownOption("pool".into()),
            ),
            ("smtp://:secret@relay", MailSpecError::PasswordWithoutUser),
        ] {
            assert_eq!(MailSpec::parse(url), Err(want), "{url}");
        }
        assert!(matches!(
            MailSpec::parse("smtp://"),
            Err(MailSpecError::BadUrl(_))
        ));
        assert!(matches!(
            MailSpec::parse("smtp://relay/inbox"),
            Err(MailSpecError::BadUrl(_))
        ));
        assert_eq!(
            MailSpec::parse("file:x")
                .unwrap()
                .with_password(Secret::presented("p")),
            Err(MailSpecError::PasswordWithoutSmtp)
        );
        assert_eq!(
            MailSpec::parse("smtp://u:p@relay")
                .unwrap()
                .with_password(Secret::presented("q")),
            Err(MailSpecError::PasswordTwice)
        );
        assert_eq!(
            MailSpec::parse("smtp://relay")
                .unwrap()
                .with_password(Secret::presented("p")),
            Err(MailSpecError::PasswordWithoutUser)
        );
    }

    #[tokio::test]
    async fn a_user_without_a_password_stops_start_up() {
        let spec = MailSpec::parse("smtp://roster@relay").unwrap();
        let err = Transport::from_spec(&spec, "roster.example.com").unwrap_err();
        assert!(err.0.contains("ROSTER_MAIL_PASSWORD_FILE"), "{err}");
        let ok = spec.with_password(Secret::presented("pw")).unwrap();
        assert!(Transport::from_spec(&ok, "127.0.0.1").is_ok());
    }

    #[test]
    fn an_unreadable_ca_file_stops_start_up() {
        let spec = MailSpec::parse("smtp://relay?ca_file=/nonexistent/ca.pem").unwrap();
        let err = Transport::from_spec(&spec, "roster.example.com").unwrap_err();
        assert!(err.0.contains("cannot read"), "{err}");
    }
}
