//! One URL from first attempt to outcome: the request, retries with backoff, the
//! body streamed in chunks to its sink (a part file or a spool), the size limit,
//! resuming with a Range request, and cancellation at any wait.

use std::future::Future;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::{StatusCode, Url};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::Response;
use super::decode::Decoder;
use super::fetcher::{MAX_REDIRECTS, Progress, Shared};
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
    // Boxed: passed down through the timeout and the cancellation, it would
    // be moved into each of their states, a copy of some KiB per request
    // (memmove was 4.7% of the CPU time on 10,000 small files, 2.9% boxed).
    let following = Box::pin(follow(shared, url, offset, seen));
    let mut response = bounded(shared, cancel, "no response", following).await??;
    let status = response.head.status;
    if status == StatusCode::RANGE_NOT_SATISFIABLE
        && let Some(path) = path
        && offset > 0
    {
        // The part is as long as the file or longer: it cannot be trusted.
        // Start over; this attempt counts like a failed one.
        response.discard();
        let _ = std::fs::remove_file(super::sink::part_path(path));
        return Err(Failure::new(
            ErrorKind::Transfer,
            "the partial download does not match the server's file; starting over",
        )
        .into());
    }
    if !status.is_success() {
        let retry_after = response
            .head
            .retry_after
            .as_deref()
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        response.discard();
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
        && range_start(response.head.content_range.as_deref()) == Some(offset);
    let start = if resumed { offset } else { 0 };
    let len = response.head.decoded_length();
    if let (Some(limit), Some(len)) = (shared.max_size(), len)
        && start + len > limit
    {
        response.discard();
        return Err(too_large(start + len, limit).into());
    }
    let sink = match target {
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
    let encoding = response.head.encoding;
    let writer = BodyWriter {
        sink: Some(sink),
        bytes: &mut seen.bytes,
        limit: shared.max_size(),
        progress: &shared.progress,
        path,
        failure: None,
    };
    let undecodable = |err: io::Error| {
        Failure::new(
            ErrorKind::Transfer,
            format!("cannot decode the {} body: {err}", encoding.name()),
        )
    };
    let mut decoder = Decoder::new(encoding, writer);
    // The writer's own failure (the size limit, a write error) if it has one,
    // else the decoder's.
    let failed = |decoder: &mut Decoder<BodyWriter>, err| {
        let failure = decoder.sink().and_then(|writer| writer.failure.take());
        Stop::from(failure.unwrap_or_else(|| undecodable(err)))
    };
    loop {
        // Broken transfers keep their part file, for a retry or --resume.
        let Some(chunk) = bounded(shared, cancel, "no data", response.chunk()).await?? else {
            break;
        };
        if let Err(err) = decoder.write(chunk) {
            return Err(failed(&mut decoder, err));
        }
    }
    if let Err(err) = decoder.finish() {
        return Err(failed(&mut decoder, err));
    }
    let mut writer = decoder.into_sink().map_err(undecodable)?;
    if let (Some(Sink::File(file)), Some(path)) = (writer.sink.take(), path) {
        file.publish().map_err(|e| io_failure(path, &e))?;
    }
    Ok(())
}

/// Sends the request and follows redirects: the response that is not one.
async fn follow(
    shared: &Shared,
    url: &Url,
    offset: u64,
    seen: &mut Seen,
) -> Result<Response, Failure> {
    let mut current = url.clone();
    let mut previous: Vec<Url> = Vec::new();
    loop {
        let response = shared.client.get(&current, offset, url).await?;
        let status = response.head.status;
        seen.status = Some(status.as_u16());
        seen.final_url = Some(without_credentials(&current));
        let redirect = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
        let location = match &response.head.location {
            Some(location) if redirect => location,
            _ => return Ok(response),
        };
        let next = current.join(location).map_err(|err| {
            Failure::new(
                ErrorKind::Redirect,
                format!("invalid redirect location {location:?}: {err}"),
            )
        })?;
        response.discard();
        if next == current || previous.contains(&next) {
            return Err(Failure::new(
                ErrorKind::Redirect,
                format!("redirect loop at {next}"),
            ));
        }
        if previous.len() >= MAX_REDIRECTS {
            return Err(Failure::new(
                ErrorKind::Redirect,
                format!("more than {MAX_REDIRECTS} redirects"),
            ));
        }
        previous.push(std::mem::replace(&mut current, next));
    }
}

/// `url` as the report shows it: without `user:password@`.
fn without_credentials(url: &Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.as_str().to_owned();
    }
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.into()
}

/// Where this attempt's body is being written.
enum Sink<'a> {
    File(PartFile),
    Spool(&'a mut Spool),
}

/// The decoded body's way to its sink: counted, and held to the size limit.
struct BodyWriter<'a> {
    /// Taken when the body cannot be kept (the part file removed then).
    sink: Option<Sink<'a>>,
    bytes: &'a mut u64,
    limit: Option<u64>,
    progress: &'a Progress,
    path: Option<&'a Path>,
    /// Why the last write failed.
    failure: Option<Failure>,
}

impl Write for BodyWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let Some(sink) = self.sink.as_mut() else {
            return Err(io::Error::other("the body is not kept"));
        };
        *self.bytes += data.len() as u64;
        self.progress.add_bytes(data.len() as u64);
        let failure = match self.limit {
            Some(limit) if *self.bytes > limit => too_large(*self.bytes, limit),
            _ => {
                let written = match sink {
                    Sink::File(file) => file.write(data),
                    Sink::Spool(spool) => spool.write(data),
                };
                match (written, self.path) {
                    (Ok(()), _) => return Ok(data.len()),
                    (Err(e), Some(path)) => io_failure(path, &e),
                    (Err(e), None) => Failure::new(
                        ErrorKind::Io,
                        format!("cannot hold the body: {}", describe_io_error(&e)),
                    ),
                }
            }
        };
        if let Some(Sink::File(file)) = self.sink.take() {
            file.discard();
        }
        self.failure = Some(failure);
        Err(io::Error::other("the body is not kept"))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The first byte position of a 206 response (`Content-Range: bytes 100-199/200`).
fn range_start(content_range: Option<&str>) -> Option<u64> {
    let range = content_range?.strip_prefix("bytes ")?;
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
