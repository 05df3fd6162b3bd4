//! The one path the file server answers: `/<token>/<percent-encoded file name>`.
//!
//! Matching decodes the request's file-name segment and compares bytes with the real name,
//! so `..`, `%2e%2e`, `%2f` and extra segments can never reach anything else: there is no
//! path resolution at all, only "is this exactly our file".

/// Percent-encodes every byte outside RFC 3986's unreserved set (so spaces, `%`, `/`,
/// `?`, `#` and non-ASCII bytes are all safe in a URL path segment).
const HEX: &[u8; 16] = b"0123456789ABCDEF";

pub(crate) fn encode_segment(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    for &byte in name {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0F)]));
        }
    }
    out
}

/// Decodes `%XX` escapes; `None` for a malformed escape.
fn decode_segment(segment: &str) -> Option<Vec<u8>> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// True only for `/<token>/<name>` with exactly our token and a segment that decodes to
/// exactly our file name.
pub(crate) fn matches(request_path: &str, token: &str, name: &[u8]) -> bool {
    let Some(rest) = request_path.strip_prefix('/') else {
        return false;
    };
    let Some((first, second)) = rest.split_once('/') else {
        return false;
    };
    if !same_bytes(first.as_bytes(), token.as_bytes()) || second.contains('/') {
        return false;
    }
    decode_segment(second).is_some_and(|decoded| decoded == name)
}

/// Compares without an early exit, so response timing says nothing about the token.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn encodes_reserved_and_non_ascii_bytes() {
        assert_eq!(encode_segment(b"clip.mp4"), "clip.mp4");
        assert_eq!(
            encode_segment(b"my clip (1).mp4"),
            "my%20clip%20%281%29.mp4"
        );
        assert_eq!(
            encode_segment("é#?%/.m4v".as_bytes()),
            "%C3%A9%23%3F%25%2F.m4v"
        );
    }

    #[test]
    fn accepts_our_path_in_any_valid_encoding() {
        let name = b"my clip.mp4";
        assert!(matches(&format!("/{TOKEN}/my%20clip.mp4"), TOKEN, name));
        assert!(matches(&format!("/{TOKEN}/my%20clip%2emp4"), TOKEN, name));
    }

    #[test]
    fn refuses_everything_else() {
        let name = b"clip.mp4";
        let other_token = "0123456789abcdef0123456789abcdeX";
        for path in [
            "/".to_string(),
            format!("/{TOKEN}"),
            format!("/{TOKEN}/"),
            format!("/{TOKEN}/other.mp4"),
            format!("/{other_token}/clip.mp4"),
            format!("/{TOKEN}x/clip.mp4"),
            "/clip.mp4".to_string(),
            format!("//{TOKEN}/clip.mp4"),
            format!("/{TOKEN}/clip.mp4/"),
            format!("/{TOKEN}/clip.mp4/.."),
            format!("/{TOKEN}/../{TOKEN}/clip.mp4"),
            format!("/{TOKEN}/%2e%2e/{TOKEN}/clip.mp4"),
            format!("/{TOKEN}/..%2fclip.mp4"),
            format!("/{TOKEN}%2Fclip.mp4"),
            format!("/{TOKEN}/clip.mp4%00"),
            format!("/{TOKEN}/clip.mp%4"),
            format!("/{TOKEN}/clip.mp%zz"),
            format!("{TOKEN}/clip.mp4"),
        ] {
            assert!(!matches(&path, TOKEN, name), "{path}");
        }
        assert!(matches(&format!("/{TOKEN}/clip.mp4"), TOKEN, name));
    }
}
