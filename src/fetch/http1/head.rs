//! Response heads, parsed with `httparse`: the status, what the client acts
//! on, and how the body is framed.

use std::mem::MaybeUninit;

use reqwest::StatusCode;

use super::body::Framing;
use crate::fetch::client::Head;
use crate::fetch::decode::Encoding;

/// Headers read per response; a head with more is refused.
const MAX_HEADERS: usize = 128;

/// A parsed response head.
pub(super) struct Parsed {
    pub head: Head,
    pub framing: Framing,
    /// The connection may carry another request after this response.
    pub keep_alive: bool,
    /// The head's length in bytes.
    pub len: usize,
}

/// Parses a response head from the start of `buf`: `Ok(None)` while it is
/// incomplete.
pub(super) fn parse(buf: &[u8]) -> Result<Option<Parsed>, String> {
    // Left uninitialised: filling 128 empty headers for every parse cost
    // more than the parse itself.
    let mut headers = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        &mut headers,
    );
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(format!(
                "response head with more than {MAX_HEADERS} headers"
            ));
        }
        Err(err) => return Err(err.to_string()),
    };
    let code = response.code.unwrap_or_default();
    let status = StatusCode::from_u16(code).map_err(|_| format!("invalid status {code}"))?;
    let mut head = Head {
        status,
        content_length: None,
        encoding: Encoding::Identity,
        location: None,
        retry_after: None,
        content_range: None,
    };
    // HTTP/1.1 keeps the connection unless told otherwise, 1.0 closes it;
    // `close` wins over `keep-alive`.
    let http11 = response.version == Some(1);
    let (mut close, mut keep) = (false, http11);
    let mut chunked = None;
    let text = |value: &[u8]| String::from_utf8_lossy(value).into_owned();
    for header in response.headers.iter() {
        let (name, value) = (header.name, header.value);
        if name.eq_ignore_ascii_case("content-length") {
            let len = parse_length(value)?;
            if head.content_length.is_some_and(|seen| seen != len) {
                return Err("conflicting content-length headers".into());
            }
            head.content_length = Some(len);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked only when it is the last coding; any other means the
            // body runs to the connection's end.
            let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("content-encoding") {
            head.encoding = Encoding::from_header(value);
        } else if name.eq_ignore_ascii_case("location") {
            head.location = Some(text(value));
        } else if name.eq_ignore_ascii_case("retry-after") {
            head.retry_after = Some(text(value));
        } else if name.eq_ignore_ascii_case("content-range") {
            head.content_range = Some(text(value));
        }
    }
    let mut keep_alive = keep && !close;
    if chunked.is_some() && (head.content_length.is_some() || !http11) {
        // Framed two ways, or chunked from an HTTP/1.0 server: read it, but
        // trust nothing after it on this connection (RFC 9112, 6.1 and 6.3).
        keep_alive = false;
    }
    let framing = if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        head.content_length = Some(0);
        if status == StatusCode::SWITCHING_PROTOCOLS {
            // Never asked for: whatever follows is not HTTP/1.1.
            keep_alive = false;
        }
        Framing::Length(0)
    } else {
        match (chunked, head.content_length) {
            (Some(true), _) => {
                head.content_length = None;
                Framing::chunked()
            }
            (Some(false), _) => {
                head.content_length = None;
                Framing::Close
            }
            (None, Some(len)) => Framing::Length(len),
            (None, None) => Framing::Close,
        }
    };
    if matches!(framing, Framing::Close) {
        keep_alive = false;
    }
    Ok(Some(Parsed {
        head,
        framing,
        keep_alive,
        len,
    }))
}

