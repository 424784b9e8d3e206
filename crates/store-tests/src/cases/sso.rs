//! Single sign-on: each organization's connection with the email domains it claims (one
//! organization per domain), the provider's subjects linked to identities (per
//! organization and issuer, one identity per subject), and the sign-ins sent to the
//! provider, each taken once.
//!
//! A connection's domains are a set: they read back sorted (bytewise) and without
//! duplicates, whatever order they were put in. Every other field reads back as put,
//! `created_at` included (a replacement is the whole record; the caller keeps the first
//! `created_at`).

use super::S;
use crate::fixtures::{self, now, tenant};
use chrono::Duration;
use roster_core::clock::Timestamp;
use roster_core::ids::{IdentityId, OrgId};
use roster_core::model::*;
use roster_core::secrets::{Secret, SecretHash};
use roster_core::store::{Reads, StoreError};

fn connection(org: OrgId, domains: &[&str]) -> SsoConnection {
    let at = now();
    SsoConnection {
        org_id: org,
        issuer: "https://login.acme.example/realms/staff".into(),
        client_id: "roster".into(),
        client_secret: "s3cret-value".into(),
        scopes: vec!["email".into(), "profile".into(), "groups".into()],
        domains: domains.iter().map(|d| (*d).to_owned()).collect(),
        default_role: Some(BuiltinRole::User),
        enforce: true,
        created_at: at,
        updated_at: at,
    }
}

/// The connection as it reads back: domains sorted, once each.
fn stored(mut c: SsoConnection) -> SsoConnection {
    c.domains.sort();
    c.domains.dedup();
    c
}

async fn put(store: &S, c: &SsoConnection) {
    let mut tx = store.begin().await.unwrap();
    tx.put_sso_connection(c).await.unwrap();
    tx.commit().await.unwrap();
}

async fn owner(r: &mut dyn Reads, domain: &str) -> Option<OrgId> {
    r.sso_connection_for_domain(domain)
        .await
        .unwrap()
        .map(|c| c.org_id)
}

const ISSUER: &str = "https://login.acme.example/realms/staff";

