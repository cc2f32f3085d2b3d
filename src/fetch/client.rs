//! The HTTP client every request goes through: netkit's own HTTP/1.1 client
//! ([`http1`](super::http1)) for plain `http://` URLs, reqwest for the rest
//! (https with HTTP/2, and URLs the proxy settings send through a proxy).
//! Redirects are followed by the caller, one request per hop, so both behave
//! alike.

use std::error::Error as _;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use hyper_util::client::proxy::matcher::Matcher;
use reqwest::header::{
    ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_RANGE, COOKIE, HOST, HeaderMap, HeaderName,
    HeaderValue, LOCATION, PROXY_AUTHORIZATION, RANGE, RETRY_AFTER, USER_AGENT,
};
use reqwest::{StatusCode, Url, redirect};

use super::decode::{ACCEPTED, Encoding};
use super::fetcher::BuildError;
use super::http1;
use super::outcome::{ErrorKind, Failure};
use crate::net::describe_io_error;

/// What the transfer acts on in a response head.
pub(crate) struct Head {
    pub status: StatusCode,
    /// The body's length as it arrives (before decoding), if the server said.
    pub content_length: Option<u64>,
    /// How the body is to be decoded; reqwest decodes its own.
    pub encoding: Encoding,
    pub location: Option<String>,
    pub retry_after: Option<String>,
    pub content_range: Option<String>,
}

impl Head {
    /// The body's length once decoded, if known.
    pub fn decoded_length(&self) -> Option<u64> {
        self.content_length
            .filter(|_| self.encoding == Encoding::Identity)
    }
}

pub(crate) struct Response {
    pub head: Head,
    body: Body,
}

enum Body {
    Web(reqwest::Response, Bytes),
    Plain(http1::Body),
}

impl Response {
    /// The next piece of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<&[u8]>, Failure> {
        match &mut self.body {
            Body::Plain(body) => body.chunk().await,
            Body::Web(response, held) => match response.chunk().await {
                Ok(Some(chunk)) => {
                    *held = chunk;
                    Ok(Some(held))
                }
                Ok(None) => Ok(None),
                Err(err) => Err(classify(&err)),
            },
        }
    }

    /// Done with the response before the end of its body.
    pub fn discard(self) {
        if let Body::Plain(body) = self.body {
            body.discard();
        }
    }
}

/// Headers that go only to the origin the user named, not after a redirect
/// to another: credentials, and a Host that names a virtual host there.
fn origin_only(name: &HeaderName) -> bool {
    [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, HOST].contains(name)
}

