//! `application/x-www-form-urlencoded` request bodies of the OAuth endpoints,
//! parsed strictly: RFC 6749 §3.2 requires that content type, §3.1 forbids
//! repeated parameters and treats empty ones as omitted.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use percent_encoding::percent_decode;

use crate::error::OAuthError;

/// Largest body an OAuth form endpoint reads.
pub const MAX_BODY: usize = 64 * 1024;
/// Longest single parameter value (a JWT subject token fits easily).
const MAX_VALUE: usize = 16 * 1024;

/// The decoded parameters of a form body, in order.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Decodes a form body; every name and value must be UTF-8.
    pub fn parse(body: &[u8]) -> Result<Params, OAuthError> {
        let mut params = Vec::new();
        for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(eq) => (
                    pair.get(..eq).unwrap_or_default(),
                    pair.get(eq + 1..).unwrap_or_default(),
                ),
                None => (pair, &b""[..]),
            };
            let name = decode(name)?;
            let value = decode(value)?;
            if value.len() > MAX_VALUE {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {name} is too long"
                )));
            }
            // §3.1: "Parameters sent without a value MUST be treated as if
            // they were omitted from the request."
            if !value.is_empty() {
                params.push((name, value));
            }
        }
        Ok(Params(params))
    }

    /// The single value of `name`. §3.1: "Request and response parameters
    /// MUST NOT be included more than once."
    pub fn one(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut values = self.all(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(OAuthError::invalid_request(format!(
                "parameter {name} is repeated"
            )));
        }
        Ok(first)
    }

    pub fn required(&self, name: &str) -> Result<&str, OAuthError> {
        self.one(name)?
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {name}")))
    }

    /// Parameters already decoded (e.g. parked earlier), empty values dropped.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Params {
        Params(pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect())
    }

    /// Every parameter, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Every value of a parameter that may repeat (e.g. `resource`, RFC 8707 §2).
    pub fn all<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.0
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn decode(raw: &[u8]) -> Result<String, OAuthError> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| OAuthError::invalid_request("request body is not valid UTF-8"))
}

/// OAuth requests are `application/x-www-form-urlencoded` (RFC 6749 §3.2).
pub fn check_content_type(headers: &HeaderMap) -> Result<(), OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if content_type.as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "content type must be application/x-www-form-urlencoded",
        ));
    }
    Ok(())
}

/// The form in the body of `req`, within the body limit.
pub async fn read(req: Request) -> Result<Params, OAuthError> {
    let body = Bytes::from_request(req, &()).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            OAuthError::too_large()
        } else {
            OAuthError::invalid_request("could not read the request body")
        }
    })?;
    Params::parse(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_and_percent_and_drops_empty_values() {
        let p = Params::parse(b"a=1+2&b=%C3%A9&c=&d&resource=x&resource=y").unwrap();
        assert_eq!(p.one("a").unwrap(), Some("1 2"));
        assert_eq!(p.one("b").unwrap(), Some("\u{e9}"));
        assert_eq!(p.one("c").unwrap(), None);
        assert_eq!(p.one("d").unwrap(), None);
        assert_eq!(p.all("resource").collect::<Vec<_>>(), ["x", "y"]);
        assert!(p.one("resource").is_err());
    }

    #[test]
    fn rejects_non_utf8() {
        assert!(Params::parse(b"a=%FF").is_err());
        assert!(Params::parse(b"a=\xff").is_err());
    }
}
