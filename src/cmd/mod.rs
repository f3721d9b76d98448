//! The command layer: one module per subcommand, each holding its clap `Args` and its `run()`,
//! and [`args`] for the groups of flags they share. Nothing below this layer knows there is a
//! command line; `main.rs` owns the process (argv, the runtime, printing an error, the exit
//! code).

pub mod args;
pub mod completions;
pub mod examples;
pub mod export;
pub mod man;
mod rehearsal;
pub mod report;
pub mod reset;
pub mod run;
pub mod simulate;
pub mod template;
pub mod validate;
pub mod verify;

use clap::{Parser, Subcommand};

use crate::chime::CallError;
use crate::exit;
use crate::outcome::codes;

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
    Run(run::RunArgs),
    /// Serve a local simulator of the Chime user API (prints its endpoint URL first on stdout).
    Simulate(simulate::SimulateArgs),
    /// Check an input CSV offline: every problem with its line, then a summary.
    Validate(validate::ValidateArgs),
    /// List the users of accounts (every page of ListUsers) into a CSV that `run` accepts.
    Export(export::ExportArgs),
    /// Reset one user's PIN and print the answer as `aws chime reset-personal-pin` does.
    Reset(reset::ResetArgs),
    /// Report what runs did, from their results files (offline): each user's final state.
    Report(report::ReportArgs),
    /// Check a results file against Chime: is each PIN recorded still the live one?
    Verify(verify::VerifyArgs),
    /// Print a sample input CSV on stdout, with comments on its columns on stderr.
    Template(template::TemplateArgs),
    /// Print a shell completion script on stdout.
    Completions(completions::CompletionsArgs),
    /// Print the manual page (roff) on stdout.
    Man(man::ManArgs),
}

impl Command {
    /// The simulator serves many connections at once and wants a thread per core. Everything
    /// else is one client whose work is waiting on the network: one thread does it with less
    /// CPU than two handing tasks to each other (the CSV reader has a thread of its own).
    pub fn wants_many_threads(&self) -> bool {
        matches!(self, Command::Simulate(_))
    }

    /// Runs the command and returns its exit code. An `Err` is printed once by `main` and
    /// exits 2: nothing was sent.
    pub async fn run(self) -> anyhow::Result<u8> {
        match self {
            Command::Run(args) => run::run(args).await,
            Command::Simulate(args) => simulate::run(args).await,
            Command::Validate(args) => validate::run(args),
            Command::Export(args) => export::run(args).await,
            Command::Reset(args) => reset::run(args).await,
            Command::Report(args) => report::run(args),
            Command::Verify(args) => verify::run(args).await,
            Command::Template(args) => template::run(args),
            Command::Completions(args) => completions::run(args),
            Command::Man(args) => man::run(args),
        }
    }
}

/// A failed call on one line: the exception name, the message and the AWS request id.
pub fn describe(error: &CallError) -> String {
    match &error.request_id {
        Some(id) => format!("{}: {} (request id {id})", error.code, error.message),
        None => format!("{}: {}", error.code, error.message),
    }
}

/// The exit code of a call that failed: 2 when nothing could be sent (no usable credentials, a
/// request that could not be built), 1 when Chime or the network said no.
pub fn exit_code(error: &CallError) -> u8 {
    // These two codes are given only before anything is sent (see `chime::classify`).
    match error.code.as_str() {
        codes::CREDENTIALS_ERROR | codes::CONFIGURATION_ERROR => exit::USAGE,
        _ => exit::ROWS_FAILED,
    }
}
