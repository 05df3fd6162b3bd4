//! HTTP Digest authentication (MD5, no qop) as password-protected RAOP receivers use it:
//! HA1 = MD5(user:realm:password), HA2 = MD5(method:uri), response = MD5(HA1:nonce:HA2).

use md5::{Digest, Md5};
use std::fmt;

/// Username iTunes sends; receivers accept any, and shairport-sync recomputes with it.
pub const DEFAULT_USERNAME: &str = "iTunes";

/// The receiver's `WWW-Authenticate: Digest realm="…", nonce="…"` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Protection space named by the receiver; part of HA1.
    pub realm: String,
    /// One-time value to hash into the response.
    pub nonce: String,
}

impl Challenge {
    /// Parses quoted or bare `key=value` pairs in any order; extra parameters (`qop`,
    /// `opaque`, `algorithm`) are ignored. `None` if this is not a Digest challenge.
    pub fn parse(header: &str) -> Option<Self> {
        let rest = header.trim();
        let (scheme, params) = rest.split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let mut realm = None;
        let mut nonce = None;
        for (key, value) in split_params(params) {
            match key.to_ascii_lowercase().as_str() {
                "realm" => realm = Some(value),
                "nonce" => nonce = Some(value),
                _ => {}
            }
        }
        Some(Challenge {
            realm: realm?,
            nonce: nonce?,
        })
    }

    /// `Authorization` header value for one request.
    pub fn authorization(
        &self,
        credentials: &DigestCredentials,
        method: &str,
        uri: &str,
    ) -> String {
        let response = response(
            &credentials.username,
            &self.realm,
            &credentials.password,
            method,
            uri,
            &self.nonce,
            credentials.uppercase_hex,
        );
        format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\"",
            credentials.username, self.realm, self.nonce, uri, response
        )
    }
}

/// Username and password for a receiver; `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DigestCredentials {
    /// User name; receivers ignore it but hash it in.
    pub username: String,
    /// The receiver's password.
    pub password: String,
    /// Gen-1 AirPort Express wants upper-case hex digests.
    pub uppercase_hex: bool,
}

impl DigestCredentials {
    /// Credentials with iTunes' user name and lower-case hex digests.
    pub fn new(password: impl Into<String>) -> Self {
        Self {
            username: DEFAULT_USERNAME.to_string(),
            password: password.into(),
            uppercase_hex: false,
        }
    }
}

impl fmt::Debug for DigestCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("uppercase_hex", &self.uppercase_hex)
            .finish()
    }
}

fn md5_hex(input: &str, uppercase: bool) -> String {
    let digest = Md5::digest(input.as_bytes());
    if uppercase {
        hex::encode_upper(digest)
    } else {
        hex::encode(digest)
    }
}

/// The digest `response` value.
pub fn response(
    username: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    uppercase_hex: bool,
) -> String {
    let ha1 = md5_hex(&format!("{username}:{realm}:{password}"), uppercase_hex);
    let ha2 = md5_hex(&format!("{method}:{uri}"), uppercase_hex);
    md5_hex(&format!("{ha1}:{nonce}:{ha2}"), uppercase_hex)
}

/// Receiver side: does this `Authorization` header prove knowledge of `password`?
/// Accepts either hex case, as receivers do.
pub fn verify(authorization: &str, method: &str, realm: &str, nonce: &str, password: &str) -> bool {
    let Some(params) = authorization
        .trim()
        .strip_prefix("Digest")
        .or_else(|| authorization.trim().strip_prefix("digest"))
    else {
        return false;
    };
    let mut username = None;
    let mut uri = None;
    let mut given = None;
    let mut given_nonce = None;
    for (key, value) in split_params(params) {
        match key.to_ascii_lowercase().as_str() {
            "username" => username = Some(value),
            "uri" => uri = Some(value),
            "response" => given = Some(value),
            "nonce" => given_nonce = Some(value),
            _ => {}
        }
    }
    let (Some(username), Some(uri), Some(given)) = (username, uri, given) else {
        return false;
    };
    if given_nonce.as_deref().is_some_and(|n| n != nonce) {
        return false;
    }
    [false, true]
        .into_iter()
        .any(|upper| response(&username, realm, password, method, &uri, nonce, upper) == given)
}

