//! What to play: a URL the device fetches itself, or a local file we serve to it.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// What `play_url` asks a device to play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Media {
    /// An `http` or `https` URL, passed to the device as is.
    Url(String),
    /// A readable local file, served by the one-file web server.
    File(PathBuf),
}

impl Media {
    /// An existing path is a file (as in pyatv); otherwise the argument must be an http(s) URL.
    pub fn from_arg(arg: &str) -> Result<Self> {
        let path = Path::new(arg);
        if path.exists() {
            return Ok(Media::File(path.to_path_buf()));
        }
        match url_scheme(arg) {
            Some(scheme)
                if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") =>
            {
                Ok(Media::Url(arg.to_string()))
            }
            Some(scheme) => Err(Error::InvalidInput(format!(
                "cannot play {arg}: an Apple TV fetches only http and https URLs, not {scheme}"
            ))),
            None => Err(Error::InvalidInput(format!(
                "cannot read {arg}: no such file (and it is not an http(s) URL)"
            ))),
        }
    }

    /// A warning worth showing before playing, if any.
    pub fn warning(&self) -> Option<String> {
        match self {
            Media::Url(url) if url_scheme(url).is_some_and(|s| s.eq_ignore_ascii_case("https")) => {
                Some(format!(
                    "{url} is https: an Apple TV refuses certificates it does not trust \
                     (self-signed or private CAs), and then never starts playing"
                ))
            }
            _ => None,
        }
    }
}

/// The scheme of `scheme://rest`, if the text has that shape.
fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once("://")?;
    let valid = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_files_and_garbage() {
        assert_eq!(
            Media::from_arg("http://10.0.0.2/a.mp4").unwrap(),
            Media::Url("http://10.0.0.2/a.mp4".into())
        );
        assert_eq!(
            Media::from_arg("HTTPS://host/a.mp4").unwrap(),
            Media::Url("HTTPS://host/a.mp4".into())
        );
        let file = tempfile::NamedTempFile::new().unwrap();
        let path = file.path().to_str().unwrap();
        assert_eq!(
            Media::from_arg(path).unwrap(),
            Media::File(file.path().into())
        );

        let err = Media::from_arg("ftp://host/a.mp4").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Input);
        assert!(err.to_string().contains("ftp"), "{err}");
        let err = Media::from_arg("/no/such/file.mp4").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Input);
        assert!(err.to_string().contains("/no/such/file.mp4"), "{err}");
    }

    #[test]
    fn only_https_warns() {
        assert!(Media::Url("https://x/a.mp4".into()).warning().is_some());
        assert!(Media::Url("http://x/a.mp4".into()).warning().is_none());
        assert!(Media::File("a.mp4".into()).warning().is_none());
    }
}
