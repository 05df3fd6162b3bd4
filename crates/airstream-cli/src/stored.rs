//! Which pairing credentials a command uses: `--credentials` if given (legacy `ID:KEY`, or
//! HAP `LTPK:LTSK:DEVICE_ID:CLIENT_ID` where AirPlay 2 sessions are run), else those
//! `airstream pair` stored for the device.

use crate::target::Target;
use airstream::credentials::CredentialStore;
use airstream::hap::HapCredentials;
use airstream::pairing::Credentials;

/// `--credentials` of either kind.
pub(crate) enum FlagCredentials {
    Legacy(Credentials),
    Hap(HapCredentials),
}

/// Parses `--credentials` of either kind (four parts: HAP, two: legacy). The message never
/// repeats the value.
pub(crate) fn parse_any_flag(value: &str) -> Result<FlagCredentials, airstream::Error> {
    if value.trim().split(':').count() == 4 {
        return value
            .parse()
            .map(FlagCredentials::Hap)
            .map_err(|e| airstream::Error::InvalidInput(format!("--credentials: {e}")));
    }
    parse_flag(value).map(FlagCredentials::Legacy)
}

/// Parses legacy `--credentials`; the message never repeats the value (it holds the key).
/// HAP credentials (`LTPK:LTSK:DEVICE_ID:CLIENT_ID`) are recognised and refused by name:
/// `stream` and `pair` take legacy ones only.
pub(crate) fn parse_flag(value: &str) -> Result<Credentials, airstream::Error> {
    if value.trim().split(':').count() == 4 {
        return Err(match value.parse::<airstream::hap::HapCredentials>() {
            Ok(_) => airstream::Error::Unsupported(
                "--credentials: these are AirPlay 2 (HAP) credentials; this command takes \
                 legacy ID:KEY credentials only"
                    .into(),
            ),
            Err(e) => airstream::Error::InvalidInput(format!("--credentials: {e}")),
        });
    }
    value
        .parse()
        .map_err(|e| airstream::Error::InvalidInput(format!("--credentials: {e}")))
}

/// The stored HAP credentials for `target`, if any (a broken store only costs a warning,
/// as in [`lookup`]).
pub(crate) fn lookup_hap(target: &Target) -> Option<HapCredentials> {
    let store = CredentialStore::open_default().ok()?;
    for key in target.store_keys() {
        match store.get_hap(&key) {
            Ok(Some(entry)) => {
                tracing::info!(device = %key, credentials = ?entry.credentials,
                    "using stored HAP credentials");
                return Some(entry.credentials);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("ignoring the credential store: {e}");
                return None;
            }
        }
    }
    None
}

/// The stored credentials for `target`, if any. A store that cannot be read only costs a
/// warning: most devices need no pairing, and a broken store must not stop them playing.
pub(crate) fn lookup(target: &Target) -> Option<Credentials> {
    let store = match CredentialStore::open_default() {
        Ok(store) => store,
        Err(e) => {
            tracing::debug!("no credential store: {e}");
            return None;
        }
    };
    for key in target.store_keys() {
        match store.get(&key) {
            Ok(Some(entry)) => {
                tracing::info!(device = %key, credentials = %entry.credentials,
                    "using stored credentials");
                return Some(entry.credentials);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("ignoring the credential store: {e}");
                return None;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hap_credentials_are_named_and_never_echoed() {
        let hap = format!(
            "{}:{}:{}:{}",
            "ab".repeat(32),
            "cd".repeat(32),
            "30613a3162", // "0a:1b"
            "4331"        // "C1"
        );
        let err = parse_flag(&hap).unwrap_err();
        assert_eq!(err.kind(), airstream::ErrorKind::Unsupported);
        assert!(err.to_string().contains("AirPlay 2 (HAP)"), "{err}");
        assert!(!err.to_string().contains(&"cd".repeat(32)), "{err}");

        let broken = hap.replacen("cd", "zz", 1);
        let err = parse_flag(&broken).unwrap_err();
        assert_eq!(err.kind(), airstream::ErrorKind::Input);
        assert!(!err.to_string().contains("zzcd"), "{err}");

        let legacy = format!("0011223344556677:{}", "EF".repeat(32));
        assert!(parse_flag(&legacy).is_ok());
    }
}
