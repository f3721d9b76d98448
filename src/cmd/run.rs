//! `run`: reset the PIN of every user in an input and write a results file. The flags are
//! parsed cheaply by clap, then validated once into a [`RunConfig`] for the pipeline.

use std::path::PathBuf;

use anyhow::bail;

use crate::cmd::args::{
    file_or_std, AwsArgs, ExecArgs, InputArgs, OutputArgs, OutputFile, PinsArg,
};
use crate::cmd::examples;
use crate::config::{Rehearsal, RunConfig};
use crate::execution::{ExecConfig, Mode, Offboarding};
use crate::exit;
use crate::output::Destination;

/// Flags of `chime-pin-reset run`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = examples::after_help("run", exit::HELP))]
pub struct RunArgs {
    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub output: OutputArgs<ResultsFile>,

    /// Only look the users up (GetUser): status `would-reset` or `failed`; no PIN is changed.
    #[arg(long)]
    pub dry_run: bool,

    /// Offboarding: once a user's PIN is reset, log the user out of every device (LogoutUser),
    /// recorded in the `logout` column. With --resume, users reset already but not logged out
    /// are logged out, never reset again.
    #[arg(long)]
    pub logout: bool,

    /// A user Chime no longer has (NotFoundException, in an account that exists) gets the
    /// status `gone`, which counts as done, instead of `failed`.
    #[arg(long)]
    pub missing_ok: bool,

    #[command(flatten)]
    pub exec: ExecArgs,

    /// How PINs appear in the results.
    #[arg(long, value_enum, default_value_t = PinsArg::Full)]
    pub pins: PinsArg,

    /// Write cells as received, without neutralising spreadsheet formulas.
    #[arg(long)]
    pub raw_cells: bool,

    #[command(flatten)]
    pub aws: AwsArgs,

    /// Rehearse against a local simulator holding every user of the input, with dummy
    /// credentials, through the real SDK.
    #[arg(long)]
    pub simulate: bool,

    /// With --simulate: the simulator's users, from a directory CSV.
    #[arg(long, value_name = "FILE", requires = "simulate")]
    pub simulate_directory: Option<PathBuf>,

    /// Write the summary as JSON to this file too.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,

    /// Quiet: nothing on stderr for a clean run (no identity, plan, progress or summary);
    /// errors, stops and the exit code still speak.
    #[arg(short, long)]
    pub quiet: bool,

    /// Do not ask before the first reset, nor after the canary (on a terminal the plan ends
    /// with a question; off a terminal nothing is asked).
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Seconds after a reset attempt whose answer was lost before the user's PIN is read back
    /// (that attempt may still be applied, replacing the PIN); default three --timeout. 0
    /// reads at once, at the risk of recording a PIN a late attempt replaces.
    #[arg(long, value_name = "SECONDS")]
    pub confirm_wait: Option<f64>,

    /// Send the first N valid rows alone; stop (exit 3) if any of them fails, go on with the
    /// rest if all succeed (asking first on a terminal).
    #[arg(long, value_name = "N")]
    pub canary: Option<std::num::NonZeroU64>,
}

/// The results file, in the words of [`OutputArgs`].
#[derive(Clone, Debug)]
pub struct ResultsFile;

impl OutputFile for ResultsFile {
    const NOUN: &'static str = "results";
    const VALUE_NAME: &'static str = "RESULTS.csv";
    const OUTPUT_HELP: &'static str =
        "Where to write the results CSV (`-` writes to stdout, e.g. into an encryption tool)";
    const RESUME_HELP: &'static str = "Continue a stopped run: skip every user whose last row \
        in the results is `reset`, run the rest and append";
    const FORCE_HELP: &'static str = "Overwrite an existing results file (its PINs are lost)";
}

/// Runs `run`; an `Err` means nothing was sent (exit 2).
pub async fn run(args: RunArgs) -> anyhow::Result<u8> {
    let mut config = config(args)?;
    let simulator = super::rehearsal::start(&mut config).await?;
    let code = crate::pipeline::run(config).await;
    if let Some(simulator) = simulator {
        simulator.shutdown().await;
    }
    code
}

/// The flags, validated.
pub fn config(args: RunArgs) -> anyhow::Result<RunConfig> {
    let (output, existing) = args.output.destination()?;
    if args.simulate && args.aws.endpoint_url.is_some() {
        bail!("--simulate and --endpoint-url both choose the endpoint: give one");
    }
    let aws = args.aws.client_settings()?;
    let client = args.exec.with_timeouts(aws)?;
    let mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Reset
    };
    let exec = ExecConfig {
        offboarding: Offboarding {
            logout: args.logout,
            missing_ok: args.missing_ok,
        },
        ..args.exec.exec_config(mode, &client, args.confirm_wait)?
    };
    Ok(RunConfig {
        engine: args
            .exec
            .engine_config(exec, client, output, existing, args.quiet)?,
        input: args.input.options(),
        pins: args.pins.into(),
        raw_cells: args.raw_cells,
        rehearsal: args.simulate.then(|| Rehearsal {
            directory: args.simulate_directory.clone(),
        }),
        summary_json: args
            .summary_json
            .as_deref()
            .map(|path| file_or_std(path, Destination::Stdout, Destination::File)),
        yes: args.yes,
        canary: args.canary,
    })
}
