//! The config file: defaults for what the command line leaves out. It lives next to the
//! credential store, `config.toml` in `$AIRSTREAM_CONFIG_DIR` or `~/.config/airstream/`.
//! Flags (and their environment variables) always win over it.
//!
//! ```toml
//! device = ["Kitchen", "Living Room"]   # or one name: device = "Kitchen"
//! address = ["192.168.1.40:5000"]
//! latency = 2000                        # milliseconds
//! codec = "alac"                        # alac, alac-raw or pcm
//! password_command = "pass show airplay"  # its first line of output is the password
//! ```

use crate::stream::CodecArg;
use airstream::credentials::CredentialStore;
use clap::ValueEnum;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where `--help` says the file is.
pub(crate) const LOCATION: &str =
    "$AIRSTREAM_CONFIG_DIR/config.toml, else ~/.config/airstream/config.toml";

pub(crate) fn path_for_help() -> &'static str {
    LOCATION
}

/// What the file may set; every key is optional.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// Receivers to use when neither --device nor --address is given.
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) device: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) address: Vec<String>,
    /// Milliseconds, as `--latency`.
    pub(crate) latency: Option<u64>,
    /// As `--codec`.
    pub(crate) codec: Option<String>,
    /// A shell command whose first line of output is the receivers' password.
    pub(crate) password_command: Option<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// The file's path, when there is a config directory at all.
pub(crate) fn path() -> Option<PathBuf> {
    CredentialStore::open_default()
        .ok()
        .map(|store| store.dir().join("config.toml"))
}

impl Config {
    /// The config file, or the defaults when there is none.
    pub(crate) fn load() -> Result<Self, airstream::Error> {
        match path() {
            Some(path) => Self::load_from(&path),
            None => Ok(Self::default()),
        }
    }

    pub(crate) fn load_from(path: &Path) -> Result<Self, airstream::Error> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(invalid(path, &e.to_string())),
        };
        let config: Self = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .and_then(|span| text.get(..span.start))
                .map(|before| before.matches('\n').count() + 1);
            let detail = e.message().trim().replace('\n', " ");
            match line {
                Some(line) => invalid(path, &format!("line {line}: {detail}")),
                None => invalid(path, &detail),
            }
        })?;
        config.codec()?;
        if config
            .latency
            .is_some_and(|ms| !(250..=10_000).contains(&ms))
        {
            return Err(invalid(path, "latency must be 250 to 10000 milliseconds"));
        }
        Ok(config)
    }

    /// `codec`, checked against the values `--codec` takes.
    pub(crate) fn codec(&self) -> Result<Option<CodecArg>, airstream::Error> {
        self.codec
            .as_deref()
            .map(|name| {
                CodecArg::from_str(name, true).map_err(|_| {
                    airstream::Error::InvalidInput(format!(
                        "config file: codec must be alac, alac-raw or pcm, not {name:?}"
                    ))
                })
            })
            .transpose()
    }

    /// Runs `password_command` and returns the first line it prints. Its output is a secret:
    /// it goes into no message.
    pub(crate) fn password(&self) -> Result<Option<String>, airstream::Error> {
        let Some(command) = &self.password_command else {
            return Ok(None);
        };
        let failed = |detail: String| {
            airstream::Error::InvalidInput(format!(
                "config file: password_command {command:?} {detail}"
            ))
        };
        let output = std::process::Command::new("sh")
            .args(["-c", command])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| failed(format!("cannot run: {e}")))?;
        if !output.status.success() {
            return Err(failed(format!("failed ({})", output.status)));
        }
        let stdout = String::from_utf8(output.stdout)
            .map_err(|_| failed("printed something that is not UTF-8".into()))?;
        match stdout.lines().next() {
            Some(line) if !line.is_empty() => Ok(Some(line.to_string())),
            _ => Err(failed("printed no password".into())),
        }
    }
}

fn invalid(path: &Path, detail: &str) -> airstream::Error {
    airstream::Error::InvalidInput(format!("config file {}: {detail}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, airstream::Error> {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).expect("write");
        Config::load_from(&path)
    }

    #[test]
    fn every_key_is_optional_and_a_missing_file_is_no_config() {
        assert_eq!(load("").expect("empty"), Config::default());
        let dir = tempfile::tempdir().expect("dir");
        assert_eq!(
            Config::load_from(&dir.path().join("none.toml")).expect("missing"),
            Config::default()
        );
    }

    #[test]
    fn devices_latency_codec_and_password_command() {
        let config = load(
            "device = \"Kitchen\"\naddress = [\"127.0.0.1:5000\", \"[::1]:7000\"]\n\
             latency = 500\ncodec = \"alac-raw\"\npassword_command = \"echo s3cret; echo more\"\n",
        )
        .expect("config");
        assert_eq!(config.device, ["Kitchen"]);
        assert_eq!(config.address, ["127.0.0.1:5000", "[::1]:7000"]);
        assert_eq!(config.latency, Some(500));
        assert!(matches!(
            config.codec(),
            Ok(Some(CodecArg(airstream::raop::Codec::AlacRaw)))
        ));
        assert_eq!(
            config.password().expect("password").as_deref(),
            Some("s3cret")
        );
    }

    #[test]
    fn mistakes_are_input_errors_that_name_the_line() {
        for (text, expected) in [
            ("device = [\"a\"]\nlatensy = 3\n", "line 2"),
            ("codec = \"mp3\"\n", "codec must be alac, alac-raw or pcm"),
            ("latency = 100\n", "latency must be 250 to 10000"),
            ("device = \n", "line 1"),
        ] {
            let err = load(text).expect_err(text);
            assert_eq!(err.kind(), airstream::ErrorKind::Input, "{text}");
            let message = err.to_string();
            assert!(message.contains(expected), "{text}: {message}");
            assert!(!message.contains('\n'), "one line: {message}");
        }
        let config = load("password_command = \"exit 3\"\n").expect("config");
        let err = config.password().expect_err("failing command");
        assert_eq!(err.kind(), airstream::ErrorKind::Input);
    }
}
