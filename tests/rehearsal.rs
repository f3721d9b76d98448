//! The rehearsals the README offers, run as written: the walk-through of a whole rotation
//! (a simulator in the background, `run`, `verify`, `report`, the AWS CLI) pasted into bash, and
//! the samples' commands in the order the README gives them, each with the resume it suggests.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{
    assert_nothing_like_a_pin, aws_cli, aws_env, bin, bin_path, code, output_of, read_rows, stderr,
    Workdir,
};

/// The line before the walk-through's fenced block in README.md.
const WALK_THROUGH_MARKER: &str = "<!-- rehearsal walk-through:";

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    std::fs::read_to_string(path).expect("README.md")
}

/// The lines of the first fenced block after `marker`, as the README shows them.
fn fenced_block_after(text: &str, marker: &str) -> String {
    let after = &text[text.find(marker).expect("the README has the marker")..];
    let start = after
        .find("```sh\n")
        .expect("a fenced sh block follows the marker")
        + 6;
    let end = after[start..].find("```").expect("the block is closed");
    after[start..start + end].to_string()
}

/// A work directory where the README's relative paths hold: `samples/` is the repository's.
fn workdir_of_a_clone() -> Workdir {
    let work = Workdir::new();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    std::os::unix::fs::symlink(samples, work.path("samples")).expect("link the samples");
    work
}

