//! What users of Rust command-line tools expect around the commands themselves: completion
//! scripts for their shell and a manual page, both generated from the argument definitions,
//! and a closed pipe that is not an error.

use std::process::Stdio;

use crate::support::{bin, exits_with, output_of, stdout};

/// Every subcommand and a few of `run`'s flags, which a completion script or a manual page
/// that fell behind the definitions would miss.
const EXPECTED_WORDS: [&str; 8] = [
    "run",
    "validate",
    "export",
    "reset",
    "simulate",
    "template",
    "max-attempts",
    "summary-json",
];

#[test]
fn completions_cover_every_subcommand_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let output = output_of({
            let mut cmd = bin();
            cmd.args(["completions", shell]);
            cmd
        });
        exits_with(&output, 0);
        let script = stdout(&output);
        for word in EXPECTED_WORDS {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    let unknown = output_of({
        let mut cmd = bin();
        cmd.args(["completions", "cmd.exe"]);
        cmd
    });
    let text = exits_with(&unknown, 2);
    assert!(
        text.contains("invalid value 'cmd.exe'"),
        "an unknown shell is named: {text}"
    );
}

#[test]
fn the_manual_page_documents_every_subcommand_and_its_flags() {
    let output = output_of({
        let mut cmd = bin();
        cmd.arg("man");
        cmd
    });
    exits_with(&output, 0);
    let page = stdout(&output);
    assert!(
        page.lines()
            .any(|line| line.starts_with(".TH chime-pin-reset 1 ")),
        "a roff title line for chime-pin-reset(1):\n{page}"
    );
    assert!(
        page.contains(".SH NAME\nchime\\-pin\\-reset \\- Reset the personal meeting PINs"),
        "a NAME section with the description:\n{page}"
    );
    for section in ["RUN", "VALIDATE", "EXPORT", "RESET", "SIMULATE"] {
        assert!(
            page.contains(&format!(".SH \"CHIME-PIN-RESET {section}\"")),
            "no section for {section}"
        );
    }
    // roff escapes dashes in flag names.
    assert!(page.contains(r"max\-attempts"), "run's flags are listed");
}

#[test]
fn a_reader_that_closes_the_pipe_early_is_not_an_error() {
    for args in [&["completions", "bash"][..], &["man"], &["template"]] {
        // The reading end is closed before the command starts: its first write meets a broken
        // pipe every time, not only when the test wins a race.
        let (reading_end, writing_end) = nix::unistd::pipe().expect("a pipe");
        drop(reading_end);
        let output = bin()
            .args(args)
            .stdout(Stdio::from(writing_end))
            .output()
            .expect("run");
        let err = exits_with(&output, 0);
        for unwanted in ["error", "Broken pipe", "panicked"] {
            assert!(!err.contains(unwanted), "{args:?}: {err}");
        }
    }
}
