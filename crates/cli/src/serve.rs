//! `roster serve`: the HTTP server and the outbox worker, with a graceful shutdown on
//! SIGINT/SIGTERM: stop accepting, let in-flight requests finish, stop the worker, close
//! the store.

use crate::config::Config;
use anyhow::Context;
use roster_core::clock::SystemClock;
use roster_core::{Links, Roster};
use roster_mail::{MessageSettings, OutboxWorker, Transport, WorkerSettings};
use roster_web::{AppState, WebConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let store = crate::store::open(&config).await?;
    let clock = Arc::new(SystemClock);
    let roster = Roster::new(store.clone(), clock.clone(), Links::new(&config.public_url))
        .with_catalog(config.catalog.clone());
    let web = WebConfig {
        trusted_proxies: config.trusted_proxies.clone(),
        ..WebConfig::for_public_url(&config.public_url)
    };
    let state = AppState::new(roster.clone(), web);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local = listener.local_addr()?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = OutboxWorker::new(
        store.clone(),
        clock,
        Transport::from_spec(&config.mail, &config.public_host()).context("mail transport")?,
        MessageSettings {
            from: config.mail_from.clone(),
            message_id_domain: config.public_host(),
        },
        WorkerSettings::default(),
    );
    let worker = tokio::spawn(worker.run(stop_rx.clone()));
    let digests = tokio::spawn(digest_scheduler(roster.clone(), stop_rx));

    tracing::info!(
        url = %format!("http://{local}"),
        public_url = %config.public_url,
        backend = store.backend(),
        mail = %config.mail,
        "Roster listening on http://{local}"
    );
    let app =
        roster_web::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server error")?;

    tracing::info!("stopping: in-flight requests done, stopping the outbox worker");
    let _ = stop_tx.send(true);
    // A digest pass in progress is dropped after the timeout; its transactions roll back
    // and what it did not finish stays due.
    let _ = tokio::time::timeout(Duration::from_secs(10), digests).await;
    if tokio::time::timeout(Duration::from_secs(10), worker)
        .await
        .is_err()
    {
        tracing::warn!("the outbox worker did not stop in time; its leases will expire");
    }
    roster.background.settle().await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Memberships a digest pass plans or handles at most; a full pass runs again at once.
const DIGEST_BATCH: u32 = 200;

/// The digest scheduler: every minute, plans new memberships and queues the digests that
/// are due. Every instance runs one; the store decides which sends each digest.
async fn digest_scheduler(roster: Roster, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            break;
        }
        let full = match roster.run_digests(DIGEST_BATCH).await {
            Ok(pass) => {
                if pass.queued > 0 {
                    tracing::info!(queued = pass.queued, empty = pass.empty, "digests queued");
                }
                let handled = pass.queued + pass.empty + pass.skipped + pass.failed;
                pass.planned >= DIGEST_BATCH as usize || handled >= DIGEST_BATCH as usize
            }
            Err(e) => {
                tracing::error!(error = %e, "digest pass failed");
                false
            }
        };
        if !full {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