async fn link(store: &S, org: OrgId, issuer: &str, subject: &str, identity: IdentityId) {
    let mut tx = store.begin().await.unwrap();
    tx.link_sso_subject(org, issuer, subject, identity, now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn linked(store: &S, org: OrgId, issuer: &str, subject: &str) -> Option<IdentityId> {
    let mut r = store.reads().await.unwrap();
    r.sso_subject(org, issuer, subject).await.unwrap()
}

fn login(org: OrgId, created_at: Timestamp, lifetime: Duration) -> (SsoLogin, SecretHash) {
    let state = Secret::generate("").unwrap().hash();
    let login = SsoLogin {
        state_hash: state.clone(),
        org_id: org,
        nonce: Secret::generate("").unwrap().expose().to_owned(),
        pkce_verifier: Secret::generate("").unwrap().expose().to_owned(),
        email_hint: "ada@acme.example".into(),
        next: Some("/orgs/acme/members?page=2".into()),
        created_at,
        expires_at: created_at + lifetime,
    };
    (login, state)
}

async fn insert_logins(store: &S, logins: &[&SsoLogin]) {
    let mut tx = store.begin().await.unwrap();
    for l in logins {
        tx.insert_sso_login(l).await.unwrap();
    }
    tx.commit().await.unwrap();
}

async fn take(store: &S, state: &SecretHash, at: Timestamp) -> Option<SsoLogin> {
    let mut tx = store.begin().await.unwrap();
    let taken = tx.take_sso_login(state, at).await.unwrap();
    tx.commit().await.unwrap();
    taken
}

pub async fn sso_connections_round_trip_and_are_found_by_their_domains(store: S) {
    let acme = tenant(&*store, "acme").await;
    let initech = tenant(&*store, "initech").await;
    let mut r = store.reads().await.unwrap();
    assert_eq!(r.sso_connection(acme.org.id).await.unwrap(), None);
    assert_eq!(owner(&mut *r, "acme.example").await, None);
    drop(r);

    // Put out of order and with a duplicate: the domains are a set.
    let full = connection(
        acme.org.id,
        &[
            "eu.acme.example",
            "acme.example",
            "acme-corp.example",
            "eu.acme.example",
        ],
    );
    let mut tx = store.begin().await.unwrap();
    tx.put_sso_connection(&full).await.unwrap();
    assert_eq!(
        tx.sso_connection(acme.org.id).await.unwrap(),
        Some(stored(full.clone())),
        "the transaction reads its own write"
    );
    tx.commit().await.unwrap();
    // The optional fields empty: no default role, nothing enforced, no extra scopes, no
    // domain yet.
    let bare = SsoConnection {
        scopes: vec![],
        default_role: None,
        enforce: false,
        ..connection(initech.org.id, &[])
    };
    put(&store, &bare).await;

    let mut r = store.reads().await.unwrap();
    let read = r.sso_connection(acme.org.id).await.unwrap().unwrap();
    assert_eq!(read, stored(full.clone()));
    assert_eq!(
        read.domains,
        ["acme-corp.example", "acme.example", "eu.acme.example"],
        "sorted, once each"
    );
    assert_eq!(
        read.scopes,
        ["email", "profile", "groups"],
        "scopes keep their order"
    );
    assert_eq!(
        r.sso_connection(initech.org.id).await.unwrap(),
        Some(bare.clone())
    );
    assert_eq!(r.sso_connection(OrgId::new()).await.unwrap(), None);
    for domain in ["acme.example", "eu.acme.example", "acme-corp.example"] {
        assert_eq!(
            r.sso_connection_for_domain(domain).await.unwrap().as_ref(),
            Some(&read),
            "{domain}"
        );
    }
    for domain in [
        "example",
        "acme.example.org",
        "us.acme.example",
        "cme.example",
        "initech.example",
        "",
    ] {
        assert_eq!(owner(&mut *r, domain).await, None, "{domain}");
    }
}

/// An address's identity and its domain's connection read together are what the two
/// reads give apart, on a plain connection and inside a transaction (which sees its own
/// writes): each found, either missing, and both missing.
pub async fn an_address_reads_with_its_domain_s_connection(store: S) {
    let acme = tenant(&*store, "acme").await;
    let initech = tenant(&*store, "initech").await;
    put(&store, &connection(acme.org.id, &["acme.example"])).await;
    let acme_sso = store
        .reads()
        .await
        .unwrap()
        .sso_connection(acme.org.id)
        .await
        .unwrap();
    assert!(acme_sso.is_some());
    let email = |s: &str| roster_core::email::Email::parse(s).unwrap();

    let mut r = store.reads().await.unwrap();
    // Case-insensitive on the address's local part, as the two reads are (a parsed
    // address's domain is lowercase already).
    let cases = [
        ("Admin@ACME.example", true, true),
        ("nobody@acme.example", false, true),
        ("admin@initech.example", true, false),
        ("nobody@elsewhere.example", false, false),
    ];
    for (address, has_identity, has_sso) in cases {
        let address = email(address);
        let together = r.identity_and_sso_by_email(&address).await.unwrap();
        let identity = r.identity_by_email(&address).await.unwrap();
        let domain = email_domain(address.as_str()).unwrap();
        let sso = r.sso_connection_for_domain(&domain).await.unwrap();
        assert_eq!(
            (together.0.is_some(), together.1.is_some()),
            (has_identity, has_sso),
            "{address}"
        );
        assert_eq!(together, (identity, sso), "{address}");
    }
    let (identity, sso) = r
        .identity_and_sso_by_email(&email("admin@acme.example"))
        .await
        .unwrap();
    assert_eq!(
        (identity.map(|i| i.id), sso),
        (Some(acme.identity.id), acme_sso)
    );
    drop(r);

    let mut tx = store.begin().await.unwrap();
    tx.put_sso_connection(&connection(initech.org.id, &["initech.example"]))
        .await
        .unwrap();
    // Last, so a backend that queues writes (SQLite) still holds it when the read comes.
    let newcomer = fixtures::identity("newcomer@initech.example");
    tx.insert_identity(&newcomer).await.unwrap();
    let (identity, sso) = tx.identity_and_sso_by_email(&newcomer.email).await.unwrap();
    assert_eq!(identity, Some(newcomer));
    assert_eq!(sso.map(|c| c.org_id), Some(initech.org.id));
    tx.rollback().await.unwrap();
}

pub async fn replacing_an_sso_connection_replaces_its_fields_and_domains(store: S) {
    let acme = tenant(&*store, "acme").await;
    let first = connection(acme.org.id, &["acme.example", "old.acme.example"]);
    put(&store, &first).await;

    let replacement = SsoConnection {
        issuer: "https://acme.okta.example".into(),
        client_id: "roster-2".into(),
        client_secret: "rotated".into(),
        scopes: vec!["email".into()],
        domains: vec!["new.acme.example".into(), "acme.example".into()],
        default_role: Some(BuiltinRole::Marketing),
        enforce: false,
        updated_at: first.updated_at + Duration::minutes(5),
        ..first.clone()
    };
    put(&store, &replacement).await;

    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.sso_connection(acme.org.id).await.unwrap(),
        Some(stored(replacement.clone()))
    );
    assert_eq!(
        owner(&mut *r, "old.acme.example").await,
        None,
        "dropped domain"
    );
    assert_eq!(owner(&mut *r, "acme.example").await, Some(acme.org.id));
    assert_eq!(owner(&mut *r, "new.acme.example").await, Some(acme.org.id));
    drop(r);

    // Replaced by a connection with no domain at all: none is left claimed.
    put(&store, &connection(acme.org.id, &[])).await;
    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.sso_connection(acme.org.id)
            .await
            .unwrap()
            .unwrap()
            .domains,
        Vec::<String>::new()
    );
    assert_eq!(owner(&mut *r, "acme.example").await, None);
    assert_eq!(owner(&mut *r, "new.acme.example").await, None);
}

