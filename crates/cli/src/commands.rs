//! The operator commands. Each parses and validates its arguments before it opens the
//! store, so a bad argument exits non-zero having written nothing.

use crate::config::Config;
use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use roster_core::access::{OperatorGrant, OrgView};
use roster_core::clock::SystemClock;
use roster_core::email::Email;
use roster_core::ids::OutboxId;
use roster_core::model::{OrgKind, OutboxStatus, PageRequest};
use roster_core::names::{DisplayName, Slug};
use roster_core::store::OutboxFilter;
use roster_core::usecases::orgs::{CreateOrgError, NewOrg};
use roster_core::usecases::setup::SetupInput;
use roster_core::{Links, Roster};
use roster_mail::transport::eml_path;
use roster_mail::MailSpec;
use std::sync::Arc;

async fn roster(config: &Config) -> anyhow::Result<Roster> {
    let store = crate::store::open(config).await?;
    Ok(
        Roster::new(store, Arc::new(SystemClock), Links::new(&config.public_url))
            .with_catalog(config.catalog.clone()),
    )
}

#[derive(Args)]
pub struct SetupArgs {
    /// Name of the first organization.
    #[arg(long)]
    org_name: String,
    /// provider, vendor or company.
    #[arg(long)]
    org_kind: String,
    /// Email address of its first admin.
    #[arg(long)]
    admin_email: String,
    /// URL name of the organization [default: derived from the name]
    #[arg(long)]
    org_slug: Option<String>,
}

fn parse_new_org(name: &str, kind: &str, slug: Option<&str>) -> anyhow::Result<NewOrg> {
    let name = DisplayName::parse(name).map_err(|e| anyhow!("--org-name: {e}"))?;
    let kind = OrgKind::parse(kind).map_err(|e| anyhow!("--org-kind: {e}"))?;
    let slug = slug
        .map(Slug::parse)
        .transpose()
        .map_err(|e| anyhow!("--org-slug: {e}"))?;
    if slug.is_none() {
        Slug::from_name(name.as_str()).map_err(|e| {
            anyhow!("--org-name: no slug can be made from it ({e}); pass --org-slug")
        })?;
    }
    Ok(NewOrg { name, slug, kind })
}

