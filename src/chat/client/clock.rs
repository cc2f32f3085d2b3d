//! The `HH:MM` in front of every printed line, in local time.
//!
//! Local time comes from the C library (`localtime_r`), which follows `TZ` and
//! the system's zone like every other terminal program; no date crate is needed
//! for hours and minutes. (The protocol's UTC timestamps are `chat::clock`'s.)

use std::time::{SystemTime, UNIX_EPOCH};

/// `HH:MM` of `when`, in local time.
pub fn hh_mm(when: SystemTime) -> String {
    let seconds = when.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let time = libc::time_t::try_from(seconds).unwrap_or(libc::time_t::MAX);
    // SAFETY: `tm` is plain data that localtime_r fills in; both pointers are
    // valid for the call, and localtime_r (unlike localtime) uses no shared buffer.
    let local = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        (!libc::localtime_r(&time, &mut tm).is_null()).then_some(tm)
    };
    match local {
        Some(tm) => format!("{:02}:{:02}", tm.tm_hour, tm.tm_min),
        // Only for a time the C library cannot represent: fall back to UTC.
        None => format!("{:02}:{:02}", seconds / 3600 % 24, seconds / 60 % 60),
    }
}

/// `HH:MM` now.
pub fn now() -> String {
    hh_mm(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn hours_and_minutes_are_two_digits_each() {
        let text = hh_mm(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let (hours, minutes) = text.split_once(':').expect("a colon");
        assert_eq!((hours.len(), minutes.len()), (2, 2), "{text}");
        assert!(hours.parse::<u8>().is_ok_and(|h| h < 24), "{text}");
        // Every zone offset is a whole number of minutes, mostly of hours:
        // 1_700_000_000 is 22:13:20 UTC, so the minutes are 13, 43 or 58 (+45).
        assert!(["13", "43", "58", "28"].contains(&minutes), "{text}");
    }
}