/// `Authorization: Basic ...` for a URL with `user:password@`.
fn basic_auth(url: &Url) -> Option<HeaderValue> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |part| percent_encoding::percent_decode_str(part).collect::<Vec<u8>>();
    let mut pair = decode(url.username());
    pair.push(b':');
    pair.extend(decode(url.password().unwrap_or_default()));
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut value = HeaderValue::try_from(format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

pub(crate) struct Client {
    /// Set up on the first URL it serves: it took 2 ms of CPU at start (the
    /// system's certificates), 1% of a run of 10,000 small plain-http files.
    web: OnceLock<Result<reqwest::Client, String>>,
    web_settings: WebSettings,
    plain: http1::Client,
    /// The proxy rules from the environment, when there are any: a URL they
    /// send through a proxy goes to reqwest, which applies the same rules.
    proxy: Option<Matcher>,
    /// Sent with every request: the user's, and the defaults they leave.
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// What reqwest's client is built from.
struct WebSettings {
    connect_timeout: Duration,
    max_idle: usize,
    roots: Vec<reqwest::Certificate>,
}

/// The settings a [`Client`] is built from.
pub(crate) struct Settings<'a> {
    pub headers: &'a [(String, String)],
    pub user_agent: &'a str,
    pub connect_timeout: Duration,
    /// Idle connections kept per host and port.
    pub max_idle: usize,
    /// Idle connections kept in all.
    pub max_idle_total: usize,
    pub roots: Vec<reqwest::Certificate>,
}

impl Client {
    pub fn new(settings: Settings<'_>) -> Result<Self, BuildError> {
        let header = |name: &str, value: &str| {
            let bad = |reason: String| BuildError::Header {
                name: name.to_string(),
                reason,
            };
            let name = HeaderName::try_from(name).map_err(|e| bad(e.to_string()))?;
            let value = HeaderValue::try_from(value).map_err(|e| bad(e.to_string()))?;
            Ok::<_, BuildError>((name, value))
        };
        let mut headers = Vec::new();
        for (name, value) in settings.headers {
            headers.push(header(name, value)?);
        }
        let defaults = [
            (USER_AGENT, settings.user_agent),
            (ACCEPT, "*/*"),
            (ACCEPT_ENCODING, ACCEPTED),
        ];
        for (name, value) in defaults {
            if !headers.iter().any(|(given, _)| *given == name) {
                headers.push(header(name.as_str(), value)?);
            }
        }
        let plain = http1::Client::new(
            settings.connect_timeout,
            settings.max_idle,
            settings.max_idle_total,
        );
        Ok(Self {
            web: OnceLock::new(),
            web_settings: WebSettings {
                connect_timeout: settings.connect_timeout,
                max_idle: settings.max_idle,
                roots: settings.roots,
            },
            plain,
            proxy: proxy_configured().then(Matcher::from_env),
            headers,
        })
    }

    /// Sends a GET for `url`, from byte `range_from` on when not 0, and reads
    /// the response head. `origin` is the URL the user named: its
    /// `user:password@`, and Authorization, Cookie and Host headers, go only
    /// to its origin.
    pub async fn get(&self, url: &Url, range_from: u64, origin: &Url) -> Result<Response, Failure> {
        // `Url::origin` would allocate, for every request.
        let same_origin = url.scheme() == origin.scheme()
            && url.host() == origin.host()
            && url.port_or_known_default() == origin.port_or_known_default();
        let mut extra = Vec::new();
        let auth = basic_auth(url).or_else(|| basic_auth(origin).filter(|_| same_origin));
        if let Some(auth) = auth {
            extra.push((AUTHORIZATION, auth));
        }
        if range_from > 0 {
            // Byte ranges are of the encoded body: ask for it unencoded, so
            // the bytes on disk and the range agree.
            let range = HeaderValue::try_from(format!("bytes={range_from}-"))
                .expect("digits make a valid header value");
            extra.push((RANGE, range));
            extra.push((ACCEPT_ENCODING, HeaderValue::from_static("identity")));
        }
        let headers = self
            .headers
            .iter()
            .filter(|(name, _)| same_origin || !origin_only(name))
            .filter(|(name, _)| !extra.iter().any(|(added, _)| added == name))
            .chain(&extra);
        if url.scheme() == "http" && !self.proxied(url) {
            let (head, body) = self.plain.get(url, headers).await?;
            return Ok(Response {
                head,
                body: Body::Plain(body),
            });
        }
        let mut url = url.clone();
        // Its credentials are in the headers already.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(name, value.clone());
        }
        // Boxed: reqwest's future is large, and the plain-http path would
        // carry its size in every request's state.
        let response = Box::pin(self.web()?.get(url).headers(map).send())
            .await
            .map_err(|err| classify(&err))?;
        let text = |name| {
            let value = response.headers().get(name)?;
            Some(String::from_utf8_lossy(value.as_bytes()).into_owned())
        };
        let head = Head {
            status: response.status(),
            content_length: response.content_length(),
            encoding: Encoding::Identity,
            location: text(LOCATION),
            retry_after: text(RETRY_AFTER),
            content_range: text(CONTENT_RANGE),
        };
        Ok(Response {
            head,
            body: Body::Web(response, Bytes::new()),
        })
    }

    /// reqwest's client, set up now if this is its first URL.
    fn web(&self) -> Result<&reqwest::Client, Failure> {
        let web = self.web.get_or_init(|| {
            let settings = &self.web_settings;
            reqwest::Client::builder()
                .tls_certs_merge(settings.roots.clone())
                .connect_timeout(settings.connect_timeout)
                .pool_max_idle_per_host(settings.max_idle)
                .redirect(redirect::Policy::none())
                .build()
                .map_err(|err| format!("cannot set up the HTTPS client: {err}"))
        });
        web.as_ref()
            .map_err(|why| Failure::new(ErrorKind::Connect, why.clone()))
    }

    /// Whether reqwest would send `url` through a proxy.
    fn proxied(&self, url: &Url) -> bool {
        let Some(matcher) = &self.proxy else {
            return false;
        };
        match url.as_str().parse::<hyper::Uri>() {
            Ok(uri) => matcher.intercept(&uri).is_some(),
            // reqwest cannot send it either, and says why.
            Err(_) => true,
        }
    }
}

/// Whether a variable that can proxy plain http is set (a quick check, so
/// that without one no URL is matched against the rules).
fn proxy_configured() -> bool {
    ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}

/// Names a reqwest error by kind, with the deepest cause as its message
/// (`connection refused`).
fn classify(err: &reqwest::Error) -> Failure {
    let mut io_cause = None;
    let mut deepest = None;
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            io_cause.get_or_insert(io);
        }
        deepest = Some(cause);
        source = cause.source();
    }
    let message = match (io_cause, deepest) {
        (Some(io), _) => describe_io_error(io),
        (None, Some(cause)) => cause.to_string(),
        (None, None) => err.to_string(),
    };
    let kind = if err.is_timeout() {
        ErrorKind::Timeout
    } else if err.is_connect() {
        ErrorKind::Connect
    } else if err.is_builder() {
        ErrorKind::InvalidUrl
    } else {
        // Body, decode and request errors: the connection broke or the server
        // sent something unreadable; another attempt may go better.
        ErrorKind::Transfer
    };
    Failure::new(kind, message)
}
