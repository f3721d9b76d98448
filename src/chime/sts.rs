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

/// The endpoint configured for `service`, or `None` for the service's default: the same
/// precedence as the SDK's own (the flag; then `AWS_ENDPOINT_URL_<SERVICE>` or the profile's
/// `[services]` entry; then `AWS_ENDPOINT_URL` or the profile's `endpoint_url`).
pub fn configured_endpoint(shared: &SdkConfig, service: Service) -> Option<String> {
    let global = shared.endpoint_url().map(str::to_string);
    if shared.get_origin("endpoint_url").is_client_config() {
        return global;
    }
    let key = ServiceConfigKey::builder()
        .service_id(service.id())
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .expect("every field of the key is set");
    shared
        .service_config()
        .and_then(|config| config.load_config(key))
        .or(global)
}
