//! `man`: the manual pages in roff, generated from the clap definitions, so `man` and `--help`
//! say the same. The main page, chime-pin-reset(1), holds every subcommand's flags, the exit
//! status and the examples; `--dir` also writes a page per subcommand, such as
//! chime-pin-reset-run(1), which the main page's SUBCOMMANDS section names.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::CommandFactory;

use crate::cmd::{examples, Cli};
use crate::exit;
use crate::output::{Destination, Existing, Files};

/// Flags of `chime-pin-reset man`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = examples::after_help("man", ""))]
pub struct ManArgs {
    /// Write every page into this folder, created if need be (chime-pin-reset.1 and one per
    /// subcommand, such as chime-pin-reset-run.1), instead of the main page on stdout.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Runs `man`.
pub fn run(args: ManArgs) -> anyhow::Result<u8> {
    // Without clap's `help` subcommand, which has no page; built, so that each subcommand knows
    // its page's name (chime-pin-reset-run).
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    match &args.dir {
        None => {
            let mut stdout = io::stdout().lock();
            stdout.write_all(&main_page(&command)?)?;
            stdout.flush()?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            write_page(dir, &command, &main_page(&command)?)?;
            let subcommands = pages_of_subcommands(&command);
            for subcommand in &subcommands {
                write_page(dir, subcommand, &subcommand_page(subcommand)?)?;
            }
            crate::say!(
                "chime-pin-reset man: {} pages written to {}",
                subcommands.len() + 1,
                dir.display()
            );
        }
    }
    Ok(exit::SUCCESS)
}

/// The subcommands that get a page of their own.
fn pages_of_subcommands(command: &clap::Command) -> Vec<clap::Command> {
    command
        .get_subcommands()
        .filter(|subcommand| !subcommand.is_hide_set())
        .cloned()
        .collect()
}

/// Writes `page` as `DIR/NAME.1`, over the page of an earlier version, readable by all.
fn write_page(dir: &Path, command: &clap::Command, page: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(clap_mangen::Man::new(command.clone()).get_filename());
    let destination = Destination::File(path);
    let page_file = Files::default().whole(&destination, Existing::Overwrite, "a manual page")?;
    Ok(page_file.readable_by_all().write_all(page)?)
}

/// chime-pin-reset(1): the tool, a section with each subcommand's flags, the exit status, the
/// examples of every subcommand.
fn main_page(command: &clap::Command) -> io::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(command.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    man.render_subcommands_section(&mut page)?;
    let subcommands = pages_of_subcommands(command);
    for subcommand in &subcommands {
        let about = subcommand
            .get_about()
            .map(ToString::to_string)
            .unwrap_or_default();
        let heading = format!(
            ".SH \"{} {}\"\n{}\n",
            command.get_name().to_uppercase(),
            subcommand.get_name().to_uppercase(),
            roff_line(&about)
        );
        page.extend_from_slice(heading.as_bytes());
        clap_mangen::Man::new(subcommand.clone()).render_options_section(&mut page)?;
    }
    let mut text = String::new();
    section(&mut text, "EXIT STATUS");
    text.push_str(
        "Those of \\fBrun\\fR; the other subcommands use the same numbers, and each one's page \
         says what they mean there.\n",
    );
    preformatted(&mut text, exit::HELP.lines().skip(1));
    section(&mut text, "EXAMPLES");
    for subcommand in &subcommands {
        examples_of(&mut text, subcommand.get_name());
    }
    section(&mut text, "SEE ALSO");
    let pages: Vec<String> = subcommands
        .iter()
        .map(|subcommand| format!("\\fB{}\\fR(1)", page_name(subcommand)))
        .collect();
    text.push_str(&format!(
        "{}, \\fBaws\\fR(1). The README of the source tree holds the whole contract.\n",
        pages.join(", ")
    ));
    page.extend_from_slice(text.as_bytes());
    man.render_version_section(&mut page)?;
    Ok(page)
}

/// chime-pin-reset-NAME(1): one subcommand, its flags, what it notes, its exit status and
/// examples.
fn subcommand_page(subcommand: &clap::Command) -> io::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(subcommand.clone())
        .source(format!("chime-pin-reset {}", env!("CARGO_PKG_VERSION")));
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    let name = subcommand.get_name();
    let after_help = subcommand
        .get_after_help()
        .map(ToString::to_string)
        .unwrap_or_default();
    // The help's text after the examples: notes, then `Exit codes:` and one line per code.
    let notes_start = examples::after_help(name, "").len();
    let notes = after_help.get(notes_start..).unwrap_or_default().trim();
    let (prose, exit_codes) = match notes.find("Exit codes:") {
        Some(at) => (notes[..at].trim(), Some(&notes[at..])),
        None => (notes, None),
    };
    let mut text = String::new();
    if !prose.is_empty() {
        section(&mut text, "NOTES");
        preformatted(&mut text, prose.lines());
    }
    section(&mut text, "EXIT STATUS");
    match exit_codes {
        Some(codes) => preformatted(&mut text, codes.lines().skip(1)),
        None => text.push_str(&format!(
            "{} on success; {} on a usage error or when the output cannot be written.\n",
            exit::SUCCESS,
            exit::USAGE
        )),
    }
    section(&mut text, "EXAMPLES");
    examples_of(&mut text, name);
    section(&mut text, "SEE ALSO");
    text.push_str("\\fBchime-pin-reset\\fR(1)\n");
    page.extend_from_slice(text.as_bytes());
    Ok(page)
}

/// `chime-pin-reset-run`, as clap names a built subcommand.
fn page_name(subcommand: &clap::Command) -> String {
    subcommand
        .get_display_name()
        .unwrap_or_else(|| subcommand.get_name())
        .to_string()
}

fn section(text: &mut String, title: &str) {
    text.push_str(&format!(".SH \"{title}\"\n"));
}

/// Lines kept as they are (no filling), as in `--help`.
fn preformatted<'a>(text: &mut String, lines: impl Iterator<Item = &'a str>) {
    text.push_str(".PP\n.nf\n");
    for line in lines {
        text.push_str(&roff_line(line));
        text.push('\n');
    }
    text.push_str(".fi\n");
}

/// Each example: its purpose, then the command indented and unfilled, to paste as it is.
fn examples_of(text: &mut String, subcommand: &str) {
    for example in examples::of(subcommand) {
        text.push_str(&format!(".PP\n{}\n", roff_line(example.purpose)));
        text.push_str(&format!(
            ".RS 4\n.nf\n{}\n.fi\n.RE\n",
            roff_line(example.command)
        ));
    }
}

/// A line of roff text: a backslash or a hyphen is printed as typed (a command pasted from
/// the page must keep its ASCII `-`), and a leading `.` or `'` is not read as a request.
fn roff_line(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    match escaped.chars().next() {
        Some('.' | '\'') => format!("\\&{escaped}"),
        _ => escaped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roff_lines_keep_hyphens_backslashes_and_leading_dots_literal() {
        assert_eq!(roff_line("a-b"), "a\\-b");
        assert_eq!(roff_line(".x\\y"), "\\&.x\\ey");
    }
}
