//! Every exit code the binary can return, in one place (the README documents each).

/// Every row was reset (duplicates are not failures), or a command other than `run` succeeded.
pub const SUCCESS: u8 = 0;
/// The run finished, but some rows failed or are invalid (`validate`: problems were found).
pub const ROWS_FAILED: u8 = 1;
/// A usage error, unreadable input or unusable configuration: nothing was sent.
pub const USAGE: u8 = 2;
/// The run stopped early (rejected credentials, a failed or unconfirmed `--canary`,
/// `--max-failures`, the results file could not be written, the input could not be read to its
/// end); the summary says why and how to resume.
pub const STOPPED_EARLY: u8 = 3;
/// Interrupted by Ctrl-C, SIGTERM or SIGHUP; in-flight rows were written, the rest can be resumed.
pub const INTERRUPTED: u8 = 130;

/// The exit codes in words, shown after `run --help`.
pub const HELP: &str = "\
Exit codes:
  0    every row was reset (or would be, in a dry run), and logged out with --logout;
       duplicates and users gone under --missing-ok are not failures
  1    the run finished, but some rows failed or are invalid, or a logout failed
  2    usage error, unreadable input or unusable configuration: nothing was sent
  3    the run stopped early (credentials refused, a canary, --max-failures, results
       unwritable, input unreadable or changed since the plan read it, fewer rows answered
       than planned); the summary says why and gives the command that resumes it
  130  interrupted by Ctrl-C, SIGTERM or SIGHUP; rows in flight were written, the rest can
       be resumed";
