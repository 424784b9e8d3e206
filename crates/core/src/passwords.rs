//! Password policy and hashing, in one place so every path that sets a password (accepting
//! an invitation, resetting and changing it) applies the same rules.
//!
//! The policy follows NIST SP 800-63B: a minimum length (12 by default, raised per
//! organization), a maximum of 1,024 bytes checked before any work, NFKC normalisation, no
//! composition rules, and a blocklist: a password is refused when it is a common or breached
//! password or a dictionary word, or when it contains the email's local part or an
//! organization's name.
//!
//! The blocklist is the ranked frequency lists embedded in the `zxcvbn` crate (30,000
//! passwords from breach data, 30,000 English words, 19,000 words from TV and film, 10,000
//! surnames and 4,700 first names). A password counts as common when zxcvbn's optimal
//! reading of it is one dictionary entry covering all of it, including the entry's l33t and
//! reversed spellings.
//!
//! Hashes are argon2id PHC strings with OWASP's parameters, computed off the async runtime
//! with a bounded number running at once and a bounded number waiting, so no burst of
//! requests can make the server hash, or queue hashing, without limit.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use unicode_normalization::UnicodeNormalization;
use zxcvbn::matching::patterns::MatchPattern;

pub const MAX_PASSWORD_BYTES: usize = 1024;
pub const DEFAULT_MIN_LENGTH: u32 = 12;

/// Passwords longer than this (in code points) are not looked up in the blocklist. The
/// longest entry in zxcvbn 3's lists has 23 characters and its l33t and reversed spellings
/// have as many, so a longer password cannot be one entry. zxcvbn's work grows faster than
/// linearly with the length: in release builds, up to about 50 ms for 23 characters chosen
/// to make it enumerate many l33t substitutions, and about 400 ms for 64.
pub const BLOCKLIST_MAX_CHARS: usize = 23;

/// An email local part or organization name shorter than this (in code points, whitespace
/// not counted) is not searched for in passwords: it would refuse too many good ones.
pub const MIN_CONTAINED_CHARS: usize = 3;

/// OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
pub const ARGON2_M_COST: u32 = 19_456;
pub const ARGON2_T_COST: u32 = 2;
pub const ARGON2_P_COST: u32 = 1;

/// How many callers may wait for each hash that may run, unless told otherwise.
pub const DEFAULT_WAITING_PER_HASHER: usize = 64;

/// Why a password was refused. All reasons are reported at once.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum PolicyViolation {
    TooShort {
        min_length: u32,
    },
    TooLong {
        max_bytes: usize,
    },
    ControlCharacter,
    /// A common or breached password, or a dictionary word.
    Common,
    /// Contains the local part of the account's email address.
    ContainsEmail,
    /// Contains the name of an organization the account belongs to.
    ContainsOrganizationName,
}

impl PolicyViolation {
    pub fn message(&self) -> String {
        match self {
            PolicyViolation::TooShort { min_length } => {
                format!("Use at least {min_length} characters.")
            }
            PolicyViolation::TooLong { max_bytes } => {
                format!("Use at most {max_bytes} bytes.")
            }
            PolicyViolation::ControlCharacter => {
                "Passwords cannot contain control characters.".to_owned()
            }
            PolicyViolation::Common => "This password is too common. Add a few words or \
                 characters that are personal to you, or use a passphrase."
                .to_owned(),
            PolicyViolation::ContainsEmail => {
                "Don't use your email address in your password.".to_owned()
            }
            PolicyViolation::ContainsOrganizationName => {
                "Don't use the organization's name in your password.".to_owned()
            }
        }
    }
}

/// What a password must not contain: the account's email and its organizations' names.
#[derive(Clone, Copy, Debug, Default)]
pub struct PolicyContext<'a> {
    pub email: Option<&'a str>,
    pub org_names: &'a [String],
}

/// A password that passed the policy, already NFKC-normalised. `Debug` never prints it.
pub struct AcceptedPassword(String);

impl std::fmt::Debug for AcceptedPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AcceptedPassword(<redacted>)")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: u32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: DEFAULT_MIN_LENGTH,
        }
    }
}

impl PasswordPolicy {
    /// The policy for someone bound by several organizations' minimums: the largest of
    /// them, never below the default.
    pub fn strictest<I: IntoIterator<Item = u32>>(mins: I) -> Self {
        Self {
            min_length: mins.into_iter().fold(DEFAULT_MIN_LENGTH, u32::max),
        }
    }