/// Another organization's claim is refused and changes nothing, in the store and in the
/// caller's transaction, which stays usable (on PostgreSQL too, where a failed statement
/// would otherwise abort it).
pub async fn a_domain_claimed_by_one_organization_is_refused_to_another(store: S) {
    let acme = tenant(&*store, "acme").await;
    let initech = tenant(&*store, "initech").await;
    let globex = tenant(&*store, "globex").await;
    let acme_sso = connection(acme.org.id, &["acme.example", "shared.example"]);
    put(&store, &acme_sso).await;
    let initech_sso = connection(initech.org.id, &["initech.example"]);
    put(&store, &initech_sso).await;

    // A new connection claiming a taken domain: refused, and the transaction writes nothing.
    let mut tx = store.begin().await.unwrap();
    let err = tx
        .put_sso_connection(&connection(
            globex.org.id,
            &["globex.example", "shared.example"],
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::DomainClaimed), "{err:?}");
    drop(tx);
    let mut r = store.reads().await.unwrap();
    assert_eq!(r.sso_connection(globex.org.id).await.unwrap(), None);
    assert_eq!(owner(&mut *r, "globex.example").await, None);
    assert_eq!(owner(&mut *r, "shared.example").await, Some(acme.org.id));
    drop(r);

    // A replacement claiming a taken domain: refused, the old connection stays whole, and
    // the transaction carries on and commits its other writes.
    let mut tx = store.begin().await.unwrap();
    let grab = SsoConnection {
        issuer: "https://evil.example".into(),
        ..connection(
            initech.org.id,
            &["initech.example", "new.initech.example", "acme.example"],
        )
    };
    let err = tx.put_sso_connection(&grab).await.unwrap_err();
    assert!(matches!(err, StoreError::DomainClaimed), "{err:?}");
    assert_eq!(
        tx.sso_connection(initech.org.id).await.unwrap(),
        Some(initech_sso.clone()),
        "nothing changed inside the transaction either"
    );
    assert_eq!(owner(&mut *tx, "new.initech.example").await, None);
    tx.append_audit(&fixtures::audit(Some(initech.org.id), "sso.refused"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.sso_connection(initech.org.id).await.unwrap(),
        Some(initech_sso)
    );
    assert_eq!(
        r.sso_connection(acme.org.id).await.unwrap(),
        Some(stored(acme_sso))
    );
    assert_eq!(owner(&mut *r, "acme.example").await, Some(acme.org.id));
    assert_eq!(owner(&mut *r, "new.initech.example").await, None);
    let audit = r
        .list_audit(&AuditQuery {
            org_id: Some(initech.org.id),
            action: Some("sso.refused".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        audit.len(),
        1,
        "the transaction's other write was committed"
    );
}

pub async fn concurrent_claims_of_one_domain_let_exactly_one_win(store: S) {
    let mut orgs = vec![];
    for i in 0..6 {
        orgs.push(tenant(&*store, &format!("org-{i}")).await.org.id);
    }
    let mut handles = vec![];
    for org in orgs.clone() {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut tx = store.begin().await?;
            tx.put_sso_connection(&connection(org, &["contested.example"]))
                .await?;
            tx.commit().await?;
            Ok::<OrgId, StoreError>(org)
        }));
    }
    let mut winners = vec![];
    for h in handles {
        match h.await.unwrap() {
            Ok(org) => winners.push(org),
            Err(StoreError::DomainClaimed) => {}
            // A backend may refuse a racing writer as busy; it must never let two in.
            Err(StoreError::Busy) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "one organization per domain");
    let mut r = store.reads().await.unwrap();
    assert_eq!(owner(&mut *r, "contested.example").await, Some(winners[0]));
    for org in orgs {
        let has = r.sso_connection(org).await.unwrap().is_some();
        assert_eq!(has, org == winners[0], "only the winner has a connection");
    }
}

pub async fn deleting_an_sso_connection_frees_its_domains(store: S) {
    let acme = tenant(&*store, "acme").await;
    let initech = tenant(&*store, "initech").await;
    put(
        &store,
        &connection(acme.org.id, &["acme.example", "eu.acme.example"]),
    )
    .await;
    let initech_sso = connection(initech.org.id, &["initech.example"]);
    put(&store, &initech_sso).await;

    let mut tx = store.begin().await.unwrap();
    assert!(tx.delete_sso_connection(acme.org.id).await.unwrap());
    assert!(
        !tx.delete_sso_connection(acme.org.id).await.unwrap(),
        "already gone"
    );
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(!tx.delete_sso_connection(acme.org.id).await.unwrap());
    assert!(
        !tx.delete_sso_connection(OrgId::new()).await.unwrap(),
        "no such organization"
    );
    drop(tx);

    let mut r = store.reads().await.unwrap();
    assert_eq!(r.sso_connection(acme.org.id).await.unwrap(), None);
    assert_eq!(owner(&mut *r, "acme.example").await, None);
    assert_eq!(owner(&mut *r, "eu.acme.example").await, None);
    assert_eq!(
        r.sso_connection(initech.org.id).await.unwrap(),
        Some(initech_sso.clone()),
        "another organization's connection stays"
    );
    drop(r);

    // The freed domain can be claimed by another organization.
    let claimed = connection(initech.org.id, &["initech.example", "acme.example"]);
    put(&store, &claimed).await;
    let mut r = store.reads().await.unwrap();
    assert_eq!(owner(&mut *r, "acme.example").await, Some(initech.org.id));
    assert_eq!(owner(&mut *r, "eu.acme.example").await, None);
}

pub async fn sso_logins_are_taken_once(store: S) {
    let acme = tenant(&*store, "acme").await;
    let t0 = now();
    let (first, first_state) = login(acme.org.id, t0, Duration::minutes(10));
    let (second, second_state) = login(acme.org.id, t0, Duration::minutes(10));
    let second = SsoLogin {
        next: None,
        ..second
    };
    insert_logins(&store, &[&first, &second]).await;

    let at = t0 + Duration::minutes(1);
    let unknown = Secret::generate("").unwrap().hash();
    assert_eq!(take(&store, &unknown, at).await, None, "another state");
    assert_eq!(take(&store, &first_state, at).await, Some(first.clone()));
    assert_eq!(take(&store, &first_state, at).await, None, "used once");
    assert_eq!(
        take(&store, &second_state, at).await,
        Some(second),
        "the other sign-in is untouched"
    );
    assert_eq!(take(&store, &second_state, at).await, None);

    // A take in a transaction that is dropped takes nothing.
    let (third, third_state) = login(acme.org.id, t0, Duration::minutes(10));
    insert_logins(&store, &[&third]).await;
    let mut tx = store.begin().await.unwrap();
    assert!(tx.take_sso_login(&third_state, at).await.unwrap().is_some());
    drop(tx);
    assert_eq!(take(&store, &third_state, at).await, Some(third));

    // A state is a key: inserting it twice is refused.
    let (fourth, _) = login(acme.org.id, t0, Duration::minutes(10));
    insert_logins(&store, &[&fourth]).await;
    let mut tx = store.begin().await.unwrap();
    let err = tx.insert_sso_login(&fourth).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate), "{err:?}");
}

