//! The `chime-pin-reset` process: parse the arguments, build the runtime, run the command,
//! print an error once and exit with the code the command chose. Everything else is in the
//! library.

use std::io;
use std::process::ExitCode;

use clap::Parser;

use chime_pin_reset::cmd::Cli;
use chime_pin_reset::exit;

/// Each call through the AWS SDK allocates a great deal; mimalloc takes about a quarter off the
/// CPU time of a run (measured by the benchmark in tests/bench.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Ready connections the client commands' one runtime thread takes from the network at a time:
/// with tokio's 1,024, answers that arrive together are all read before the first next request
/// is written, so requests leave in clumps; a few at a time keeps them flowing (the figures:
/// README, Performance, what was tried).
const IO_EVENTS_PER_TICK: usize = 8;

fn main() -> ExitCode {
    withhold_panic_messages();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCESS
            };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    let command = cli.command;
    let runtime = if command.wants_many_threads() {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_current_thread();
        builder.max_io_events_per_tick(IO_EVENTS_PER_TICK);
        builder
    }
    .enable_all()
    .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            report(&anyhow::Error::new(err).context("cannot start the async runtime"));
            return ExitCode::from(exit::USAGE);
        }
    };
    match runtime.block_on(command.run()) {
        Ok(code) => ExitCode::from(code),
        // The reader of stdout went away (`| head`): what it wanted, it has.
        Err(err) if is_broken_pipe(&err) => ExitCode::from(exit::SUCCESS),
        Err(err) => {
            report(&err);
            ExitCode::from(exit::USAGE)
        }
    }
}

/// A panic's message can quote the value it failed on, such as a cell or a PIN: only where it
/// happened is printed, never the message.
fn withhold_panic_messages() {
    std::panic::set_hook(Box::new(|info| {
        use std::io::Write as _;
        let place = info
            .location()
            .map_or_else(String::new, |at| format!(" at {}:{}", at.file(), at.line()));
        let _ = writeln!(
            io::stderr(),
            "chime-pin-reset: internal error{place}; please report it (its message is withheld: \
             it could hold a PIN or a cell of your files)"
        );
    }));
}

/// Prints an error once, with its causes on the same line. A closed stderr has nowhere else
/// to go, so a failed write is ignored rather than allowed to panic.
fn report(err: &anyhow::Error) {
    use std::io::Write as _;
    let _ = writeln!(io::stderr(), "chime-pin-reset: {err:#}");
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
