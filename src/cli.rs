//! Command-line arguments and the dispatch from a subcommand to the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit;

/// Reset the personal meeting PINs of many Amazon Chime users at once.
#[derive(Debug, Parser)]
#[command(name = "chime-pin-reset", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Reset the PIN of every user in a CSV and write a results CSV.
    #[command(after_help = exit::HELP)]
    Run(crate::config::RunArgs),
    /// Serve a local simulator of the Chime user API (prints its endpoint URL first on stdout).
    Simulate(crate::simulator::SimulateArgs),
    /// Check an input CSV offline: every problem with its line, then a summary.
    Validate(crate::prepare::validate::ValidateArgs),
    /// List the users of accounts (every page of ListUsers) into a CSV that `run` accepts.
    Export(crate::prepare::export::ExportArgs),
    /// Reset one user's PIN and print the answer as `aws chime reset-personal-pin` does.
    Reset(crate::prepare::reset::ResetArgs),
    /// Print a sample input CSV on stdout, with comments on its columns on stderr.
    Template(crate::prepare::template::TemplateArgs),
}

/// The whole program: parse, run, print any error once, return the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCESS
            };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    let runtime = match runtime_for(&cli.command) {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("chime-pin-reset: cannot start the async runtime: {err}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => {
                let config = crate::config::RunConfig::from_args(args)?;
                crate::run::run(config).await.map(ExitCode::from)
            }
            Command::Simulate(args) => crate::simulator::run_cli(args).await,
            Command::Validate(args) => crate::prepare::validate::run(args).map(ExitCode::from),
            Command::Export(args) => crate::prepare::export::run(args).await.map(ExitCode::from),
            Command::Reset(args) => crate::prepare::reset::run(args).await.map(ExitCode::from),
            Command::Template(args) => crate::prepare::template::run(args).map(ExitCode::from),
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("chime-pin-reset: {err:#}");
            ExitCode::from(exit::USAGE)
        }
    }
}

/// The simulator serves many connections at once and gets a thread per core. Everything else
/// is one client whose work is waiting on the network: one thread does it with less CPU than
/// two handing tasks to each other (the CSV reader has a thread of its own).
fn runtime_for(command: &Command) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match command {
        Command::Simulate(_) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    builder.enable_all().build()
}
