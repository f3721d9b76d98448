//! The `chime-pin-reset` binary: parse the arguments, hand them to the library, print an error
//! once and exit with the code the library chose.

use std::process::ExitCode;

/// Each call through the AWS SDK allocates a great deal; mimalloc takes about a quarter off the
/// CPU time of a run (measured by the benchmark in tests/bench.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    chime_pin_reset::cli::main()
}
