//! The one table a run prints, and the same rows as JSON under `target/bench/`.

use anyhow::Context;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What a row measured: a rate (with latencies) or a single value.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Measured {
    /// Requests per second at saturation, and the latency run at a fixed arrival rate.
    Load {
        throughput_per_s: f64,
        latency_at_per_s: f64,
        achieved_per_s: f64,
        p50_ms: f64,
        p99_ms: f64,
        p999_ms: f64,
        max_ms: f64,
        samples: u64,
    },
    /// Calls per second in process, and each call's duration in microseconds.
    InProcess {
        per_s: f64,
        p50_us: f64,
        p99_us: f64,
        p999_us: f64,
        samples: u64,
    },
    /// Requests per second at saturation, without a latency run (the scale comparison).
    Throughput { per_s: f64 },
    /// A figure with its unit (what a request costs the database).
    Quantity { value: f64, unit: String },
    /// Milliseconds (start-up).
    Millis { ms: f64 },
    /// Megabytes (10^6 bytes) of resident memory.
    Megabytes { mb: f64 },
    /// The platform does not tell (memory outside Linux).
    Unavailable,
}

/// The same-run figure a row is compared with. It is measured just before and just after
/// the row's own probe, and the mean is used, so a machine that speeds up or slows down
/// meanwhile (a shared or throttled VM does) moves both sides of the ratio alike.
#[derive(Clone, Debug, Serialize)]
pub struct Limit {
    pub name: String,
    pub per_s: f64,
    pub before_per_s: f64,
    pub after_per_s: f64,
}

impl Limit {
    pub fn bracketing(name: &str, before_per_s: f64, after_per_s: f64) -> Self {
        Self {
            name: name.to_owned(),
            per_s: (before_per_s + after_per_s) / 2.0,
            before_per_s,
            after_per_s,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub scenario: String,
    pub measured: Measured,
    pub limit: Option<Limit>,
    /// Throughput over the limit.
    pub ratio: Option<f64>,
    pub goal: String,
    /// `None` where the row has no goal of its own (a limit, or information).
    pub met: Option<bool>,
}

/// The whole run, as written to JSON.
#[derive(Debug, Serialize)]
pub struct Report {
    pub started_at: String,
    pub mode: &'static str,
    pub backend: &'static str,
    pub cores: usize,
    pub rows: Vec<Row>,
}

fn ms(v: f64) -> String {
    if v < 1.0 {
        format!("{v:.3} ms")
    } else if v < 10.0 {
        format!("{v:.2} ms")
    } else if v < 100.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}

fn us(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2} µs")
    } else {
        format!("{v:.0} µs")
    }
}

fn rate(v: f64) -> String {
    if v < 100.0 {
        format!("{v:.1}/s")
    } else {
        format!("{v:.0}/s")
    }
}

/// A ratio as a percentage: whole percents from 1% up, two significant digits below, so a
/// small ratio does not read as nothing.
fn percent(ratio: f64) -> String {
    let p = ratio * 100.0;
    if p >= 1.0 || p == 0.0 {
        format!("{p:.0}%")
    } else {
        let decimals = (1 - p.log10().floor() as i32).max(1) as usize;
        format!("{p:.decimals$}%")
    }
}

impl Row {
    fn cells(&self) -> [String; 10] {
        let dash = || "—".to_owned();
        let (result, at, p50, p99, p999) = match &self.measured {
            Measured::Load {
                throughput_per_s,
                latency_at_per_s,
                achieved_per_s,
                p50_ms,
                p99_ms,
                p999_ms,
                ..
            } => {
                // Say so when the server could not keep up with the arrival rate.
                let at = if *achieved_per_s >= 0.98 * latency_at_per_s {
                    rate(*latency_at_per_s)
                } else {
                    format!(
                        "{} (got {})",
                        rate(*latency_at_per_s),
                        rate(*achieved_per_s)
                    )
                };
                (
                    rate(*throughput_per_s),
                    at,
                    ms(*p50_ms),
                    ms(*p99_ms),
                    ms(*p999_ms),
                )
            }
            Measured::InProcess {
                per_s,
                p50_us,
                p99_us,
                p999_us,
                ..
            } => (
                rate(*per_s),
                "in process".to_owned(),
                us(*p50_us),
                us(*p99_us),
                us(*p999_us),
            ),
            Measured::Throughput { per_s } => (
                rate(*per_s),
                "closed loop".to_owned(),
                dash(),
                dash(),
                dash(),
            ),
            Measured::Quantity { value, unit } => {
                (format!("{value:.1} {unit}"), dash(), dash(), dash(), dash())
            }
            Measured::Millis { ms: v } => (ms(*v), dash(), dash(), dash(), dash()),
            Measured::Megabytes { mb } => (format!("{mb:.1} MB"), dash(), dash(), dash(), dash()),
            Measured::Unavailable => ("n/a".to_owned(), dash(), dash(), dash(), dash()),
        };
        [
            self.scenario.clone(),
            result,
            at,
            p50,
            p99,
            p999,
            self.limit
                .as_ref()
                .map_or_else(dash, |l| format!("{} {}", l.name, rate(l.per_s))),
            self.ratio.map_or_else(dash, percent),
            self.goal.clone(),
            match self.met {
                Some(true) => "yes".to_owned(),
                Some(false) => "NO".to_owned(),
                None => dash(),
            },
        ]
    }
}

