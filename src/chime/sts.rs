//! The STS client that asks who the caller is, built from the configuration the Chime client
//! shares, and where each service's endpoint is configured (the flag, the environment or the
//! profile file), resolved the way the SDK resolves it.

use aws_config::retry::RetryConfig;
use aws_config::SdkConfig;
use aws_types::service_config::ServiceConfigKey;

use super::{guard, timeouts, ClientSettings};

/// The services whose endpoints the tool reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Chime,
    Sts,
}

impl Service {
    /// The service id that names its `AWS_ENDPOINT_URL_*` variable and its `[services]` key.
    fn id(self) -> &'static str {
        match self {
            Service::Chime => "Chime",
            Service::Sts => "STS",
        }
    }
}

/// An STS client with the same credentials, region, endpoints, timeouts and guard as Chime's.
pub fn sts_client(shared: &SdkConfig, settings: &ClientSettings) -> aws_sdk_sts::Client {
    let config = aws_sdk_sts::config::Builder::from(shared)
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts(settings))
        .interceptor(guard::PlainHttpGuard::new(settings.allow_insecure_endpoint))
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

/// An endpoint in words, the same wherever it is named (the plan, the identity line, the stop
/// when nothing answers): the one configured, or the service's default for the region.
pub fn endpoint_name(configured: Option<&str>, region: &str) -> String {
    configured.map_or_else(
        || format!("the default endpoint for {region}"),
        str::to_string,
    )
}

/// An endpoint configured for a service, and where: the flag, an environment variable or the
/// profile file (named so that a refusal says what to change).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Configured {
    pub url: String,
    pub source: String,
}

/// The endpoint configured for `service`, or `None` for the service's default: the same
/// precedence as the SDK's own (the flag; then `AWS_ENDPOINT_URL_<SERVICE>` or the profile's
/// `[services]` entry; then `AWS_ENDPOINT_URL` or the profile's `endpoint_url`), resolved by
/// the SDK's own configuration, which also honours `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`.
pub fn configured_endpoint(shared: &SdkConfig, service: Service) -> Option<Configured> {
    let global = shared.endpoint_url().map(str::to_string);
    if shared.get_origin("endpoint_url").is_client_config() {
        return global.map(|url| Configured {
            url,
            source: "--endpoint-url".to_string(),
        });
    }
    let key = ServiceConfigKey::builder()
        .service_id(service.id())
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .expect("every field of the key is set");
    let own_variable = format!("AWS_ENDPOINT_URL_{}", service.id().to_ascii_uppercase());
    if let Some(url) = shared
        .service_config()
        .and_then(|config| config.load_config(key))
    {
        let source = source_of(&url, &own_variable, "the profile's [services] section");
        return Some(Configured { url, source });
    }
    global.map(|url| Configured {
        source: source_of(&url, "AWS_ENDPOINT_URL", "endpoint_url in the profile"),
        url,
    })
}

/// Where a configured endpoint came from: `variable` when it holds it, else the profile file.
fn source_of(url: &str, variable: &str, profile: &str) -> String {
    match std::env::var(variable) {
        Ok(value) if value == url => variable.to_string(),
        _ => profile.to_string(),
    }
}
