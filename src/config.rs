//! The `run` command's flags, parsed cheaply by clap and then validated once into a
//! [`RunConfig`] whose fields cannot hold nonsense.

use std::net::IpAddr;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};

use crate::chime::ClientSettings;
use crate::execution::{ExecConfig, Mode, RetryPolicy};
use crate::input::{InputOptions, Source};
use crate::output::{Destination, Existing, PinPolicy};
use crate::report::ProgressMode;

/// Flags of `chime-pin-reset run`.
#[derive(Clone, Debug, clap::Args)]
pub struct RunArgs {
    /// The input CSV (`-` reads stdin). A header row is required.
    pub input: PathBuf,

    /// Where to write the results CSV (`-` writes to stdout, e.g. into an encryption tool).
    #[arg(short, long, value_name = "RESULTS.csv")]
    pub output: PathBuf,

    /// Continue a stopped run: skip every user whose last row in the results is `reset`, run
    /// the rest and append.
    #[arg(long, conflicts_with = "force")]
    pub resume: bool,

    /// Overwrite an existing results file (its PINs are lost).
    #[arg(long)]
    pub force: bool,

    /// Only look the users up (GetUser): status `would-reset` or `failed`; no PIN is changed.
    #[arg(long)]
    pub dry_run: bool,

    /// The account of every row, for files without an account column.
    #[arg(long, value_name = "ID")]
    pub account_id: Option<String>,

    /// The input's delimiter: `,`, `;` or `tab` (detected from the header line by default).
    #[arg(long, value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,

    /// Accept IDs that are not GUIDs (any non-empty ID without `/`).
    #[arg(long)]
    pub no_strict_ids: bool,

    /// Requests per second across the whole run (0 = unlimited).
    #[arg(long, default_value_t = 10)]
    pub rate: u32,

    /// Requests that may go at once above the rate, after a quiet spell.
    #[arg(long, default_value_t = NonZeroU32::MIN)]
    pub burst: NonZeroU32,

    /// Requests in flight at most.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,

    /// Calls per row at most, retries of throttled, failed or lost calls included.
    #[arg(long, default_value_t = 8)]
    pub max_attempts: u32,

    /// Stop the run after this many failed rows.
    #[arg(long, value_name = "N")]
    pub max_failures: Option<NonZeroU64>,

    /// Seconds to wait for a connection.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    pub connect_timeout: f64,

    /// Seconds to wait for each attempt's answer.
    #[arg(long, default_value_t = 20.0, value_name = "SECONDS")]
    pub timeout: f64,

    /// Seconds in-flight requests get to finish after Ctrl-C or SIGTERM.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub grace_period: f64,

    /// How PINs appear in the results.
    #[arg(long, value_enum, default_value_t = PinPolicy::Full)]
    pub pins: PinPolicy,

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

    /// No progress and no summary on stderr (errors and stops are still reported).
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn parse_delimiter(text: &str) -> Result<u8, String> {
    match text {
        "," | "comma" => Ok(b','),
        ";" | "semicolon" => Ok(b';'),
        "tab" | "\t" | "\\t" => Ok(b'\t'),
        other => Err(format!(
            "{other:?} is not a delimiter: use `,`, `;` or `tab`"
        )),
    }
}

/// How to reach Chime: the AWS flags of `run`, `export` and `reset`.
#[derive(Clone, Debug, clap::Args)]
pub struct AwsArgs {
    /// The AWS profile to use.
    #[arg(long)]
    pub profile: Option<String>,

    /// The AWS region (the Chime API lives in us-east-1).
    #[arg(long, default_value = "us-east-1")]
    pub region: String,

    /// The Chime endpoint (wins over AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_CHIME).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Allow a plain-http endpoint that is not on this machine (the answers carry PINs).
    #[arg(long)]
    pub allow_insecure_endpoint: bool,
}

impl AwsArgs {
    /// The client settings, with the endpoint checked and the default timeouts.
    pub fn client_settings(&self) -> anyhow::Result<ClientSettings> {
        if let Some((source, url)) = self.effective_endpoint() {
            check_endpoint(&source, &url, self.allow_insecure_endpoint)?;
        }
        Ok(self.unchecked_settings())
    }

    /// The client settings without the endpoint check, for `run --simulate`, whose simulator
    /// replaces any endpoint configured.
    fn unchecked_settings(&self) -> ClientSettings {
        ClientSettings {
            profile: self.profile.clone(),
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
            static_credentials: None,
            connect_timeout: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(20),
        }
    }

    /// The endpoint the SDK will use and where it comes from: the flag, or the environment
    /// variables aws-config reads (the service's own first).
    fn effective_endpoint(&self) -> Option<(String, String)> {
        if let Some(url) = &self.endpoint_url {
            return Some(("--endpoint-url".to_string(), url.clone()));
        }
        let ignored = std::env::var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .is_ok_and(|value| value.eq_ignore_ascii_case("true"));
        if ignored {
            return None;
        }
        ["AWS_ENDPOINT_URL_CHIME", "AWS_ENDPOINT_URL"]
            .into_iter()
            .find_map(|name| Some((name.to_string(), std::env::var(name).ok()?)))
    }
}

/// Everything `run` needs, validated.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub input: InputOptions,
    pub output: Destination,
    pub resume: bool,
    pub force: bool,
    pub exec: ExecConfig,
    pub client: ClientSettings,
    pub max_failures: Option<u64>,
    pub grace_period: Duration,
    pub pins: PinPolicy,
    pub raw_cells: bool,
    pub simulate: bool,
    pub simulate_directory: Option<PathBuf>,
    pub summary_json: Option<PathBuf>,
    pub quiet: bool,
    pub progress: ProgressMode,
    /// The command line as given, to print the command that resumes the run.
    pub command_line: Vec<String>,
}

