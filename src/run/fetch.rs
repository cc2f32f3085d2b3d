//! `fetch`: reads the URL list, runs the library's `Fetcher`, and sends each
//! outcome to the report, standard output (or, with -o, a line on stderr for a
//! failure), the progress bar and the summary.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::{FutureExt, Stream, StreamExt};
use tokio_util::sync::CancellationToken;
use tracing::level_filters::LevelFilter;

use netkit::fetch::sink::{Printer, ReportWriter};
use netkit::fetch::{Fetcher, Outcome, ProgressBar, RetryPolicy, Summary, url_lines};
use netkit::net;

use super::UsageError;
use crate::cli::FetchArgs;

pub async fn fetch(args: FetchArgs) -> Result<ExitCode> {
    net::raise_fd_limit();
    if args.urls.is_empty() && args.input.is_none() {
        return Err(UsageError(
            "no URLs: give them as arguments, or in a file with -i FILE (-i - for standard input)"
                .into(),
        )
        .into());
    }
    let input_name = args.input.clone();
    let input = match args.input.as_deref() {
        None => None,
        Some("-") => {
            Some(Box::new(tokio::io::stdin()) as Box<dyn tokio::io::AsyncRead + Send + Unpin>)
        }
        Some(path) => {
            let file = tokio::fs::File::open(path).await.map_err(|e| {
                UsageError(format!(
                    "cannot read {path}: {}",
                    net::describe_io_error(&e)
                ))
            })?;
            Some(Box::new(file) as _)
        }
    };
    let mut report = match &args.report {
        None => None,
        Some(path) => Some(ReportWriter::new(File::create(path).map_err(|e| {
            UsageError(format!(
                "cannot create the report {}: {}",
                path.display(),
                net::describe_io_error(&e)
            ))
        })?)),
    };
    let mut builder = Fetcher::builder()
        .concurrency(args.jobs as usize)
        .per_host(args.per_host as usize)
        .rate(args.rate)
        .timeout(args.timeout)
        .connect_timeout(args.connect_timeout)
        .retry(RetryPolicy {
            retries: args.retries,
            ..RetryPolicy::default()
        })
        .max_size(args.max_size)
        .output_dir(args.output.clone())
        .resume(args.resume)
        .ordered(args.ordered);
    for (name, value) in args.headers {
        builder = builder.header(name, value);
    }
    if let Some(agent) = args.user_agent {
        builder = builder.user_agent(agent);
    }
    for path in &args.ca_certs {
        let pem = std::fs::read(path).map_err(|e| {
            UsageError(format!(
                "cannot read {}: {}",
                path.display(),
                net::describe_io_error(&e)
            ))
        })?;
        builder = builder.trust_pem(pem);
    }
    let fetcher = builder.build()?;

    // `-q` sets the log filter to errors only; it also silences the progress
    // bar, the failure lines and the summary text.
    let quiet = LevelFilter::current() < LevelFilter::INFO;
    let read = Arc::new(AtomicU64::new(0));
    let input_error = Arc::new(Mutex::new(None));
    let urls = url_stream(args.urls, input, read.clone(), input_error.clone());
    let cancel = CancellationToken::new();
    // Handlers installed now, before any request: a Ctrl-C from here on cancels.
    let signal = net::shutdown_signal();
    tokio::spawn({
        let cancel = cancel.clone();
        async move {
            signal.await;
            cancel.cancel();
        }
    });

    let started = Instant::now();
    let mut bar = if quiet {
        None
    } else {
        ProgressBar::on_terminal(fetcher.progress())
    };
    let mut out = Output {
        printer: (args.output.is_none()).then(|| Printer::new(args.ordered)),
        summary: Summary::default(),
        quiet,
    };
    let mut outcomes = std::pin::pin!(fetcher.fetch_all(urls, cancel.clone()));
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        let next = tokio::select! {
            next = outcomes.next() => next,
            _ = tick.tick(), if bar.is_some() => {
                if let Some(bar) = &bar {
                    bar.set_total(read.load(Relaxed));
                    bar.refresh();
                }
                continue;
            }
        };
        let Some(outcome) = next else { break };
        out.handle(outcome, report.as_mut(), bar.as_mut())?;
        // Take whatever else is ready, then flush once.
        let mut ended = false;
        loop {
            match outcomes.next().now_or_never() {
                Some(Some(outcome)) => out.handle(outcome, report.as_mut(), bar.as_mut())?,
                Some(None) => {
                    ended = true;
                    break;
                }
                None => break,
            }
        }
        if let Some(report) = &mut report {
            report.flush().context("cannot write the report")?;
        }
        std::io::stdout()
            .flush()
            .context("cannot write to standard output")?;
        if ended {
            break;
        }
    }
    if let Some(printer) = &mut out.printer {
        printer
            .finish(&mut std::io::stdout().lock())
            .context("cannot write to standard output")?;
    }
    if let Some(report) = &mut report {
        report.flush().context("cannot write the report")?;
    }
    if let Some(bar) = bar {
        bar.finish();
    }
    let mut summary = out.summary;
    summary.finish(started.elapsed());
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else if !quiet {
        eprintln!("netkit: {}", summary.to_text());
    }
    let input_error = input_error.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(err) = input_error {
        let name = input_name.as_deref().map_or("standard input", |n| {
            if n == "-" { "standard input" } else { n }
        });
        eprintln!(
            "netkit: stopped reading URLs from {name}: {}",
            net::describe_io_error(&err)
        );
        return Ok(ExitCode::from(1));
    }
    Ok(if summary.all_succeeded() && !cancel.is_cancelled() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The arguments, then the input's lines; counts what is read, and keeps a read
/// error for the end of the run (the URLs before it are still fetched).
fn url_stream(
    args: Vec<String>,
    input: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>,
    read: Arc<AtomicU64>,
    error: Arc<Mutex<Option<std::io::Error>>>,
) -> impl Stream<Item = String> + Send + 'static {
    let lines = match input {
        Some(reader) => url_lines(reader).left_stream(),
        None => futures::stream::empty().right_stream(),
    };
    let lines = lines
        .take_while(move |line| {
            let keep = match line {
                Ok(_) => true,
                Err(err) => {
                    let copy = std::io::Error::new(err.kind(), err.to_string());
                    *error.lock().unwrap_or_else(|e| e.into_inner()) = Some(copy);
                    false
                }
            };
            std::future::ready(keep)
        })
        .filter_map(|line| std::future::ready(line.ok()));
    futures::stream::iter(args).chain(lines).inspect(move |_| {
        read.fetch_add(1, Relaxed);
    })
}