pub async fn expired_sso_logins_are_refused_and_pruned(store: S) {
    let acme = tenant(&*store, "acme").await;
    let t0 = now();
    let now = t0 + Duration::minutes(30);
    let (expired, expired_state) = login(acme.org.id, t0, Duration::minutes(10));
    let (other_expired, other_expired_state) = login(acme.org.id, t0, Duration::minutes(20));
    // Expires at `now` exactly: no longer live at `now`.
    let (at_limit, at_limit_state) = login(acme.org.id, t0, Duration::minutes(30));
    let (live, live_state) = login(acme.org.id, t0, Duration::minutes(31));
    insert_logins(&store, &[&expired, &other_expired, &at_limit, &live]).await;

    assert_eq!(
        take(&store, &expired_state, now).await,
        None,
        "expired is refused"
    );
    // Taken again as of a moment it was live: gone, so the take above deleted it, and
    // pruned the other sign-ins no longer live at `now` with it.
    let earlier = t0 + Duration::minutes(1);
    assert_eq!(take(&store, &expired_state, earlier).await, None, "pruned");
    assert_eq!(
        take(&store, &other_expired_state, earlier).await,
        None,
        "pruned"
    );
    assert_eq!(
        take(&store, &at_limit_state, earlier).await,
        None,
        "pruned at its expiry"
    );
    assert_eq!(
        take(&store, &live_state, now).await,
        Some(live),
        "a live one is kept until taken"
    );

    // Taking an unknown state prunes too.
    let (old, old_state) = login(acme.org.id, t0, Duration::minutes(5));
    insert_logins(&store, &[&old]).await;
    let unknown = Secret::generate("").unwrap().hash();
    assert_eq!(take(&store, &unknown, now).await, None);
    assert_eq!(take(&store, &old_state, earlier).await, None, "pruned");
}

