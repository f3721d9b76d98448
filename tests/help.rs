//! The help a user reads: examples at the end of every subcommand's `--help`, each parsed by
//! the real argument definitions, and the manual pages `man --dir` writes (every page the main
//! one names, with EXIT STATUS and EXAMPLES sections, rendered by groff without a warning).

use std::process::Command;

use clap::CommandFactory;

use chime_pin_reset::cmd::Cli;

use crate::support::{bin, code, output_of, stderr, stdout, Workdir};

/// The subcommands, as the binary's own `--help` lists them.
fn subcommands() -> Vec<String> {
    let output = output_of({
        let mut cmd = bin();
        cmd.arg("--help");
        cmd
    });
    let help = stdout(&output);
    let listed = help
        .split("Commands:\n")
        .nth(1)
        .expect("--help lists the commands");
    listed
        .lines()
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// The command lines under `Examples:` in `help`.
fn examples_in(help: &str) -> Vec<String> {
    let Some(section) = help.split("\nExamples:\n").nth(1) else {
        return Vec::new();
    };
    section
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .filter(|line| line.starts_with("chime-pin-reset "))
        .map(str::to_string)
        .collect()
}

/// The words a shell would pass for `command`: up to a redirection, quotes removed, `$NAME`
/// placeholders given a value of the right shape.
fn words_of(command: &str) -> Vec<String> {
    command
        .split_whitespace()
        .take_while(|word| !word.starts_with('>') && *word != "|")
        .map(|word| {
            if word.starts_with('$') {
                "3c5d2a6e-0b1f-4c8e-9a7d-5e6f7a8b9c0d".to_string()
            } else {
                word.trim_matches('"').to_string()
            }
        })
        .collect()
}

#[test]
fn every_subcommand_help_ends_with_examples_that_parse() {
    let names = subcommands();
    assert!(names.len() >= 10, "{names:?}");
    for name in &names {
        let output = output_of({
            let mut cmd = bin();
            cmd.args([name, "--help"]);
            cmd
        });
        assert_eq!(code(&output), 0);
        let examples = examples_in(&stdout(&output));
        assert!(
            examples.len() >= 2,
            "{name} --help shows {} examples",
            examples.len()
        );
        for example in examples {
            let words = words_of(&example);
            let matches = Cli::command()
                .try_get_matches_from(&words)
                .unwrap_or_else(|e| panic!("{example:?} does not parse:\n{e}"));
            assert_eq!(
                matches.subcommand_name(),
                Some(name.as_str()),
                "{example:?} in {name} --help"
            );
        }
    }
}

/// The page names (`chime-pin-reset-run`) the main page refers to as NAME(1).
fn pages_named_in(main_page: &str) -> Vec<String> {
    let text = main_page.replace("\\-", "-");
    let mut names: Vec<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '(' || c == ')'))
        .filter_map(|word| word.strip_suffix("(1)"))
        .filter(|name| name.starts_with("chime-pin-reset"))
        .map(str::to_string)
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

#[test]
fn man_writes_every_page_it_names_with_exit_status_and_examples() {
    let work = Workdir::new();
    let main_page = output_of({
        let mut cmd = bin();
        cmd.arg("man");
        cmd
    });
    let main_page = stdout(&main_page);
    let output = output_of({
        let mut cmd = bin();
        cmd.args(["man", "--dir"]).arg(work.path("man/man1"));
        cmd
    });
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        work.read("man/man1/chime-pin-reset.1"),
        main_page,
        "the main page is what `man` prints"
    );
    let named = pages_named_in(&main_page);
    assert!(
        named.contains(&"chime-pin-reset-run".to_string()),
        "{named:?}"
    );
    for page in subcommands()
        .iter()
        .map(|name| format!("chime-pin-reset-{name}"))
        .chain(named)
        .chain(["chime-pin-reset".to_string()])
    {
        let file = work.path(&format!("man/man1/{page}.1"));
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{page}(1) is named or expected but not written: {e}"));
        for section in [".SH \"EXIT STATUS\"", ".SH \"EXAMPLES\"", ".SH SYNOPSIS"] {
            assert!(text.contains(section), "{page}(1) lacks {section}");
        }
        assert_renders_without_warnings(&file);
    }
}

/// groff's own verdict on a page, with every warning on; a visible skip without groff.
fn assert_renders_without_warnings(page: &std::path::Path) {
    let output = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(page)
        .env("LC_ALL", "C.UTF-8")
        .output();
    match output {
        Ok(output) => {
            let warnings = stderr(&output);
            assert!(
                output.status.success() && warnings.is_empty(),
                "{} renders with warnings:\n{warnings}",
                page.display()
            );
        }
        Err(_) => eprintln!(
            "notice: help::man_writes_every_page_it_names_with_exit_status_and_examples: \
             rendering not checked: groff is not installed"
        ),
    }
}
