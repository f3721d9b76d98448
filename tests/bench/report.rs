//! Printing: the machine, section titles, verdicts against targets, and number formats.

use std::fmt::Write as _;
use std::path::Path;

use crate::measure::DISTURBED_CORES;

/// One line of the summary table.
pub struct Verdict {
    pub section: u32,
    pub what: String,
    pub figure: String,
    pub target: String,
    /// `None`: skipped, or a figure without a target.
    pub pass: Option<bool>,
}

impl Verdict {
    pub fn new(section: u32, what: &str, figure: String, target: &str, pass: bool) -> Verdict {
        println!(
            "   => {figure} (target {target}): {}",
            if pass { "PASS" } else { "MISS" }
        );
        Verdict::quiet(section, what, figure, target, pass)
    }

    /// A verdict whose figure the section printed itself (in a table row).
    pub fn quiet(section: u32, what: &str, figure: String, target: &str, pass: bool) -> Verdict {
        Verdict {
            section,
            what: what.to_string(),
            figure,
            target: target.to_string(),
            pass: Some(pass),
        }
    }

    pub fn info(section: u32, what: &str, figure: String) -> Verdict {
        println!("   => {figure}");
        Verdict {
            section,
            what: what.to_string(),
            figure,
            target: "—".to_string(),
            pass: None,
        }
    }

    pub fn skipped(section: u32, what: &str, target: &str) -> Verdict {
        Verdict {
            section,
            what: what.to_string(),
            figure: "—".to_string(),
            target: target.to_string(),
            pass: None,
        }
    }
}

pub fn print_machine() {
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

pub fn section(title: &str) {
    println!("\n== {title}");
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
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
