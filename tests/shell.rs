//! What users of Rust command-line tools expect around the commands themselves: completion
//! scripts for their shell and a manual page, both generated from the argument definitions,
//! and a closed pipe that is not an error.

use std::io::Read;
use std::process::Stdio;

use crate::support::{bin, code, output_of, stdout};

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
        assert_eq!(code(&output), 0, "{shell}");
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
    assert_eq!(code(&unknown), 2, "an unknown shell is a usage error");
}

#[test]
fn the_manual_page_documents_every_subcommand_and_its_flags() {
    let output = output_of({
        let mut cmd = bin();
        cmd.arg("man");
        cmd
    });
    assert_eq!(code(&output), 0);
    let page = stdout(&output);
    assert!(
        page.starts_with(".ie") || page.contains(".TH chime-pin-reset 1"),
        "roff"
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
        let mut child = bin()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // Read nothing and close: the command's writes then fail with a broken pipe.
        drop(child.stdout.take());
        let status = child.wait().expect("wait");
        let mut err = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut err)
            .expect("read stderr");
        assert_eq!(status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
