//! Sections 4 and 9: what the tool holds as the rows grow, and what the periodic fsync of the
//! results costs. The lab notes behind these sections are in `bench/memory-notes.md`.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::Stdio;

use crate::fixture::Fixture;
use crate::measure::{least_disturbed, measure_with_stdout, Usage};
use crate::report::{mib, section, thousands, Verdict};
use crate::support::{aws_env, bin};

/// The target for every command at 1,000,000 rows: the first release's figure.
const RSS_TARGET_MIB: f64 = 64.0;
/// What the duplicate check keeps of a pair (a 128-bit fingerprint).
const BYTES_A_PAIR: f64 = 16.0;
/// Growth beyond what the command's known sets explain, in bytes a row, before the section warns:
/// the allocator's rounding and the set's spare room, and the noise of a peak RSS.
const SLACK: f64 = 6.0;

/// A command measured at 100,000 and 1,000,000 rows, and what explains its growth.
struct Command {
    name: &'static str,
    /// Bytes a row that the command is known to keep, and why.
    explained: f64,
    why: &'static str,
    rss: [u64; 2],
}

/// Section 4: peak RSS of `run`, `verify` and `run --resume` at 100,000 and 1,000,000 rows,
/// and the growth per row between them.
pub fn memory(fixture: &Fixture, verdicts: &mut Vec<Verdict>) {
    section(
        "4. Memory: peak RSS of run, verify and run --resume (distinct valid rows, latency 0, \
         --rate 0 --concurrency 64)",
    );
    let mut commands = [
        Command {
            name: "run",
            explained: BYTES_A_PAIR,
            why: "the duplicate check: one pair a row",
            rss: [0; 2],
        },
        Command {
            name: "verify",
            explained: 24.0,
            why: "the final rows: 20 bytes a row in the first pass, 4 beside them at its end",
            rss: [0; 2],
        },
        Command {
            name: "run --resume",
            explained: 2.0 * BYTES_A_PAIR,
            why: "the users already reset: two pairs a row (by id and by email)",
            rss: [0; 2],
        },
    ];
    let rss_10k = run(fixture, &fixture.inputs.rows_10k, "memory-10k").max_rss;
    let sizes = [
        ("100k", &fixture.inputs.rows_100k),
        ("1m", &fixture.inputs.rows_1m),
    ];
    for (size, (name, input)) in sizes.iter().enumerate() {
        // In this order: a later run resets the same users again, and `verify` would find
        // every PIN changed (the same memory, another exit code).
        let results = format!("memory-{name}.csv");
        commands[0].rss[size] = run(fixture, input, &results).max_rss;
        commands[1].rss[size] = verify(fixture, &results, name).max_rss;
        commands[2].rss[size] = resume(fixture, input, &results).max_rss;
        let _ = std::fs::remove_file(fixture.work.path(&results));
    }
    println!("   run of 10,000 rows: {:.1} MiB", mib(rss_10k));
    println!("   | command | 100,000 rows | 1,000,000 rows | growth a row | explained |");
    println!("   | --- | --- | --- | --- | --- |");
    for command in &commands {
        let growth = command.growth();
        println!(
            "   | {} | {:.1} MiB | {:.1} MiB | {growth:.1} bytes | {:.0} bytes: {} |",
            command.name,
            mib(command.rss[0]),
            mib(command.rss[1]),
            command.explained,
            command.why
        );
    }
    for command in &commands {
        command.judge(verdicts);
    }
}

impl Command {
    /// Bytes of peak RSS a row, from 100,000 to 1,000,000 rows.
    fn growth(&self) -> f64 {
        (self.rss[1] as f64 - self.rss[0] as f64) / 900_000.0
    }

    fn judge(&self, verdicts: &mut Vec<Verdict>) {
        let growth = self.growth();
        if growth > self.explained + SLACK {
            println!(
                "\n   !!!!!!!! WARNING: `{}` grows by {growth:.1} bytes a row, more than the \
                 {:.0} that {} explains: something keeps a record of every row !!!!!!!!\n",
                self.name, self.explained, self.why
            );
        }
        verdicts.push(Verdict::new(
            4,
            &format!("peak RSS of {}, 100k / 1M rows", self.name),
            format!("{:.1} / {:.1} MiB", mib(self.rss[0]), mib(self.rss[1])),
            "≤ 64 MiB at 1M",
            mib(self.rss[1]) <= RSS_TARGET_MIB,
        ));
        verdicts.push(Verdict::new(
            4,
            &format!("RSS growth of {} a row, 100k → 1M", self.name),
            format!("{growth:.1} bytes"),
            &format!("≤ {:.0} bytes", self.explained + SLACK),
            growth <= self.explained + SLACK,
        ));
    }
}