impl RunConfig {
    pub fn from_args(args: RunArgs) -> anyhow::Result<Self> {
        if args.concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        if args.max_attempts == 0 {
            bail!("--max-attempts must be at least 1");
        }
        let output = Destination::from_arg(&args.output);
        if args.resume && output == Destination::Stdout {
            bail!("--resume needs a results file to read: it cannot be used with -o -");
        }
        if args.simulate && args.aws.endpoint_url.is_some() {
            bail!("--simulate and --endpoint-url both choose the endpoint: give one");
        }
        let aws = if args.simulate {
            args.aws.unchecked_settings()
        } else {
            args.aws.client_settings()?
        };
        let client = ClientSettings {
            connect_timeout: seconds("--connect-timeout", args.connect_timeout)?,
            attempt_timeout: seconds("--timeout", args.timeout)?,
            ..aws
        };
        Ok(RunConfig {
            input: InputOptions {
                source: Source::from_arg(&args.input),
                delimiter: args.delimiter,
                default_account: args.account_id.clone(),
                strict_ids: !args.no_strict_ids,
            },
            output,
            resume: args.resume,
            force: args.force,
            exec: ExecConfig {
                rate: NonZeroU32::new(args.rate),
                burst: args.burst,
                concurrency: args.concurrency,
                retry: RetryPolicy {
                    max_attempts: args.max_attempts,
                    ..RetryPolicy::default()
                },
                mode: if args.dry_run {
                    Mode::DryRun
                } else {
                    Mode::Reset
                },
            },
            client,
            max_failures: args.max_failures.map(NonZeroU64::get),
            grace_period: seconds("--grace-period", args.grace_period)?,
            pins: args.pins,
            raw_cells: args.raw_cells,
            simulate: args.simulate,
            simulate_directory: args.simulate_directory.clone(),
            summary_json: args.summary_json.clone(),
            quiet: args.quiet,
            progress: ProgressMode::detect(args.quiet),
            // Lossy: a path that is not UTF-8 still gets a resume command that names it.
            command_line: std::env::args_os()
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect(),
        })
    }

    /// What to do with a results file that exists already.
    pub fn existing_results(&self) -> Existing {
        if self.resume {
            Existing::Append
        } else if self.force {
            Existing::Overwrite
        } else {
            Existing::Refuse
        }
    }

    /// The command line that resumes this run: the same, with `--resume` instead of `--force`.
    pub fn resume_command(&self) -> Option<String> {
        if self.output == Destination::Stdout {
            return None;
        }
        let mut words: Vec<&str> = self
            .command_line
            .iter()
            .map(String::as_str)
            .filter(|word| *word != "--force")
            .collect();
        if !words.contains(&"--resume") {
            words.push("--resume");
        }
        Some(
            words
                .iter()
                .map(|word| shell_quote(word))
                .collect::<Vec<_>>()
                .join(" "),
        )
    }
}

fn seconds(flag: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|duration| !duration.is_zero())
        .with_context(|| format!("{flag} must be a positive number of seconds, not {value}"))
}

/// A plain-http endpoint carries PINs in clear: only loopback is accepted without
/// `--allow-insecure-endpoint`.
pub fn check_endpoint(source: &str, url: &str, allow_insecure: bool) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url).with_context(|| format!("{source} {url:?} is not a URL"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                None => false,
            };
            if loopback || allow_insecure {
                Ok(())
            } else {
                bail!(
                    "{source} {url} is plain http to another machine, and the answers carry \
                     PINs: use https, or pass --allow-insecure-endpoint"
                )
            }
        }
        other => bail!("{source} {url}: the scheme must be https or http, not {other}"),
    }
}

/// The dummy credentials `run --simulate` signs with.
pub fn simulator_credentials() -> (String, String) {
    ("AKIDSIMULATOR".to_string(), "simulator-secret".to_string())
}

/// Quotes a word for a POSIX shell when it needs it.
fn shell_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_may_be_plain_http() {
        assert!(check_endpoint("--endpoint-url", "http://127.0.0.1:8080", false).is_ok());
        assert!(check_endpoint("--endpoint-url", "http://localhost:1", false).is_ok());
        assert!(check_endpoint(
            "--endpoint-url",
            "https://chime.us-east-1.amazonaws.com",
            false
        )
        .is_ok());
        assert!(check_endpoint("--endpoint-url", "http://10.0.0.5", false).is_err());
        assert!(check_endpoint("--endpoint-url", "http://10.0.0.5", true).is_ok());
    }

    #[test]
    fn words_are_quoted_for_the_shell() {
        assert_eq!(shell_quote("in.csv"), "in.csv");
        assert_eq!(shell_quote("my file.csv"), "'my file.csv'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
