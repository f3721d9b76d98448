//! `simulate`: serve the local simulator of the Chime API until Ctrl-C or SIGTERM, printing
//! its endpoint first on stdout so scripts and tests can read it, and with `--env-file` the
//! environment a shell needs to rehearse against it (endpoint, dummy keys, region).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::cmd::examples;
use crate::config::shell_quote;
use crate::exit;
use crate::output::{Destination, Existing, Files};
use crate::simulator::{
    parse_caller_arn, Directory, Faults, Simulator, SimulatorConfig, DEFAULT_CALLER_ARN,
};

/// Flags of `chime-pin-reset simulate`.
#[derive(Clone, clap::Args)]
#[command(after_help = examples::after_help("simulate", ""))]
pub struct SimulateArgs {
    /// Port to listen on at 127.0.0.1 (0 picks a free port; the endpoint URL is printed first on
    /// stdout either way).
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub port: u16,
    /// Serve the users of this CSV (header: account_id, user_id, email, display_name; and
    /// optionally license_type, user_type, registration_status, account_name, account_status).
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
    pub faults: FaultArgs,
    /// Verify every request's SigV4 signature with this secret access key (403 on mismatch).
    /// Without it any well-formed SigV4 header for the operation's service (chime, or sts for
    /// GetCallerIdentity) is accepted.
    #[arg(long, value_name = "SECRET")]
    pub secret_key: Option<String>,
    /// The caller STS GetCallerIdentity names; its account is GetAccount's AwsAccountId.
    #[arg(long, value_name = "ARN", default_value = DEFAULT_CALLER_ARN, value_parser = parse_caller_arn)]
    pub caller_arn: String,
    /// Do not serve STS: GetCallerIdentity gets what an unknown request gets (400
    /// BadRequestException), as an endpoint that speaks only Chime would answer.
    #[arg(long)]
    pub no_sts: bool,
    /// Write one JSON line per API request to FILE (never a PIN).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Once listening, write to FILE the environment a shell needs to rehearse against this
    /// simulator (`. ./FILE`): AWS_ENDPOINT_URL, dummy keys and the region, for this tool and
    /// the AWS CLI alike. The file appears whole (written, then renamed) and is removed when
    /// the simulator stops.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
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
            .field("env_file", &self.env_file)
            .finish()
    }
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

/// Runs `simulate` until Ctrl-C or SIGTERM, then prints the counters to stderr.
pub async fn run(args: SimulateArgs) -> anyhow::Result<u8> {
    use tokio::signal::unix::{signal, SignalKind};

    let directory = args.directory()?;
    // Checked before the simulator starts, like every file the tool writes; a file left by a
    // simulator that was killed is replaced.
    let env_file = match &args.env_file {
        Some(path) => Some(Files::default().whole(
            &Destination::File(path.clone()),
            Existing::Overwrite,
            "the env file",
        )?),
        None => None,
    };
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
        faults: args.faults.into(),
        caller_arn: args.caller_arn,
        serve_sts: !args.no_sts,
        secret_key: args.secret_key.clone(),
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
    if let Some(env_file) = &env_file {
        // Written whole and renamed into place: a shell waiting for it never reads half of it.
        let script = shell_environment(handle.endpoint(), args.secret_key.as_deref());
        env_file.write_all(script.as_bytes())?;
    }
    crate::say!(
        "chime-pin-reset simulate: {users} users in {accounts} accounts at {}; Ctrl-C stops",
        handle.endpoint()
    );
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    // Once stopped, the file would point a shell at a port nobody serves.
    if let Some(path) = &args.env_file {
        let _ = std::fs::remove_file(path);
    }
    let counters = handle.shutdown().await;
    crate::say!("{counters}");
    Ok(exit::SUCCESS)
}

/// The region the env file names: Chime's own, and the tool's default.
const REHEARSAL_REGION: &str = "us-east-1";

/// A POSIX shell script that points this tool and the AWS CLI at the simulator: its endpoint,
/// the dummy keys it accepts (the `--secret-key` it checks, when given) and a region (the AWS
/// CLI refuses to run without one). A profile or session token left in the shell would mix
/// real credentials into the rehearsal, so they are unset.
fn shell_environment(endpoint: &str, secret_key: Option<&str>) -> String {
    let (access_key, dummy_secret) = crate::config::simulator_credentials();
    let secret = secret_key.map_or(dummy_secret, str::to_string);
    let mut script = String::from(
        "# chime-pin-reset simulate: a shell that sources this rehearses against the simulator\n",
    );
    for (name, value) in [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", &access_key),
        ("AWS_SECRET_ACCESS_KEY", &secret),
        ("AWS_REGION", REHEARSAL_REGION),
        ("AWS_DEFAULT_REGION", REHEARSAL_REGION),
    ] {
        script.push_str(&format!("export {name}={}\n", shell_quote(value)));
    }
    script.push_str("unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN\n");
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_quotes_every_value_for_the_shell() {
        let script = shell_environment("http://127.0.0.1:4000", Some("it's"));
        assert!(script.contains("export AWS_ENDPOINT_URL=http://127.0.0.1:4000\n"));
        assert!(script.contains("export AWS_SECRET_ACCESS_KEY=\"it's\"\n"));
        assert!(script.contains("export AWS_REGION=us-east-1\n"));
        let spaced = shell_environment("http://127.0.0.1:4000", Some("a b$c"));
        assert!(
            spaced.contains("export AWS_SECRET_ACCESS_KEY='a b$c'\n"),
            "{spaced}"
        );
    }
}

