//! Load over loopback, two ways.
//!
//! A **closed-loop probe** keeps a fixed number of connections busy back to back and counts
//! what completes: the most the server does per second, used as the scenario's throughput
//! and to pick the rate of the latency run.
//!
//! An **open-model run** sends at a fixed arrival rate whatever the server does, the way
//! independent users arrive, and measures each request's latency from the moment it was
//! *meant* to be sent. A closed loop would wait out a stall and record it once; here every
//! request scheduled during the stall carries its share, so coordinated omission cannot
//! hide it. The schedule is kept by a plain thread with `std::thread::sleep` (tens of
//! microseconds late on Linux, and that lateness is counted) because the async timer
//! rounds up to whole milliseconds, which would add up to a millisecond to every latency.

use anyhow::{anyhow, bail, Context};
use hdrhistogram::Histogram;
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::{Client, Method, StatusCode, Url};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Latencies are recorded in microseconds from 1 µs to one minute, to three significant
/// digits.
const HIGHEST_MICROS: u64 = 60_000_000;

/// One request a scenario sends again and again, and the status it must get back.
#[derive(Clone, Debug)]
pub struct Target {
    pub method: Method,
    pub url: Url,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// A JSON body. Each `{n}` in it becomes a number no other request of this target
    /// got, for requests that must differ (a new email per invitation).
    pub body: Option<String>,
    pub expected: StatusCode,
    /// Hands out the `{n}` numbers; shared by the clones of a target.
    pub sequence: Arc<AtomicU64>,
    /// The same request at the other instances of a deployment, sent to in turn with
    /// `url`, the way a round-robin load balancer spreads it.
    pub also: Vec<Url>,
    /// Whose turn it is; shared by the clones of a target.
    turn: Arc<AtomicU64>,
}