    /// [`PasswordPolicy::check`] on the blocking pool. The blocklist lookup takes up to tens
    /// of milliseconds for some inputs, which must not stall the async runtime's threads.
    pub async fn check_off_runtime(
        self,
        candidate: String,
        email: Option<String>,
        org_names: Vec<String>,
    ) -> Result<AcceptedPassword, Vec<PolicyViolation>> {
        if candidate.len() > MAX_PASSWORD_BYTES {
            return self.check(&candidate, &PolicyContext::default());
        }
        let run = move || {
            self.check(
                &candidate,
                &PolicyContext {
                    email: email.as_deref(),
                    org_names: &org_names,
                },
            )
        };
        match tokio::task::spawn_blocking(run).await {
            Ok(result) => result,
            // The task panicked or the runtime is shutting down: refuse, never accept.
            Err(_) => Err(vec![PolicyViolation::Common]),
        }
    }

    /// Checks a candidate. The byte cap is checked on the raw input first, so an oversized
    /// password is refused before any work is done on it. Otherwise every reason is
    /// reported.
    pub fn check(
        &self,
        candidate: &str,
        context: &PolicyContext<'_>,
    ) -> Result<AcceptedPassword, Vec<PolicyViolation>> {
        if candidate.len() > MAX_PASSWORD_BYTES {
            return Err(vec![PolicyViolation::TooLong {
                max_bytes: MAX_PASSWORD_BYTES,
            }]);
        }
        let normalized = normalize(candidate);
        let mut violations = Vec::new();
        if normalized.len() > MAX_PASSWORD_BYTES {
            violations.push(PolicyViolation::TooLong {
                max_bytes: MAX_PASSWORD_BYTES,
            });
        }
        let length = u32::try_from(normalized.chars().count()).unwrap_or(u32::MAX);
        if length < self.min_length {
            violations.push(PolicyViolation::TooShort {
                min_length: self.min_length,
            });
        }
        if normalized.chars().any(char::is_control) {
            violations.push(PolicyViolation::ControlCharacter);
        }
        let folded = fold(&normalized);
        if is_common(&folded) {
            violations.push(PolicyViolation::Common);
        }
        if context
            .email
            .is_some_and(|email| contains_local_part(&folded, email))
        {
            violations.push(PolicyViolation::ContainsEmail);
        }
        if context
            .org_names
            .iter()
            .any(|name| contains_org_name(&folded, name))
        {
            violations.push(PolicyViolation::ContainsOrganizationName);
        }
        if violations.is_empty() {
            Ok(AcceptedPassword(normalized))
        } else {
            Err(violations)
        }
    }
}

fn normalize(s: &str) -> String {
    s.nfkc().collect()
}

/// The form passwords and forbidden words are compared in: NFKC, then lowercase.
fn fold(s: &str) -> String {
    normalize(s).to_lowercase()
}

fn without_whitespace(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Whether the (folded) password is one blocklist entry, possibly l33t-spelled or reversed.
fn is_common(folded: &str) -> bool {
    let length = folded.chars().count();
    if length == 0 || length > BLOCKLIST_MAX_CHARS {
        return false;
    }
    let entropy = zxcvbn::zxcvbn(folded, &[]);
    match entropy.sequence() {
        [only] => {
            only.i == 0
                && only.j + 1 == length
                && matches!(only.pattern, MatchPattern::Dictionary(_))
        }
        _ => false,
    }
}

/// Whether `needle` (already folded) is long enough to search for and occurs in `haystack`.
fn contains_word(haystack: &str, needle: &str) -> bool {
    needle.chars().count() >= MIN_CONTAINED_CHARS && haystack.contains(needle)
}

/// Whether the (folded) password contains the email's local part, or the local part without
/// its `+tag`.
fn contains_local_part(folded: &str, email: &str) -> bool {
    let local = email.rsplit_once('@').map_or(email, |(local, _)| local);
    let local = fold(local);
    let untagged = local
        .split_once('+')
        .map_or(local.as_str(), |(base, _)| base);
    contains_word(folded, &local) || contains_word(folded, untagged)
}

/// Whether the (folded) password contains the organization's name, whitespace ignored on
/// both sides ("Acme Corp" is found in "acmecorp2024!!").
fn contains_org_name(folded: &str, name: &str) -> bool {
    contains_word(
        &without_whitespace(folded),
        &without_whitespace(&fold(name)),
    )
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("the password hashing pool is closed")]
    Closed,
    /// Too many hashes are running and waiting; try again later.
    #[error("too many passwords are being hashed; try again later")]
    Busy,
}

