//! STS GetCallerIdentity on the simulator's endpoint (AWS query protocol: `POST /`, a form body,
//! signed for `sts`, answered in XML): who the caller is, from `--caller-arn` and the access key
//! id the request was signed with.

use hyper::http::StatusCode;
use sha2::{Digest, Sha256};

use super::errors::{xml_escape, Reply, STS_NAMESPACE};

/// The ARN `--caller-arn` defaults to.
pub const DEFAULT_CALLER_ARN: &str = "arn:aws:iam::123456789012:user/simulator";

/// The identity every caller has: an ARN and the 12-digit account it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallerIdentity {
    pub arn: String,
    pub account: String,
}

impl CallerIdentity {
    /// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` with a 12-digit account and a resource.
    pub fn parse(arn: &str) -> Result<Self, String> {
        let fields: Vec<&str> = arn.splitn(6, ':').collect();
        match fields[..] {
            ["arn", partition, service, _, account, resource]
                if !partition.is_empty()
                    && !service.is_empty()
                    && account.len() == 12
                    && account.bytes().all(|b| b.is_ascii_digit())
                    && !resource.is_empty() =>
            {
                Ok(CallerIdentity {
                    arn: arn.to_string(),
                    account: account.to_string(),
                })
            }
            _ => Err(format!(
                "{arn:?} is not an ARN with a 12-digit account \
                 (arn:aws:iam::123456789012:user/NAME)"
            )),
        }
    }

    /// The answer to GetCallerIdentity signed with `access_key`.
    pub fn reply(&self, access_key: &str, request_id: &str) -> Reply {
        Reply::xml(
            StatusCode::OK,
            format!(
                "<GetCallerIdentityResponse xmlns=\"{STS_NAMESPACE}\">\n  \
                 <GetCallerIdentityResult>\n    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    \
                 <Account>{}</Account>\n  </GetCallerIdentityResult>\n  \
                 <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n\
                 </GetCallerIdentityResponse>\n",
                xml_escape(&self.arn),
                user_id(access_key),
                self.account,
                xml_escape(request_id)
            ),
        )
    }
}

/// An IAM user's unique id as STS shows it, derived from the access key id: `AIDA` and 17
/// uppercase hex digits of its SHA-256 (21 characters, like a real one).
pub fn user_id(access_key: &str) -> String {
    let digest = hex::encode_upper(Sha256::digest(access_key.as_bytes()));
    format!("AIDA{}", &digest[..17])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_their_account() {
        let identity = CallerIdentity::parse(DEFAULT_CALLER_ARN).unwrap();
        assert_eq!(identity.account, "123456789012");
        let role =
            CallerIdentity::parse("arn:aws:sts::210987654321:assumed-role/Ops/alice").unwrap();
        assert_eq!(role.account, "210987654321");
        for bad in [
            "",
            "arn:aws:iam::12345:user/x",
            "arn:aws:iam::123456789012:",
            "urn:aws:iam::123456789012:user/x",
        ] {
            assert!(CallerIdentity::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn user_ids_are_stable_and_shaped_like_aws() {
        let id = user_id("AKIDSIMULATOR");
        assert_eq!(id, user_id("AKIDSIMULATOR"));
        assert_ne!(id, user_id("AKIDOTHER"));
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("AIDA"));
        assert!(id[4..]
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
    }
}