impl Target {
    pub fn get(url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            method: Method::GET,
            url: Url::parse(url).with_context(|| format!("bad URL {url}"))?,
            headers: Vec::new(),
            body: None,
            expected: StatusCode::OK,
            sequence: Arc::new(AtomicU64::new(0)),
            also: Vec::new(),
            turn: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The same request spread over instances at `bases` (`http://host:port`), in turn.
    pub fn spread_over(mut self, bases: &[String]) -> anyhow::Result<Self> {
        let path = match self.url.query() {
            Some(query) => format!("{}?{query}", self.url.path()),
            None => self.url.path().to_owned(),
        };
        self.also = bases
            .iter()
            .map(|base| {
                Url::parse(&format!("{base}{path}")).with_context(|| format!("bad URL {base}"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(self)
    }

    /// The URL of the next request: `url`, then each of `also`, round and round.
    fn next_url(&self) -> &Url {
        if self.also.is_empty() {
            return &self.url;
        }
        let n = self.turn.fetch_add(1, Ordering::Relaxed) as usize % (self.also.len() + 1);
        if n == 0 {
            &self.url
        } else {
            &self.also[n - 1]
        }
    }

    pub fn post_json(url: &str, body: &serde_json::Value) -> anyhow::Result<Self> {
        Ok(Self {
            method: Method::POST,
            body: Some(body.to_string()),
            ..Self::get(url)?
        })
    }

    pub fn expecting(mut self, status: StatusCode) -> Self {
        self.expected = status;
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: &str) -> anyhow::Result<Self> {
        self.headers.push((name, HeaderValue::from_str(value)?));
        Ok(self)
    }

    /// Sends once and reads the whole answer (so the connection can be reused). Any status
    /// but the expected one is an error: the harness measures working requests only.
    pub async fn send(&self, client: &Client) -> anyhow::Result<()> {
        let mut req = client.request(self.method.clone(), self.next_url().clone());
        for (name, value) in &self.headers {
            req = req.header(name, value);
        }
        if let Some(body) = &self.body {
            let body = if body.contains("{n}") {
                let n = self.sequence.fetch_add(1, Ordering::Relaxed);
                body.replace("{n}", &n.to_string())
            } else {
                body.clone()
            };
            req = req.header(CONTENT_TYPE, "application/json").body(body);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{} {}", self.method, self.url.path()))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .with_context(|| format!("reading {} {}", self.method, self.url.path()))?;
        if status != self.expected {
            bail!(
                "{} {} answered {status}, expected {}: {}",
                self.method,
                self.url.path(),
                self.expected,
                String::from_utf8_lossy(&body)
            );
        }
        Ok(())
    }
}

/// A client with a connection pool big enough for every connection the harness opens.
pub fn client() -> anyhow::Result<Client> {
    Ok(Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(usize::MAX)
        .timeout(Duration::from_secs(60))
        .build()?)
}

/// Requests per second completed by `connections` callers sending back to back for
/// `duration`, after `warmup` (not counted) to open connections and warm caches.
pub async fn closed_loop(
    client: &Client,
    target: &Target,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<f64> {
    let counted = Arc::new(AtomicU64::new(0));
    let from = Instant::now() + warmup;
    let until = from + duration;
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..connections.max(1) {
        let (client, target, counted) = (client.clone(), target.clone(), counted.clone());
        callers.spawn(async move {
            while Instant::now() < until {
                target.send(&client).await?;
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

/// [`closed_loop`] for requests that may take seconds each: it measures for at least
/// `duration` *and* until `min_completions` requests have completed (for `max_duration` at
/// most), and divides by the time it measured, so a probe of a slow request still counts
/// enough of them to mean something.
pub async fn closed_loop_until(
    client: &Client,
    target: &Target,
    connections: usize,
    warmup: Duration,
    duration: Duration,
    min_completions: u64,
    max_duration: Duration,
) -> anyhow::Result<f64> {
    let counted = Arc::new(AtomicU64::new(0));
    // Nanoseconds from `from` to the completion that ended the measurement; 0 until then.
    let ended = Arc::new(AtomicU64::new(0));
    let from = Instant::now() + warmup;
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..connections.max(1) {
        let (client, target, counted, ended) = (
            client.clone(),
            target.clone(),
            counted.clone(),
            ended.clone(),
        );
        callers.spawn(async move {
            while ended.load(Ordering::Relaxed) == 0 {
                target.send(&client).await?;
                let done = Instant::now();
                if done < from || ended.load(Ordering::Relaxed) != 0 {
                    continue;
                }
                let n = counted.fetch_add(1, Ordering::Relaxed) + 1;
                let measured = done - from;
                if (measured >= duration && n >= min_completions) || measured >= max_duration {
                    let nanos = u64::try_from(measured.as_nanos()).unwrap_or(u64::MAX);
                    let _ = ended.compare_exchange(
                        0,
                        nanos.max(1),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = callers.join_next().await {
        joined??;
    }
    let seconds = ended.load(Ordering::Relaxed) as f64 / 1e9;
    Ok(counted.load(Ordering::Relaxed) as f64 / seconds)
}

/// What an open-model run saw.
pub struct OpenRun {
    /// The arrival rate asked for (req/s).
    pub offered: f64,
    /// Requests completed per second, from the first intended send to the last answer.
    pub achieved: f64,
    /// Latency from intended send time to the whole answer, in microseconds.
    pub latency: Histogram<u64>,
}

impl OpenRun {
    /// Whether the server kept up: a backlog that grew during the run shows as answers
    /// arriving after the schedule ended, so fewer per second than were sent.
    pub fn kept_up(&self) -> bool {
        self.achieved >= 0.99 * self.offered
    }
}

/// Sends `target` at `rate` per second for `duration` over `connections` callers. The
/// callers take the intended send times in order from one queue; when all are busy the
/// queue grows, and each request's wait in it counts in its latency. The callers live for
/// the whole run, like the probe's, so the generator adds little more than the hand-off of
/// each send time; that little still makes a probe's full rate too much to offer.
pub async fn open_model(
    client: &Client,
    target: &Target,
    rate: f64,
    duration: Duration,
    connections: usize,
) -> anyhow::Result<OpenRun> {
    if !(rate.is_finite() && rate > 0.0) {
        bail!("cannot send at {rate} requests per second");
    }
    let total = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let stop = Arc::new(AtomicBool::new(false));

    // The schedule: the thread hands out every send time that has come, then sleeps until
    // the next one; a late wake-up hands out several at once, and their lateness counts.
    let start = Instant::now() + Duration::from_millis(20);
    let (due_tx, due) = flume::unbounded::<Instant>();
    let scheduler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let intended = |i: u64| start + Duration::from_secs_f64(i as f64 / rate);
            let mut i = 0;
            while i < total && !stop.load(Ordering::Relaxed) {
                let now = Instant::now();
                while i < total && intended(i) <= now {
                    if due_tx.send(intended(i)).is_err() {
                        return;
                    }
                    i += 1;
                }
                if i < total {
                    std::thread::sleep(intended(i).saturating_duration_since(Instant::now()));
                }
            }
        })
    };

    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..connections.max(1) {
        let (client, target, due, stop) =
            (client.clone(), target.clone(), due.clone(), stop.clone());
        callers.spawn(async move {
            let mut latency = Histogram::<u64>::new_with_bounds(1, HIGHEST_MICROS, 3)?;
            loop {
                let Ok(intended) = due.recv_async().await else {
                    break;
                };
                if let Err(e) = target.send(&client).await {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                let micros = u64::try_from(intended.elapsed().as_micros()).unwrap_or(u64::MAX);
                latency.saturating_record(micros.max(1));
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            anyhow::Ok(latency)
        });
    }
    let mut latency = Histogram::<u64>::new_with_bounds(1, HIGHEST_MICROS, 3)?;
    let mut failure = None;
    while let Some(joined) = callers.join_next().await {
        match joined? {
            Ok(h) => latency.add(h)?,
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                failure.get_or_insert(e);
            }
        }
    }
    let elapsed = start.elapsed();
    // The callers are gone, so the schedule's next send fails and it ends.
    drop(due);
    scheduler
        .join()
        .map_err(|_| anyhow!("the schedule thread panicked"))?;
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(OpenRun {
        offered: rate,
        achieved: latency.len() as f64 / elapsed.as_secs_f64(),
        latency,
    })
}
