//! `man`: the manual page in roff, generated from the clap definitions with every subcommand's
//! flags, so `man` and `--help` say the same.

use std::io::{self, Write};

use clap::CommandFactory;

use crate::cmd::Cli;
use crate::exit;

/// Flags of `chime-pin-reset man` (none).
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = "\
Example:
  chime-pin-reset man > ~/.local/share/man/man1/chime-pin-reset.1 && man chime-pin-reset")]
pub struct ManArgs {}

/// Runs `man`: the top page, then a section per subcommand.
pub fn run(_args: ManArgs) -> anyhow::Result<u8> {
    let command = Cli::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page)?;
    for subcommand in command.get_subcommands() {
        let about = subcommand
            .get_about()
            .map(ToString::to_string)
            .unwrap_or_default();
        let heading = format!(
            ".SH \"{} {}\"\n{}\n",
            command.get_name().to_uppercase(),
            subcommand.get_name().to_uppercase(),
            roff_text(&about)
        );
        page.extend_from_slice(heading.as_bytes());
        clap_mangen::Man::new(subcommand.clone()).render_options_section(&mut page)?;
    }
    let mut stdout = io::stdout().lock();
    stdout.write_all(&page)?;
    stdout.flush()?;
    Ok(exit::SUCCESS)
}

/// Text for a roff paragraph: a leading `.` or `'` would be read as a request.
fn roff_text(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\");
    match escaped.chars().next() {
        Some('.' | '\'') => format!("\\&{escaped}"),
        _ => escaped,
    }
}
