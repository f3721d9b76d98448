//! The benchmark of `chime-pin-reset`: not part of the normal test run. Run it on a release
//! build, alone on the machine if possible:
//!
//! ```sh
//! cargo test --release --test bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! `CHIME_BENCH_ONLY=1,4` runs only the numbered sections. It starts `chime-pin-reset simulate`
//! processes (the same binary) on free ports and runs the tool as a child process; the tool's
//! CPU time and peak RSS come from `wait4` on its pid (its own rusage, nothing else's), the
//! simulator's CPU time from `/proc/<pid>/stat`, and the CPU used by every other process on the
//! machine during a run from `/proc/stat`, so that a measurement disturbed by other work shows
//! it and is taken again.

#[path = "support.rs"]
mod support;

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use support::{aws_env, bin, SimulatorProcess as Simulator, Workdir};

/// Other processes may use this many cores on average during a run before it counts as
/// disturbed and is taken again.
const DISTURBED_CORES: f64 = 0.25;
/// Runs of one measurement at most, the least disturbed one kept.
const MAX_TRIES: usize = 2;

#[test]
#[ignore = "a benchmark of several minutes: run it with --release --ignored --nocapture"]
fn benchmark() {
    if cfg!(debug_assertions) {
        println!("WARNING: a debug build: run with --release for meaningful figures");
    }
    let only: Option<Vec<u32>> = std::env::var("CHIME_BENCH_ONLY").ok().map(|list| {
        list.split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect()
    });
    let wanted = |section: u32| only.as_ref().is_none_or(|only| only.contains(&section));

    print_machine();
    let started = Instant::now();
    let fixture = Fixture::create();
    let mut verdicts = Vec::new();
    let mut rss_100k = None;
    if wanted(1) {
        rss_100k = Some(cpu_cost(&fixture, &mut verdicts));
    }
    if wanted(2) {
        latency_bound(&fixture, &mut verdicts);
    }
    if wanted(3) {
        rate_accuracy(&fixture, &mut verdicts);
    }
    if wanted(4) {
        memory(&fixture, rss_100k, &mut verdicts);
    }
    if wanted(5) {
        validate(&fixture, &mut verdicts);
    }
    if wanted(6) {
        start_up(&fixture, &mut verdicts);
    }
    drop(fixture);

    println!(
        "\n== Summary (benchmark took {:.0} s)\n",
        started.elapsed().as_secs_f64()
    );
    println!("| # | measurement | figure | target | result |");
    println!("| --- | --- | --- | --- | --- |");
    for v in &verdicts {
        let result = match (v.pass, v.target.as_str()) {
            (Some(true), _) => "PASS",
            (Some(false), _) => "MISS",
            (None, "—") => "—",
            (None, _) => "skipped",
        };
        println!(
            "| {} | {} | {} | {} | {result} |",
            v.section, v.what, v.figure, v.target
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The measurements

/// Section 1: CPU cost per row: no latency, no rate limit, 64 in flight, 100,000 rows.
/// Returns the run's peak RSS, the 100,000-row point of the memory measurement.
fn cpu_cost(fixture: &Fixture, verdicts: &mut Vec<Verdict>) -> u64 {
    const ROWS: u64 = 100_000;
    section("1. CPU cost: 100,000 rows, simulator latency 0, --rate 0 --concurrency 64");
    let usage = least_disturbed(|try_no| {
        let output = format!("cpu-{try_no}.csv");
        let args = ["--rate", "0", "--concurrency", "64"];
        fixture.run(&fixture.big, &fixture.inputs.rows_100k, &output, &args)
    });
    let per_10k = usage.tool_cpu() / (ROWS as f64 / 10_000.0);
    println!(
        "   {} rows in {:.2} s: {} rows/s",
        thousands(ROWS),
        usage.wall,
        thousands((ROWS as f64 / usage.wall) as u64)
    );
    println!(
        "   tool CPU: user {:.2} s + sys {:.2} s = {:.2} CPU-s per 10,000 rows ({:.0} µs a row; \
         sys {:.0} µs)",
        usage.user,
        usage.sys,
        per_10k,
        usage.tool_cpu() / ROWS as f64 * 1e6,
        usage.sys / ROWS as f64 * 1e6
    );
    println!(
        "   simulator CPU: {:.2} s ({:.0} µs a row); tool peak RSS {:.1} MiB",
        usage.sim_cpu,
        usage.sim_cpu / ROWS as f64 * 1e6,
        mib(usage.max_rss)
    );
    usage.print_load();
    verdicts.push(Verdict::new(
        1,
        "tool CPU per 10,000 rows (rate 0, concurrency 64)",
        format!(
            "{per_10k:.2} CPU-s ({:.0} µs/row), {} rows/s",
            per_10k * 100.0,
            thousands((ROWS as f64 / usage.wall) as u64)
        ),
        "≤ 0.50 CPU-s",
        per_10k <= 0.5,
    ));
    usage.max_rss
}

/// Section 2: Latency-bound throughput: 20 ms a call, 16 and 64 in flight, about 12 s each.
fn latency_bound(fixture: &Fixture, verdicts: &mut Vec<Verdict>) {
    const LATENCY_S: f64 = 0.020;
    section("2. Latency-bound throughput: simulator --latency-ms 20, --rate 0");
    let service = {
        let sim = Simulator::spawn(&[
            "--directory",
            path_str(&fixture.inputs.directory_40k),
            "--latency-ms",
            "20",
        ]);
        simulator_service_time(sim.endpoint(), &fixture.inputs.rows_2k, 50)
    };
    println!(
        "   the simulator's own answer time at --latency-ms 20 (a bare keep-alive HTTP client, \
         one request at a time, median of 50): {:.2} ms, so its ceiling is concurrency / {:.2} ms",
        service * 1e3,
        service * 1e3
    );
    for (concurrency, input, rows) in [
        (16, &fixture.inputs.rows_10k, 10_000u64),
        (64, &fixture.inputs.rows_40k, 40_000u64),
    ] {
        let limit = concurrency as f64 / LATENCY_S;
        let (usage, log) = least_disturbed_with(|try_no| {
            let log = fixture
                .work
                .path(&format!("latency-{concurrency}-{try_no}.jsonl"));
            let sim = Simulator::spawn(&[
                "--directory",
                path_str(&fixture.inputs.directory_40k),
                "--latency-ms",
                "20",
                "--log",
                path_str(&log),
            ]);
            let output = format!("latency-{concurrency}-{try_no}.csv");
            let concurrency = concurrency.to_string();
            let args = ["--rate", "0", "--concurrency", &concurrency];
            let usage = fixture.run(&sim, input, &output, &args);
            sim.stop();
            (usage, RequestLog::read(&log))
        });
        let rate = rows as f64 / usage.wall;
        let fraction = rate / limit;
        println!(
            "   --concurrency {concurrency}: {} rows in {:.2} s = {:.0} rows/s = {:.1}% of \
             {limit:.0}/s (steady, first to last request: {:.0}/s = {:.1}%)",
            thousands(rows),
            usage.wall,
            rate,
            fraction * 100.0,
            log.achieved_rate(),
            log.achieved_rate() / limit * 100.0
        );
        let ceiling = concurrency as f64 / service;
        println!(
            "      = {:.1}% of the simulator's own ceiling {ceiling:.0}/s",
            rate / ceiling * 100.0
        );
        println!(
            "      tool CPU {:.2} s ({:.0} µs a row), simulator CPU {:.2} s, peak RSS {:.1} MiB",
            usage.tool_cpu(),
            usage.tool_cpu() / rows as f64 * 1e6,
            usage.sim_cpu,
            mib(usage.max_rss)
        );
        usage.print_load();
        verdicts.push(Verdict::new(
            2,
            &format!("throughput at 20 ms latency, --concurrency {concurrency}"),
            format!(
                "{rate:.0} rows/s = {:.1}% of {limit:.0}/s",
                fraction * 100.0
            ),
            "≥ 90%",
            fraction >= 0.9,
        ));
    }
}

/// Section 3: Rate accuracy: --rate 100 and 1000 for about 20 s each, from the simulator's log.
fn rate_accuracy(fixture: &Fixture, verdicts: &mut Vec<Verdict>) {
    // With a burst of one, each request waits a full period after the previous one was sent,
    // so every late timer wake-up is lost for good; a burst of two absorbs it.
    const BURST: u64 = 2;
    section("3. Rate accuracy: simulator latency 0, --concurrency 64, --burst 2");
    for (rate, input, rows) in [
        (100u64, &fixture.inputs.rows_2k, 2_000u64),
        (1000u64, &fixture.inputs.rows_20k, 20_000u64),
    ] {
        let (usage, log) = least_disturbed_with(|try_no| {
            let log = fixture.work.path(&format!("rate-{rate}-{try_no}.jsonl"));
            let sim = Simulator::spawn(&[
                "--directory",
                path_str(&fixture.inputs.directory_40k),
                "--log",
                path_str(&log),
            ]);
            let output = format!("rate-{rate}-{try_no}.csv");
            let rate = rate.to_string();
            let burst = BURST.to_string();
            let args = ["--rate", &rate, "--concurrency", "64", "--burst", &burst];
            let usage = fixture.run(&sim, input, &output, &args);
            sim.stop();
            (usage, RequestLog::read(&log))
        });
        assert_eq!(log.times_ms.len() as u64, rows, "one request a row");
        let achieved = log.achieved_rate();
        let ratio = achieved / rate as f64;
        let worst = log.busiest_second();
        println!(
            "   --rate {rate}: {} requests over {:.2} s = {achieved:.2}/s = {:.2}% of the rate; \
             busiest one-second window {worst} (limit rate + burst = {})",
            thousands(rows),
            log.span_s(),
            ratio * 100.0,
            rate + BURST
        );
        println!(
            "      tool CPU {:.2} s ({:.0} µs a row), simulator CPU {:.2} s",
            usage.tool_cpu(),
            usage.tool_cpu() / rows as f64 * 1e6,
            usage.sim_cpu
        );
        usage.print_load();
        verdicts.push(Verdict::new(
            3,
            &format!("achieved rate at --rate {rate}"),
            format!("{achieved:.2}/s = {:+.2}%", (ratio - 1.0) * 100.0),
            "within ±2%",
            (ratio - 1.0).abs() <= 0.02,
        ));
        verdicts.push(Verdict::new(
            3,
            &format!("busiest 1 s window at --rate {rate}"),
            format!("{worst} requests"),
            &format!("≤ rate + burst = {}", rate + BURST),
            worst <= rate + BURST,
        ));
    }
}

/// Section 4: Peak RSS at 10,000, 100,000 and 1,000,000 rows of real `run`.
fn memory(fixture: &Fixture, rss_100k: Option<u64>, verdicts: &mut Vec<Verdict>) {
    section(
        "4. Memory: peak RSS of `run` (distinct valid rows, latency 0, --rate 0 --concurrency 64)",
    );
    let measure = |name: &str, input: &Path| {
        least_disturbed(|try_no| {
            let output = format!("memory-{name}-{try_no}.csv");
            let args = ["--rate", "0", "--concurrency", "64"];
            fixture.run(&fixture.big, input, &output, &args)
        })
        .max_rss
    };
    let rss_10k = measure("10k", &fixture.inputs.rows_10k);
    let rss_100k = rss_100k.unwrap_or_else(|| measure("100k", &fixture.inputs.rows_100k));
    let started = Instant::now();
    let rss_1m = measure("1m", &fixture.inputs.rows_1m);
    let growth = (rss_1m as f64 - rss_100k as f64) / 900_000.0;
    println!("   10,000 rows:    {:6.1} MiB", mib(rss_10k));
    println!("   100,000 rows:   {:6.1} MiB", mib(rss_100k));
    println!(
        "   1,000,000 rows: {:6.1} MiB (that run took {:.0} s)",
        mib(rss_1m),
        started.elapsed().as_secs_f64()
    );
    println!("   growth from 100,000 to 1,000,000 rows: {growth:.1} bytes a row");
    verdicts.push(Verdict::new(
        4,
        "peak RSS of run, 10k / 100k / 1M rows",
        format!(
            "{:.1} / {:.1} / {:.1} MiB",
            mib(rss_10k),
            mib(rss_100k),
            mib(rss_1m)
        ),
        "≤ 64 MiB at 1M",
        mib(rss_1m) <= 64.0,
    ));
    verdicts.push(Verdict::new(
        4,
        "RSS growth per row, 100k → 1M",
        format!("{growth:.1} bytes"),
        "≤ 48 bytes",
        growth <= 48.0,
    ));
}

/// Section 5: `validate` of 1,000,000 rows.
fn validate(fixture: &Fixture, verdicts: &mut Vec<Verdict>) {
    const ROWS: u64 = 1_000_000;
    section("5. validate: 1,000,000 rows");
    let help = bin().args(["validate", "--help"]).output();
    if !help.is_ok_and(|out| out.status.success()) {
        println!("   skipped: this build has no `validate` subcommand");
        verdicts.push(Verdict::skipped(
            5,
            "validate of 1M rows",
            "≥ 1,000,000 rows/s",
        ));
        return;
    }
    let usage = least_disturbed(|try_no| {
        let mut cmd = bin();
        cmd.current_dir(fixture.work.root())
            .arg("validate")
            .arg(&fixture.inputs.rows_1m);
        measure(
            cmd,
            None,
            &fixture.work.path(&format!("validate-{try_no}.err")),
        )
    });
    assert_eq!(usage.code, 0, "validate of a clean file: {}", usage.stderr);
    let rate = ROWS as f64 / usage.wall;
    println!(
        "   {} rows in {:.3} s: {} rows/s; CPU user {:.2} s + sys {:.2} s; peak RSS {:.1} MiB",
        thousands(ROWS),
        usage.wall,
        thousands(rate as u64),
        usage.user,
        usage.sys,
        mib(usage.max_rss)
    );
    usage.print_load();
    verdicts.push(Verdict::new(
        5,
        "validate of 1M rows",
        format!("{} rows/s", thousands(rate as u64)),
        "≥ 1,000,000 rows/s",
        rate >= 1_000_000.0,
    ));
}

/// Section 6: Start-up: the wall time of a one-row run, median of nine.
fn start_up(fixture: &Fixture, verdicts: &mut Vec<Verdict>) {
    const RUNS: usize = 9;
    section("6. Start-up: wall time of a one-row run, median of 9");
    let sim = Simulator::spawn(&["--directory", path_str(&fixture.inputs.directory_40k)]);
    let mut runs: Vec<Usage> = (0..RUNS)
        .map(|i| fixture.run(&sim, &fixture.inputs.rows_1, &format!("start-{i}.csv"), &[]))
        .collect();
    runs.sort_by(|a, b| a.wall.total_cmp(&b.wall));
    let median = &runs[RUNS / 2];
    println!(
        "   median {:.1} ms (min {:.1}, max {:.1}); CPU of the median run {:.1} ms, peak RSS \
         {:.1} MiB",
        median.wall * 1e3,
        runs[0].wall * 1e3,
        runs[RUNS - 1].wall * 1e3,
        median.tool_cpu() * 1e3,
        mib(median.max_rss)
    );
    verdicts.push(Verdict::info(
        6,
        "start-up, one-row run (median of 9)",
        format!(
            "{:.0} ms wall, {:.0} ms CPU",
            median.wall * 1e3,
            median.tool_cpu() * 1e3
        ),
    ));
}

// ---------------------------------------------------------------------------------------------
// Inputs and the simulators

/// The work directory, the inputs, and a simulator holding all of their users.
struct Fixture {
    work: Workdir,
    inputs: Inputs,
    /// Serves the 1,000,000 users of every input, at zero latency.
    big: Simulator,
}

struct Inputs {
    rows_1: PathBuf,
    rows_2k: PathBuf,
    rows_10k: PathBuf,
    rows_20k: PathBuf,
    rows_40k: PathBuf,
    rows_100k: PathBuf,
    rows_1m: PathBuf,
    /// The first 40,000 users, for the simulators of sections 2, 3 and 6.
    directory_40k: PathBuf,
}

impl Fixture {
    fn create() -> Fixture {
        let started = Instant::now();
        let work = Workdir::new();
        let directory = work.path("directory.csv");
        let big = Simulator::spawn(&[
            "--accounts",
            "100",
            "--users-per-account",
            "10000",
            "--write-directory",
            path_str(&directory),
        ]);
        let inputs = Inputs::write(&work, &directory);
        println!(
            "fixture: a simulator of 1,000,000 users and the inputs in {:.1} s ({})\n",
            started.elapsed().as_secs_f64(),
            work.root().display()
        );
        Fixture { work, inputs, big }
    }

    /// Runs `run INPUT -o OUTPUT --quiet ARGS` against `sim`, measured; panics unless every
    /// row was reset (exit 0).
    fn run(&self, sim: &Simulator, input: &Path, output: &str, args: &[&str]) -> Usage {
        let mut cmd = bin();
        aws_env(&mut cmd);
        cmd.current_dir(self.work.root())
            .arg("run")
            .arg(input)
            .args(["-o", output, "--quiet", "--endpoint-url", sim.endpoint()])
            .args(args);
        let stderr = self.work.path(&format!("{output}.err"));
        let usage = measure(cmd, Some(sim), &stderr);
        assert_eq!(
            usage.code,
            0,
            "run {} failed; stderr:\n{}",
            input.display(),
            usage.stderr
        );
        // The results may be large: they have served their purpose.
        let _ = std::fs::remove_file(self.work.path(output));
        usage
    }
}

impl Inputs {
    /// Input CSVs (account_id,user_id,display_name) over the first N users of `directory`,
    /// and a directory CSV of the first 40,000.
    fn write(work: &Workdir, directory: &Path) -> Inputs {
        let sizes = [1usize, 2_000, 10_000, 20_000, 40_000, 100_000, 1_000_000];
        let paths: Vec<PathBuf> = sizes
            .iter()
            .map(|n| work.path(&format!("input-{n}.csv")))
            .collect();
        let mut writers: Vec<BufWriter<File>> = paths
            .iter()
            .map(|path| {
                let mut out = BufWriter::new(File::create(path).expect("create an input"));
                out.write_all(b"account_id,user_id,display_name\n")
                    .expect("write an input");
                out
            })
            .collect();
        let directory_40k = work.path("directory-40000.csv");
        let mut small = BufWriter::new(File::create(&directory_40k).expect("create a directory"));
        small
            .write_all(b"account_id,user_id,email,display_name\n")
            .expect("write a directory");
        let mut reader = csv::Reader::from_path(directory).expect("the directory was written");
        let mut record = csv::StringRecord::new();
        let mut n = 0;
        while reader.read_record(&mut record).expect("a directory row") {
            let row = format!("{},{},{}\n", &record[0], &record[1], &record[3]);
            for (writer, size) in writers.iter_mut().zip(sizes) {
                if n < size {
                    writer.write_all(row.as_bytes()).expect("write an input");
                }
            }
            if n < 40_000 {
                writeln!(
                    small,
                    "{},{},{},{}",
                    &record[0], &record[1], &record[2], &record[3]
                )
                .expect("write a directory");
            }
            n += 1;
        }
        assert_eq!(n, 1_000_000, "the simulator wrote every user");
        for mut writer in writers {
            writer.flush().expect("write an input");
        }
        small.flush().expect("write a directory");
        let mut paths = paths.into_iter();
        let mut next = || paths.next().expect("one path per size");
        Inputs {
            rows_1: next(),
            rows_2k: next(),
            rows_10k: next(),
            rows_20k: next(),
            rows_40k: next(),
            rows_100k: next(),
            rows_1m: next(),
            directory_40k,
        }
    }
}

/// User + system CPU seconds of a simulator so far, all threads.
fn simulator_cpu_seconds(sim: &Simulator) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", sim.pid()))
        .expect("the simulator is running");
    // The fields after the parenthesised command name start at field 3 (state).
    let fields: Vec<&str> = stat[stat.rfind(')').expect("a command name") + 1..]
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields[i].parse::<f64>().expect("a tick count");
    (ticks(11) + ticks(12)) / clock_ticks()
}

/// The arrival times of the requests in a simulator's `--log`.
struct RequestLog {
    /// Milliseconds since the Unix epoch, sorted.
    times_ms: Vec<f64>,
}

impl RequestLog {
    fn read(path: &Path) -> RequestLog {
        let file = File::open(path).expect("the simulator wrote its log");
        let mut times_ms = Vec::new();
        for line in BufReader::new(file).lines() {
            let line = line.expect("a log line");
            let value: serde_json::Value = serde_json::from_str(&line).expect("JSON");
            times_ms.push(value["at_unix_ms"].as_f64().expect("at_unix_ms"));
        }
        times_ms.sort_by(f64::total_cmp);
        RequestLog { times_ms }
    }

    fn span_s(&self) -> f64 {
        match (self.times_ms.first(), self.times_ms.last()) {
            (Some(first), Some(last)) => (last - first) / 1000.0,
            _ => 0.0,
        }
    }

    /// Requests per second between the first and the last arrival.
    fn achieved_rate(&self) -> f64 {
        (self.times_ms.len().saturating_sub(1)) as f64 / self.span_s()
    }

    /// The most requests that arrived within any one-second window.
    fn busiest_second(&self) -> u64 {
        let mut most = 0;
        let mut start = 0;
        for (end, t) in self.times_ms.iter().enumerate() {
            while *t - self.times_ms[start] >= 1000.0 {
                start += 1;
            }
            most = most.max(end - start + 1);
        }
        most as u64
    }
}

/// The median time the simulator at `endpoint` takes to answer one ResetPersonalPIN, from a
/// bare HTTP/1.1 client on one kept-alive connection (no SDK, no signing work), over the first
/// `n` rows of `input`: what a perfect client would see.
fn simulator_service_time(endpoint: &str, input: &Path, n: usize) -> f64 {
    let address = endpoint.trim_start_matches("http://");
    let stream = std::net::TcpStream::connect(address).expect("connect to the simulator");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let mut writer = stream.try_clone().expect("clone the stream");
    let mut reader = BufReader::new(stream);
    let mut rows = csv::Reader::from_path(input).expect("the input exists");
    let mut times = Vec::with_capacity(n);
    for record in rows.records().take(n) {
        let record = record.expect("an input row");
        // The simulator checks that a SigV4 header is well formed, not its signature, unless
        // it is given --secret-key.
        let request = format!(
            "POST /accounts/{}/users/{}?operation=reset-personal-pin HTTP/1.1\r\nHost: \
             {address}\r\nX-Amz-Date: 20250101T000000Z\r\nAuthorization: AWS4-HMAC-SHA256 \
             Credential={}/20250101/us-east-1/chime/aws4_request, SignedHeaders=host;x-amz-date, \
             Signature=00\r\nContent-Length: 0\r\n\r\n",
            &record[0],
            &record[1],
            support::ACCESS_KEY_ID
        );
        let started = Instant::now();
        writer
            .write_all(request.as_bytes())
            .expect("send a request");
        let mut length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).expect("read an answer");
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().expect("a content length");
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("read the body");
        times.push(started.elapsed().as_secs_f64());
    }
    assert_eq!(times.len(), n, "enough rows to calibrate with");
    times.sort_by(f64::total_cmp);
    times[n / 2]
}

// ---------------------------------------------------------------------------------------------
// Measuring a process

/// What one run of the tool cost.
struct Usage {
    wall: f64,
    /// The tool's own user and system CPU seconds (its rusage from wait4).
    user: f64,
    sys: f64,
    /// The tool's peak resident set, in bytes.
    max_rss: u64,
    code: i32,
    stderr: String,
    /// CPU seconds of the simulator during the run.
    sim_cpu: f64,
    /// CPU seconds of every other process on the machine during the run.
    other_cpu: f64,
}

impl Usage {
    fn tool_cpu(&self) -> f64 {
        self.user + self.sys
    }

    /// Cores the rest of the machine used on average during the run.
    fn other_cores(&self) -> f64 {
        self.other_cpu / self.wall
    }

    fn print_load(&self) {
        let note = if self.other_cores() > DISTURBED_CORES {
            " — DISTURBED: take this figure with care"
        } else {
            ""
        };
        println!(
            "      (other processes: {:.2} cores during the run{note})",
            self.other_cores()
        );
    }
}

/// Spawns `cmd` (stdout discarded, stderr to `stderr_path`) and waits for it with wait4.
fn measure(mut cmd: Command, sim: Option<&Simulator>, stderr_path: &Path) -> Usage {
    let stderr_file = File::create(stderr_path).expect("create the stderr file");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr_file);
    let sim_before = sim.map_or(0.0, simulator_cpu_seconds);
    let busy_before = machine_busy_seconds();
    let started = Instant::now();
    let child = cmd.spawn().expect("spawn chime-pin-reset");
    let pid = i32::try_from(child.id()).expect("a pid fits in i32");
    let mut status = 0;
    // SAFETY: rusage is plain old data, all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waits for our own unreaped child; both pointers are to live locals.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        assert_eq!(err.kind(), std::io::ErrorKind::Interrupted, "wait4: {err}");
    }
    let wall = started.elapsed().as_secs_f64();
    // Reaped above; `Child` neither waits nor kills on drop.
    drop(child);
    let busy = machine_busy_seconds() - busy_before;
    let sim_cpu = sim.map_or(0.0, |sim| simulator_cpu_seconds(sim) - sim_before);
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let (user, sys) = (seconds(usage.ru_utime), seconds(usage.ru_stime));
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Usage {
        wall,
        user,
        sys,
        // Linux reports ru_maxrss in KiB.
        max_rss: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
        code,
        stderr: std::fs::read_to_string(stderr_path).unwrap_or_default(),
        sim_cpu,
        other_cpu: (busy - user - sys - sim_cpu).max(0.0),
    }
}

