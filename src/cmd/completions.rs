//! `completions`: a completion script for a shell, generated from the same clap definitions
//! that parse the arguments, so it never falls behind them.

use std::io::{self, Write};

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cmd::Cli;
use crate::exit;

/// Flags of `chime-pin-reset completions`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = "\
Examples:
  chime-pin-reset completions bash > ~/.local/share/bash-completion/completions/chime-pin-reset
  chime-pin-reset completions zsh > \"${fpath[1]}/_chime-pin-reset\"
  chime-pin-reset completions fish > ~/.config/fish/completions/chime-pin-reset.fish")]
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
