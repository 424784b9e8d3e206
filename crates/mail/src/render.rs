//! Turns an outbox message into an RFC 5322 email: text and HTML alternatives rendered from
//! templates embedded in the binary, UTF-8 headers encoded by lettre, and a `Message-ID`
//! derived from the outbox id so that a retried delivery is recognisably the same message.

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::Message;
use minijinja::{context, Environment};
use roster_core::clock::Timestamp;
use roster_core::model::{Notice, OutboxMessage};
use std::sync::LazyLock;
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

/// Every template, text and HTML for each notice kind, embedded in the binary.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "invitation.txt",
        include_str!("../templates/invitation.txt"),
    ),
    (
        "invitation.html",
        include_str!("../templates/invitation.html"),
    ),
    (
        "access_granted.txt",
        include_str!("../templates/access_granted.txt"),
    ),
    (
        "access_granted.html",
        include_str!("../templates/access_granted.html"),
    ),
    (
        "password_reset.txt",
        include_str!("../templates/password_reset.txt"),
    ),
    (
        "password_reset.html",
        include_str!("../templates/password_reset.html"),
    ),
    (
        "password_changed.txt",
        include_str!("../templates/password_changed.txt"),
    ),
    (
        "password_changed.html",
        include_str!("../templates/password_changed.html"),
    ),
    (
        "email_change_confirm.txt",
        include_str!("../templates/email_change_confirm.txt"),
    ),
    (
        "email_change_confirm.html",
        include_str!("../templates/email_change_confirm.html"),
    ),
    (
        "email_change_notice.txt",
        include_str!("../templates/email_change_notice.txt"),
    ),
    (
        "email_change_notice.html",
        include_str!("../templates/email_change_notice.html"),
    ),
    (
        "access_revoked.txt",
        include_str!("../templates/access_revoked.txt"),
    ),
    (
        "access_revoked.html",
        include_str!("../templates/access_revoked.html"),
    ),
    ("digest.txt", include_str!("../templates/digest.txt")),
    ("digest.html", include_str!("../templates/digest.html")),
];

/// The templates, compiled once each on first use and kept for the life of the process.
///
/// Why: compiling is most of a render's cost. Building a new environment per message
/// compiled every template of every kind for each email (4% of the server's time under
/// the invitation load); a template is now compiled the first time a message of its kind
/// is rendered, and one that never is costs no memory. A template that does not compile
/// fails that render, as before (the tests below render every kind).
static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // HTML templates escape every value; text templates print them as they are.
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            minijinja::AutoEscape::Html
        } else {
            minijinja::AutoEscape::None
        }
    });
    env.set_loader(|name| {
        Ok(TEMPLATES
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, source)| (*source).to_owned()))
    });
    env
});