fn parse_length(value: &[u8]) -> Result<u64, String> {
    let value = value.trim_ascii();
    let digits = !value.is_empty() && value.len() <= 19 && value.iter().all(u8::is_ascii_digit);
    digits
        .then(|| std::str::from_utf8(value).ok()?.parse().ok())
        .flatten()
        .ok_or_else(|| {
            format!(
                "invalid content-length {:?}",
                String::from_utf8_lossy(value)
            )
        })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_bytes_parse_or_fail_without_panicking(
            bytes in proptest::collection::vec(any::<u8>(), 0..2000),
        ) {
            let _ = parse(&bytes);
        }

        #[test]
        fn a_head_with_any_header_values_keeps_its_length(
            status in 200u16..600,
            values in proptest::collection::vec("[ -~]{0,40}", 0..20),
            len in any::<u32>(),
        ) {
            let mut text = format!("HTTP/1.1 {status} X\r\nContent-Length: {len}\r\n");
            for (i, value) in values.iter().enumerate() {
                text.push_str(&format!("X-{i}: {value}\r\n"));
            }
            text.push_str("\r\nrest");
            let p = parse(text.as_bytes()).unwrap().unwrap();
            prop_assert_eq!(p.len, text.len() - 4);
            prop_assert_eq!(p.head.status.as_u16(), status);
            let bodiless = status == 204 || status == 304;
            prop_assert_eq!(p.head.content_length, Some(if bodiless { 0 } else { u64::from(len) }));
        }
    }

    fn parsed(text: &str) -> Parsed {
        parse(text.as_bytes()).unwrap().expect("a complete head")
    }

    #[test]
    fn a_keep_alive_response_with_a_length() {
        let p =
            parsed("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Encoding: gzip\r\n\r\nbody");
        assert_eq!(p.head.status, StatusCode::OK);
        assert_eq!(p.head.content_length, Some(12));
        assert_eq!(p.head.encoding, Encoding::Gzip);
        assert!(matches!(p.framing, Framing::Length(12)));
        assert!(p.keep_alive);
        assert_eq!(p.len, 63);
    }

    #[test]
    fn chunked_wins_over_a_length_and_other_codings_run_to_the_close() {
        let p = parsed(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        );
        assert!(matches!(p.framing, Framing::Chunked(_)));
        assert_eq!(p.head.content_length, None);
        assert!(!p.keep_alive, "framed two ways: not reused");
        let p = parsed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert!(matches!(p.framing, Framing::Chunked(_)) && p.keep_alive);
        let p = parsed(
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        assert!(matches!(p.framing, Framing::Chunked(_)) && !p.keep_alive);
        let p = parsed("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert!(matches!(p.framing, Framing::Close));
        assert!(!p.keep_alive);
    }

    #[test]
    fn versions_and_connection_tokens_decide_reuse() {
        assert!(
            !parsed(
                "HTTP/1.1 200 OK\r\nConnection: Keep-Alive, close\r\nContent-Length: 0\r\n\r\n"
            )
            .keep_alive
        );
        assert!(
            !parsed(
                "HTTP/1.1 200 OK\r\nConnection: close, keep-alive\r\nContent-Length: 0\r\n\r\n"
            )
            .keep_alive
        );
        assert!(!parsed("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
        assert!(
            parsed("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
                .keep_alive
        );
        let p = parsed("HTTP/1.0 200 OK\r\n\r\n");
        assert!(matches!(p.framing, Framing::Close) && !p.keep_alive);
    }

    #[test]
    fn no_body_for_204_304_and_1xx() {
        for code in [100, 103, 204, 304] {
            let p = parsed(&format!("HTTP/1.1 {code} X\r\nContent-Length: 10\r\n\r\n"));
            assert!(matches!(p.framing, Framing::Length(0)), "{code}");
        }
    }

    #[test]
    fn what_the_client_acts_on_is_kept() {
        let p = parsed(
            "HTTP/1.1 301 Moved\r\nLocation: /next\r\nRetry-After: 3\r\nContent-Range: bytes 0-1/2\r\nContent-Length: 0\r\n\r\n",
        );
        assert_eq!(p.head.location.as_deref(), Some("/next"));
        assert_eq!(p.head.retry_after.as_deref(), Some("3"));
        assert_eq!(p.head.content_range.as_deref(), Some("bytes 0-1/2"));
    }

    #[test]
    fn incomplete_and_malformed_heads() {
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap().is_none());
        for bad in [
            "garbage\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "HTTP/1.1 000 Zero\r\n\r\n",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: y\r\n")).collect();
        assert!(parse(format!("HTTP/1.1 200 OK\r\n{many}\r\n").as_bytes()).is_err());
    }
}
