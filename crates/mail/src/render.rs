//! Turns an outbox message into an RFC 5322 email: text and HTML alternatives rendered from
//! templates embedded in the binary, UTF-8 headers encoded by lettre, and a `Message-ID`
//! derived from the outbox id so that a retried delivery is recognisably the same message.

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::Message;
use minijinja::{context, Environment};
use roster_core::model::{Notice, OutboxMessage};
use std::time::SystemTime;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the message has no content (already sent?)")]
    NoContent,
    #[error("template error: {0}")]
    Template(#[from] minijinja::Error),
    #[error("address not accepted by the mail library: {0}")]
    Address(String),
    #[error("message could not be built: {0}")]
    Build(String),
}

/// Fixed parts of every message.
#[derive(Clone, Debug)]
pub struct MessageSettings {
    /// `From`, e.g. `Roster <roster@example.com>`.
    pub from: Mailbox,
    /// Right-hand side of generated Message-IDs (the public URL's host).
    pub message_id_domain: String,
}

fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    // HTML templates escape every value; text templates print them as they are.
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            minijinja::AutoEscape::Html
        } else {
            minijinja::AutoEscape::None
        }
    });
    env.add_template(
        "invitation.txt",
        include_str!("../templates/invitation.txt"),
    )?;
    env.add_template(
        "invitation.html",
        include_str!("../templates/invitation.html"),
    )?;
    env.add_template(
        "access_granted.txt",
        include_str!("../templates/access_granted.txt"),
    )?;
    env.add_template(
        "access_granted.html",
        include_str!("../templates/access_granted.html"),
    )?;
    Ok(env)
}

/// Subject, text body and HTML body of a notice.
pub fn render(notice: &Notice) -> Result<(String, String, String), RenderError> {
    let env = environment()?;
    let (template, subject, ctx) = match notice {
        Notice::Invitation {
            org_name,
            inviter_name,
            link,
            expires_at,
        } => (
            "invitation",
            format!("Join the {org_name} team"),
            context! {
                org_name, inviter_name, link,
                expires_at => expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            },
        ),
        Notice::AccessGranted {
            org_name,
            inviter_name,
            link,
        } => (
            "access_granted",
            format!("You now have access to {org_name}"),
            context! { org_name, inviter_name, link },
        ),
    };
    let text = env.get_template(&format!("{template}.txt"))?.render(&ctx)?;
    let html = env
        .get_template(&format!("{template}.html"))?
        .render(&ctx)?;
    Ok((subject, text, html))
}

pub fn message_id(message: &OutboxMessage, settings: &MessageSettings) -> String {
    format!("<{}@{}>", message.id, settings.message_id_domain)
}

pub fn build_message(
    message: &OutboxMessage,
    settings: &MessageSettings,
) -> Result<Message, RenderError> {
    let notice = message.notice.as_ref().ok_or(RenderError::NoContent)?;
    let (subject, text, html) = render(notice)?;
    let to: Mailbox = message
        .recipient
        .as_str()
        .parse()
        .map_err(|e: lettre::address::AddressError| RenderError::Address(e.to_string()))?;
    Message::builder()
        .from(settings.from.clone())
        .to(to)
        .subject(subject)
        .message_id(Some(message_id(message, settings)))
        .date(SystemTime::now())
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html),
                ),
        )
        .map_err(|e| RenderError::Build(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_core::email::Email;

    fn settings() -> MessageSettings {
        MessageSettings {
            from: "Roster <roster@roster.test>".parse().unwrap(),
            message_id_domain: "roster.test".into(),
        }
    }

    #[test]
    fn invitation_has_both_parts_the_link_and_a_stable_message_id() {
        let msg = OutboxMessage::new(
            None,
            Email::parse("ada@example.com").unwrap(),
            Notice::Invitation {
                org_name: "Acme <Tools> & Co".into(),
                inviter_name: Some("Grace".into()),
                link: "https://roster.test/invitations/inv_abc".into(),
                expires_at: chrono::Utc::now(),
            },
            chrono::Utc::now(),
        );
        let built =
            String::from_utf8(build_message(&msg, &settings()).unwrap().formatted()).unwrap();
        assert!(
            built.contains(&format!("Message-ID: <{}@roster.test>", msg.id)),
            "{built}"
        );
        assert!(built.contains("multipart/alternative"));
        assert!(built.contains("text/plain"));
        assert!(built.contains("text/html"));
        assert!(built.contains("https://roster.test/invitations/inv_abc"));
        assert!(
            built.contains("Acme &lt;Tools&gt; &amp; Co"),
            "escaped in HTML"
        );
        assert!(built.contains("Grace invited you"));
        assert!(built.contains("Date: "));
    }

    #[test]
    fn sent_messages_have_no_content_to_build() {
        let mut msg = OutboxMessage::new(
            None,
            Email::parse("ada@example.com").unwrap(),
            Notice::AccessGranted {
                org_name: "Acme".into(),
                inviter_name: None,
                link: "x".into(),
            },
            chrono::Utc::now(),
        );
        msg.notice = None;
        assert!(matches!(
            build_message(&msg, &settings()),
            Err(RenderError::NoContent)
        ));
    }
}
