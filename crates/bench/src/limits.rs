//! Same-run limits that are not HTTP scenarios themselves.

use anyhow::{anyhow, bail};
use roster_core::passwords::{PasswordPolicy, Passwords, PolicyContext};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Raw argon2id verifications per second on all cores, in this process: the most password
/// sign-ins this machine could ever do. It uses `roster_core`'s own `Passwords` with the
/// server's parameters and one hasher per core (as the server has), so the only difference
/// from a sign-in is everything around the hash: HTTP, the store, the session it creates.
pub async fn argon2_verifications_per_second(
    password: &str,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<f64> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let passwords = Passwords::new(cores);
    let accepted = PasswordPolicy::default()
        .check(password, &PolicyContext::default())
        .map_err(|v| anyhow!("the bench password breaks the policy: {v:?}"))?;
    let hash = passwords.hash(accepted).await?;

    let counted = Arc::new(AtomicU64::new(0));
    let from = Instant::now() + warmup;
    let until = from + duration;
    let mut callers = tokio::task::JoinSet::new();
    // Twice as many callers as hashers, so a hasher never waits for its next caller.
    for _ in 0..cores * 2 {
        let (passwords, hash, counted) = (passwords.clone(), hash.clone(), counted.clone());
        let password = password.to_owned();
        callers.spawn(async move {
            while Instant::now() < until {
                if !passwords.verify(&password, &hash).await? {
                    bail!("argon2id did not verify its own hash");
                }
                let done = Instant::now();
                if done >= from && done <= until {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = callers.join_next().await {
        joined??;
    }
    Ok(counted.load(Ordering::Relaxed) as f64 / duration.as_secs_f64())
}