const HEADERS: [&str; 10] = [
    "scenario",
    "throughput / value",
    "latency at",
    "p50",
    "p99",
    "p99.9",
    "same-run limit",
    "ratio",
    "goal",
    "met?",
];

/// The rows as a Markdown table, which reads as well in a terminal as in
/// `docs/benchmarks.md`.
pub fn table(rows: &[Row]) -> String {
    let cells: Vec<[String; 10]> = rows.iter().map(Row::cells).collect();
    let mut widths = HEADERS.map(|h| h.chars().count());
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |row: &[String]| -> String {
        let padded: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell}{}", " ".repeat(w - cell.chars().count())))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(&HEADERS.map(str::to_owned));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&format!("|-{}-|\n", rule.join("-|-")));
    for row in &cells {
        out.push_str(&line(row));
    }
    out
}

/// Writes `<dir>/<timestamp>.json` and `<dir>/latest.json`; returns the first.
pub fn write_json(dir: &Path, stamp: &str, report: &Report) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let json = serde_json::to_string_pretty(report)?;
    let path = dir.join(format!("{stamp}.json"));
    std::fs::write(&path, &json).with_context(|| format!("cannot write {}", path.display()))?;
    let latest = dir.join("latest.json");
    std::fs::write(&latest, &json).with_context(|| format!("cannot write {}", latest.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Row> {
        vec![
            Row {
                scenario: "GET /api/v1/me (session)".into(),
                measured: Measured::Load {
                    throughput_per_s: 5000.0,
                    latency_at_per_s: 4000.0,
                    achieved_per_s: 3000.0,
                    p50_ms: 0.5,
                    p99_ms: 2.5,
                    p999_ms: 12.0,
                    max_ms: 20.0,
                    samples: 80_000,
                },
                limit: Some(Limit::bracketing("/healthz", 38_000.0, 42_000.0)),
                ratio: Some(0.25),
                goal: "≥ 50%, p99 ≤ 2 ms".into(),
                met: Some(false),
            },
            Row {
                scenario: "start-up".into(),
                measured: Measured::Millis { ms: 8.0 },
                limit: None,
                ratio: None,
                goal: "≤ 100 ms".into(),
                met: Some(true),
            },
        ]
    }

    #[test]
    fn the_table_is_aligned_markdown() {
        let table = table(&rows());
        let widths: Vec<usize> = table.lines().map(|l| l.chars().count()).collect();
        assert_eq!(widths.len(), 4);
        assert!(widths.iter().all(|w| *w == widths[0]), "{table}");
        assert!(table
            .lines()
            .all(|l| l.starts_with("| ") || l.starts_with("|-")));
    }

    #[test]
    fn cells_say_what_was_missed_and_what_could_not_keep_up() {
        let cells = rows()[0].cells();
        assert_eq!(cells[1], "5000/s");
        assert_eq!(cells[2], "4000/s (got 3000/s)");
        assert_eq!(cells[3], "0.500 ms");
        assert_eq!(cells[5], "12.0 ms");
        assert_eq!(cells[6], "/healthz 40000/s");
        assert_eq!(cells[7], "25%");
        assert_eq!(cells[9], "NO");
        let cells = rows()[1].cells();
        assert_eq!(cells[1], "8.00 ms");
        assert_eq!(cells[7], "—");
        assert_eq!(cells[9], "yes");
    }

    #[test]
    fn small_ratios_keep_two_significant_digits() {
        assert_eq!(percent(0.25), "25%");
        assert_eq!(percent(0.013), "1%");
        assert_eq!(percent(0.0055), "0.55%");
        assert_eq!(percent(0.000_012), "0.0012%");
        assert_eq!(percent(0.0), "0%");
    }

    #[test]
    fn json_is_written_twice() {
        let dir = tempfile::tempdir().unwrap();
        let report = Report {
            started_at: "2026-01-01T00:00:00Z".into(),
            mode: "quick",
            backend: "sqlite",
            cores: 2,
            rows: rows(),
        };
        let path = write_json(dir.path(), "stamp", &report).unwrap();
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(written["rows"][0]["measured"]["kind"], "load");
        assert_eq!(written["rows"][1]["met"], true);
        assert!(dir.path().join("latest.json").is_file());
    }
}
