//! Human units on the command line: durations (`30s`, `5m`, `250ms`) and sizes
//! (`1024`, `64KiB`, `1MiB`, `1.5GB`).

use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UnitError {
    #[error("invalid duration {0:?}: expected a number and a unit, like 250ms, 30s, 5m, 1h")]
    Duration(String),
    #[error("invalid size {0:?}: expected bytes or a number with a unit, like 512, 64KiB, 1MiB")]
    Size(String),
    #[error(
        "invalid address {0:?}: expected IP:PORT, like 127.0.0.1:8888, 0.0.0.0:0 or [::1]:8888"
    )]
    Address(String),
}

/// A local address to listen on: an IP literal and a port (no host names: a
/// server binds what it is told, not what a resolver answers).
pub fn parse_listen_addr(text: &str) -> Result<std::net::SocketAddr, UnitError> {
    text.trim()
        .parse()
        .map_err(|_| UnitError::Address(text.to_string()))
}

/// Splits `12.5ms` into (12.5, "ms").
fn split_number(text: &str) -> Option<(f64, &str)> {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let number: f64 = text[..end].parse().ok()?;
    Some((number, text[end..].trim()))
}

pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let bad = || UnitError::Duration(text.to_string());
    let (number, unit) = split_number(text).ok_or_else(bad)?;
    let seconds = match unit {
        "ns" => number / 1e9,
        "us" | "µs" => number / 1e6,
        "ms" => number / 1e3,
        "s" | "sec" => number,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        "d" => number * 86400.0,
        // A bare 0 needs no unit; any other bare number is ambiguous.
        "" if number == 0.0 => 0.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let bad = || UnitError::Size(text.to_string());
    let (number, unit) = split_number(text).ok_or_else(bad)?;
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    let bytes = number * scale as f64;
    if bytes.fract() != 0.0 || bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// Formats a duration the way the parser reads it back, at a readable precision.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 1.0 {
        format!("{secs:.2}s")
    } else if secs >= 1e-3 {
        format!("{:.2}ms", secs * 1e3)
    } else {
        format!("{:.0}us", secs * 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("1.5kb"), Ok(1500));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert!(parse_size("0.5").is_err());
        assert!(parse_size("12 furlongs").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen_addr("127.0.0.1:8888").unwrap().port(), 8888);
        assert!(parse_listen_addr("[::1]:0").unwrap().is_ipv6());
        assert!(parse_listen_addr("localhost:80").is_err());
        assert!(parse_listen_addr("127.0.0.1:99999").is_err());
        assert!(parse_listen_addr("127.0.0.1").is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.50s");
        assert_eq!(format_duration(Duration::from_micros(2500)), "2.50ms");
        assert_eq!(format_duration(Duration::from_micros(7)), "7us");
    }
}