/// bash's output and exit code for `script`, run in `work` with the built tool first on PATH
/// as `chime-pin-reset` (the script's text is not changed) and no AWS settings of the host's:
/// no keys, no region, no profile, so whatever the script needs it must set itself. The
/// script runs in a process group of its own, killed at the end, so a background simulator
/// never outlives the test.
fn bash_in(work: &Workdir, script: &str) -> (i32, String, String) {
    let tools = work.path("installed");
    std::fs::create_dir(&tools).expect("a folder for the tool");
    std::os::unix::fs::symlink(bin_path(), tools.join("chime-pin-reset")).expect("link the tool");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut search = vec![tools];
    search.extend(std::env::split_paths(&path));
    let mut cmd = Command::new("bash");
    aws_env(&mut cmd);
    for key in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ] {
        cmd.env_remove(key);
    }
    cmd.env("PATH", std::env::join_paths(search).expect("a PATH"))
        .current_dir(work.root())
        // -e: the first command that fails ends the walk-through, and the test names it.
        .args(["-e", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let child = cmd.spawn().expect("start bash");
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    let ended = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let ended = ended.clone();
        // A walk-through that hangs (a simulator that never listens) is killed after 120 s.
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !ended.load(Ordering::Relaxed) {
                if Instant::now() > deadline {
                    let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let output = child.wait_with_output().expect("bash ends");
    ended.store(true, Ordering::Relaxed);
    let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
    let _ = watchdog.join();
    let (out, err) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert_nothing_like_a_pin(&out, "the walk-through's stdout");
    assert_nothing_like_a_pin(&err, "the walk-through's stderr");
    (output.status.code().unwrap_or(-1), out, err)
}

#[test]
fn the_readme_walk_through_rehearses_run_verify_and_report_as_written() {
    if aws_cli("rehearsal::the_readme_walk_through_rehearses_run_verify_and_report_as_written")
        .is_none()
    {
        return;
    }
    let script = fenced_block_after(&readme(), WALK_THROUGH_MARKER);
    let work = workdir_of_a_clone();
    let (code, out, err) = bash_in(&work, &script);
    assert_eq!(
        code, 0,
        "the walk-through failed:\n{script}\nstdout:\n{out}\nstderr:\n{err}"
    );

    let results = read_rows(&work, "rehearsal-results.csv");
    assert_eq!(results.len(), 40, "every user of samples/rotation.csv");
    assert!(results.iter().all(|row| row["status"] == "reset"), "{err}");
    let verified = read_rows(&work, "rehearsal-verified.csv");
    assert_eq!(verified.len(), 40);
    assert!(
        verified.iter().all(|row| row["status"] == "current"),
        "verify reads the PINs run recorded back from the same simulator"
    );
    assert!(
        out.lines()
            .any(|line| line.split_whitespace().eq(["reset", "40"])),
        "report counts 40 reset:\n{out}"
    );
    assert!(
        out.contains("ava.adams@sales.example.com"),
        "the AWS CLI lists the simulator's users through the environment the file set:\n{out}"
    );
    let log = work.read("simulator.log");
    assert!(
        log.lines()
            .any(|line| line.split_whitespace().eq(["ResetPersonalPIN", "40", "40"])),
        "the simulator answered the 40 resets and stopped cleanly:\n{log}"
    );
    assert!(
        !work.path("rehearsal.env").exists(),
        "the stopped simulator removed its environment file"
    );
}

/// The words of every `cargo run -- run --simulate …` command in the README, in order.
fn sample_commands(readme: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    for line in readme.lines() {
        let mut rest = line;
        while let Some(at) = rest.find("cargo run -- run --simulate") {
            let command = &rest[at..];
            let end = command.find(['`', '#']).unwrap_or(command.len());
            commands.push(
                command[..end]
                    .split_whitespace()
                    .skip(3) // `cargo run --`: the built binary instead
                    .map(str::to_string)
                    .collect(),
            );
            rest = &command[end..];
        }
    }
    commands
}

/// The value after `-o`.
fn results_name(words: &[String]) -> &str {
    let at = words
        .iter()
        .position(|w| w == "-o")
        .expect("every command names its results");
    &words[at + 1]
}

#[test]
fn the_readme_samples_rehearse_in_order_and_their_resumes_work() {
    let commands = sample_commands(&readme());
    assert!(
        commands.len() >= 4,
        "the set-up's and the samples': {commands:?}"
    );
    let mut names: Vec<&str> = commands.iter().map(|words| results_name(words)).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(
        names.len(),
        commands.len(),
        "each writes its own results: {commands:?}"
    );

    let work = workdir_of_a_clone();
    for words in &commands {
        let mut cmd = bin();
        aws_env(&mut cmd).current_dir(work.root()).args(words);
        let output = output_of(cmd);
        let text = stderr(&output);
        assert!(
            [0, 1].contains(&code(&output)),
            "{words:?} as the README gives it, after the commands before it:\n{text}"
        );
        // The planted problems leave failed rows, so the summary suggests a resume: it works.
        let Some(resume) = text.lines().find_map(|l| l.trim().strip_prefix("resume:")) else {
            continue;
        };
        let resume: Vec<&str> = resume.split_whitespace().collect();
        let mut cmd = Command::new(resume[0]);
        aws_env(&mut cmd)
            .current_dir(work.root())
            .args(&resume[1..]);
        let output = output_of(cmd);
        assert!(
            [0, 1].contains(&code(&output)),
            "the suggested {resume:?}:\n{}",
            stderr(&output)
        );
    }
}

#[test]
fn a_rehearsal_of_rows_named_by_email_asks_for_a_directory_file() {
    let work = workdir_of_a_clone();
    let mut cmd = bin();
    aws_env(&mut cmd).current_dir(work.root()).args([
        "run",
        "--simulate",
        "samples/offboarding.csv",
        "-o",
        "offboarding-results.csv",
    ]);
    let output = output_of(cmd);
    let text = stderr(&output);
    assert_eq!(code(&output), 2, "{text}");
    assert!(text.contains("--simulate-directory FILE.csv"), "{text}");
    assert!(text.contains("samples/offboarding.csv: 3 rows"), "{text}");
    assert!(text.contains("(line 3, 6, 9)"), "{text}");
    assert!(!text.contains("out of the input"), "{text}");
    assert!(!work.path("offboarding-results.csv").exists());
}