/// Hashes and verifies passwords. At most `concurrency` hashes run at once and at most
/// `max_waiting` more wait their turn; beyond that, calls fail at once with
/// [`HashError::Busy`].
#[derive(Clone, Debug)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    queue: Arc<Queue>,
    threads: Arc<HasherThreads>,
}

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads that do all the hashing. argon2id takes 19 MiB per hash; done on
/// tokio's blocking pool, whose threads come and go, every new thread gets its own malloc
/// arena and keeps the memory, and a burst of sign-ins left the process at ~600 MB. With
/// `concurrency` long-lived threads the memory a hash needs is reused.
struct HasherThreads {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
}

impl std::fmt::Debug for HasherThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HasherThreads")
    }
}

impl HasherThreads {
    fn start(count: usize) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for n in 0..count {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("roster-hasher-{n}"))
                .spawn(move || loop {
                    // The lock is held only to take the next job, not while hashing.
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        // A panicking hash must not take the thread with it; its caller
                        // sees the dropped result as `Closed`.
                        Ok(job) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        // Every `Passwords` is gone: nothing more will come.
                        Err(_) => return,
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        Self {
            jobs: std::sync::Mutex::new(tx),
        }
    }

    fn submit(&self, job: Job) -> Result<(), HashError> {
        self.jobs
            .lock()
            .map_err(|_| HashError::Closed)?
            .send(job)
            .map_err(|_| HashError::Closed)
    }
}

/// Counts the calls admitted (running or waiting) against the room there is.
#[derive(Debug)]
struct Queue {
    admitted: AtomicUsize,
    capacity: usize,
}

/// One admitted call; leaving makes room for the next.
struct Admission(Arc<Queue>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

fn argon2() -> Result<Argon2<'static>, HashError> {
    let params = Params::new(ARGON2_M_COST, ARGON2_T_COST, ARGON2_P_COST, None)
        .map_err(|e| HashError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(normalized: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()?
        .hash_password(normalized.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Hash(e.to_string()))
}

thread_local! {
    /// argon2id's working memory, kept by each hasher thread and reused by every
    /// verification it runs, so a sign-in allocates none of its 19 MiB.
    static WORK_MEMORY: std::cell::RefCell<Vec<argon2::Block>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Verifies with the parameters recorded in `stored`, in this thread's reused memory. A
/// malformed stored hash never matches. The comparison is constant-time (`Output`'s `==`).
fn verify_blocking(candidate: &str, stored: &str) -> Result<bool, HashError> {
    let candidate = normalize(candidate);
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Ok(false);
    };
    let (Ok(algorithm), Some(expected), Some(salt)) = (
        Algorithm::try_from(parsed.algorithm),
        parsed.hash,
        parsed.salt,
    ) else {
        return Ok(false);
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return Ok(false),
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return Ok(false);
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return Ok(false);
    };
    let mut out = [0u8; 64];
    let Some(out) = out.get_mut(..expected.len()) else {
        return Ok(false);
    };
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let computed = WORK_MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        argon2.hash_password_into_with_memory(
            candidate.as_bytes(),
            salt,
            out,
            &mut memory[..blocks],
        )
    });
    if computed.is_err() {
        return Ok(false);
    }
    Ok(argon2::password_hash::Output::new(out).is_ok_and(|o| o == expected))
}

/// A hash with the current parameters of a password nobody has, to verify against when
/// there is no real hash. Computed once per process.
fn dummy_hash() -> Result<&'static str, HashError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let hash = hash_blocking("roster dummy password: no account has this one")?;
    Ok(DUMMY.get_or_init(|| hash))
}

/// Whether a stored hash is weaker than what [`Passwords::hash`] makes now (not argon2id
/// version 19 with at least m=19456, t=2, p=1), so it should be replaced after the next
/// successful sign-in. A string that is not a PHC hash also needs replacing.
pub fn needs_rehash(stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return true;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT
        || parsed.version != Some(u32::from(Version::V0x13))
    {
        return true;
    }
    let Ok(params) = Params::try_from(&parsed) else {
        return true;
    };
    params.m_cost() < ARGON2_M_COST
        || params.t_cost() < ARGON2_T_COST
        || params.p_cost() < ARGON2_P_COST
}

