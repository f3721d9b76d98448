//! `run --simulate`: the rehearsal's set-up, in the command layer. It builds the simulator's
//! users (a directory file, or every user the input names by id), starts the simulator in
//! process and points the run's client at it with dummy credentials; the pipeline then runs as
//! against Chime, knowing nothing of the rehearsal.

use std::sync::Arc;

use anyhow::{bail, Context as _};

use crate::config::{simulator_credentials, Rehearsal, RunConfig};
use crate::input::{InputItem, InputOptions, InputReader, Source, Target};
use crate::simulator::{Directory, Simulator, SimulatorConfig, SimulatorHandle};

/// How many lines an error names before it says "…".
const LINES_NAMED: usize = 5;

/// Starts the simulator of a rehearsal and points `config` at it; `None` for a real run.
pub async fn start(config: &mut RunConfig) -> anyhow::Result<Option<SimulatorHandle>> {
    let Some(rehearsal) = &config.rehearsal else {
        return Ok(None);
    };
    let directory = users(&config.input, rehearsal)?;
    let simulator = Simulator::start(SimulatorConfig {
        directory,
        ..SimulatorConfig::default()
    })
    .await
    .context("cannot start the simulator")?;
    config.engine.client.endpoint_url = Some(url::Url::parse(simulator.endpoint())?);
    config.engine.client.static_credentials = Some(simulator_credentials());
    Ok(Some(simulator))
}

/// The simulator's users: the directory file given, or every user the input names by id, each
/// with the email its row gives.
fn users(input: &InputOptions, rehearsal: &Rehearsal) -> anyhow::Result<Directory> {
    if let Some(path) = &rehearsal.directory {
        return Directory::from_csv_path(path);
    }
    let Source::File(path) = &input.source else {
        bail!(
            "--simulate reads the input twice to build the simulator's users: give a file, \
             or --simulate-directory FILE"
        );
    };
    let mut directory = Directory::new();
    let mut by_email = Vec::new();
    for item in InputReader::open(input.clone(), Arc::default())? {
        let InputItem::Task(task) = item else {
            continue;
        };
        match &task.target {
            Target::UserId(user_id) => {
                directory.ensure_user_with_email(&task.account_id, user_id, task.email.as_deref())
            }
            Target::Email(_) => by_email.push(task.line),
        }
    }
    if by_email.is_empty() {
        return Ok(directory);
    }
    // A row naming its user by email alone would fail as not found (or stop the run on an
    // account the simulator never heard of), which says nothing about the real run: the fix
    // is a directory file, so say that before anything starts.
    let mut lines: Vec<String> = by_email
        .iter()
        .take(LINES_NAMED)
        .map(u64::to_string)
        .collect();
    if by_email.len() > LINES_NAMED {
        lines.push("…".to_string());
    }
    let rows = if by_email.len() == 1 {
        "row names its"
    } else {
        "rows name their"
    };
    bail!(
        "{}: {} {rows} user by email alone (line {}), and --simulate holds only the users the \
         input names by id: give the users as a directory file, --simulate-directory FILE.csv \
         (columns account_id,user_id,email,display_name; `simulate --write-directory` writes \
         one, and samples/directory.csv holds the samples' users)",
        path.display(),
        by_email.len(),
        lines.join(", ")
    )
}
