//! The plain-http guard: an SDK interceptor on every client the tool builds (Chime and STS)
//! that looks at the URL of each request as it is about to be sent, and refuses one that
//! would go in clear to another machine.
//!
//! The flag and the environment are checked when the command starts, but an endpoint can also
//! come from the profile file (`endpoint_url` under a profile, or under `[services …]`). Only
//! the request itself shows where the SDK will really send it, so that is what is checked.
//! The refusal happens before the request is signed and before any byte leaves.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// A request refused because it would carry credentials and PINs in clear to another machine.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "refused to send a request to {url}: it is plain http to another machine, and the answers \
     carry PINs; use https, or pass --allow-insecure-endpoint"
)]
pub struct PlainHttpRefused {
    /// The endpoint (scheme, host and port) the request would have gone to.
    pub url: String,
}

/// Whether `url` is plain http to a host that is not this machine.
pub fn is_plain_http_elsewhere(url: &url::Url) -> bool {
    if url.scheme() != "http" {
        return false;
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    };
    !loopback
}

/// Checks an endpoint before anything is sent; `Err` names it.
pub fn check(endpoint: &str, allow_insecure: bool) -> Result<(), PlainHttpRefused> {
    match url::Url::parse(endpoint) {
        Ok(url) if !allow_insecure && is_plain_http_elsewhere(&url) => {
            Err(PlainHttpRefused { url: origin(&url) })
        }
        _ => Ok(()),
    }
}

/// `scheme://host:port`, without the path and query (which name accounts and users).
fn origin(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

/// The interceptor. `allow_insecure` is `--allow-insecure-endpoint`.
#[derive(Clone, Debug)]
pub struct PlainHttpGuard {
    allow_insecure: bool,
    /// The first origin (`scheme://authority`) let through: a run sends every request there,
    /// and comparing the start of the request's URL costs nothing, where parsing the whole of
    /// it for each request was about 3% of the instructions of a row.
    allowed: Arc<OnceLock<String>>,
}

impl PlainHttpGuard {
    pub fn new(allow_insecure: bool) -> Self {
        PlainHttpGuard {
            allow_insecure,
            allowed: Arc::default(),
        }
    }
}

/// The `scheme://authority` at the start of `url` (all of it when there is no path).
fn origin_text(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |at| at + 3);
    match url[after_scheme..].find(['/', '?', '#']) {
        Some(end) => &url[..after_scheme + end],
        None => url,
    }
}

impl Intercept for PlainHttpGuard {
    fn name(&self) -> &'static str {
        "PlainHttpGuard"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let url = context.request().uri();
        let origin = origin_text(url);
        if self.allowed.get().is_some_and(|allowed| allowed == origin) {
            return Ok(());
        }
        check(url, self.allow_insecure)?;
        let _ = self.allowed.set(origin.to_string());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_may_be_plain_http() {
        assert!(check("http://127.0.0.1:8080/accounts/a", false).is_ok());
        assert!(check("http://localhost:1/", false).is_ok());
        assert!(check("http://[::1]:1/", false).is_ok());
        assert!(check("https://chime.us-east-1.amazonaws.com/", false).is_ok());
        let refused = check("http://10.0.0.5:8080/accounts/secret-id/users", false);
        assert_eq!(
            refused,
            Err(PlainHttpRefused {
                url: "http://10.0.0.5:8080".to_string()
            }),
            "the refusal names the endpoint, not the path"
        );
        assert!(check("http://10.0.0.5:8080/", true).is_ok());
    }

    #[test]
    fn the_origin_is_the_url_up_to_its_path() {
        assert_eq!(
            origin_text("http://127.0.0.1:8080/accounts/a?operation=x"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            origin_text("https://chime.us-east-1.amazonaws.com"),
            "https://chime.us-east-1.amazonaws.com"
        );
        assert_eq!(origin_text("http://h:1?q"), "http://h:1");
    }

    /// The interceptor itself, whatever the configuration said: the request is refused before
    /// it leaves (10.0.0.5 is never contacted), and the run stops rather than retry it.
    #[tokio::test]
    async fn a_request_to_plain_http_elsewhere_never_leaves() {
        use crate::chime::{ChimeClient, ClientSettings, Disposition};
        let settings = ClientSettings {
            region: "us-east-1".to_string(),
            endpoint_url: Some(url::Url::parse("http://10.0.0.5:8080").unwrap()),
            static_credentials: Some(("AKID".to_string(), "secret".to_string())),
            connect_timeout: std::time::Duration::from_secs(30),
            attempt_timeout: std::time::Duration::from_secs(30),
            ..ClientSettings::default()
        };
        let started = std::time::Instant::now();
        let error = ChimeClient::new(&settings)
            .await
            .get_account("account")
            .await
            .unwrap_err();
        assert_eq!(error.disposition, Disposition::StopRun);
        assert_eq!(error.code, crate::outcome::codes::CONFIGURATION_ERROR);
        assert!(error.message.contains("http://10.0.0.5:8080"), "{error:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
