//! `report`: what runs did, from their results files alone (no credentials, no network): each
//! user's final state, as a table, `--json` or `--markdown`. Exit 0 when every user is done.

use std::io::Write;
use std::path::PathBuf;

use crate::cmd::args::PinsArg;
use crate::cmd::examples;
use crate::exit;
use crate::ledger;
use crate::output::{Destination, Existing, Files};
use crate::report::{shown, Audit, Form};
use crate::xlsx::{write_workbook, ResultsTable};

/// Flags of `chime-pin-reset report`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = examples::after_help(
    "report",
    "Exit codes:
  0    every user's final status is reset (or would-reset, for a dry run alone), and every
       user the plan beside the results counted was attempted
  1    some users are still to do (listed), or planned users were never attempted
  2    a results file cannot be read (named, with its line), or the report or the
       workbook cannot be written (an existing workbook needs --force)",
))]
pub struct ReportArgs {
    /// Results files of `run`, in the order they were written: the last row of each user wins,
    /// across appended runs and files.
    #[arg(required = true, value_name = "RESULTS.csv")]
    pub results: Vec<PathBuf>,

    /// Print JSON (the schema is in the README).
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,

    /// Print Markdown, for a change ticket or an audit record.
    #[arg(long)]
    pub markdown: bool,

    /// Also write each user's final row to this workbook, for Excel: every cell Excel would
    /// coerce is text (PINs keep their leading zeros), the header frozen with a filter; mode
    /// 0600. Open results in Excel through it, never by double-clicking the CSV.
    #[arg(long, value_name = "FILE.xlsx")]
    pub xlsx: Option<PathBuf>,

    /// How PINs appear in the workbook of --xlsx.
    #[arg(long, value_enum, default_value_t = PinsArg::Full, requires = "xlsx")]
    pub pins: PinsArg,

    /// Replace an existing workbook of --xlsx.
    #[arg(long, requires = "xlsx")]
    pub force: bool,
}

/// Runs `report`.
pub fn run(args: ReportArgs) -> anyhow::Result<u8> {
    // The workbook is checked before anything is read: it may land on no results file.
    let workbook = match &args.xlsx {
        Some(path) => {
            let mut files = Files::default();
            for results in &args.results {
                files.reads(results, "a results file");
            }
            let existing = if args.force {
                Existing::Overwrite
            } else {
                Existing::Refuse
            };
            Some(files.whole(&Destination::File(path.clone()), existing, "the workbook")?)
        }
        None => None,
    };
    let finals = ledger::final_rows(&args.results)?;
    let audit = Audit::of(&finals)?;
    if let Some(workbook) = &workbook {
        let mut table = ResultsTable::final_states(&finals)?;
        table.coverage = audit.coverage_sheet();
        write_workbook(workbook, &table, args.pins.into())?;
        crate::say!(
            "chime-pin-reset: wrote {} ({})",
            shown(&workbook.name(), Form::Terminal),
            crate::words::counted(table.rows.len() as u64, "user", "users")
        );
    }
    for (file, line) in &audit.cut_off {
        crate::say!(
            "chime-pin-reset: warning: {}, line {line}: a row a run never finished writing \
             (no newline); it is not counted, and `run --resume` cuts it off and redoes its user",
            shown(file, Form::Terminal)
        );
    }
    let text = if args.json {
        audit.json()
    } else if args.markdown {
        audit.markdown()
    } else {
        audit.table()
    };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(if audit.complete() {
        exit::SUCCESS
    } else {
        exit::ROWS_FAILED
    })
}
