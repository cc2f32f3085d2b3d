//! One URL from first attempt to outcome: the request, retries with backoff, the
//! body streamed in chunks to its sink (a part file or a spool), the size limit,
//! resuming with a Range request, and cancellation at any wait.

use std::error::Error as _;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{ACCEPT_ENCODING, CONTENT_RANGE, RANGE, RETRY_AFTER};
use reqwest::{Response, StatusCode, Url};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::fetcher::{RedirectError, Shared};
use super::naming::relative_path;
use super::outcome::{ErrorKind, Failure, Outcome};
use super::retry::parse_retry_after;
use super::sink::{PartFile, Spool, partial_len};
use crate::net::describe_io_error;

/// Why an attempt ended without a body.
struct Stop {
    failure: Failure,
    retry_after: Option<Duration>,
}

impl From<Failure> for Stop {
    fn from(failure: Failure) -> Self {
        Self {
            failure,
            retry_after: None,
        }
    }
}

/// What the attempts learned, reported whatever the end.
struct Seen {
    status: Option<u16>,
    final_url: Option<String>,
    bytes: u64,
    attempts: u32,
}

pub(crate) async fn fetch(
    shared: Arc<Shared>,
    index: u64,
    url: Url,
    raw: String,
    cancel: CancellationToken,
) -> Outcome {
    let started = Instant::now();
    let path = shared.output_dir().map(|dir| dir.join(relative_path(&url)));
    let mut seen = Seen {
        status: None,
        final_url: None,
        bytes: 0,
        attempts: 0,
    };
    let mut spool = None;
    let result = match &path {
        Some(path) if shared.resume() && path.is_file() => {
            // Finished by an earlier run: keep it.
            seen.bytes = std::fs::metadata(path).map_or(0, |m| m.len());
            Ok(())
        }
        Some(path) => match cancellable(&cancel, shared.claim(path)).await {
            Err(failure) => Err(failure),
            Ok(()) => {
                let target = Target::File(path);
                let result = attempts(&shared, &url, target, &mut seen, &cancel).await;
                shared.release(path);
                result
            }
        },
        None => {
            let target = Target::Spool(spool.get_or_insert_default());
            attempts(&shared, &url, target, &mut seen, &cancel).await
        }
    };
    let failure = result.err();
    Outcome {
        index,
        url: raw,
        final_url: seen.final_url,
        status: seen.status,
        bytes: seen.bytes,
        elapsed: started.elapsed(),
        attempts: seen.attempts,
        body: if failure.is_none() { spool } else { None },
        failure,
        path,
    }
}

/// Attempts until one succeeds, one fails for good, or the retries run out.
async fn attempts(
    shared: &Shared,
    url: &Url,
    mut target: Target<'_>,
    seen: &mut Seen,
    cancel: &CancellationToken,
) -> Result<(), Failure> {
    loop {
        seen.attempts += 1;
        let stop = match attempt(shared, url, &mut target, seen, cancel).await {
            Ok(()) => return Ok(()),
            Err(stop) => stop,
        };
        let wait =
            shared
                .retry()
                .next_wait(seen.attempts, &stop.failure, seen.status, stop.retry_after);
        let Some(wait) = wait else {
            return Err(stop.failure);
        };
        tracing::debug!(%url, attempt = seen.attempts, ?wait, "retrying: {}", stop.failure);
        if cancellable(cancel, tokio::time::sleep(wait)).await.is_err() {
            return Err(cancelled());
        }
    }
}

fn cancelled() -> Failure {
    Failure::new(ErrorKind::Cancelled, "cancelled")
}

/// Runs `work` unless `cancel` fires first.
async fn cancellable<T>(
    cancel: &CancellationToken,
    work: impl Future<Output = T>,
) -> Result<T, Failure> {
    cancel.run_until_cancelled(work).await.ok_or_else(cancelled)
}

/// Runs `work` within the timeout and unless cancelled; `what` names the wait in
/// the timeout message.
async fn bounded<T>(
    shared: &Shared,
    cancel: &CancellationToken,
    what: &str,
    work: impl Future<Output = T>,
) -> Result<T, Failure> {
    let timeout = shared.timeout();
    match cancellable(cancel, tokio::time::timeout(timeout, work)).await? {
        Ok(value) => Ok(value),
        Err(_) => Err(Failure::new(
            ErrorKind::Timeout,
            format!("{what} within {}", crate::net::format_duration(timeout)),
        )),
    }
}