/// `run INPUT -o RESULTS`, measured; the results are kept for `verify` and `--resume`.
fn run(fixture: &Fixture, input: &Path, results: &str) -> Usage {
    let _ = std::fs::remove_file(fixture.work.path(results));
    // Taken again only when disturbed: the file of an earlier try is overwritten.
    least_disturbed(|_| {
        let usage = tool(
            fixture,
            &["run", path(input), "-o", results, "--force"],
            results,
        );
        assert_eq!(usage.code, 0, "run failed; stderr:\n{}", usage.stderr);
        usage
    })
}

/// `verify RESULTS`, measured.
fn verify(fixture: &Fixture, results: &str, name: &str) -> Usage {
    let verified = format!("verified-{name}.csv");
    let usage = least_disturbed(|_| {
        let args = ["verify", results, "-o", &verified, "--force"];
        let usage = tool(fixture, &args, &verified);
        assert_eq!(usage.code, 0, "verify failed; stderr:\n{}", usage.stderr);
        usage
    });
    let _ = std::fs::remove_file(fixture.work.path(&verified));
    usage
}

/// `run INPUT -o RESULTS --resume` over the results of the same input: every row is skipped.
fn resume(fixture: &Fixture, input: &Path, results: &str) -> Usage {
    least_disturbed(|_| {
        let args = ["run", path(input), "-o", results, "--resume"];
        let usage = tool(fixture, &args, &format!("resume-{results}"));
        assert_eq!(
            usage.code, 0,
            "run --resume failed; stderr:\n{}",
            usage.stderr
        );
        usage
    })
}

/// `chime-pin-reset ARGS --quiet --endpoint-url BIG --rate 0 --concurrency 64`, measured,
/// stdout discarded.
fn tool(fixture: &Fixture, args: &[&str], name: &str) -> Usage {
    tool_with_stdout(fixture, args, name, Stdio::null())
}

fn tool_with_stdout(fixture: &Fixture, args: &[&str], name: &str, stdout: Stdio) -> Usage {
    let mut cmd = bin();
    aws_env(&mut cmd);
    cmd.current_dir(fixture.work.root())
        .args(args)
        .args(["--quiet", "--endpoint-url", fixture.big.endpoint()])
        .args(["--rate", "0", "--concurrency", "64"]);
    let stderr = fixture.work.path(&format!("{name}.err"));
    measure_with_stdout(cmd, Some(&fixture.big), &stderr, stdout)
}

fn path(input: &Path) -> &str {
    input.to_str().expect("temporary paths are UTF-8")
}

/// Section 9: the cost of fsyncing the results at least once a second: 100,000 rows into a
/// results file (`-o FILE`, fsynced as it goes) and the same into a file through stdout
/// (`-o -`, never fsynced: the same writes without the syncs).
pub fn durability(fixture: &Fixture, verdicts: &mut Vec<Verdict>) {
    const ROWS: f64 = 100_000.0;
    section(
        "9. Durability: 100,000 rows, --rate 0 --concurrency 64, results fsynced every second \
         (-o FILE) against never (-o - > FILE)",
    );
    let input = path(&fixture.inputs.rows_100k);
    let mut measured = Vec::new();
    for round in 1..=2 {
        let synced = least_disturbed(|_| {
            let args = ["run", input, "-o", "durable.csv", "--force"];
            tool(fixture, &args, "durable")
        });
        let unsynced = least_disturbed(|_| {
            // 0600, as the tool makes its own: a shared mode would only add a warning.
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(fixture.work.path("piped.csv"))
                .expect("create a file");
            let args = ["run", input, "-o", "-"];
            tool_with_stdout(fixture, &args, "piped", file.into())
        });
        for (what, usage) in [("fsynced", &synced), ("not fsynced", &unsynced)] {
            assert_eq!(
                usage.code, 0,
                "run {what} failed; stderr:\n{}",
                usage.stderr
            );
            println!(
                "   round {round}, {what}: {} rows/s, CPU {:.2} s (sys {:.2} s)",
                thousands((ROWS / usage.wall) as u64),
                usage.tool_cpu(),
                usage.sys
            );
            usage.print_load();
        }
        measured.push(synced.wall / unsynced.wall);
    }
    for name in ["durable.csv", "piped.csv"] {
        let _ = std::fs::remove_file(fixture.work.path(name));
    }
    let ratio = measured.iter().copied().fold(f64::INFINITY, f64::min);
    verdicts.push(Verdict::info(
        9,
        "wall time of a run fsynced every second ÷ never fsynced (best of 2)",
        format!(
            "{ratio:.3} (each round: {})",
            measured
                .iter()
                .map(|r| format!("{r:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ));
}