pub async fn concurrent_sso_login_takes_let_exactly_one_win(store: S) {
    let acme = tenant(&*store, "acme").await;
    let (l, state) = login(acme.org.id, now(), Duration::minutes(10));
    // Expired sign-ins for every take to prune at once.
    let mut expired = vec![];
    for _ in 0..5 {
        expired.push(
            login(
                acme.org.id,
                now() - Duration::hours(1),
                Duration::minutes(10),
            )
            .0,
        );
    }
    let mut all: Vec<&SsoLogin> = expired.iter().collect();
    all.push(&l);
    insert_logins(&store, &all).await;

    let mut handles = vec![];
    for _ in 0..20 {
        let store = store.clone();
        let state = state.clone();
        handles.push(tokio::spawn(async move {
            let mut tx = store.begin().await?;
            let taken = tx.take_sso_login(&state, now()).await?;
            tx.commit().await?;
            Ok::<Option<SsoLogin>, StoreError>(taken)
        }));
    }
    let mut taken = vec![];
    for h in handles {
        match h.await.unwrap() {
            Ok(Some(t)) => taken.push(t),
            Ok(None) => {}
            // A backend may refuse a racing writer as busy; it must never let two in.
            Err(StoreError::Busy) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(taken, vec![l], "exactly one take of a state");
}

pub async fn sso_subjects_are_linked_per_organization_and_issuer(store: S) {
    let acme = tenant(&*store, "acme").await;
    let initech = tenant(&*store, "initech").await;
    let ada = acme.identity.id;
    assert_eq!(linked(&store, acme.org.id, ISSUER, "sub-1").await, None);

    let mut tx = store.begin().await.unwrap();
    tx.link_sso_subject(acme.org.id, ISSUER, "sub-1", ada, now())
        .await
        .unwrap();
    assert_eq!(
        tx.sso_subject(acme.org.id, ISSUER, "sub-1").await.unwrap(),
        Some(ada),
        "the transaction reads its own write"
    );
    tx.commit().await.unwrap();
    assert_eq!(
        linked(&store, acme.org.id, ISSUER, "sub-1").await,
        Some(ada)
    );

    // Another organization, issuer or subject finds nothing; all three compare exactly.
    assert_eq!(
        linked(&store, initech.org.id, ISSUER, "sub-1").await,
        None,
        "another organization"
    );
    assert_eq!(linked(&store, OrgId::new(), ISSUER, "sub-1").await, None);
    for issuer in [
        "https://acme.okta.example",
        "https://login.acme.example/realms/staff/",
        "https://LOGIN.acme.example/realms/staff",
        "",
    ] {
        assert_eq!(
            linked(&store, acme.org.id, issuer, "sub-1").await,
            None,
            "issuer {issuer:?}"
        );
    }
    for subject in ["sub-2", "SUB-1", "sub-1 ", "sub", ""] {
        assert_eq!(
            linked(&store, acme.org.id, ISSUER, subject).await,
            None,
            "subject {subject:?}"
        );
    }

    // The same issuer and subject in another organization is a link of its own, and so is
    // another issuer's subject of the same name; an identity may have several.
    link(&store, initech.org.id, ISSUER, "sub-1", initech.identity.id).await;
    link(
        &store,
        acme.org.id,
        "https://acme.okta.example",
        "sub-1",
        initech.identity.id,
    )
    .await;
    link(
        &store,
        acme.org.id,
        "https://acme.okta.example",
        "sub-9",
        ada,
    )
    .await;
    assert_eq!(
        linked(&store, acme.org.id, ISSUER, "sub-1").await,
        Some(ada)
    );
    assert_eq!(
        linked(&store, initech.org.id, ISSUER, "sub-1").await,
        Some(initech.identity.id)
    );
    assert_eq!(
        linked(&store, acme.org.id, "https://acme.okta.example", "sub-1").await,
        Some(initech.identity.id)
    );
    assert_eq!(
        linked(&store, acme.org.id, "https://acme.okta.example", "sub-9").await,
        Some(ada)
    );

    // A link in a transaction that is dropped links nothing.
    let mut tx = store.begin().await.unwrap();
    tx.link_sso_subject(acme.org.id, ISSUER, "sub-2", ada, now())
        .await
        .unwrap();
    drop(tx);
    assert_eq!(linked(&store, acme.org.id, ISSUER, "sub-2").await, None);
}

pub async fn relinking_an_sso_subject_replaces_its_identity(store: S) {
    let acme = tenant(&*store, "acme").await;
    let first = acme.identity.id;
    let second = fixtures::identity("grace@acme.example");
    let third = fixtures::identity("alan@acme.example");
    let mut tx = store.begin().await.unwrap();
    tx.insert_identity(&second).await.unwrap();
    tx.insert_identity(&third).await.unwrap();
    tx.commit().await.unwrap();
    let t0 = now();

    link(&store, acme.org.id, ISSUER, "sub-1", first).await;
    link(&store, acme.org.id, ISSUER, "sub-2", first).await;
    let mut tx = store.begin().await.unwrap();
    tx.link_sso_subject(
        acme.org.id,
        ISSUER,
        "sub-1",
        second.id,
        t0 + Duration::minutes(5),
    )
    .await
    .unwrap();
    assert_eq!(
        tx.sso_subject(acme.org.id, ISSUER, "sub-1").await.unwrap(),
        Some(second.id)
    );
    tx.commit().await.unwrap();
    assert_eq!(
        linked(&store, acme.org.id, ISSUER, "sub-1").await,
        Some(second.id),
        "replaced"
    );
    assert_eq!(
        linked(&store, acme.org.id, ISSUER, "sub-2").await,
        Some(first),
        "another subject of the old identity stays"
    );

    // Twice in one transaction, and linked again to the identity it already has: the last
    // link wins, never a duplicate.
    let mut tx = store.begin().await.unwrap();
    for identity in [third.id, second.id, second.id] {
        tx.link_sso_subject(acme.org.id, ISSUER, "sub-1", identity, now())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(
        linked(&store, acme.org.id, ISSUER, "sub-1").await,
        Some(second.id)
    );

    // A replacement in a transaction that is dropped leaves the link as it was.
    let mut tx = store.begin().await.unwrap();
    tx.link_sso_subject(acme.org.id, ISSUER, "sub-1", third.id, now())
        .await
        .unwrap();
    drop(tx);
    assert_eq!(
        linked(&store, acme.org.id, ISSUER, "sub-1").await,
        Some(second.id)
    );
}
