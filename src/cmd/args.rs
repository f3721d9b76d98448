//! The groups of flags that several commands share, each defined once and flattened into every
//! command that takes it: how to reach AWS ([`AwsArgs`]), how to read an input ([`InputArgs`]),
//! the limits of the executor ([`ExecArgs`]) and the file a run writes ([`OutputArgs`]). Each
//! group validates itself into the richer type the library takes.

use std::marker::PhantomData;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};

use crate::chime::ClientSettings;
use crate::config::EngineConfig;
use crate::execution::{ExecConfig, Mode, RetryPolicy};
use crate::input::{canonical_id, id_problem, InputOptions, Source, TextEncoding};
use crate::output::{Destination, Existing, PinPolicy};
use crate::progress::ProgressMode;

/// How to reach Chime.
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
    /// The client settings, with the default timeouts. Which endpoint the SDK will really use
    /// (this flag, the environment or the profile file) is resolved once, by the SDK, when the
    /// command connects; that is where plain http to another machine is refused.
    pub fn client_settings(&self) -> anyhow::Result<ClientSettings> {
        let endpoint_url = match &self.endpoint_url {
            Some(url) => Some(parse_url("--endpoint-url", url)?),
            None => None,
        };
        Ok(ClientSettings {
            profile: self.profile.clone(),
            region: self.region.clone(),
            endpoint_url,
            static_credentials: None,
            connect_timeout: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(20),
            allow_insecure_endpoint: self.allow_insecure_endpoint,
        })
    }
}

/// An endpoint URL, which the SDK can only reach over https or http.
fn parse_url(source: &str, url: &str) -> anyhow::Result<url::Url> {
    let parsed = url::Url::parse(url).with_context(|| format!("{source} {url:?} is not a URL"))?;
    match parsed.scheme() {
        "https" | "http" => Ok(parsed),
        other => bail!("{source} {url}: the scheme must be https or http, not {other}"),
    }
}

/// Which input to read and how.
#[derive(Clone, Debug, clap::Args)]
pub struct InputArgs {
    /// The input: a CSV (`-` reads stdin) or a workbook. A header row is required.
    pub input: PathBuf,

    /// The account of every row, for files without an account column.
    #[arg(long, value_name = "ID")]
    pub account_id: Option<String>,

    /// The input's delimiter: `,`, `;` or `tab` (detected from the header line by default).
    #[arg(long, value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,

    /// The CSV's encoding: utf-8, utf-16le, utf-16be or windows-1252 (by default a BOM says
    /// which, else UTF-8 when the whole file is, else Windows-1252, with a notice).
    #[arg(long, value_name = "ENCODING", value_parser = str::parse::<TextEncoding>)]
    pub encoding: Option<TextEncoding>,

    /// The sheet of a workbook input (.xlsx, .xlsm, .xlsb, .xls, .ods) to read, even a hidden
    /// one; the first visible sheet by default.
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,

    /// Read the rows a workbook hides (by hand, or filtered out by an autofilter) too: by
    /// default they are skipped and counted.
    #[arg(long)]
    pub include_hidden: bool,

    #[command(flatten)]
    pub ids: IdArgs,
}

impl InputArgs {
    pub fn options(&self) -> InputOptions {
        InputOptions {
            source: file_or_std(&self.input, Source::Stdin, Source::File),
            delimiter: self.delimiter,
            default_account: self.account_id.clone(),
            strict_ids: self.ids.strict(),
            encoding: self.encoding,
            sheet: self.sheet.clone(),
            include_hidden: self.include_hidden,
        }
    }
}

fn parse_delimiter(text: &str) -> Result<u8, String> {
    match text {
        "," | "comma" => Ok(b','),
        ";" | "semicolon" => Ok(b';'),
        "tab" | "\t" | "\\t" => Ok(b'\t'),
        other => Err(format!(
            "{other:?} is not a delimiter: use `,`, `;` or `tab`"
        )),
    }
}

/// How strictly IDs are checked, in files and in flags alike.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct IdArgs {
    /// Accept IDs that are not GUIDs (any non-empty ID without `/`).
    #[arg(long)]
    pub no_strict_ids: bool,
}

