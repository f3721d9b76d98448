//! Everything a run needs, validated: [`RunConfig`], around the [`EngineConfig`] that `verify`
//! shares. The command layer builds it from the flags; the pipeline reads it. Its fields cannot hold nonsense: limits are non-zero, the
//! endpoint is a parsed URL, and what to do with an existing results file is one choice.

use std::num::NonZeroU64;
use std::path::PathBuf;
use std::time::Duration;

use crate::chime::ClientSettings;
use crate::execution::ExecConfig;
use crate::input::InputOptions;
use crate::output::{Destination, Existing, PinPolicy};
use crate::progress::ProgressMode;

/// A rehearsal against the built-in simulator (`run --simulate`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rehearsal {
    /// The simulator's users: this directory CSV, or every user of the input.
    pub directory: Option<PathBuf>,
}

/// What every mode of the engine runs with (`run`, `run --dry-run`, `verify`): its main
/// output, the executor's and the client's settings, when to give up, and how it speaks.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The mode's file of rows: the results, or the verified file.
    pub output: Destination,
    /// What to do when that file exists already.
    pub existing: Existing,
    pub exec: ExecConfig,
    pub client: ClientSettings,
    pub max_failures: Option<u64>,
    pub grace_period: Duration,
    pub quiet: bool,
    pub progress: ProgressMode,
    /// The command line as given, to print the command that resumes it.
    pub command_line: Vec<String>,
}

impl EngineConfig {
    /// The command line that resumes this command: the same, with `--resume` instead of
    /// `--force`; `None` when its rows went to stdout, where nothing is left to resume.
    pub fn resume_command(&self) -> Option<String> {
        if self.output == Destination::Stdout {
            return None;
        }
        Some(resume_command(&self.command_line))
    }
}

/// Everything `run` needs, validated.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub engine: EngineConfig,
    pub input: InputOptions,
    pub pins: PinPolicy,
    pub raw_cells: bool,
    pub rehearsal: Option<Rehearsal>,
    /// `--summary-json`: where the summary's JSON goes.
    pub summary_json: Option<Destination>,
    /// `--yes`: no question before the first reset, nor after the canary.
    pub yes: bool,
    /// `--canary N`: the first N valid rows go alone, the rest only if all of them succeed.
    pub canary: Option<NonZeroU64>,
}

/// The command line as given, to print the command that resumes a command. Lossy: a path
/// that is not UTF-8 still gets a resume command that names it.
pub fn command_line() -> Vec<String> {
    std::env::args_os()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect()
}

/// A command line with `--resume` instead of `--force`, quoted for the shell.
pub fn resume_command(command_line: &[String]) -> String {
    let mut words: Vec<&str> = command_line
        .iter()
        .map(String::as_str)
        .filter(|word| *word != "--force")
        .collect();
    if !words.contains(&"--resume") {
        words.push("--resume");
    }
    words
        .iter()
        .map(|word| shell_quote(word))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The dummy credentials `run --simulate` signs with.
pub fn simulator_credentials() -> (String, String) {
    ("AKIDSIMULATOR".to_string(), "simulator-secret".to_string())
}

/// Quotes a word for a POSIX shell when it needs it. A word with a NUL byte cannot be passed
/// to a command at all, so it cannot come from the command line.
pub fn shell_quote(word: &str) -> String {
    shlex::try_quote(word)
        .expect("a command-line word holds no NUL byte")
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_the_shell() {
        assert_eq!(shell_quote("in.csv"), "in.csv");
        assert_eq!(shell_quote("my file.csv"), "'my file.csv'");
        assert_eq!(shell_quote("it's"), "\"it's\"");
    }
}
