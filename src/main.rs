//! The `chime-pin-reset` binary: parse the arguments, hand them to the library, print an error
//! once and exit with the code the library chose.

use std::process::ExitCode;

fn main() -> ExitCode {
    chime_pin_reset::cli::main()
}