impl Passwords {
    /// `concurrency` hashes may run at once and `DEFAULT_WAITING_PER_HASHER` times as many
    /// may wait.
    pub fn new(concurrency: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self::with_max_waiting(
            concurrency,
            concurrency.saturating_mul(DEFAULT_WAITING_PER_HASHER),
        )
    }

    /// `concurrency` hashes may run at once (at least one) and `max_waiting` may wait.
    pub fn with_max_waiting(concurrency: usize, max_waiting: usize) -> Self {
        let concurrency = concurrency.clamp(1, 256);
        Self {
            threads: Arc::new(HasherThreads::start(concurrency)),
            permits: Arc::new(Semaphore::new(concurrency)),
            queue: Arc::new(Queue {
                admitted: AtomicUsize::new(0),
                capacity: concurrency.saturating_add(max_waiting),
            }),
        }
    }

    /// Takes a place among the running and waiting calls, or fails when there is none.
    fn admit(&self) -> Result<Admission, HashError> {
        let queue = &self.queue;
        queue
            .admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < queue.capacity).then_some(n + 1)
            })
            .map_err(|_| HashError::Busy)?;
        Ok(Admission(Arc::clone(queue)))
    }

    /// Runs `work` on a hasher thread once admitted and given a permit. The admission and
    /// the permit go with the work, so a caller that gives up does not free them before the
    /// hash it started has finished.
    async fn run<T, F>(&self, work: F) -> Result<T, HashError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, HashError> + Send + 'static,
    {
        let admission = self.admit()?;
        let permit: OwnedSemaphorePermit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| HashError::Closed)?;
        let (done, result) = tokio::sync::oneshot::channel();
        self.threads.submit(Box::new(move || {
            let result = work();
            // Make room before answering, so the caller never sees its own call as running.
            drop((admission, permit));
            let _ = done.send(result);
        }))?;
        result.await.map_err(|_| HashError::Closed)?
    }

    pub async fn hash(&self, password: AcceptedPassword) -> Result<String, HashError> {
        self.run(move || hash_blocking(&password.0)).await
    }

    /// Hashes again, with the current parameters, a password that has just verified
    /// against a hash for which [`needs_rehash`] is true. It is not checked against the
    /// policy: it may predate the current rules, and refusing it would lock its owner out.
    pub async fn rehash(&self, password: &str) -> Result<String, HashError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(HashError::Hash(format!(
                "a password longer than {MAX_PASSWORD_BYTES} bytes cannot be rehashed"
            )));
        }
        let password = password.to_owned();
        self.run(move || hash_blocking(&normalize(&password))).await
    }

    /// Whether `candidate` matches the stored PHC string. A malformed stored hash never
    /// matches.
    pub async fn verify(&self, candidate: &str, stored: &str) -> Result<bool, HashError> {
        if candidate.len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        let candidate = candidate.to_owned();
        let stored = stored.to_owned();
        self.run(move || verify_blocking(&candidate, &stored)).await
    }

    /// Does the work of [`Passwords::verify`] against a hash with the current parameters,
    /// for when there is no real hash (unknown email, no password yet), so such a sign-in
    /// takes as long as one for an account that has a password.
    pub async fn verify_dummy(&self, candidate: &str) -> Result<(), HashError> {
        if candidate.len() > MAX_PASSWORD_BYTES {
            return Ok(());
        }
        let candidate = candidate.to_owned();
        self.run(move || verify_blocking(&candidate, dummy_hash()?).map(|_| ()))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    fn no_context() -> PolicyContext<'static> {
        PolicyContext::default()
    }

    fn check(candidate: &str) -> Result<AcceptedPassword, Vec<PolicyViolation>> {
        PasswordPolicy::default().check(candidate, &no_context())
    }

    /// Entries of zxcvbn's lists, at least 12 characters long, checked to be refused.
    const KNOWN_COMMON: &[&str] = &[
        // Passwords from breach data.
        "password1234",
        "qwerty123456",
        "123456qwerty",
        "leavemealone",
        "1qaz2wsx3edc",
        "123qweasdzxc",
        "qazwsxedcrfv",
        "sonyericsson",
        "123456654321",
        // English words, words from TV and film, surnames; the first is the longest entry.
        "verwaltungsgemeinschaft",
        "internationalization",
        "international",
        "organization",
        "relationship",
        "congratulations",
        "hollingsworth",
    ];

    #[test]
    fn length_rules() {
        assert_eq!(
            check("xqzvbkwmjtp").unwrap_err(),
            vec![PolicyViolation::TooShort { min_length: 12 }]
        );
        assert!(check("xqzvbkwmjtpr").is_ok(), "12 characters");
        assert!(check("twelve chars").is_ok());
        assert!(check(&"🦀".repeat(12)).is_ok(), "code points, not bytes");
        assert_eq!(
            check(&"🦀".repeat(11)).unwrap_err(),
            vec![PolicyViolation::TooShort { min_length: 12 }]
        );
        assert!(check(&"x".repeat(1024)).is_ok());
        let raised = PasswordPolicy { min_length: 15 };
        assert_eq!(
            raised.check("fourteen chars", &no_context()).unwrap_err(),
            vec![PolicyViolation::TooShort { min_length: 15 }]
        );
        assert!(raised.check("fifteen chars!!", &no_context()).is_ok());
    }

    #[test]
    fn oversized_is_refused_before_any_other_work() {
        // 1025 bytes that would be far longer after NFKC (U+FDFA becomes 18 characters)
        // and would fail other rules too: only the byte cap is reported.
        let oversized = format!("{}\u{7}a", "\u{FDFA}".repeat(341));
        assert_eq!(oversized.len(), 1025);
        assert_eq!(
            check(&oversized).unwrap_err(),
            vec![PolicyViolation::TooLong { max_bytes: 1024 }]
        );
        assert_eq!(
            check(&"x".repeat(1025)).unwrap_err(),
            vec![PolicyViolation::TooLong { max_bytes: 1024 }]
        );
        // Within the raw cap but over it after NFKC: refused, not truncated.
        let expands = "\u{FDFA}".repeat(100);
        assert!(expands.len() <= 1024);
        assert!(check(&expands)
            .unwrap_err()
            .contains(&PolicyViolation::TooLong { max_bytes: 1024 }));
    }

    #[test]
    fn accepted_passwords_are_never_truncated() {
        let long = "correct horse battery staple ".repeat(35);
        assert!(long.len() <= 1024);
        let accepted = check(&long).unwrap();
        assert_eq!(accepted.0, long);
    }

    #[test]
    fn nfkc_is_applied_before_everything() {
        let a = check("ﬁne ﬁne ﬁne ﬁne").unwrap();
        let b = check("fine fine fine fine").unwrap();
        assert_eq!(a.0, b.0);
        assert_eq!(a.0, "fine fine fine fine");
        // Full-width letters are the ASCII ones after NFKC, so the blocklist sees them.
        assert_eq!(
            check("ｑｗｅｒｔｙ１２３４５６").unwrap_err(),
            vec![PolicyViolation::Common]
        );
    }

    #[test]
    fn printable_characters_and_spaces_need_no_composition() {
        assert!(check("all lowercase words here").is_ok());
        assert!(check("🦀🦀🦀 crabs 🦀🦀🦀").is_ok());
        assert!(check("            a").is_ok(), "spaces count");
        assert!(check("ÉÀÇ ünïcödé ñ ß").is_ok());
        assert!(check("!@#$%^&*()_+-=[]{}").is_ok());
        assert_eq!(
            check("tab\tinside password").unwrap_err(),
            vec![PolicyViolation::ControlCharacter]
        );
    }

    #[test]
    fn known_common_passwords_and_words_are_refused() {
        assert_eq!(
            "verwaltungsgemeinschaft".chars().count(),
            BLOCKLIST_MAX_CHARS,
            "the longest entry is looked up"
        );
        for common in KNOWN_COMMON {
            assert!(common.chars().count() >= 12, "{common}");
            assert_eq!(
                check(common).unwrap_err(),
                vec![PolicyViolation::Common],
                "{common}"
            );
        }
    }

    #[test]
    fn blocklist_sees_through_case_l33t_and_reversal() {
        for variant in [
            "QWERTY123456",
            "LeaveMeAlone",
            "l3av3m3al0n3",
            "enolaemevael",
            "lanoitanretni",
        ] {
            assert_eq!(
                check(variant).unwrap_err(),
                vec![PolicyViolation::Common],
                "{variant}"
            );
        }
    }

    #[test]
    fn a_common_word_within_a_longer_password_is_fine() {
        assert!(check("leavemealone on friday 7").is_ok());
        assert!(check("international zebra quilt").is_ok());
    }

    #[test]
    fn short_list_entries_are_single_dictionary_matches_too() {
        // Spot checks across the breach list, its tail included.
        for common in ["password", "dragon", "1q2w3e4r", "iloveyou", "trustno1"] {
            let entropy = zxcvbn::zxcvbn(common, &[]);
            assert!(
                matches!(
                    entropy.sequence(),
                    [m] if matches!(m.pattern, MatchPattern::Dictionary(_))
                ),
                "{common}"
            );
        }
        // Short entries are refused too, with the length.
        assert_eq!(
            check("password").unwrap_err(),
            vec![
                PolicyViolation::TooShort { min_length: 12 },
                PolicyViolation::Common
            ]
        );
    }

    #[test]
    fn the_email_local_part_is_refused_in_any_case() {
        let policy = PasswordPolicy::default();
        let context = PolicyContext {
            email: Some("Jane.Doe+roster@example.com"),
            org_names: &[],
        };
        assert_eq!(
            policy
                .check("my name is JANE.DOE ok", &context)
                .unwrap_err(),
            vec![PolicyViolation::ContainsEmail]
        );
        assert_eq!(
            policy.check("jane.doe+roster is me", &context).unwrap_err(),
            vec![PolicyViolation::ContainsEmail]
        );
        assert!(policy.check("jane doe, kind of", &context).is_ok());
        // The domain is not forbidden, only the local part.
        assert!(policy.check("example.com forever", &context).is_ok());
        // Local parts shorter than three characters are ignored.
        let short = PolicyContext {
            email: Some("jd@example.com"),
            org_names: &[],
        };
        assert!(policy.check("jd likes long words", &short).is_ok());
    }

    #[test]
    fn organization_names_are_refused_with_or_without_spaces() {
        let policy = PasswordPolicy::default();
        let names = ["Acme Corp".to_owned(), "XY".to_owned()];
        let context = PolicyContext {
            email: None,
            org_names: &names,
        };
        for password in ["acmecorp2024!!", "I work at ACME CORP", "a c m e c o r p!"] {
            assert_eq!(
                policy.check(password, &context).unwrap_err(),
                vec![PolicyViolation::ContainsOrganizationName],
                "{password}"
            );
        }
        assert!(policy.check("acme is not enough", &context).is_ok());
        assert!(
            policy.check("xy is too short to matter", &context).is_ok(),
            "names under three characters are ignored"
        );
    }

    #[tokio::test]
    async fn the_blocking_pool_check_is_the_same_check() {
        let policy = PasswordPolicy::default();
        let names = vec!["Acme".to_owned()];
        for candidate in ["bob\u{7}acme", "password1234", "quiet meadow telescope"] {
            let here = policy.check(
                candidate,
                &PolicyContext {
                    email: Some("bob@acme.example"),
                    org_names: &names,
                },
            );
            let there = policy
                .check_off_runtime(
                    candidate.to_owned(),
                    Some("bob@acme.example".to_owned()),
                    names.clone(),
                )
                .await;
            assert_eq!(here.map(|_| ()), there.map(|_| ()), "{candidate}");
        }
        assert!(policy
            .check_off_runtime("x".repeat(1025), None, vec![])
            .await
            .is_err());
    }

    #[test]
    fn all_reasons_are_reported_at_once() {
        let names = ["Acme".to_owned()];
        let context = PolicyContext {
            email: Some("bob@acme.example"),
            org_names: &names,
        };
        assert_eq!(
            PasswordPolicy::default()
                .check("bob\u{7}acme", &context)
                .unwrap_err(),
            vec![
                PolicyViolation::TooShort { min_length: 12 },
                PolicyViolation::ControlCharacter,
                PolicyViolation::ContainsEmail,
                PolicyViolation::ContainsOrganizationName,
            ]
        );
        assert_eq!(
            PasswordPolicy { min_length: 20 }
                .check("organization", &context)
                .unwrap_err(),
            vec![
                PolicyViolation::TooShort { min_length: 20 },
                PolicyViolation::Common,
            ]
        );
    }

    #[test]
    fn violations_serialise_with_a_reason_tag() {
        let json = serde_json::to_value([
            PolicyViolation::TooShort { min_length: 12 },
            PolicyViolation::Common,
            PolicyViolation::ContainsEmail,
            PolicyViolation::ContainsOrganizationName,
        ])
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                { "reason": "too_short", "min_length": 12 },
                { "reason": "common" },
                { "reason": "contains_email" },
                { "reason": "contains_organization_name" },
            ])
        );
        assert_eq!(
            PolicyViolation::Common.message(),
            "This password is too common. Add a few words or characters that are personal \
             to you, or use a passphrase."
        );
    }

    #[test]
    fn strictest_takes_the_largest_minimum_never_below_the_default() {
        assert_eq!(PasswordPolicy::strictest([]).min_length, 12);
        assert_eq!(PasswordPolicy::strictest([8, 10]).min_length, 12);
        assert_eq!(PasswordPolicy::strictest([14, 20, 16]).min_length, 20);
    }

    /// Printable characters from many scripts, spaces included.
    fn printable() -> impl Strategy<Value = char> {
        prop_oneof![
            proptest::char::range(' ', '~'),
            proptest::char::range('\u{A1}', '\u{24F}'),
            proptest::char::range('\u{370}', '\u{3FF}'),
            proptest::char::range('\u{400}', '\u{4FF}'),
            proptest::char::range('\u{4E00}', '\u{4FFF}'),
            proptest::char::range('\u{1F300}', '\u{1F64F}'),
            Just('\u{FB01}'),
            Just('\u{FF21}'),
        ]
    }

    fn password(lengths: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
        proptest::collection::vec(printable(), lengths).prop_map(|cs| cs.into_iter().collect())
    }

    proptest! {
        #[test]
        fn accepted_passwords_respect_the_length_bounds(
            candidate in password(0..=80),
            min_length in 12u32..=20,
        ) {
            let policy = PasswordPolicy { min_length };
            if let Ok(accepted) = policy.check(&candidate, &no_context()) {
                prop_assert!(accepted.0.chars().count() >= min_length as usize);
                prop_assert!(accepted.0.len() <= MAX_PASSWORD_BYTES);
            }
        }

        #[test]
        fn shorter_than_the_minimum_is_refused_as_too_short(
            candidate in proptest::collection::vec(proptest::char::range('a', 'z'), 0..=19)
                .prop_map(|cs| cs.into_iter().collect::<String>()),
            min_length in 12u32..=20,
        ) {
            prop_assume!(candidate.chars().count() < min_length as usize);
            let violations = PasswordPolicy { min_length }
                .check(&candidate, &no_context())
                .unwrap_err();
            let too_short = PolicyViolation::TooShort { min_length };
            prop_assert!(violations.contains(&too_short), "{:?}", violations);
        }

        #[test]
        fn check_is_deterministic_and_nfkc_insensitive(candidate in password(0..=40)) {
            let names = ["Acme Corp".to_owned()];
            let context = PolicyContext { email: Some("alice@example.com"), org_names: &names };
            let policy = PasswordPolicy::default();
            let first = policy.check(&candidate, &context).map(|a| a.0);
            let second = policy.check(&candidate, &context).map(|a| a.0);
            prop_assert_eq!(&first, &second);
            let equivalent: String = candidate.nfkd().collect();
            prop_assert_eq!(&first, &policy.check(&equivalent, &context).map(|a| a.0));
        }

        #[test]
        fn containing_the_email_local_part_is_always_refused(
            local in "[a-z0-9][a-z0-9._-]{2,15}",
            prefix in password(0..=12),
            suffix in password(0..=12),
            uppercase in proptest::collection::vec(any::<bool>(), 16),
        ) {
            let cased: String = local
                .chars()
                .zip(uppercase.iter().cycle())
                .map(|(c, &up)| if up { c.to_ascii_uppercase() } else { c })
                .collect();
            let email = format!("{local}@example.com");
            let context = PolicyContext { email: Some(&email), org_names: &[] };
            let violations = PasswordPolicy::default()
                .check(&format!("{prefix}{cased}{suffix}"), &context)
                .unwrap_err();
            prop_assert!(violations.contains(&PolicyViolation::ContainsEmail));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

        #[test]
        fn accepted_passwords_hash_and_verify(candidate in password(12..=64)) {
            if let Ok(accepted) = check(&candidate) {
                let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
                let pw = Passwords::new(1);
                let hash = runtime.block_on(pw.hash(accepted)).unwrap();
                prop_assert!(runtime.block_on(pw.verify(&candidate, &hash)).unwrap());
            }
        }
    }

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify_after_nfkc() {
        let pw = Passwords::new(2);
        let a = pw.hash(check("ﬁne ﬁne ﬁne ﬁne").unwrap()).await.unwrap();
        let b = pw
            .hash(check("fine fine fine fine").unwrap())
            .await
            .unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert!(!needs_rehash(&a));
        assert_ne!(a, b, "unique salts");
        assert!(pw.verify("fine fine fine fine", &a).await.unwrap(), "NFKC");
        assert!(!pw.verify("fine fine fine fine!", &a).await.unwrap());
        assert!(!pw.verify("fine fine fine fin", &a).await.unwrap());
        assert!(!pw.verify("x", "not a phc string").await.unwrap());
        assert!(!pw.verify(&"x".repeat(1025), &a).await.unwrap());
    }

    fn weak_hash(algorithm: Algorithm, m: u32, t: u32, p: u32) -> String {
        let params = Params::new(m, t, p, None).unwrap();
        Argon2::new(algorithm, Version::V0x13, params)
            .hash_password(b"an old password", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn weaker_hashes_need_rehashing_and_still_verify() {
        let old = weak_hash(Algorithm::Argon2id, 4096, 3, 1);
        assert!(old.starts_with("$argon2id$v=19$m=4096,t=3,p=1$"), "{old}");
        assert!(needs_rehash(&old));
        assert!(needs_rehash(&weak_hash(Algorithm::Argon2id, 19_456, 1, 1)));
        assert!(needs_rehash(&weak_hash(Algorithm::Argon2i, 19_456, 2, 1)));
        assert!(needs_rehash(&weak_hash(Algorithm::Argon2d, 19_456, 2, 1)));
        assert!(!needs_rehash(&weak_hash(Algorithm::Argon2id, 19_456, 2, 1)));
        assert!(!needs_rehash(&weak_hash(Algorithm::Argon2id, 32_768, 3, 2)));
        assert!(needs_rehash("not a phc string"));

        let pw = Passwords::new(1);
        assert!(pw.verify("an old password", &old).await.unwrap());
        let new = pw.rehash("an old password").await.unwrap();
        assert!(!needs_rehash(&new));
        assert!(pw.verify("an old password", &new).await.unwrap());
    }

    #[tokio::test]
    async fn dummy_verification_uses_the_current_parameters() {
        let pw = Passwords::new(1);
        pw.verify_dummy("whatever they typed").await.unwrap();
        let dummy = dummy_hash().unwrap();
        assert!(
            dummy.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{dummy}"
        );
        assert!(!needs_rehash(dummy));
        assert_eq!(dummy_hash().unwrap(), dummy, "computed once");
        pw.verify_dummy(&"x".repeat(1025)).await.unwrap();
    }

    #[tokio::test]
    async fn beyond_the_waiting_room_calls_are_busy_at_once() {
        let pw = Passwords::with_max_waiting(1, 1);
        // One running, one waiting: the room is full.
        let running = pw.admit().unwrap();
        let waiting = pw.admit().unwrap();
        assert!(matches!(pw.admit(), Err(HashError::Busy)));
        let accepted = check("correct horse battery").unwrap();
        assert!(matches!(pw.hash(accepted).await, Err(HashError::Busy)));
        assert!(matches!(pw.verify("a", "b").await, Err(HashError::Busy)));
        assert!(matches!(pw.verify_dummy("a").await, Err(HashError::Busy)));
        assert!(matches!(pw.rehash("a").await, Err(HashError::Busy)));
        drop(waiting);
        drop(running);
        assert_eq!(pw.queue.admitted.load(Ordering::Acquire), 0);
        assert!(!pw.verify("a", "not a phc string").await.unwrap());
        assert_eq!(pw.queue.admitted.load(Ordering::Acquire), 0, "released");
    }

    #[tokio::test]
    async fn callers_wait_for_a_permit_within_the_waiting_room() {
        let pw = Passwords::with_max_waiting(1, 1);
        // Stands for a hash that is running.
        let held = Arc::clone(&pw.permits).acquire_owned().await.unwrap();
        let occupied = pw.admit().unwrap();
        let waiter = tokio::spawn({
            let pw = pw.clone();
            async move { pw.verify("a", "not a phc string").await }
        });
        tokio::time::timeout(Duration::from_secs(10), async {
            while pw.queue.admitted.load(Ordering::Acquire) < 2 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap();
        assert!(!waiter.is_finished(), "waits for the permit");
        assert!(matches!(pw.verify("a", "b").await, Err(HashError::Busy)));
        drop(held);
        assert!(!waiter.await.unwrap().unwrap());
        drop(occupied);
        assert_eq!(pw.queue.admitted.load(Ordering::Acquire), 0);
    }
}
