//! Every helper the tests share: a temporary work directory per test, the built binary, a
//! simulator process on a free port, and an environment that keeps the host's AWS configuration
//! out (here); running the tool ([`process`]), simulators over a written directory
//! ([`directory`]), results files and the PIN checks ([`results`]), the simulator's request
//! log ([`log`]), and blocked pipes, deadlines and pseudo-terminals ([`signals`]). Everything is re-exported here, so a test imports from `crate::support`.
//!
//! The benchmark (`tests/bench.rs`) includes this module too, and allows there what only the
//! tests use; what only the benchmark uses says so where it stands.

mod admin;
mod directory;
mod log;
mod process;
mod results;
mod signals;
mod terminal;

pub use admin::*;
pub use directory::*;
pub use log::*;
pub use process::*;
pub use results::*;
pub use signals::*;
pub use terminal::*;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The access key id that [`aws_env`] and [`chime_client`] sign with.
pub const ACCESS_KEY_ID: &str = "AKIDSIMULATOR";
/// The secret key that [`aws_env`] and [`chime_client`] sign with.
pub const SECRET_ACCESS_KEY: &str = "simulator-secret";

/// A temporary directory owned by one test, removed when dropped.
pub struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Workdir {
        let dir = tempfile::Builder::new()
            .prefix("chime-pin-reset-test-")
            .tempdir()
            .expect("the system temp directory is writable");
        Workdir { dir }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The path of `name` inside the directory (the file need not exist).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `contents` to `name` and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// The built binary with `args`, run in this directory with dummy credentials and the
    /// host's AWS configuration shut out ([`aws_env`]): the one way a test starts the tool.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = bin();
        aws_env(&mut cmd);
        cmd.current_dir(self.root()).args(args);
        cmd
    }

    /// Reads `name` as UTF-8.
    pub fn read(&self, name: &str) -> String {
        let path = self.path(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }
}

impl Default for Workdir {
    fn default() -> Self {
        Workdir::new()
    }
}

/// The path of the built `chime-pin-reset` binary.
pub fn bin_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_chime-pin-reset"))
}

/// A `Command` for the built `chime-pin-reset` binary.
pub fn bin() -> Command {
    Command::new(bin_path())
}

/// Gives `cmd` dummy credentials and region, and shuts out the host's AWS profile, config,
/// credentials and endpoint overrides.
pub fn aws_env(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("AWS_ENDPOINT_URL") {
            cmd.env_remove(key);
        }
    }
    for key in [
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_RETRY_MODE",
        "AWS_MAX_ATTEMPTS",
        "AWS_USE_FIPS_ENDPOINT",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
    ] {
        cmd.env_remove(key);
    }
    cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_PAGER", "")
        .env("NO_PROXY", "127.0.0.1,localhost")
}

/// An aws-sdk-chime client for `endpoint`, signing with the dummy credentials, SDK retries off
/// (tests count every request).
pub fn chime_client(endpoint: &str) -> aws_sdk_chime::Client {
    chime_client_with(endpoint, ACCESS_KEY_ID, SECRET_ACCESS_KEY)
}

/// Like [`chime_client`] with chosen credentials.
pub fn chime_client_with(endpoint: &str, access_key: &str, secret: &str) -> aws_sdk_chime::Client {
    use aws_sdk_chime::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_chime::Config::builder()
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(access_key, secret, None, None, "tests"))
        .behavior_version(BehaviorVersion::latest())
        .retry_config(aws_sdk_chime::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_chime::Client::from_conf(config)
}

/// GETs `/__simulator/state` from the simulator at `endpoint`.
pub fn fetch_state(endpoint: &str) -> serde_json::Value {
    let url = format!("{endpoint}/__simulator/state");
    let body = ureq::get(&url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .into_body()
        .read_to_string()
        .unwrap_or_else(|e| panic!("read body of {url}: {e}"));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("state is not JSON: {e}"))
}

/// A `chime-pin-reset simulate` process, killed when dropped.
pub struct SimulatorProcess {
    child: Option<Child>,
    endpoint: String,
    stderr: Option<JoinHandle<String>>,
    /// Kept open so the simulator never writes into a closed pipe.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl SimulatorProcess {
    /// Starts `chime-pin-reset simulate <args>` and waits for the endpoint line on stdout.
    /// Panics, with the simulator's stderr, if it exits first.
    pub fn spawn(args: &[&str]) -> SimulatorProcess {
        let mut cmd = bin();
        cmd.arg("simulate")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn chime-pin-reset simulate");
        let mut stderr_pipe = child.stderr.take().expect("stderr is piped");
        // Drained on its own thread so a chatty simulator can never block on a full pipe.
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr_pipe.read_to_string(&mut text);
            text
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        let endpoint = line.trim().to_string();
        if !matches!(read, Ok(n) if n > 0) || !endpoint.starts_with("http://") {
            let _ = child.kill();
            let status = child.wait();
            let err = stderr.join().unwrap_or_default();
            panic!("simulate {args:?} printed no endpoint ({status:?}); stdout: {line:?}; stderr:\n{err}");
        }
        SimulatorProcess {
            child: Some(child),
            endpoint,
            stderr: Some(stderr),
            _stdout: stdout,
        }
    }

    /// The simulator's process id (the benchmark reads its CPU time).
    #[allow(dead_code, reason = "the benchmark's alone")]
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .expect("the child is present until stop or drop")
            .id()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The simulator's `/__simulator/state` document.
    pub fn state(&self) -> serde_json::Value {
        fetch_state(&self.endpoint)
    }

    /// Sends SIGINT, waits for a clean exit (panics otherwise) and returns stderr.
    pub fn stop(mut self) -> String {
        let mut child = self
            .child
            .take()
            .expect("the child is present until stop or drop");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("send SIGINT");
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            match child.try_wait().expect("wait for the simulator") {
                Some(status) => break status,
                None if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the simulator did not exit within 20 s of SIGINT");
                }
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        let stderr = self
            .stderr
            .take()
            .expect("stderr reader")
            .join()
            .unwrap_or_default();
        assert!(
            status.success(),
            "simulator exited with {status} after SIGINT; stderr:\n{stderr}"
        );
        stderr
    }
}

impl Drop for SimulatorProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The environment variable that turns a missing AWS CLI from a skip into a failure (`.ci/run`
/// sets it, so CI never passes without the independent client).
pub const REQUIRE_AWS_CLI: &str = "CHIME_PIN_RESET_REQUIRE_AWS_CLI";

/// The path of the AWS CLI, for the tests that use it as an independent client. When it is not
/// on PATH the test is skipped with a notice (`None`), unless [`REQUIRE_AWS_CLI`] is `1`, in
/// which case it fails: `cargo test` passes on a machine with only Rust, and CI proves the
/// simulator against the real CLI.
pub fn aws_cli(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("aws"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var(REQUIRE_AWS_CLI).as_deref() != Ok("1"),
            "{test} needs the AWS CLI (`aws`) as an independent client and {REQUIRE_AWS_CLI}=1: \
             install it (pip install awscli)"
        );
        // Written to the process's stderr itself: libtest captures `eprintln!` and shows it
        // only for a failed test (or under --nocapture), so a skip would pass as a silent "ok".
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "notice: {test} skipped: the AWS CLI (`aws`) is not on PATH (pip install awscli)"
        );
    }
    found
}
