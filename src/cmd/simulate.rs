//! `simulate`: serve the local simulator of the Chime API until Ctrl-C or SIGTERM. Its flags
//! and its loop belong to the simulator, which is a program of its own inside this one.

pub use crate::simulator::SimulateArgs;

/// Runs `simulate`.
pub async fn run(args: SimulateArgs) -> anyhow::Result<u8> {
    crate::simulator::run_cli(args).await
}