pub async fn setup(config: &Config, args: SetupArgs) -> anyhow::Result<()> {
    let org = parse_new_org(&args.org_name, &args.org_kind, args.org_slug.as_deref())?;
    let admin_email = Email::parse(&args.admin_email).map_err(|e| anyhow!("--admin-email: {e}"))?;
    let roster = roster(config).await?;
    let out = roster
        .setup(
            &OperatorGrant::command_line(),
            SetupInput {
                org,
                admin_email: admin_email.clone(),
            },
        )
        .await?;
    println!(
        "Created organization \"{}\" ({}, {}).",
        out.org.name,
        out.org.slug,
        out.org.kind.as_str()
    );
    match out.invitation_link {
        Some(link) => {
            println!(
                "Invited {admin_email} as Admin; the invitation email is queued. The link works once and expires in {} hours:",
                out.org.settings.invitation_lifetime_hours
            );
            println!("{link}");
        }
        None => println!("{admin_email} already has a Roster sign-in and is now an active Admin."),
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create an organization.
    Create {
        #[arg(long)]
        name: String,
        /// provider, vendor or company.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        slug: Option<String>,
    },
    /// List organizations.
    List,
}

pub async fn org(config: &Config, cmd: OrgCommand) -> anyhow::Result<()> {
    let grant = OperatorGrant::command_line();
    match cmd {
        OrgCommand::Create { name, kind, slug } => {
            let new = parse_new_org(&name, &kind, slug.as_deref())
                .map_err(|e| anyhow!("{}", e.to_string().replace("--org-", "--")))?;
            let org = roster(config)
                .await?
                .create_org(&grant, new)
                .await
                .map_err(|e| match e {
                    CreateOrgError::SlugTaken(s) => {
                        anyhow!("the slug '{s}' is taken; pass another with --slug")
                    }
                    e => e.into(),
                })?;
            println!(
                "{}\t{}\t{}\t{}",
                org.id,
                org.slug,
                org.kind.as_str(),
                org.name
            );
        }
        OrgCommand::List => {
            let roster = roster(config).await?;
            let mut after = None;
            println!("ID\tSLUG\tKIND\tNAME");
            loop {
                let page = roster
                    .list_orgs(&grant, PageRequest::new(Some(200), after))
                    .await?;
                for o in &page.items {
                    println!("{}\t{}\t{}\t{}", o.id, o.slug, o.kind.as_str(), o.name);
                }
                match page.next_after {
                    Some(a) => after = Some(a),
                    None => break,
                }
            }
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum MemberCommand {
    /// List the members of an organization.
    List {
        /// Organization id or slug.
        #[arg(long)]
        org: String,
    },
}

pub async fn member(config: &Config, cmd: MemberCommand) -> anyhow::Result<()> {
    let MemberCommand::List { org } = cmd;
    let roster = roster(config).await?;
    let found = roster
        .find_org(&org)
        .await?
        .ok_or_else(|| anyhow!("--org: no organization '{org}'"))?;
    let view = OrgView::for_operator(&OperatorGrant::command_line(), found.id);
    let mut after = None;
    println!("ID\tEMAIL\tSTATUS\tROLES");
    loop {
        let page = roster
            .list_members(
                &view,
                &Default::default(),
                PageRequest::new(Some(200), after),
            )
            .await?;
        for m in &page.items {
            let roles: Vec<&str> = m.membership.roles.iter().map(|r| r.as_str()).collect();
            println!(
                "{}\t{}\t{}\t{}",
                m.membership.id,
                m.email,
                m.membership.status.as_str(),
                roles.join(",")
            );
        }
        match page.next_after {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create an API token; it is printed once and stored only as a hash.
    Create {
        /// An operator token: deployment-wide administration (creating organizations).
        #[arg(long, required = true)]
        operator: bool,
        /// What the token is for.
        #[arg(long, default_value = "operator")]
        name: String,
    },
}

pub async fn token(config: &Config, cmd: TokenCommand) -> anyhow::Result<()> {
    let TokenCommand::Create { operator, name } = cmd;
    if !operator {
        bail!("only --operator tokens exist so far");
    }
    let (token, secret) = roster(config)
        .await?
        .create_operator_token(&OperatorGrant::command_line(), &name)
        .await?;
    eprintln!(
        "Operator token {} created. It is shown only this once:",
        token.id
    );
    println!("{}", secret.expose());
    Ok(())
}

#[derive(Subcommand)]
pub enum MailCommand {
    /// List outbox messages, newest first.
    List {
        /// pending, sent or failed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Print one message as delivered (file transport), or its outbox record.
    Show { id: String },
    /// Send a failed message again: back to pending, due now, with a fresh count of
    /// attempts. `roster serve` delivers it.
    Retry { id: String },
}

pub async fn mail(config: &Config, cmd: MailCommand) -> anyhow::Result<()> {
    match cmd {
        MailCommand::List { status, limit } => {
            let status = status
                .as_deref()
                .map(OutboxStatus::parse)
                .transpose()
                .map_err(|e| anyhow!("--status: {e}"))?;
            let roster = roster(config).await?;
            let rows = roster
                .store
                .reads()
                .await?
                .list_outbox(&OutboxFilter { status, limit })
                .await?;
            println!("ID\tCREATED\tSTATUS\tATTEMPTS\tKIND\tTO\tLAST ERROR");
            for m in rows {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    m.id,
                    m.created_at.format("%Y-%m-%d %H:%M:%S"),
                    m.status.as_str(),
                    m.attempts,
                    m.kind,
                    m.recipient,
                    m.last_error.unwrap_or_default()
                );
            }
        }
        MailCommand::Retry { id } => {
            let id: OutboxId = id
                .parse()
                .map_err(|_| anyhow!("'{id}' is not a message id"))?;
            let roster = roster(config).await?;
            let mut tx = roster.store.begin().await?;
            if tx.retry_outbox(id, roster.clock.now()).await? {
                tx.commit().await?;
                println!("Message {id} is pending again; `roster serve` delivers it.");
                return Ok(());
            }
            drop(tx);
            let found = roster.store.reads().await?.outbox_message(id).await?;
            match found {
                None => bail!("no message {id}"),
                Some(m) if m.status != OutboxStatus::Failed => bail!(
                    "message {id} is {}; only failed messages can be retried",
                    m.status.as_str()
                ),
                Some(m) => bail!(
                    "message {id} ({}) held a single-use link, dropped when it failed; send the person a new one (Resend email, Send a reset link)",
                    m.kind
                ),
            }
        }
        MailCommand::Show { id } => {
            let id: OutboxId = id
                .parse()
                .map_err(|_| anyhow!("'{id}' is not a message id"))?;
            if let MailSpec::File(dir) = &config.mail {
                let path = eml_path(dir, id);
                if let Ok(text) = std::fs::read_to_string(&path) {
                    print!("{text}");
                    return Ok(());
                }
            }
            let roster = roster(config).await?;
            let m = roster
                .store
                .reads()
                .await?
                .outbox_message(id)
                .await?
                .ok_or_else(|| anyhow!("no message {id}"))?;
            println!(
                "Message {id}: {} to {}, {} after {} attempt(s).",
                m.kind,
                m.recipient,
                m.status.as_str(),
                m.attempts
            );
            if let Some(e) = m.last_error {
                println!("Last error: {e}");
            }
            if m.status == OutboxStatus::Pending {
                println!("Not delivered yet; `roster serve` delivers it.");
            }
        }
    }
    Ok(())
}

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let store = crate::store::open(config)
        .await
        .context("migration failed")?;
    let readiness = store.readiness().await?;
    if !readiness.unknown_migrations.is_empty() {
        bail!(
            "the database has migrations this build does not know: {:?}",
            readiness.unknown_migrations
        );
    }
    println!("The {} database is up to date.", store.backend());
    store.close().await;
    Ok(())
}