/// Splits `a="x, y", b=z` into pairs, honouring quotes.
fn split_params(params: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = params.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let after = after.trim_start();
        let (value, remainder) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (quoted[..end].to_string(), &quoted[end + 1..]),
                None => (quoted.to_string(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_string(), &after[end..]),
                None => (after.trim().to_string(), ""),
            }
        };
        out.push((key, value));
        rest = remainder.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_known_answer() {
        // Reference values computed with Python's hashlib for these inputs.
        assert_eq!(
            response(
                "iTunes",
                "raop",
                "secret",
                "ANNOUNCE",
                "rtsp://127.0.0.1/1234",
                "dGVzdG5vbmNl",
                false
            ),
            "94e8d9455b0334eb613db7761d4b9a95"
        );
        assert_eq!(
            response(
                "iTunes",
                "raop",
                "secret",
                "ANNOUNCE",
                "rtsp://127.0.0.1/1234",
                "dGVzdG5vbmNl",
                true
            ),
            "859A44CB4D3DBD47C529E45FB6D1F6A8"
        );
    }

    #[test]
    fn parses_challenges_in_any_order() {
        let expected = Challenge {
            realm: "raop".into(),
            nonce: "dGVzdG5vbmNl".into(),
        };
        for header in [
            r#"Digest realm="raop", nonce="dGVzdG5vbmNl""#,
            r#"Digest nonce="dGVzdG5vbmNl", realm="raop""#,
            r#"digest qop="auth", nonce="dGVzdG5vbmNl",opaque="x, y", realm=raop"#,
        ] {
            assert_eq!(Challenge::parse(header), Some(expected.clone()), "{header}");
        }
        assert_eq!(Challenge::parse(r#"Basic realm="raop""#), None);
        assert_eq!(Challenge::parse(r#"Digest realm="raop""#), None);
        assert_eq!(Challenge::parse("Digest"), None);
    }

    #[test]
    fn authorization_header_and_verification() {
        let challenge = Challenge {
            realm: "raop".into(),
            nonce: "dGVzdG5vbmNl".into(),
        };
        let creds = DigestCredentials::new("secret");
        let header = challenge.authorization(&creds, "ANNOUNCE", "rtsp://127.0.0.1/1234");
        assert_eq!(
            header,
            "Digest username=\"iTunes\", realm=\"raop\", nonce=\"dGVzdG5vbmNl\", \
             uri=\"rtsp://127.0.0.1/1234\", response=\"94e8d9455b0334eb613db7761d4b9a95\""
        );
        assert!(verify(
            &header,
            "ANNOUNCE",
            "raop",
            "dGVzdG5vbmNl",
            "secret"
        ));
        assert!(!verify(
            &header,
            "ANNOUNCE",
            "raop",
            "dGVzdG5vbmNl",
            "wrong"
        ));
        assert!(!verify(&header, "SETUP", "raop", "dGVzdG5vbmNl", "secret"));
        assert!(!verify(&header, "ANNOUNCE", "raop", "othernonce", "secret"));
        assert!(!verify(
            "Basic abc",
            "ANNOUNCE",
            "raop",
            "dGVzdG5vbmNl",
            "secret"
        ));
        let upper = DigestCredentials {
            uppercase_hex: true,
            ..creds.clone()
        };
        let header = challenge.authorization(&upper, "ANNOUNCE", "rtsp://127.0.0.1/1234");
        assert!(header.contains("859A44CB4D3DBD47C529E45FB6D1F6A8"));
        assert!(verify(
            &header,
            "ANNOUNCE",
            "raop",
            "dGVzdG5vbmNl",
            "secret"
        ));
    }

    #[test]
    fn debug_hides_password() {
        let shown = format!("{:?}", DigestCredentials::new("hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