/// How every email shows a time: minutes, in UTC, saying so.
fn utc(at: &Timestamp) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Subject, text body and HTML body of a notice.
///
/// The templates are named by the notice's kind (`password_reset.txt` and `.html`), the same
/// name the outbox keeps. The match names every variant and has no wildcard arm: a new kind
/// of notice does not compile until it has a subject and a context here.
pub fn render(notice: &Notice) -> Result<(String, String, String), RenderError> {
    let env = &*ENVIRONMENT;
    let template = notice.kind();
    let (subject, ctx) = match notice {
        Notice::Invitation {
            org_name,
            inviter_name,
            link,
            expires_at,
        } => (
            format!("Join the {org_name} team"),
            context! {
                org_name, inviter_name, link,
                expires_at => utc(expires_at),
            },
        ),
        Notice::AccessGranted {
            org_name,
            inviter_name,
            link,
        } => (
            format!("You now have access to {org_name}"),
            context! { org_name, inviter_name, link },
        ),
        Notice::PasswordReset {
            org_name,
            link,
            expires_at,
        } => (
            match org_name {
                Some(org_name) => {
                    format!("An admin of {org_name} sent you a Roster password reset link")
                }
                None => "Reset your Roster password".to_owned(),
            },
            context! {
                org_name, link,
                expires_at => utc(expires_at),
            },
        ),
        Notice::PasswordChanged { at, link } => (
            "Your Roster password was changed".to_owned(),
            context! { link, at => utc(at) },
        ),
        Notice::EmailChangeConfirm {
            new_email,
            link,
            expires_at,
        } => (
            "Confirm your new Roster sign-in email".to_owned(),
            context! {
                new_email, link,
                expires_at => utc(expires_at),
            },
        ),
        Notice::EmailChangeNotice { new_email, at } => (
            "A new sign-in email was requested for your Roster account".to_owned(),
            context! { new_email, at => utc(at) },
        ),
        Notice::AccessRevoked { org_name } => (
            format!("Your access to {org_name} was revoked"),
            context! { org_name },
        ),
        Notice::Digest {
            org_name,
            frequency,
            period_start,
            tasks,
            more,
            link,
        } => {
            let count = tasks.len() as u64 + more;
            let period = chrono::NaiveDate::parse_from_str(period_start, "%Y-%m-%d")
                .map(|d| d.format("%A %-d %B %Y").to_string())
                .unwrap_or_else(|_| period_start.clone());
            // Grouped by category, in the order the categories first appear.
            let mut groups: Vec<(String, Vec<minijinja::Value>)> = Vec::new();
            for t in tasks {
                let item = context! { title => &t.title, url => &t.url, customer => &t.customer };
                match groups.iter_mut().find(|(c, _)| *c == t.category) {
                    Some((_, items)) => items.push(item),
                    None => groups.push((t.category.clone(), vec![item])),
                }
            }
            let groups: Vec<minijinja::Value> = groups
                .into_iter()
                .map(|(category, tasks)| context! { category, tasks })
                .collect();
            (
                format!(
                    "{org_name}: {count} open task{} in your {frequency} digest",
                    if count == 1 { "" } else { "s" }
                ),
                context! { org_name, frequency, period, groups, more, link },
            )
        }
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
    use chrono::TimeZone;
    use lettre::message::header::Subject;
    use roster_core::email::Email;
    use std::collections::BTreeSet;

    fn settings() -> MessageSettings {
        MessageSettings {
            from: "Roster <roster@roster.test>".parse().unwrap(),
            message_id_domain: "roster.test".into(),
        }
    }

    /// 2025-03-14 09:26:53 UTC: seconds that the emails must not show.
    fn at() -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2025, 3, 14, 9, 26, 53)
            .single()
            .unwrap()
    }

    fn outbox(notice: Notice) -> OutboxMessage {
        OutboxMessage::new(
            None,
            Email::parse("ada@example.com").unwrap(),
            notice,
            chrono::Utc::now(),
        )
    }

    /// The whole message as it goes on the wire, checked for the shape every notice has:
    /// a text and an HTML alternative.
    fn wire(notice: &Notice) -> String {
        let msg = outbox(notice.clone());
        let built =
            String::from_utf8(build_message(&msg, &settings()).unwrap().formatted()).unwrap();
        assert!(built.contains("multipart/alternative"), "{built}");
        assert!(
            built.contains("Content-Type: text/plain; charset=utf-8"),
            "{built}"
        );
        assert!(
            built.contains("Content-Type: text/html; charset=utf-8"),
            "{built}"
        );
        built
    }

    /// The HTML as a reader sees it: entities decoded (minijinja also escapes `/`).
    fn unescape(html: &str) -> String {
        html.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&#x2f;", "/")
            .replace("&amp;", "&")
    }

    /// The HTML's visible text: tags dropped, then entities decoded.
    fn visible(html: &str) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        unescape(&out)
    }

    /// Asserts `needle` is in the text part and in the HTML part as the reader sees it.
    fn in_both(text: &str, html: &str, needle: &str) {
        assert!(text.contains(needle), "text lacks {needle:?}:\n{text}");
        assert!(
            visible(html).contains(needle),
            "HTML lacks {needle:?}:\n{html}"
        );
    }

    /// The header block of a formatted message.
    fn headers(built: &str) -> &str {
        built.split_once("\r\n\r\n").unwrap().0
    }

    /// Asserts the HTML links to `link` and the text spells it out.
    fn links_to(text: &str, html: &str, link: &str) {
        assert!(text.contains(link), "text lacks {link}:\n{text}");
        assert!(
            unescape(html).contains(&format!("href=\"{link}\"")),
            "HTML lacks a link to {link}:\n{html}"
        );
    }

    /// Asserts a name reached the HTML escaped and never as markup.
    fn escaped_in_html(html: &str) {
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    const HOSTILE: &str = "<script>alert(1)</script> & Co";

    /// One sample of every notice kind.
    fn samples() -> Vec<Notice> {
        vec![
            Notice::Invitation {
                org_name: "Acme".into(),
                inviter_name: Some("Grace".into()),
                link: "https://roster.test/invitations/inv_abc".into(),
                expires_at: at(),
            },
            Notice::AccessGranted {
                org_name: "Acme".into(),
                inviter_name: Some("Grace".into()),
                link: "https://roster.test/sign-in".into(),
            },
            Notice::PasswordReset {
                org_name: Some("Acme".into()),
                link: "https://roster.test/reset-password#rst_abc".into(),
                expires_at: at(),
            },
            Notice::PasswordChanged {
                at: at(),
                link: "https://roster.test/sign-in".into(),
            },
            Notice::EmailChangeConfirm {
                new_email: "ada.new@example.org".into(),
                link: "https://roster.test/confirm-email#eml_abc".into(),
                expires_at: at(),
            },
            Notice::EmailChangeNotice {
                new_email: "ada.new@example.org".into(),
                at: at(),
            },
            Notice::AccessRevoked {
                org_name: "Acme".into(),
            },
            digest_sample(),
        ]
    }

    fn digest_sample() -> Notice {
        let line = |category: &str, title: &str, url: Option<&str>, customer: Option<&str>| {
            roster_core::model::DigestLine {
                category: category.into(),
                title: title.into(),
                url: url.map(Into::into),
                customer: customer.map(Into::into),
            }
        };
        Notice::Digest {
            org_name: "Acme".into(),
            frequency: "weekly".into(),
            period_start: "2026-11-23".into(),
            tasks: vec![
                line(
                    "Renewals",
                    "Renew the Globex contract",
                    Some("https://portal.test/t/1"),
                    Some("Globex"),
                ),
                line("Onboarding", "Welcome call", None, None),
                line("Renewals", "Renew Initech", None, Some("Initech")),
            ],
            more: 2,
            link: "https://roster.test/orgs/acme".into(),
        }
    }

    #[test]
    fn a_digest_lists_tasks_by_category_with_customers_links_and_the_rest_counted() {
        let notice = digest_sample();
        let (subject, text, html) = render(&notice).unwrap();
        assert_eq!(subject, "Acme: 5 open tasks in your weekly digest");
        in_both(&text, &html, "week of Monday 23 November 2026");
        // Grouped: both renewals under one heading, before onboarding (first seen first).
        let renewals = text.find("Renewals").unwrap();
        assert_eq!(text.matches("Renewals").count(), 1, "{text}");
        let globex = text.find("Renew the Globex contract (Globex)").unwrap();
        let initech = text.find("Renew Initech (Initech)").unwrap();
        let onboarding = text.find("Onboarding").unwrap();
        assert!(
            renewals < globex && globex < initech && initech < onboarding,
            "{text}"
        );
        links_to(&text, &html, "https://portal.test/t/1");
        in_both(&text, &html, "And 2 more open tasks not listed here.");
        in_both(&text, &html, "Choosing no category stops these emails.");
        links_to(&text, &html, "https://roster.test/orgs/acme");

        let one = Notice::Digest {
            org_name: "Acme".into(),
            frequency: "daily".into(),
            period_start: "2026-11-24".into(),
            tasks: vec![line_only("Welcome call")],
            more: 0,
            link: "https://roster.test/orgs/acme".into(),
        };
        let (subject, text, html) = render(&one).unwrap();
        assert_eq!(subject, "Acme: 1 open task in your daily digest");
        in_both(&text, &html, "for Tuesday 24 November 2026");
        assert!(!text.contains("more open task"), "{text}");
    }

    fn line_only(title: &str) -> roster_core::model::DigestLine {
        roster_core::model::DigestLine {
            category: "Onboarding".into(),
            title: title.into(),
            url: None,
            customer: None,
        }
    }

    #[test]
    fn digest_titles_customers_and_categories_are_escaped_in_html() {
        let notice = Notice::Digest {
            org_name: HOSTILE.into(),
            frequency: "daily".into(),
            period_start: "2026-11-24".into(),
            tasks: vec![roster_core::model::DigestLine {
                category: HOSTILE.into(),
                title: HOSTILE.into(),
                url: Some("https://portal.test/t?a=1&b=\"><script>".into()),
                customer: Some(HOSTILE.into()),
            }],
            more: 0,
            link: "https://roster.test/orgs/acme".into(),
        };
        let (_, text, html) = render(&notice).unwrap();
        escaped_in_html(&html);
        assert!(!html.contains("\"><script>"), "{html}");
        assert_eq!(
            html.matches("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; Co")
                .count(),
            7,
            "org in the page title, the intro and twice in the settings line; category, task, customer:\n{html}"
        );
        assert!(text.contains(HOSTILE), "{text}");
    }

    /// Every kind `Notice` has, read from its serde derive: deserializing an unknown tag
    /// fails with "unknown variant `…`, expected one of `a`, `b`, …".
    fn every_kind() -> BTreeSet<String> {
        let err = serde_json::from_value::<Notice>(serde_json::json!({ "kind": "no such kind" }))
            .unwrap_err()
            .to_string();
        let expected = err
            .split_once("expected one of")
            .unwrap_or_else(|| panic!("serde's message changed: {err}"))
            .1;
        let kinds: BTreeSet<String> = expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        assert!(kinds.contains("invitation"), "{err}");
        kinds
    }

    #[test]
    fn every_notice_kind_has_a_subject_both_templates_and_shows_its_facts() {
        let samples = samples();
        let sampled: BTreeSet<String> = samples.iter().map(|n| n.kind().to_owned()).collect();
        assert_eq!(
            sampled,
            every_kind(),
            "add a sample (and templates) for every Notice variant"
        );
        assert_eq!(sampled.len(), samples.len(), "one sample per kind");
        // Every embedded template belongs to a kind, and every kind has both.
        let templates: BTreeSet<&str> = TEMPLATES.iter().map(|(name, _)| *name).collect();
        let wanted: BTreeSet<String> = sampled
            .iter()
            .flat_map(|k| [format!("{k}.txt"), format!("{k}.html")])
            .collect();
        assert_eq!(
            templates,
            wanted.iter().map(String::as_str).collect::<BTreeSet<_>>()
        );

        for notice in &samples {
            let json = serde_json::to_value(notice).unwrap();
            assert_eq!(json["kind"], notice.kind(), "outbox kind is the serde tag");
            let (subject, text, html) = render(notice).unwrap();
            assert!(!subject.trim().is_empty(), "{notice:?}");
            assert!(!subject.contains('\n'), "{subject}");
            assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
            let built = wire(notice);
            assert!(built.contains(&format!("Subject: {subject}")), "{built}");
            // Every fact the notice carries reaches the reader, in both parts: links as
            // links, times in minutes and UTC, everything else as it is.
            for (field, value) in json.as_object().unwrap() {
                let Some(value) = value.as_str() else {
                    continue; // an absent optional fact
                };
                if field == "kind" {
                    continue;
                }
                if field == "period_start" {
                    // Shown as a date people read (checked in the digest's own test).
                    continue;
                }
                if field == "link" {
                    links_to(&text, &html, value);
                    assert!(built.contains(value), "{built}");
                } else if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
                    let shown = utc(&t.with_timezone(&chrono::Utc));
                    assert_eq!(shown, "2025-03-14 09:26 UTC");
                    in_both(&text, &html, &shown);
                } else {
                    in_both(&text, &html, value);
                }
            }
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
    fn names_are_escaped_in_html_for_every_notice_that_carries_one() {
        let link = "https://roster.test/x".to_owned();
        for notice in [
            Notice::Invitation {
                org_name: HOSTILE.into(),
                inviter_name: Some(HOSTILE.into()),
                link: link.clone(),
                expires_at: at(),
            },
            Notice::AccessGranted {
                org_name: HOSTILE.into(),
                inviter_name: Some(HOSTILE.into()),
                link: link.clone(),
            },
            Notice::PasswordReset {
                org_name: Some(HOSTILE.into()),
                link: link.clone(),
                expires_at: at(),
            },
            Notice::AccessRevoked {
                org_name: HOSTILE.into(),
            },
        ] {
            let (_, text, html) = render(&notice).unwrap();
            escaped_in_html(&html);
            assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; Co"));
            // Plain text has no markup to escape: the reader sees the name as it is.
            assert!(text.contains(HOSTILE), "{text}");
        }
    }

    #[test]
    fn password_reset_sent_by_an_admin_names_the_organization_and_the_expiry() {
        let link = "https://roster.test/reset-password#rst_abc";
        let notice = Notice::PasswordReset {
            org_name: Some("Acme".into()),
            link: link.into(),
            expires_at: at() + chrono::Duration::minutes(30),
        };
        let built = wire(&notice);
        let (subject, text, html) = render(&notice).unwrap();
        assert_eq!(
            subject,
            "An admin of Acme sent you a Roster password reset link"
        );
        assert!(built.contains(link));
        links_to(&text, &html, link);
        in_both(&text, &html, "An admin of Acme sent you a link");
        in_both(&text, &html, "expires on 2025-03-14 09:56 UTC");
        in_both(&text, &html, "works once");
        in_both(&text, &html, "ask an admin of Acme to send a new one");
        in_both(&text, &html, "current password keeps working");
    }

    #[test]
    fn password_reset_asked_for_by_the_person_names_no_organization() {
        let link = "https://roster.test/reset-password#rst_abc";
        let notice = Notice::PasswordReset {
            org_name: None,
            link: link.into(),
            expires_at: at(),
        };
        let built = wire(&notice);
        let (subject, text, html) = render(&notice).unwrap();
        assert_eq!(subject, "Reset your Roster password");
        assert!(built.contains(link));
        links_to(&text, &html, link);
        in_both(&text, &html, "Someone asked to reset the password");
        in_both(&text, &html, "expires on 2025-03-14 09:26 UTC");
        assert!(!text.contains("admin of"), "{text}");
        assert!(!html.contains("admin of"), "{html}");
    }

    #[test]
    fn password_changed_says_when_and_what_to_do_if_it_was_not_you() {
        let link = "https://roster.test/sign-in";
        let notice = Notice::PasswordChanged {
            at: at(),
            link: link.into(),
        };
        let built = wire(&notice);
        let (subject, text, html) = render(&notice).unwrap();
        assert_eq!(subject, "Your Roster password was changed");
        assert!(built.contains(link));
        links_to(&text, &html, link);
        in_both(&text, &html, "was changed on 2025-03-14 09:26 UTC");
        in_both(&text, &html, "reset your password right away");
        in_both(&text, &html, "tell an admin of your organization");
    }

    #[test]
    fn email_change_confirmation_goes_with_the_new_address_link_and_expiry() {
        let link = "https://roster.test/confirm-email#eml_abc";
        let notice = Notice::EmailChangeConfirm {
            new_email: "ada.new@example.org".into(),
            link: link.into(),
            expires_at: at() + chrono::Duration::hours(24),
        };
        let built = wire(&notice);
        let (subject, text, html) = render(&notice).unwrap();
        assert_eq!(subject, "Confirm your new Roster sign-in email");
        assert!(built.contains(link));
        assert!(built.contains("ada.new@example.org"));
        links_to(&text, &html, link);
        in_both(&text, &html, "make ada.new@example.org the sign-in email");
        in_both(&text, &html, "expires on 2025-03-15 09:26 UTC");
        in_both(&text, &html, "nothing changes unless the link is used");
    }

    #[test]
    fn email_change_notice_to_the_old_address_names_the_new_one_and_has_no_link() {
        let notice = Notice::EmailChangeNotice {
            new_email: "ada.new@example.org".into(),
            at: at(),
        };
        let built = wire(&notice);
        let (subject, text, html) = render(&notice).unwrap();
        assert_eq!(
            subject,
            "A new sign-in email was requested for your Roster account"
        );
        assert!(built.contains("ada.new@example.org"));
        in_both(&text, &html, "On 2025-03-14 09:26 UTC");
        in_both(&text, &html, "to ada.new@example.org");
        in_both(&text, &html, "change your password right away");
        in_both(&text, &html, "tell an admin of your organization");
        assert!(!html.contains("href"), "nothing to click: {html}");
        assert!(!text.contains("https://"), "{text}");
    }

    #[test]
    fn access_revoked_names_the_organization_and_what_stays() {
        let notice = Notice::AccessRevoked {
            org_name: "Acme".into(),
        };
        wire(&notice);
        let (subject, text, html) = render(&notice).unwrap();
        assert_eq!(subject, "Your access to Acme was revoked");
        in_both(&text, &html, "Your access to Acme was revoked");
        in_both(&text, &html, "access to other organizations are unchanged");
        in_both(&text, &html, "ask an admin of Acme");
        assert!(!html.contains("href"), "nothing to click: {html}");
        assert!(!text.contains("https://"), "{text}");
    }

    #[test]
    fn utf8_subjects_and_bodies_are_encoded() {
        let org = "Zürich Ärztehaus ✓";
        for (notice, subject) in [
            (
                Notice::Invitation {
                    org_name: org.into(),
                    inviter_name: Some("Zoë".into()),
                    link: "https://roster.test/invitations/inv_abc".into(),
                    expires_at: at(),
                },
                format!("Join the {org} team"),
            ),
            (
                Notice::AccessGranted {
                    org_name: org.into(),
                    inviter_name: None,
                    link: "https://roster.test/sign-in".into(),
                },
                format!("You now have access to {org}"),
            ),
            (
                Notice::PasswordReset {
                    org_name: Some(org.into()),
                    link: "https://roster.test/reset-password#rst_abc".into(),
                    expires_at: at(),
                },
                format!("An admin of {org} sent you a Roster password reset link"),
            ),
            (
                Notice::AccessRevoked {
                    org_name: org.into(),
                },
                format!("Your access to {org} was revoked"),
            ),
        ] {
            let message = build_message(&outbox(notice), &settings()).unwrap();
            assert_eq!(
                message
                    .headers()
                    .get::<Subject>()
                    .map(|s| s.as_ref().to_owned()),
                Some(subject)
            );
            let built = String::from_utf8(message.formatted()).unwrap();
            assert!(built.is_ascii(), "headers and bodies are encoded: {built}");
            let subject_line = headers(&built)
                .split("\r\n")
                .find(|l| l.starts_with("Subject: "))
                .unwrap();
            assert!(subject_line.contains("=?utf-8?b?"), "{built}");
        }
    }

    #[test]
    fn a_name_cannot_add_headers_through_the_subject() {
        let notice = Notice::PasswordReset {
            org_name: Some("Acme\r\nBcc: mallory@example.com".into()),
            link: "https://roster.test/reset-password#rst_abc".into(),
            expires_at: at(),
        };
        let built = wire(&notice);
        assert!(
            !headers(&built).lines().any(|l| l.starts_with("Bcc:")),
            "{built}"
        );
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
