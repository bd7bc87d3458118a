//! When a repeating thing happens next: a cron line (`'15 4 * * sun'`, five
//! fields, or six with seconds first) in a time zone, or an interval
//! (`'10m'`). Definitions use it (`cron`, `every`, `once frequency:`), and
//! so do the API's schedules, so both read a cron line the same way.
//!
//! ```
//! use mastermind::language::schedule::Frequency;
//! let every = Frequency::parse("10m").unwrap();
//! assert_eq!(every.next_after(0, "UTC").unwrap(), 600_000);
//! let nightly = Frequency::parse("0 3 * * *").unwrap();
//! assert_eq!(nightly.next_after(0, "UTC").unwrap(), 3 * 3_600_000);
//! ```

use super::attributes::parse_duration;
use chrono::{TimeZone, Utc};
use croner::Cron;
use std::str::FromStr;
use std::time::Duration;

/// How often: a fixed interval, or the ticks of a cron line.
#[derive(Debug, Clone)]
pub enum Frequency {
    /// Every so long (`'10m'`).
    Interval(Duration),
    /// At each tick of a cron line.
    Cron(Box<Cron>),
}

impl Frequency {
    /// A duration (`'10m'`, `'1h30m'`, `90`) or else a cron line. The
    /// error says what was wrong with the cron reading when the text looks
    /// like one (it has spaces or a `*`), else with the duration's.
    ///
    /// # Errors
    /// When `text` is neither a duration above zero nor a cron line.
    pub fn parse(text: &str) -> Result<Frequency, String> {
        let duration = match parse_duration(text) {
            Ok(d) if d.is_zero() => return Err(format!("'{text}' is no interval: it must be more than zero")),
            Ok(d) => return Ok(Frequency::Interval(d)),
            Err(e) => e,
        };
        let looks_like_cron = text.trim().contains([' ', '*']);
        match cron(text) {
            Ok(c) => Ok(Frequency::Cron(Box::new(c))),
            Err(e) if looks_like_cron => Err(e),
            Err(_) => Err(format!("{duration}; nor is it a cron line such as '0 9 * * 1-5'")),
        }
    }

    /// The first time strictly after `after_ms` (milliseconds since the
    /// epoch); cron lines are read in `time_zone` (an IANA name).
    ///
    /// # Errors
    /// When `time_zone` is unknown or the next tick is out of range.
    pub fn next_after(&self, after_ms: i64, time_zone: &str) -> Result<i64, String> {
        match self {
            Frequency::Interval(d) => Ok(after_ms.saturating_add(d.as_millis().min(i64::MAX as u128) as i64)),
            Frequency::Cron(c) => next_tick(c, time_zone, after_ms),
        }
    }
}

/// Parses a cron line (five fields, or six with seconds first).
///
/// # Errors
/// When `text` is not a valid cron line.
pub fn cron(text: &str) -> Result<Cron, String> {
    Cron::from_str(text.trim()).map_err(|e| format!("cron '{text}': {e}"))
}

/// The first tick of `cron` strictly after `after_ms`, in `time_zone`.
///
/// # Errors
/// When `time_zone` is unknown, or `after_ms` or the next tick is out of range.
pub fn next_tick(cron: &Cron, time_zone: &str, after_ms: i64) -> Result<i64, String> {
    let tz: chrono_tz::Tz = time_zone.parse().map_err(|_| format!("unknown time zone '{time_zone}'"))?;
    let after = Utc.timestamp_millis_opt(after_ms).single().ok_or("time out of range")?.with_timezone(&tz);
    let next = cron.find_next_occurrence(&after, false).map_err(|e| format!("cron '{cron}': {e}"))?;
    Ok(next.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_cron_lines() {
        assert!(matches!(Frequency::parse("2s"), Ok(Frequency::Interval(d)) if d == Duration::from_secs(2)));
        assert!(matches!(Frequency::parse("*/5 * * * *"), Ok(Frequency::Cron(_))));
        let monday_nine = Frequency::parse("0 9 * * 1").unwrap();
        // 1970-01-01 was a Thursday: the first Monday is the 5th.
        assert_eq!(monday_nine.next_after(0, "UTC").unwrap(), (4 * 24 + 9) * 3_600_000);
        assert_eq!(monday_nine.next_after(0, "Europe/Paris").unwrap(), (4 * 24 + 8) * 3_600_000);
    }

    #[test]
    fn what_is_neither_says_so() {
        assert!(Frequency::parse("0s").unwrap_err().contains("more than zero"));
        let e = Frequency::parse("soon").unwrap_err();
        assert!(e.contains("nor is it a cron line"), "{e}");
        let e = Frequency::parse("61 * * * *").unwrap_err();
        assert!(e.starts_with("cron '61 * * * *'"), "{e}");
        assert!(Frequency::parse("0 9 * * *").unwrap().next_after(0, "Mars/Olympus").is_err());
    }
}