/// Where a URL's body goes: a file under the output directory, or a spool.
enum Target<'a> {
    File(&'a Path),
    Spool(&'a mut Spool),
}

/// Where this attempt's body is being written.
enum Sink<'a> {
    File(PartFile),
    Spool(&'a mut Spool),
}

async fn attempt(
    shared: &Shared,
    url: &Url,
    target: &mut Target<'_>,
    seen: &mut Seen,
    cancel: &CancellationToken,
) -> Result<(), Stop> {
    let path = match target {
        Target::File(path) => Some(*path),
        Target::Spool(_) => None,
    };
    let offset = match path {
        Some(path) if shared.resume() => partial_len(path),
        _ => 0,
    };
    let mut request = shared.client.get(url.clone());
    if offset > 0 {
        // Byte ranges are of the encoded body: ask for it unencoded, so the
        // bytes on disk and the range agree.
        request = request
            .header(RANGE, format!("bytes={offset}-"))
            .header(ACCEPT_ENCODING, "identity");
    }
    let response = bounded(shared, cancel, "no response", request.send())
        .await?
        .map_err(|e| Stop::from(classify(&e)))?;
    seen.status = Some(response.status().as_u16());
    seen.final_url = Some(response.url().to_string());
    let status = response.status();
    if status == StatusCode::RANGE_NOT_SATISFIABLE
        && let Some(path) = path
        && offset > 0
    {
        // The part is as long as the file or longer: it cannot be trusted.
        // Start over; this attempt counts like a failed one.
        let _ = std::fs::remove_file(super::sink::part_path(path));
        return Err(Failure::new(
            ErrorKind::Transfer,
            "the partial download does not match the server's file; starting over",
        )
        .into());
    }
    if !status.is_success() {
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let reason = status.canonical_reason().unwrap_or("");
        return Err(Stop {
            failure: Failure::new(
                ErrorKind::Status,
                format!("HTTP {} {reason}", status.as_u16())
                    .trim_end()
                    .to_string(),
            ),
            retry_after,
        });
    }
    let resumed = offset > 0
        && status == StatusCode::PARTIAL_CONTENT
        && range_start(&response) == Some(offset);
    let start = if resumed { offset } else { 0 };
    if let (Some(limit), Some(len)) = (shared.max_size(), response.content_length())
        && start + len > limit
    {
        return Err(too_large(start + len, limit).into());
    }
    let len = response.content_length();
    let mut sink = match target {
        Target::File(path) => Sink::File(
            shared
                .open_part(path, resumed, len)
                .map_err(|e| io_failure(path, &e))?,
        ),
        Target::Spool(spool) => {
            spool.clear();
            Sink::Spool(spool)
        }
    };
    seen.bytes = start;
    let mut response = response;
    loop {
        let chunk = match bounded(shared, cancel, "no data", response.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => break,
            // Broken transfers keep their part file, for a retry or --resume.
            Ok(Err(e)) => return Err(classify(&e).into()),
            Err(failure) => return Err(failure.into()),
        };
        seen.bytes += chunk.len() as u64;
        shared.progress.add_bytes(chunk.len() as u64);
        if let Some(limit) = shared.max_size()
            && seen.bytes > limit
        {
            if let Sink::File(file) = sink {
                file.discard();
            }
            return Err(too_large(seen.bytes, limit).into());
        }
        let written = match &mut sink {
            Sink::File(file) => file.write(&chunk),
            Sink::Spool(spool) => spool.write(&chunk),
        };
        if let Err(e) = written {
            let failure = match (path, &e) {
                (Some(path), e) => io_failure(path, e),
                (None, e) => Failure::new(
                    ErrorKind::Io,
                    format!("cannot hold the body: {}", describe_io_error(e)),
                ),
            };
            if let Sink::File(file) = sink {
                file.discard();
            }
            return Err(failure.into());
        }
    }
    if let (Sink::File(file), Some(path)) = (sink, path) {
        file.publish().map_err(|e| io_failure(path, &e))?;
    }
    Ok(())
}

/// The first byte position of a 206 response (`Content-Range: bytes 100-199/200`).
fn range_start(response: &Response) -> Option<u64> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    let range = value.strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}

fn too_large(bytes: u64, limit: u64) -> Failure {
    Failure::new(
        ErrorKind::TooLarge,
        format!("body of {bytes} bytes or more is over the limit of {limit} bytes"),
    )
}

fn io_failure(path: &Path, err: &std::io::Error) -> Failure {
    Failure::new(
        ErrorKind::Io,
        format!(
            "cannot write {}: {}",
            path.display(),
            describe_io_error(err)
        ),
    )
}

/// Names a client error by kind, with the deepest cause as its message
/// (`connection refused`, `redirect loop at http://...`).
fn classify(err: &reqwest::Error) -> Failure {
    let mut io_cause = None;
    let mut redirect_cause = None;
    let mut deepest = None;
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            io_cause.get_or_insert(io);
        }
        if let Some(redirect) = cause.downcast_ref::<RedirectError>() {
            redirect_cause.get_or_insert(redirect);
        }
        deepest = Some(cause);
        source = cause.source();
    }
    let message = match (io_cause, deepest) {
        (Some(io), _) => describe_io_error(io),
        (None, Some(cause)) => cause.to_string(),
        (None, None) => err.to_string(),
    };
    if let Some(redirect) = redirect_cause {
        return Failure::new(ErrorKind::Redirect, redirect.to_string());
    }
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
