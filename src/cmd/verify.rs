//! `verify`: check a results file against Chime (GetUser) and write a verified file, with the
//! same executor flags as `run`. The flags are validated once into a [`VerifyConfig`].

use std::path::PathBuf;

use anyhow::bail;

use crate::cmd::args::{AwsArgs, ExecArgs, OutputArgs, OutputFile};
use crate::cmd::examples;
use crate::execution::Mode;
use crate::output::Destination;

use crate::verify::VerifyConfig;

/// Flags of `chime-pin-reset verify`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = examples::after_help(
    "verify",
    "Exit codes:
  0    every user checked is current: the PIN recorded is the live one, and the results
       hold every user their plan counted, each with a final reset row
  1    some are changed, not-found, unverifiable or failed, or some planned users were
       never attempted or not reset (the summary says what to do)
  2    usage error, unreadable results, a file another run holds: nothing was sent
  3    stopped early (credentials refused, --max-failures, a file unwritable); resume it
  130  interrupted by Ctrl-C or SIGTERM",
))]
pub struct VerifyArgs {
    /// The results file of `run` to check.
    #[arg(value_name = "RESULTS.csv")]
    pub results: PathBuf,

    #[command(flatten)]
    pub output: OutputArgs<VerifiedFile>,

    /// For every `changed` user, append to the results a `reset` row with the live PIN (under
    /// the results file's lock), so they hold live PINs again without another reset.
    #[arg(long)]
    pub update_results: bool,

    #[command(flatten)]
    pub exec: ExecArgs,

    /// Write cells as received, without neutralising spreadsheet formulas.
    #[arg(long)]
    pub raw_cells: bool,

    #[command(flatten)]
    pub aws: AwsArgs,

    /// Quiet: nothing on stderr for a clean run (no identity, plan, progress or summary);
    /// errors, stops and the exit code still speak.
    #[arg(short, long)]
    pub quiet: bool,
}

/// The verified file, in the words of [`OutputArgs`].
#[derive(Clone, Debug)]
pub struct VerifiedFile;

impl OutputFile for VerifiedFile {
    const NOUN: &'static str = "verified";
    const VALUE_NAME: &'static str = "VERIFIED.csv";
    const OUTPUT_HELP: &'static str =
        "Where to write the verified CSV (`-` writes to stdout); it never holds a PIN";
    const RESUME_HELP: &'static str = "Continue a stopped verify: skip the users the verified \
        file has settled (all but `failed`), check the rest and append";
    const FORCE_HELP: &'static str = "Overwrite an existing verified file";
}

/// Runs `verify`; an `Err` means nothing was sent (exit 2).
pub async fn run(args: VerifyArgs) -> anyhow::Result<u8> {
    crate::verify::run(config(args)?).await
}

/// The flags, validated.
pub fn config(args: VerifyArgs) -> anyhow::Result<VerifyConfig> {
    let (output, existing) = args.output.destination()?;
    if output == Destination::File(args.results.clone()) {
        bail!("-o names the results file itself: give the verified file a name of its own");
    }
    let client = args.exec.with_timeouts(args.aws.client_settings()?)?;
    let exec = args.exec.exec_config(Mode::Verify, &client, None)?;
    Ok(VerifyConfig {
        engine: args
            .exec
            .engine_config(exec, client, output, existing, args.quiet)?,
        results: args.results,
        update_results: args.update_results,
        raw_cells: args.raw_cells,
    })
}