impl IdArgs {
    pub fn strict(self) -> bool {
        !self.no_strict_ids
    }

    /// An ID given on the command line, checked as one in a file is (a GUID, or with
    /// `--no-strict-ids` anything non-empty without `/`: it goes into the request path) and
    /// returned as it is sent: a GUID in lower case, as Chime issues them.
    pub fn id(self, flag: &str, typed: &str) -> anyhow::Result<String> {
        let typed = typed.trim();
        match id_problem(flag, typed, self.strict()) {
            Some(problem) => bail!("{problem}"),
            None => Ok(canonical_id(typed)),
        }
    }
}

/// The executor's limits: rate, concurrency, attempts, timeouts and stop rules.
#[derive(Clone, Debug, clap::Args)]
pub struct ExecArgs {
    /// Requests per second across the whole run (0 = unlimited).
    #[arg(long, default_value_t = 10)]
    pub rate: u32,

    /// Requests that may go at once above the rate, after a quiet spell.
    #[arg(long, default_value_t = NonZeroU32::MIN)]
    pub burst: NonZeroU32,

    /// Requests in flight at most.
    #[arg(long, default_value_t = NonZeroUsize::new(8).expect("8 is not zero"))]
    pub concurrency: NonZeroUsize,

    /// Calls per row at most, in all: a lookup by email and the retries of throttled, failed
    /// or lost calls included (a PIN read back after a call of unknown outcome adds one).
    #[arg(long, default_value_t = NonZeroU32::new(8).expect("8 is not zero"))]
    pub max_attempts: NonZeroU32,

    /// Stop the run after this many failed rows.
    #[arg(long, value_name = "N")]
    pub max_failures: Option<NonZeroU64>,

    /// Seconds to wait for a connection.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    pub connect_timeout: f64,

    /// Seconds to wait for each attempt's answer.
    #[arg(long, default_value_t = 20.0, value_name = "SECONDS")]
    pub timeout: f64,

    /// Seconds in-flight requests get to finish after Ctrl-C, SIGTERM or SIGHUP.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub grace_period: f64,
}

impl ExecArgs {
    pub fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts.get(),
            ..RetryPolicy::default()
        }
    }

    /// `settings` with this command's timeouts.
    pub fn with_timeouts(&self, settings: ClientSettings) -> anyhow::Result<ClientSettings> {
        Ok(ClientSettings {
            connect_timeout: seconds("--connect-timeout", self.connect_timeout)?,
            attempt_timeout: seconds("--timeout", self.timeout)?,
            ..settings
        })
    }

    /// The executor's settings for `mode`, calling Chime as `client` says; `confirm_wait` is
    /// `run`'s `--confirm-wait` (a command that never resets gives `None`).
    pub fn exec_config(
        &self,
        mode: Mode,
        client: &ClientSettings,
        confirm_wait: Option<f64>,
    ) -> anyhow::Result<ExecConfig> {
        let settle = match confirm_wait {
            // Zero is a choice here: read at once.
            Some(wait) => Duration::try_from_secs_f64(wait).with_context(|| {
                format!("--confirm-wait must be 0 or a positive number of seconds, not {wait}")
            })?,
            None => client.attempt_timeout * SETTLE_TIMEOUTS,
        };
        Ok(ExecConfig {
            rate: NonZeroU32::new(self.rate),
            burst: self.burst,
            concurrency: self.concurrency,
            retry: self.retry(),
            mode,
            settle,
            offboarding: Default::default(),
        })
    }

    /// What the engine runs with, for a command whose rows go to `output`.
    pub fn engine_config(
        &self,
        exec: ExecConfig,
        client: ClientSettings,
        output: Destination,
        existing: Existing,
        quiet: bool,
    ) -> anyhow::Result<EngineConfig> {
        Ok(EngineConfig {
            output,
            existing,
            exec,
            client,
            max_failures: self.max_failures.map(NonZeroU64::get),
            grace_period: seconds("--grace-period", self.grace_period)?,
            quiet,
            progress: ProgressMode::detect(quiet),
            command_line: crate::config::command_line(),
        })
    }
}

