//! Configuration: defaults, then an optional `roster.toml`, then `ROSTER_*` environment
//! variables, then flags — each later source overriding the earlier. Validated once at
//! start-up; a bad value stops the program with one line naming the setting.

use anyhow::{anyhow, bail};
use clap::Args;
use roster_core::access::{Catalog, HostPermission};
use roster_core::secrets::Secret;
use roster_mail::MailSpec;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// Settings shared by every command that touches the store.
#[derive(Args, Clone, Debug, Default)]
pub struct ConfigArgs {
    /// Configuration file [default: ./roster.toml when it exists]
    #[arg(long, global = true, env = "ROSTER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the SQLite file and the default mail folder live [default: ./roster-data]
    #[arg(long, global = true, env = "ROSTER_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// postgres://… to use PostgreSQL, or sqlite:FILE [default: DATA_DIR/roster.db]
    #[arg(
        long,
        global = true,
        env = "ROSTER_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// The address people reach Roster at; the only base for links in emails [default: http://LISTEN]
    #[arg(long, global = true, env = "ROSTER_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, global = true, env = "ROSTER_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Mail transport: smtp://[USER[:PASSWORD]@]HOST[:PORT][?tls=required], smtps://…,
    /// file:DIR or log [default: file:DATA_DIR/mail]; the password may come from
    /// ROSTER_MAIL_PASSWORD_FILE instead
    #[arg(
        long,
        global = true,
        env = "ROSTER_MAIL",
        value_name = "SPEC",
        hide_env_values = true
    )]
    pub mail: Option<String>,
    /// From header of emails [default: Roster <roster@localhost>]
    #[arg(long, global = true, env = "ROSTER_MAIL_FROM", value_name = "MAILBOX")]
    pub mail_from: Option<String>,
    /// Log format: text or json [default: text]
    #[arg(long, global = true, env = "ROSTER_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Comma-separated addresses of reverse proxies whose X-Forwarded-For is believed for
    /// throttling and sign-in diagnostics [default: none]
    #[arg(
        long,
        global = true,
        env = "ROSTER_TRUSTED_PROXIES",
        value_name = "IPS"
    )]
    pub trusted_proxies: Option<String>,
}

/// The file form. Unknown keys are refused so a typo never silently does nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    public_url: Option<String>,
    listen: Option<String>,
    mail: Option<String>,
    mail_from: Option<String>,
    log_format: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    /// Host products' permission codes, added to the catalog.
    #[serde(default)]
    permissions: Vec<HostPermission>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    SqliteUrl(String),
    Postgres(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub database: Database,
    pub public_url: String,
    pub listen: SocketAddr,
    pub mail: MailSpec,
    pub mail_from: roster_mail::Mailbox,
    pub log_format: LogFormat,
    pub trusted_proxies: Vec<IpAddr>,
    /// Roster's permission codes plus the host products' from the file.
    pub catalog: Catalog,
}

fn load_file(path: &Path, explicit: bool) -> anyhow::Result<FileConfig> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text)
            .map_err(|e| anyhow!("config file {}: {}", path.display(), e.message())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            Ok(FileConfig::default())
        }
        Err(e) => Err(anyhow!("config file {}: {e}", path.display())),
    }
}

/// Reads a secret from the file named by `{var}_FILE`, if set (Docker/Kubernetes secrets).
/// A trailing newline is dropped. The value itself is never printed.
fn secret_from_file(var: &str) -> anyhow::Result<Option<String>> {
    let file_var = format!("{var}_FILE");
    match std::env::var_os(&file_var) {
        None => Ok(None),
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                anyhow!(
                    "{file_var}: cannot read {}: {e}",
                    Path::new(&path).display()
                )
            })?;
            Ok(Some(text.trim_end_matches(['\n', '\r']).to_owned()))
        }
    }
}

