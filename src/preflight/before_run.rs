//! The preflight of `run`, in order: read the input to its end, connect and learn the
//! identity, check the accounts, show the plan, and on a terminal ask. All of it happens before
//! the results file is created, so a run refused here leaves nothing behind. Also the gate
//! that follows a canary.

use std::sync::{Arc, OnceLock};

use anyhow::bail;
use indicatif::{ProgressBar, ProgressDrawTarget};

use super::accounts::check_accounts;
use super::confirm::{ask, Answerer};
use super::plan::{canary_question, thousands, Plan};
use super::survey::{survey, Survey};
use super::{connect, Caller};
use crate::chime::{ChimeClient, ClientSettings};
use crate::config::RunConfig;
use crate::execution::canary::{Canary, CanaryReport};
use crate::execution::Mode;
use crate::input::{Fingerprints, Source};

/// What a run knows once its preflight passed.
#[derive(Debug)]
pub struct Prepared {
    pub chime: ChimeClient,
    pub plan: Plan,
    /// What the read-ahead pass read (`None` for stdin): the plan a results file records.
    pub survey: Option<Survey>,
    /// Who can answer the canary's question; `None` when nothing is asked.
    answerer: Option<Answerer>,
}

/// Everything before the results file is created. `Err` means nothing was sent but the
/// identity and account checks (exit 2).
pub async fn prepare_run(
    config: &RunConfig,
    settings: &ClientSettings,
    already_reset: Arc<Fingerprints>,
) -> anyhow::Result<Prepared> {
    let survey = survey(&config.input, already_reset)?;
    let connection = connect(settings).await?;
    let accounts = accounts_of(config, survey.as_ref());
    let accounts = check_accounts(&connection.chime, &accounts).await?;
    let plan = plan(config, connection.caller, accounts, survey.clone());
    // Only real PINs are worth a question: a dry run changes none, and a rehearsal
    // (`--simulate`) only the simulator's.
    let real_resets = config.engine.exec.mode == Mode::Reset && config.rehearsal.is_none();
    let answerer = (real_resets && !config.yes)
        .then(|| Answerer::detect(config.input.source == Source::Stdin));
    let answerer = answerer.flatten();
    // `--quiet` is quiet: the plan is shown only when a question follows it. The identity
    // stays in `--summary-json`'s plan.
    if !config.engine.quiet || answerer.is_some() {
        crate::stderr::text(&plan.render());
    }
    if let Some(answerer) = answerer {
        if !ask(&plan.question(), answerer).await {
            bail!("not confirmed: nothing was sent, and no results file was written");
        }
    }
    Ok(Prepared {
        chime: connection.chime,
        plan,
        survey,
        answerer,
    })
}

/// The accounts to check, with their valid rows: those of the survey, or for stdin the
/// `--account-id` of every row, when given.
fn accounts_of(config: &RunConfig, survey: Option<&Survey>) -> Vec<(String, Option<u64>)> {
    match survey {
        Some(survey) => survey
            .accounts
            .iter()
            .map(|(account, rows)| (account.clone(), Some(*rows)))
            .collect(),
        None => config
            .input
            .default_account
            .iter()
            .map(|account| (account.trim().to_string(), None))
            .collect(),
    }
}

fn plan(
    config: &RunConfig,
    identity: Caller,
    accounts: Vec<super::accounts::PlannedAccount>,
    survey: Option<Survey>,
) -> Plan {
    let rows = survey.map(|survey| survey.rows);
    let rate = config.engine.exec.rate.map(std::num::NonZeroU32::get);
    Plan {
        mode: match config.engine.exec.mode {
            Mode::Reset => "reset",
            Mode::DryRun => "dry-run",
            Mode::Verify => "verify",
        },
        region: identity.region.clone(),
        endpoint: identity.endpoint.clone(),
        identity,
        accounts,
        estimated_seconds: Plan::estimate(
            rows.as_ref(),
            rate,
            config.engine.exec.offboarding.logout,
        ),
        rows,
        pins: format!("{:?}", config.pins).to_ascii_lowercase(),
        results: config.engine.output.name(),
        rate,
        concurrency: config.engine.exec.concurrency.get(),
        canary: config.canary.map(std::num::NonZeroU64::get),
        logout: config.engine.exec.offboarding.logout,
    }
}

/// The canary of the run, when `--canary` was given. Once its rows all succeeded, the rest
/// follow at once off a terminal or with `--yes`, and after a second question on a terminal.
/// `bar` is the progress bar, hidden while the question waits.
pub fn canary_gate(
    config: &RunConfig,
    prepared: &Prepared,
    bar: Arc<OnceLock<ProgressBar>>,
) -> Option<Canary> {
    let rows = config.canary?;
    let answerer = prepared.answerer;
    let valid = prepared.plan.rows.as_ref().map(|rows| rows.valid);
    let quiet = config.engine.quiet;
    let verb = match config.engine.exec.mode {
        Mode::Reset => "reset",
        Mode::DryRun | Mode::Verify => "found",
    };
    Some(Canary::new(
        rows,
        Box::new(move |report: CanaryReport| {
            Box::pin(async move {
                // Rows already reset (on a resume) are neither canary rows nor the rest.
                let rest = valid.map(|valid| valid.saturating_sub(report.finished));
                let Some(answerer) = answerer else {
                    if !quiet {
                        let rest = rest.map_or("the rest".to_string(), |rest| {
                            format!("the other {}", thousands(rest))
                        });
                        crate::say!(
                            "chime-pin-reset: canary: {} of {} {verb}; going on with {rest}",
                            thousands(report.finished),
                            thousands(report.finished)
                        );
                    }
                    return true;
                };
                let question = canary_question(report.finished, report.finished, rest);
                let hidden = bar.get();
                if let Some(bar) = hidden {
                    bar.set_draw_target(ProgressDrawTarget::hidden());
                }
                let yes = ask(&question, answerer).await;
                if let Some(bar) = hidden {
                    bar.set_draw_target(ProgressDrawTarget::stderr());
                }
                yes
            })
        }),
    ))
}
