//! Preflight: what the tool makes sure of before the first PIN changes, because a rotation
//! cannot be undone.
//!
//! [`connect`] is the first thing every command that calls AWS does: it builds the clients
//! from one configuration, refuses a plain-http endpoint configured anywhere, and asks STS who
//! the caller is ([`identity`]). A run then reads its input to the end ([`survey`]), checks
//! each account ([`accounts`]), shows the [`plan`] and, on a terminal, asks ([`confirm`]).

pub mod accounts;
mod before_run;
pub mod confirm;
pub mod identity;
pub mod plan;
pub mod survey;

use crate::chime::sts::{configured_endpoint, sts_client, Service};
use crate::chime::{guard, shared_config, ChimeClient, ClientSettings};

pub use before_run::{canary_gate, prepare_run, Prepared};
pub use identity::{Caller, IdentityError};

/// The clients of a command, and who they act as.
#[derive(Debug)]
pub struct Connection {
    pub chime: ChimeClient,
    pub caller: Caller,
}

/// Builds the clients and checks the identity; the one function every AWS command calls
/// before its first Chime request. `Err` means nothing was sent to Chime (exit 2).
pub async fn connect(settings: &ClientSettings) -> Result<Connection, IdentityError> {
    let shared = shared_config(settings).await;
    let chime = ChimeClient::from_shared(&shared, settings);
    let chime_endpoint = chime.configured_endpoint().cloned();
    // The interceptor refuses each request too; checking the configured endpoints first
    // refuses before even the identity call, and names the endpoint and where it was set.
    for configured in [
        chime_endpoint.clone(),
        configured_endpoint(&shared, Service::Sts),
    ]
    .into_iter()
    .flatten()
    {
        guard::check(&configured.url, settings.allow_insecure_endpoint).map_err(|refused| {
            IdentityError::PlainHttpConfigured {
                set_by: configured.source.clone(),
                refused,
            }
        })?;
    }
    let sts = sts_client(&shared, settings);
    let endpoint = chime_endpoint.map(|configured| configured.url);
    let caller = identity::identify(&sts, settings, endpoint).await?;
    Ok(Connection { chime, caller })
}