impl Config {
    pub fn load(args: &ConfigArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => load_file(path, true)?,
            None => load_file(Path::new("roster.toml"), false)?,
        };
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("roster-data"));

        let listen_raw = args
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_raw
            .parse()
            .map_err(|_| anyhow!("listen (--listen / ROSTER_LISTEN): '{listen_raw}' is not an address like 127.0.0.1:8080"))?;

        let public_raw = args
            .public_url
            .clone()
            .or(file.public_url)
            .unwrap_or_else(|| format!("http://{listen}"));
        let public_url = validate_public_url(&public_raw)?;

        // A flag or ROSTER_DATABASE_URL wins; then ROSTER_DATABASE_URL_FILE; then the file.
        let database_url = match args.database_url.clone() {
            Some(url) => Some(url),
            None => secret_from_file("ROSTER_DATABASE_URL")?.or(file.database_url),
        };
        let database = match database_url {
            None => Database::Sqlite(data_dir.join("roster.db")),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => Database::Postgres(url),
            Some(url) if url.starts_with("sqlite:") => Database::SqliteUrl(url),
            Some(_) => bail!("database_url (--database-url / ROSTER_DATABASE_URL): expected postgres://… or sqlite:…"),
        };

        let mail_raw = args
            .mail
            .clone()
            .or(file.mail)
            .unwrap_or_else(|| format!("file:{}", data_dir.join("mail").display()));
        let mut mail =
            MailSpec::parse(&mail_raw).map_err(|e| anyhow!("mail (--mail / ROSTER_MAIL): {e}"))?;
        // The SMTP password may live in a file of its own, out of the URL and the process list.
        if let Some(password) = secret_from_file("ROSTER_MAIL_PASSWORD")? {
            mail = mail
                .with_password(Secret::presented(password))
                .map_err(|e| anyhow!("ROSTER_MAIL_PASSWORD_FILE: {e}"))?;
        }

        let from_raw = args
            .mail_from
            .clone()
            .or(file.mail_from)
            .unwrap_or_else(|| "Roster <roster@localhost>".into());
        let mail_from = from_raw.parse().map_err(|e| {
            anyhow!("mail_from (--mail-from / ROSTER_MAIL_FROM): '{from_raw}': {e}")
        })?;

        let log_format = match args.log_format.clone().or(file.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => bail!(
                "log_format (--log-format / ROSTER_LOG_FORMAT): '{other}' is not text or json"
            ),
        };

        let proxies_raw: Vec<String> = match args.trusted_proxies.as_deref() {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            None => file.trusted_proxies.unwrap_or_default(),
        };
        let trusted_proxies = proxies_raw
            .iter()
            .map(|p| {
                p.parse::<IpAddr>().map_err(|_| {
                    anyhow!("trusted_proxies (--trusted-proxies / ROSTER_TRUSTED_PROXIES): '{p}' is not an IP address")
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;

        let catalog = Catalog::with_host(&file.permissions)
            .map_err(|e| anyhow!("permissions (roster.toml [[permissions]]): {e}"))?;

        Ok(Self {
            database,
            public_url,
            listen,
            mail,
            mail_from,
            log_format,
            trusted_proxies,
            catalog,
        })
    }

    /// Host part of the public URL, for Message-IDs.
    pub fn public_host(&self) -> String {
        url::Url::parse(&self.public_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "localhost".into())
    }
}

fn validate_public_url(raw: &str) -> anyhow::Result<String> {
    let err = |why: &str| anyhow!("public_url (--public-url / ROSTER_PUBLIC_URL): '{raw}' {why}");
    let url = url::Url::parse(raw).map_err(|_| err("is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(err("must start with http:// or https://"));
    }
    if url.host_str().is_none() {
        return Err(err("has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(err("must not have credentials, a query or a fragment"));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// `roster config example`.
pub const EXAMPLE: &str = r#"# roster.toml — every setting is optional. Precedence: this file < ROSTER_* environment
# variables < command-line flags. Secrets can also come from *_FILE variables.

# Where the SQLite database and the default mail folder live.
# data_dir = "./roster-data"

# Use PostgreSQL instead of the embedded SQLite file (many Roster instances, one database).
# A URL with a password is better kept in a file named by ROSTER_DATABASE_URL_FILE.
# database_url = "postgres://roster@db.internal:5432/roster"

# Address to listen on.
# listen = "127.0.0.1:8080"

# The address people reach Roster at. The only base for links in emails; never taken from
# a request's Host header.
# public_url = "https://accounts.example.com"

# How email leaves: "smtp://USER@HOST:587" (STARTTLS when offered; add ?tls=required to
# insist, ?timeout=SECONDS, ?ca_file=PATH for a private CA), "smtps://USER@HOST:465" (TLS
# from the first byte), "file:DIR" writes one .eml per message, "log" logs headers only.
# Keep the password out of this file: ROSTER_MAIL_PASSWORD_FILE=/run/secrets/smtp.
# mail = "file:./roster-data/mail"
# mail_from = "Roster <no-reply@example.com>"

# "text" or "json".
# log_format = "text"

# Reverse proxies in front of Roster. Only from these addresses is X-Forwarded-For
# believed, for sign-in throttling per client address and sign-in diagnostics.
# trusted_proxies = ["10.0.0.2"]

# Permission codes of the products Roster sits in front of. Each joins the catalog
# (GET /api/v1/permissions) with a label and an area for the console's picker; Admin holds
# every code, and `roles` names the other built-in roles (user, marketing) that hold it.
# Custom roles may hold any code of the catalog; host products ask POST /orgs/{org}/check.
# [[permissions]]
# code = "catalog.edit"
# label = "Edit the catalog"
# area = "Catalog"
# roles = ["user"]
#
# [[permissions]]
# code = "import_export.run"
# label = "Run imports and exports"
# area = "Imports and exports"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::load(&ConfigArgs {
            config: Some(PathBuf::from("/nonexistent/ok-if-absent.toml")),
            ..Default::default()
        });
        assert!(c.is_err(), "an explicit config file must exist");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("roster.toml");
        std::fs::write(&empty, "").unwrap();
        let c = Config::load(&ConfigArgs {
            config: Some(empty),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert_eq!(
            c.database,
            Database::Sqlite(PathBuf::from("roster-data/roster.db"))
        );
        assert_eq!(c.mail, MailSpec::File(PathBuf::from("roster-data/mail")));
    }

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roster.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:9000\"\npublic_url = \"https://acc.example.com/\"\n",
        )
        .unwrap();
        let c = Config::load(&ConfigArgs {
            config: Some(path.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(c.public_url, "https://acc.example.com");
        let c = Config::load(&ConfigArgs {
            config: Some(path.clone()),
            listen: Some("127.0.0.1:1".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            c.listen.to_string(),
            "127.0.0.1:1",
            "flags win over the file"
        );
        assert!(
            c.trusted_proxies.is_empty(),
            "no proxy is trusted by default"
        );
        std::fs::write(&path, "trusted_proxies = [\"10.0.0.2\", \"::1\"]\n").unwrap();
        let c = Config::load(&ConfigArgs {
            config: Some(path.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.trusted_proxies.len(), 2);
        let c = Config::load(&ConfigArgs {
            config: Some(path),
            trusted_proxies: Some("192.0.2.1".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            c.trusted_proxies,
            vec!["192.0.2.1".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn bad_values_name_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("roster.toml");
        std::fs::write(&empty, "").unwrap();
        let base = ConfigArgs {
            config: Some(empty),
            ..Default::default()
        };
        let cases = [
            (
                ConfigArgs {
                    listen: Some("nowhere".into()),
                    ..base.clone()
                },
                "listen",
            ),
            (
                ConfigArgs {
                    public_url: Some("ftp://x".into()),
                    ..base.clone()
                },
                "public_url",
            ),
            (
                ConfigArgs {
                    database_url: Some("mysql://x".into()),
                    ..base.clone()
                },
                "database_url",
            ),
            (
                ConfigArgs {
                    mail: Some("pigeon".into()),
                    ..base.clone()
                },
                "mail",
            ),
            (
                ConfigArgs {
                    log_format: Some("xml".into()),
                    ..base.clone()
                },
                "log_format",
            ),
            (
                ConfigArgs {
                    trusted_proxies: Some("10.0.0.1, proxy.internal".into()),
                    ..base.clone()
                },
                "trusted_proxies",
            ),
        ];
        for (args, setting) in cases {
            let err = Config::load(&args).unwrap_err().to_string();
            assert!(err.starts_with(setting), "{err}");
        }
        let typo = dir.path().join("typo.toml");
        std::fs::write(&typo, "lisen = \"x\"\n").unwrap();
        let err = Config::load(&ConfigArgs {
            config: Some(typo),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("lisen"), "{err}");
    }

    #[test]
    fn the_example_parses() {
        let uncommented: String = EXAMPLE
            .lines()
            .filter_map(|l| {
                l.strip_prefix("# ")
                    .filter(|l| l.contains(" = ") || l.starts_with("[["))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let file = toml::from_str::<FileConfig>(&uncommented).unwrap();
        assert_eq!(file.permissions.len(), 2);
        Catalog::with_host(&file.permissions).unwrap();
    }

    #[test]
    fn host_permissions_join_the_catalog_and_bad_ones_stop_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roster.toml");
        std::fs::write(
            &path,
            "[[permissions]]\ncode = \"catalog.edit\"\nlabel = \"Edit\"\narea = \"Catalog\"\nroles = [\"user\"]\n",
        )
        .unwrap();
        let config = Config::load(&ConfigArgs {
            config: Some(path.clone()),
            ..Default::default()
        })
        .unwrap();
        assert!(config.catalog.contains("catalog.edit"));
        assert!(config.catalog.contains("users.invite"));
        std::fs::write(
            &path,
            "[[permissions]]\ncode = \"Bad Code\"\nlabel = \"Edit\"\narea = \"Catalog\"\n",
        )
        .unwrap();
        let err = Config::load(&ConfigArgs {
            config: Some(path),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("permissions"), "{err}");
    }
}
