//! The `netkit` binary: parse the command line, set up logging, run one
//! subcommand, and map errors to exit codes (0 ok, 1 failed work, 2 bad usage).

mod cli;
mod run;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let runtime = match run::runtime() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("netkit: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(run::command(cli.command));
    // Standard input is read on a blocking thread that may never return: do not
    // wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("netkit: {err:#}");
            ExitCode::from(run::exit_code(&err))
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(color)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
