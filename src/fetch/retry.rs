//! When to try a URL again, and how long to wait first.
//!
//! Connection errors, timeouts, broken transfers, 429 and 5xx are retried; other
//! 4xx, redirect errors and oversized bodies are not (another try would give the
//! same answer). The wait doubles with each attempt, with random jitter so that
//! many URLs failing together do not come back together, and is never shorter
//! than what the server asked for in `Retry-After`.

use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::outcome::{ErrorKind, Failure};

/// A server asking for a longer pause than this is not retried: the URL fails
/// now rather than holding its slot for longer than a run should wait.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The wait before the first retry (before jitter).
    pub base: Duration,
    /// The longest computed wait (Retry-After may ask for more).
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 2,
            base: Duration::from_millis(250),
            max: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before the next attempt after `attempt` (1-based) failed with
    /// `failure`, or `None` when it must not be retried.
    pub fn next_wait(
        &self,
        attempt: u32,
        failure: &Failure,
        status: Option<u16>,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if attempt > self.retries || !retryable(failure.kind, status) {
            return None;
        }
        if retry_after.is_some_and(|wait| wait > MAX_RETRY_AFTER) {
            return None;
        }
        let exponential = self
            .base
            .saturating_mul(1 << (attempt - 1).min(16))
            .min(self.max);
        // Jitter: between half and all of the exponential wait.
        let jittered = exponential.mul_f64(0.5 + 0.5 * random_fraction());
        Some(jittered.max(retry_after.unwrap_or_default()))
    }
}

/// Whether another attempt could succeed where this one failed.
pub fn retryable(kind: ErrorKind, status: Option<u16>) -> bool {
    match kind {
        ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::Transfer => true,
        ErrorKind::Status => matches!(status, Some(429 | 500..=599)),
        _ => false,
    }
}

/// A number in [0, 1) from the standard library's randomly keyed hasher: jitter
/// needs no better randomness than that, nor another dependency.
fn random_fraction() -> f64 {
    let bits = RandomState::new().hash_one(SystemTime::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// A `Retry-After` value: delay-seconds or an HTTP date (RFC 9110 10.2.3).
/// A date in the past means no wait.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// IMF-fixdate, the only date format servers must send: `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let mut words = value.split_ascii_whitespace();
    let _weekday = words.next()?;
    let day: u64 = words.next()?.parse().ok()?;
    let month = match words.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: u64 = words.next()?.parse().ok()?;
    let mut clock = words.next()?.split(':').map(|n| n.parse::<u64>().ok());
    let (hour, minute, second) = (clock.next()??, clock.next()??, clock.next()??);
    if words.next()? != "GMT" || year < 1970 || !(1..=31).contains(&day) || hour > 23 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(kind: ErrorKind) -> Failure {
        Failure::new(kind, "x")
    }

    #[test]
    fn retries_only_what_may_change() {
        let policy = RetryPolicy::default();
        let wait = |kind, status| policy.next_wait(1, &failure(kind), status, None);
        assert!(wait(ErrorKind::Connect, None).is_some());
        assert!(wait(ErrorKind::Timeout, None).is_some());
        assert!(wait(ErrorKind::Transfer, Some(200)).is_some());
        assert!(wait(ErrorKind::Status, Some(429)).is_some());
        assert!(wait(ErrorKind::Status, Some(503)).is_some());
        assert!(wait(ErrorKind::Status, Some(404)).is_none());
        assert!(wait(ErrorKind::Status, Some(400)).is_none());
        assert!(wait(ErrorKind::TooLarge, Some(200)).is_none());
        assert!(wait(ErrorKind::Redirect, None).is_none());
        assert!(wait(ErrorKind::InvalidUrl, None).is_none());
    }

    #[test]
    fn backoff_doubles_with_jitter_and_stops_after_the_retries() {
        let policy = RetryPolicy {
            retries: 3,
            base: Duration::from_millis(100),
            max: Duration::from_secs(10),
        };
        let f = failure(ErrorKind::Connect);
        for (attempt, full) in [(1, 100), (2, 200), (3, 400)] {
            let wait = policy.next_wait(attempt, &f, None, None).unwrap();
            let full = Duration::from_millis(full);
            assert!(
                wait >= full / 2 && wait <= full,
                "attempt {attempt}: {wait:?}"
            );
        }
        assert_eq!(policy.next_wait(4, &f, None, None), None);
    }

    #[test]
    fn retry_after_is_the_minimum_wait() {
        let policy = RetryPolicy::default();
        let f = failure(ErrorKind::Status);
        let wait = policy.next_wait(1, &f, Some(429), Some(Duration::from_secs(3)));
        assert_eq!(wait, Some(Duration::from_secs(3)));
        let too_long = Some(MAX_RETRY_AFTER + Duration::from_secs(1));
        assert_eq!(policy.next_wait(1, &f, Some(503), too_long), None);
    }

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_770); // 1994-11-06 08:49:30
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