/// The words [`OutputArgs`] uses for one command's file: the flags are the same for `run`
/// and `verify`, but what the file holds, and so what resuming or overwriting it means, is not.
pub trait OutputFile: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// The file's kind in messages, as in "a results file".
    const NOUN: &'static str;
    /// The placeholder of `-o` in the help.
    const VALUE_NAME: &'static str;
    /// The help of `-o`.
    const OUTPUT_HELP: &'static str;
    /// The help of `--resume`.
    const RESUME_HELP: &'static str;
    /// The help of `--force`.
    const FORCE_HELP: &'static str;
}

/// The file a command writes, and what to do when it exists already.
#[derive(Clone, Debug, clap::Args)]
pub struct OutputArgs<F: OutputFile> {
    #[arg(short, long, value_name = F::VALUE_NAME, help = F::OUTPUT_HELP)]
    pub output: PathBuf,

    #[arg(long, conflicts_with = "force", help = F::RESUME_HELP)]
    pub resume: bool,

    #[arg(long, help = F::FORCE_HELP)]
    pub force: bool,

    #[arg(skip)]
    file: PhantomData<F>,
}

impl<F: OutputFile> OutputArgs<F> {
    /// Where to write, and what to do with a file already there: `--resume` appends to it,
    /// `--force` overwrites it, and without either it is refused.
    pub fn destination(&self) -> anyhow::Result<(Destination, Existing)> {
        let destination = file_or_std(&self.output, Destination::Stdout, Destination::File);
        if self.resume && destination == Destination::Stdout {
            bail!(
                "--resume needs a {} file to read: it cannot be used with -o -",
                F::NOUN
            );
        }
        let existing = match (self.resume, self.force) {
            (true, _) => Existing::Append,
            (false, true) => Existing::Overwrite,
            (false, false) => Existing::Refuse,
        };
        Ok((destination, existing))
    }
}

/// By default (`--confirm-wait`), how many attempt timeouts after it was sent an attempt of
/// unknown outcome is taken to have landed or failed for good: the client gave up after one,
/// and the service may take as long again, twice, before it applies or drops the request.
const SETTLE_TIMEOUTS: u32 = 3;

fn seconds(flag: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|duration| !duration.is_zero())
        .with_context(|| format!("{flag} must be a positive number of seconds, not {value}"))
}

/// How PINs appear, as `--pins` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PinsArg {
    /// The new PIN in clear.
    Full,
    /// Only the last two digits, the rest as `*`.
    Masked,
    /// An empty cell.
    Omit,
}

impl From<PinsArg> for PinPolicy {
    fn from(pins: PinsArg) -> Self {
        match pins {
            PinsArg::Full => PinPolicy::Full,
            PinsArg::Masked => PinPolicy::Masked,
            PinsArg::Omit => PinPolicy::Omit,
        }
    }
}

/// A file named on the command line, or `-` for the standard stream (stdin for what is read,
/// stdout for what is written): the one place that says what `-` means.
pub fn file_or_std<T>(arg: &Path, std: T, file: impl FnOnce(PathBuf) -> T) -> T {
    if arg == Path::new("-") {
        std
    } else {
        file(arg.to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_must_be_http_or_https() {
        assert!(parse_url("--endpoint-url", "https://chime.us-east-1.amazonaws.com").is_ok());
        assert!(parse_url("--endpoint-url", "http://127.0.0.1:8080").is_ok());
        assert!(parse_url("--endpoint-url", "ftp://127.0.0.1").is_err());
        assert!(parse_url("--endpoint-url", "not a url").is_err());
    }

    #[test]
    fn ids_on_the_command_line_are_checked_like_the_input() {
        let strict = IdArgs {
            no_strict_ids: false,
        };
        let loose = IdArgs {
            no_strict_ids: true,
        };
        assert_eq!(
            strict
                .id("--user-id", " AAAAAAAA-bbbb-cccc-dddd-eeeeeeeeeeee ")
                .unwrap(),
            "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
            "GUIDs are sent in lower case"
        );
        assert!(strict.id("--user-id", "nope").is_err());
        assert!(loose.id("--user-id", "Nope").unwrap() == "Nope");
        assert!(loose.id("--user-id", "a/b").is_err());
        assert!(loose.id("--user-id", " ").is_err());
    }
}
