//! `completions`: a completion script for a shell, generated from the same clap definitions
//! that parse the arguments, so it never falls behind them.

use std::io::{self, Write};

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cmd::examples;
use crate::cmd::Cli;
use crate::exit;

/// Flags of `chime-pin-reset completions`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = examples::after_help("completions", ""))]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Runs `completions`.
pub fn run(args: CompletionsArgs) -> anyhow::Result<u8> {
    let mut command = Cli::command();
    let name = command.get_name().to_string();
    // clap_complete panics when its writer fails: generate in memory, then write, so a closed
    // pipe is an error `main` can judge (`| head` is not a failure).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, name, &mut script);
    let mut stdout = io::stdout().lock();
    stdout.write_all(&script)?;
    stdout.flush()?;
    Ok(exit::SUCCESS)
}
