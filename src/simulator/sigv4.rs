//! AWS Signature Version 4, the server side: parse the `Authorization` header and, when the
//! simulator knows the secret key, recompute the signature from the canonical request.

use hmac::{Hmac, Mac};
use hyper::http::request::Parts;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// Everything but SigV4's unreserved characters is percent-encoded.
const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// The same, keeping `/` (for paths).
const PATH: &AsciiSet = &STRICT.remove(b'/');

/// The parts of `Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
/// SignedHeaders=a;b, Signature=hex`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Authorization<'a> {
    pub access_key: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub signed_headers: &'a str,
    pub signature: &'a str,
}

impl<'a> Authorization<'a> {
    /// Parses the header; `None` unless it is a complete SigV4 header.
    pub fn parse(value: &'a str) -> Option<Self> {
        let rest = value.strip_prefix("AWS4-HMAC-SHA256")?;
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for item in rest.split(',') {
            let (key, val) = item.trim().split_once('=')?;
            match key {
                "Credential" => credential = Some(val),
                "SignedHeaders" => signed_headers = Some(val),
                "Signature" => signature = Some(val),
                _ => {}
            }
        }
        let mut scope = credential?.split('/');
        let auth = Authorization {
            access_key: scope.next()?,
            date: scope.next()?,
            region: scope.next()?,
            service: scope.next()?,
            signed_headers: signed_headers?,
            signature: signature?,
        };
        (scope.next()? == "aws4_request" && scope.next().is_none()).then_some(auth)
    }

    /// Whether the signature matches the request signed with `secret`.
    pub fn verify(&self, parts: &Parts, body: &[u8], secret: &str) -> bool {
        let Some(canonical) = canonical_request(parts, body, self.signed_headers) else {
            return false;
        };
        let Some(amz_date) = parts
            .headers
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let scope = format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        );
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let mut key = hmac(format!("AWS4{secret}").as_bytes(), self.date.as_bytes());
        for part in [self.region, self.service, "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));
        // Constant-time comparison is moot for a local simulator, but cheap.
        expected.len() == self.signature.len()
            && expected
                .bytes()
                .zip(self.signature.bytes())
                .fold(0, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The canonical request of SigV4 for services other than S3: the path as sent, encoded once
/// more; query pairs decoded, re-encoded and sorted; the signed headers, trimmed.
pub(crate) fn canonical_request(
    parts: &Parts,
    body: &[u8],
    signed_headers: &str,
) -> Option<String> {
    let path = parts.uri.path();
    let path = if path.is_empty() { "/" } else { path };
    let mut query: Vec<(String, String)> =
        url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .map(|(k, v)| {
                (
                    utf8_percent_encode(&k, STRICT).to_string(),
                    utf8_percent_encode(&v, STRICT).to_string(),
                )
            })
            .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers = String::new();
    for name in signed_headers.split(';') {
        let mut values = Vec::new();
        for value in parts.headers.get_all(name) {
            values.push(
                value
                    .to_str()
                    .ok()?
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            );
        }
        if values.is_empty() {
            return None;
        }
        headers.push_str(name);
        headers.push(':');
        headers.push_str(&values.join(","));
        headers.push('\n');
    }
    let payload = match parts.headers.get("x-amz-content-sha256") {
        Some(v) => v.to_str().ok()?.to_string(),
        None => hex::encode(Sha256::digest(body)),
    };
    Some(format!(
        "{}\n{}\n{query}\n{headers}\n{signed_headers}\n{payload}",
        parts.method,
        utf8_percent_encode(path, PATH)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_sigv4_header() {
        let h = "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/chime/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=abcd";
        let a = Authorization::parse(h).unwrap();
        assert_eq!(
            (a.access_key, a.service, a.signed_headers),
            ("AKID", "chime", "host;x-amz-date")
        );
        assert!(Authorization::parse("Basic dXNlcjpwYXNz").is_none());
        assert!(Authorization::parse("AWS4-HMAC-SHA256 Credential=AKID/x, Signature=a").is_none());
    }

    /// The `get-vanilla-query-order-key-case` case of the AWS SigV4 test suite.
    #[test]
    fn verifies_the_aws_test_suite_example() {
        let req = hyper::Request::builder()
            .method("GET")
            .uri("/?Param2=value2&Param1=value1")
            .header("host", "example.amazonaws.com")
            .header("x-amz-date", "20150830T123600Z")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let header =
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                      SignedHeaders=host;x-amz-date, \
                      Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500";
        let auth = Authorization::parse(header).unwrap();
        assert!(auth.verify(&parts, b"", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"));
        assert!(!auth.verify(&parts, b"", "wrong"));
    }
}