/// Runs a measurement until it is undisturbed by other processes, at most [`MAX_TRIES`] times;
/// keeps the least disturbed run.
fn least_disturbed(mut measure: impl FnMut(usize) -> Usage) -> Usage {
    least_disturbed_with(|try_no| (measure(try_no), ())).0
}

fn least_disturbed_with<T>(mut measure: impl FnMut(usize) -> (Usage, T)) -> (Usage, T) {
    let mut best: Option<(Usage, T)> = None;
    for try_no in 1..=MAX_TRIES {
        let (usage, extra) = measure(try_no);
        let disturbed = usage.other_cores() > DISTURBED_CORES;
        if disturbed && try_no < MAX_TRIES {
            println!(
                "      (other processes used {:.2} cores during the run: taking it again)",
                usage.other_cores()
            );
        }
        if best
            .as_ref()
            .is_none_or(|(b, _)| usage.other_cores() < b.other_cores())
        {
            best = Some((usage, extra));
        }
        if !disturbed {
            break;
        }
    }
    best.expect("at least one try")
}

/// CPU seconds the whole machine has spent busy since boot, from `/proc/stat`.
fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").expect("/proc/stat");
    let cpu = stat.lines().next().expect("the cpu line");
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let ticks: Vec<f64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|n| n.parse().ok())
        .collect();
    let busy: f64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    busy / clock_ticks()
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