/// The simulator's faults, as flags (the simulator's [`Faults`]).
#[derive(Debug, Clone, clap::Args)]
pub struct FaultArgs {
    /// Delay every answer of ResetPersonalPIN, GetUser and ListUsers by this many milliseconds
    /// (GetAccount and GetCallerIdentity, made once before a run, answer at once).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_ms: u64,
    /// Add a uniformly random 0..=MS milliseconds to each delay.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub jitter_ms: u64,
    /// Answer 429 ThrottledClientException beyond R requests per second (a token bucket).
    #[arg(long, value_name = "R", value_parser = parse_rps)]
    pub throttle_rps: Option<f64>,
    /// Token-bucket size for --throttle-rps [default: max(1, R)].
    #[arg(long, value_name = "B", default_value_t = 0, hide_default_value = true)]
    pub throttle_burst: u32,
    /// Answer this fraction of requests 500 ServiceFailureException or 503
    /// ServiceUnavailableException (half each).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_rate)]
    pub fail_rate: f64,
    /// Close the connection without any answer for this fraction of requests (nothing changes).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_rate)]
    pub drop_rate: f64,
    /// For this fraction of requests, carry out the operation (a PIN changes) and then close the
    /// connection without an answer.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_rate)]
    pub reset_then_drop_rate: f64,
    /// For this fraction of requests, carry out the operation and answer 200 with a truncated
    /// JSON body.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_rate)]
    pub garbage_rate: f64,
    /// For this fraction of ResetPersonalPIN requests, reset the PIN and answer 200 with a User
    /// that lacks PersonalPIN.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_rate)]
    pub no_pin_rate: f64,
    /// For this fraction of ResetPersonalPIN requests, hold the request --late-apply-ms, then
    /// reset the PIN even if the client has gone (and answer if it has not).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_rate)]
    pub late_apply_rate: f64,
    /// How long --late-apply-rate holds a request, instead of the latency (meant to be longer
    /// than the client's timeout).
    #[arg(long, value_name = "MS", default_value_t = 5_000)]
    pub late_apply_ms: u64,
    /// Answer 401 UnauthorizedClientException (Chime) or 403 InvalidClientTokenId (STS) to
    /// every request signed with this access key id.
    #[arg(long, value_name = "AKID")]
    pub unauthorized_key: Option<String>,
    /// Treat this access key id as expired: 403 ExpiredTokenException (Chime) or 400
    /// ExpiredToken (STS).
    #[arg(long, value_name = "AKID")]
    pub expired_key: Option<String>,
    /// After N requests of ResetPersonalPIN, GetUser and ListUsers, treat every key as expired,
    /// as --expired-key does (STS included), until `POST /__simulator/credentials` with
    /// `{"expired": false}` renews them.
    #[arg(long, value_name = "N")]
    pub expire_keys_after: Option<u64>,
    /// Answer 403 ForbiddenException to every request for this account (repeatable).
    #[arg(long = "forbidden-account", value_name = "ID")]
    pub forbidden_accounts: Vec<String>,
    /// Answer 403 ForbiddenException to every GetAccount (a role that may only reset); other
    /// operations work.
    #[arg(long)]
    pub get_account_forbidden: bool,
    /// Answer this fraction of requests 502 Bad Gateway or 504 Gateway Timeout (half each), as
    /// the load balancers in front of an AWS service do, with a body that is not Chime's.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_rate)]
    pub gateway_error_rate: f64,
    /// Answer this fraction of LogoutUser requests 500 ServiceFailureException, on top of
    /// --fail-rate (changed at run time by `POST /__simulator/logout-faults`).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_rate)]
    pub logout_fail_rate: f64,
}

impl From<FaultArgs> for Faults {
    fn from(args: FaultArgs) -> Self {
        Faults {
            latency_ms: args.latency_ms,
            jitter_ms: args.jitter_ms,
            throttle_rps: args.throttle_rps,
            throttle_burst: args.throttle_burst,
            fail_rate: args.fail_rate,
            drop_rate: args.drop_rate,
            reset_then_drop_rate: args.reset_then_drop_rate,
            garbage_rate: args.garbage_rate,
            no_pin_rate: args.no_pin_rate,
            late_apply_rate: args.late_apply_rate,
            late_apply_ms: args.late_apply_ms,
            unauthorized_key: args.unauthorized_key,
            expired_key: args.expired_key,
            expire_keys_after: args.expire_keys_after,
            forbidden_accounts: args.forbidden_accounts,
            get_account_forbidden: args.get_account_forbidden,
            gateway_error_rate: args.gateway_error_rate,
            logout_fail_rate: args.logout_fail_rate,
        }
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{s:?} is not a probability between 0 and 1")),
    }
}

fn parse_rps(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "{s:?} is not a positive number of requests per second"
        )),
    }
}
