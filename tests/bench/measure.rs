//! Measuring a process: the tool's own rusage from `wait4`, the simulator's CPU time from
//! `/proc/<pid>/stat`, everything else on the machine from `/proc/stat`, and retaking a run that
//! other processes disturbed.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::support::{arrivals, LogLine};
use crate::Simulator;

/// Other processes may use this many cores on average during a run before it counts as
/// disturbed and is taken again.
pub const DISTURBED_CORES: f64 = 0.25;
/// Runs of one measurement at most, the least disturbed one kept.
const MAX_TRIES: usize = 2;

/// What one run of the tool cost.
pub struct Usage {
    pub wall: f64,
    /// The tool's own user and system CPU seconds (its rusage from wait4).
    pub user: f64,
    pub sys: f64,
    /// The tool's peak resident set, in bytes.
    pub max_rss: u64,
    /// The tool's context switches, all its threads: given up waiting (voluntary) and taken
    /// by the scheduler (involuntary).
    pub voluntary_switches: u64,
    pub involuntary_switches: u64,
    pub code: i32,
    pub stderr: String,
    /// CPU seconds of the simulator during the run.
    pub sim_cpu: f64,
    /// CPU seconds of every other process on the machine during the run.
    pub other_cpu: f64,
}

impl Usage {
    pub fn tool_cpu(&self) -> f64 {
        self.user + self.sys
    }

    /// Cores the rest of the machine used on average during the run.
    pub fn other_cores(&self) -> f64 {
        self.other_cpu / self.wall
    }

    pub fn print_load(&self) {
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
pub fn measure(cmd: Command, sim: Option<&Simulator>, stderr_path: &Path) -> Usage {
    measure_with_stdout(cmd, sim, stderr_path, Stdio::null())
}

/// [`measure`], with stdout going to `stdout`.
pub fn measure_with_stdout(
    mut cmd: Command,
    sim: Option<&Simulator>,
    stderr_path: &Path,
    stdout: Stdio,
) -> Usage {
    let stderr_file = File::create(stderr_path).expect("create the stderr file");
    cmd.stdin(Stdio::null()).stdout(stdout).stderr(stderr_file);
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
        voluntary_switches: u64::try_from(usage.ru_nvcsw).unwrap_or(0),
        involuntary_switches: u64::try_from(usage.ru_nivcsw).unwrap_or(0),
        code,
        stderr: std::fs::read_to_string(stderr_path).unwrap_or_default(),
        sim_cpu,
        other_cpu: (busy - user - sys - sim_cpu).max(0.0),
    }
}

/// Runs a measurement until it is undisturbed by other processes, at most [`MAX_TRIES`] times;
/// keeps the least disturbed run.
pub fn least_disturbed(mut measure: impl FnMut(usize) -> Usage) -> Usage {
    least_disturbed_with(|try_no| (measure(try_no), ())).0
}

pub fn least_disturbed_with<T>(mut measure: impl FnMut(usize) -> (Usage, T)) -> (Usage, T) {
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
pub fn machine_busy_seconds() -> f64 {
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

pub fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// User + system CPU seconds of a simulator so far, all threads.
pub fn simulator_cpu_seconds(sim: &Simulator) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", sim.pid()))
        .expect("the simulator is running");
    // The fields after the parenthesised command name start at field 3 (state).
    let fields: Vec<&str> = stat[stat.rfind(')').expect("a command name") + 1..]
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields[i].parse::<f64>().expect("a tick count");
    (ticks(11) + ticks(12)) / clock_ticks()
}

/// Seconds from the first arrival to the last (0 for fewer than two).
pub fn span_s(lines: &[LogLine]) -> f64 {
    let times = arrivals(lines);
    match (times.first(), times.last()) {
        (Some(first), Some(last)) => last - first,
        _ => 0.0,
    }
}

/// Requests per second between the first and the last arrival.
pub fn achieved_rate(lines: &[LogLine]) -> f64 {
    lines.len().saturating_sub(1) as f64 / span_s(lines)
}

/// The most requests that arrived within any one-second window.
pub fn busiest_second(lines: &[LogLine]) -> usize {
    let times = arrivals(lines);
    let mut most = 0;
    let mut start = 0;
    for (end, t) in times.iter().enumerate() {
        while t - times[start] >= 1.0 {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}