// ---------------------------------------------------------------------------------------------
// Printing

/// One line of the summary table.
struct Verdict {
    section: u32,
    what: String,
    figure: String,
    target: String,
    /// `None`: skipped, or a figure without a target.
    pass: Option<bool>,
}

impl Verdict {
    fn new(section: u32, what: &str, figure: String, target: &str, pass: bool) -> Verdict {
        println!(
            "   => {figure} (target {target}): {}",
            if pass { "PASS" } else { "MISS" }
        );
        Verdict {
            section,
            what: what.to_string(),
            figure,
            target: target.to_string(),
            pass: Some(pass),
        }
    }

    fn info(section: u32, what: &str, figure: String) -> Verdict {
        println!("   => {figure}");
        Verdict {
            section,
            what: what.to_string(),
            figure,
            target: "—".to_string(),
            pass: None,
        }
    }

    fn skipped(section: u32, what: &str, target: &str) -> Verdict {
        Verdict {
            section,
            what: what.to_string(),
            figure: "—".to_string(),
            target: target.to_string(),
            pass: None,
        }
    }
}

fn print_machine() {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".to_string());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .map(|kib| kib.trim().to_string())
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut out = String::new();
    let _ = writeln!(out, "== Machine");
    let _ = writeln!(out, "   nproc {cores}; CPU {model}; memory {memory}");
    let _ = writeln!(
        out,
        "   Linux {}; load average {}",
        kernel.trim(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let _ = writeln!(
        out,
        "   the simulator runs on the same cores as the tool; a run during which other \
         processes use more than {DISTURBED_CORES} cores is taken again"
    );
    println!("{out}");
}

fn section(title: &str) {
    println!("\n== {title}");
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