/// Where outcomes go besides the report.
struct Output {
    /// Without -o: the headers and bodies on stdout.
    printer: Option<Printer>,
    summary: Summary,
    quiet: bool,
}

impl Output {
    fn handle(
        &mut self,
        outcome: Outcome,
        report: Option<&mut ReportWriter<File>>,
        bar: Option<&mut ProgressBar>,
    ) -> Result<()> {
        if let Some(report) = report {
            report.write(&outcome).context("cannot write the report")?;
        }
        self.summary.add(&outcome);
        let failure_line = match (&self.printer, &outcome.failure) {
            // With -o nothing goes to stdout per URL; a failure gets a line on stderr.
            (None, Some(failure)) if !self.quiet => Some(format!(
                "netkit: {}: {} ({})",
                outcome.url, failure, failure.kind
            )),
            _ => None,
        };
        let succeeded = outcome.succeeded();
        let mut print = |outcome: Outcome| -> Result<()> {
            if let Some(printer) = &mut self.printer {
                let mut stdout = std::io::stdout().lock();
                printer
                    .push(outcome, &mut stdout)
                    .context("cannot write to standard output")?;
            }
            Ok(())
        };
        match bar {
            Some(bar) => {
                bar.url_done(succeeded);
                if let Some(line) = failure_line {
                    bar.println(&line);
                }
                // The bar and the bodies may share a terminal.
                if std::io::stdout().is_terminal() {
                    bar.suspend(|| print(outcome))?;
                } else {
                    print(outcome)?;
                }
            }
            None => {
                if let Some(line) = failure_line {
                    eprintln!("{line}");
                }
                print(outcome)?;
            }
        }
        Ok(())
    }
}
