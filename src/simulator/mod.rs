//! A local simulator of the Amazon Chime user API, faithful enough that the real aws-sdk-chime
//! client and the AWS CLI talk to it unchanged: ResetPersonalPIN, GetUser, ListUsers and
//! GetAccount, and STS GetCallerIdentity on the same endpoint, over plain HTTP/1.1 on 127.0.0.1,
//! with each protocol's error shapes, SigV4 checks, and seeded, reproducible faults (latency,
//! throttling, failures, lost, garbled and PIN-less answers, late resets, refused keys).
//!
//! Tests, demos and benchmarks run against it, in process ([`Simulator::start`]) or as
//! `chime-pin-reset simulate`. `GET /__simulator/state` shows every user's PIN and reset count
//! and the request counters, so tests can check what really happened on the "server"; other
//! admin endpoints change a PIN, remove a user or the throttle behind the client's back.
//!
//! Layout: [`directory`] (which accounts and users exist) and `store` (their live PINs);
//! [`faults`] (what goes wrong); `server` (listener, connections, bodies, delays, held and
//! dropped answers), `routing` (which operation a request asks for), `auth` and `sigv4` (who
//! signed it), `operations` (one function per operation) and `sts` (the caller's identity),
//! `wire` (answer bodies) and `errors` (error shapes); `admin` (`/__simulator/`); `counters`
//! and `log` (what happened).

mod admin;
mod auth;
pub mod counters;
pub mod directory;
mod errors;
pub mod faults;
mod log;
mod operations;
mod routing;
mod server;
mod sigv4;
mod store;
mod sts;
mod wire;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;

pub use counters::Counters;
pub use directory::{Directory, DirectoryAccount, DirectoryUser};
pub use faults::Faults;
pub use server::{Simulator, SimulatorConfig, SimulatorHandle};

/// Flags of `chime-pin-reset simulate`.
#[derive(Clone, clap::Args)]
pub struct SimulateArgs {
    /// Port to listen on at 127.0.0.1 (0 picks a free port; the endpoint URL is printed first on
    /// stdout either way).
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub port: u16,
    /// Serve the users of this CSV (header account_id,user_id,email,display_name and optionally
    /// license_type,user_type,registration_status,account_name,account_status).
    #[arg(long, value_name = "FILE.csv", conflicts_with_all = ["accounts", "users_per_account"])]
    pub directory: Option<PathBuf>,
    /// Generate this many accounts [default: 1].
    #[arg(long, value_name = "N")]
    pub accounts: Option<usize>,
    /// Generate this many users in each account [default: 10].
    #[arg(long, value_name = "M")]
    pub users_per_account: Option<usize>,
    /// Seed of generated IDs, names and PINs and of every fault decision.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Save the directory served as CSV to FILE (before the endpoint is printed), to build an
    /// input file from it.
    #[arg(long, value_name = "FILE")]
    pub write_directory: Option<PathBuf>,
    #[command(flatten)]
    pub faults: Faults,
    /// Verify every request's SigV4 signature with this secret access key (403 on mismatch).
    /// Without it any well-formed SigV4 header for the operation's service (chime, or sts for
    /// GetCallerIdentity) is accepted.
    #[arg(long, value_name = "SECRET")]
    pub secret_key: Option<String>,
    /// The caller STS GetCallerIdentity names; its account is GetAccount's AwsAccountId.
    #[arg(long, value_name = "ARN", default_value = sts::DEFAULT_CALLER_ARN, value_parser = parse_caller_arn)]
    pub caller_arn: String,
    /// Do not serve STS: GetCallerIdentity gets what an unknown request gets (400
    /// BadRequestException), as an endpoint that speaks only Chime would answer.
    #[arg(long)]
    pub no_sts: bool,
    /// Write one JSON line per API request to FILE (never a PIN).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
}

impl std::fmt::Debug for SimulateArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulateArgs")
            .field("port", &self.port)
            .field("directory", &self.directory)
            .field("accounts", &self.accounts)
            .field("users_per_account", &self.users_per_account)
            .field("seed", &self.seed)
            .field("write_directory", &self.write_directory)
            .field("faults", &self.faults)
            .field("caller_arn", &self.caller_arn)
            .field("no_sts", &self.no_sts)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("log", &self.log)
            .finish()
    }
}

fn parse_caller_arn(arn: &str) -> Result<String, String> {
    sts::CallerIdentity::parse(arn).map(|identity| identity.arn)
}

impl SimulateArgs {
    /// The directory the flags describe: the CSV file, or a generated one.
    pub fn directory(&self) -> anyhow::Result<Directory> {
        match &self.directory {
            Some(path) => Directory::from_csv_path(path),
            None => Ok(Directory::generate(
                self.accounts.unwrap_or(1),
                self.users_per_account.unwrap_or(10),
                self.seed,
            )),
        }
    }
}

/// Runs `chime-pin-reset simulate` until Ctrl-C or SIGTERM, then prints the counters to stderr.
pub async fn run_cli(args: SimulateArgs) -> anyhow::Result<u8> {
    use tokio::signal::unix::{signal, SignalKind};

    let directory = args.directory()?;
    if let Some(path) = &args.write_directory {
        directory.write_csv(path)?;
    }
    let (users, accounts) = (directory.len(), directory.accounts().len());
    // Listen for signals before announcing the endpoint, so a script that reads the endpoint and
    // signals at once never kills the process by default action.
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let handle = Simulator::start(SimulatorConfig {
        directory,
        faults: args.faults,
        caller_arn: args.caller_arn,
        serve_sts: !args.no_sts,
        secret_key: args.secret_key,
        log_path: args.log,
        port: args.port,
        seed: args.seed,
    })
    .await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", handle.endpoint()).context("cannot print the endpoint")?;
        out.flush().context("cannot print the endpoint")?;
    }
    eprintln!(
        "chime-pin-reset simulate: {users} users in {accounts} accounts at {}; Ctrl-C stops",
        handle.endpoint()
    );
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    let counters = handle.shutdown().await;
    eprintln!("{counters}");
    Ok(crate::exit::SUCCESS)
}
