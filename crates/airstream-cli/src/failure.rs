//! How a failed command ends: one line on stderr naming each distinct cause once, advice
//! for what to do next (the library's errors carry none: which flag or command to use is the
//! CLI's business), and the exit code of the error's kind. A closed stdout (`| head`) ends the
//! program quietly.

use crate::exit;
use airstream::credentials::StoreError;
use airstream::{Error, ErrorKind};
use std::io::Write;

/// Advice from the command that failed, shown after the causes: it knows the device and how
/// the user named it. Attach it with `anyhow::Error::context(Advice(..))`.
#[derive(Debug)]
pub(crate) struct Advice(pub(crate) String);

impl std::fmt::Display for Advice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The one line to print: each cause in the chain whose text an earlier one does not already
/// contain, joined by `: `, then the advice.
pub(crate) fn message(error: &anyhow::Error) -> String {
    let mut causes: Vec<String> = Vec::new();
    let advice = error.downcast_ref::<Advice>().map(|a| a.0.clone());
    for cause in error.chain() {
        let text = cause.to_string().replace(['\r', '\n'], " ");
        let text = text.trim();
        if advice.as_deref() == Some(text) {
            continue;
        }
        if !text.is_empty() && !causes.iter().any(|c| c.contains(text)) {
            causes.push(text.to_string());
        }
    }
    let advice = advice.or_else(|| airstream_error(error).and_then(advice_for));
    let mut line = causes.join(": ");
    if let Some(advice) = advice {
        line.push_str(": ");
        line.push_str(&advice);
    }
    line
}

/// What to do about an error of the library, where the error alone tells.
fn advice_for(error: &Error) -> Option<String> {
    match error {
        Error::PairingRequired { command, .. } => Some(format!("run `{command}`")),
        Error::CredentialsRejected { command, .. } => Some(format!("pair again: `{command}`")),
        Error::PasswordRequired { .. } => {
            Some("give it with --password or AIRSTREAM_PASSWORD".to_string())
        }
        Error::BadPin => Some("run `airstream pair` again".to_string()),
        _ if error.kind() == ErrorKind::Internal => {
            Some("this is a bug in airstream; please report it".to_string())
        }
        _ => None,
    }
}

fn airstream_error(error: &anyhow::Error) -> Option<&Error> {
    error.chain().find_map(|e| e.downcast_ref::<Error>())
}

/// The reader of our stdout went away (`airstream scan --json | head -1`): not a failure
/// worth a word. A broken pipe to a receiver is a network error and does not count.
pub(crate) fn is_closed_stdout(error: &anyhow::Error) -> bool {
    airstream_error(error).is_none()
        && error.chain().any(|e| {
            let kind = e
                .downcast_ref::<std::io::Error>()
                .map(std::io::Error::kind)
                // serde_json keeps the io::Error out of the chain.
                .or_else(|| e.downcast_ref::<serde_json::Error>()?.io_error_kind());
            kind == Some(std::io::ErrorKind::BrokenPipe)
        })
}

/// The exit code for `error`: its kind's; a credential store that cannot be used is an
/// unusable file (or a timeout, when another process holds it); anything else is
/// [`exit::INTERNAL`].
pub(crate) fn exit_code(error: &anyhow::Error) -> u8 {
    if let Some(crate::signals::Interrupted(signal)) = error
        .chain()
        .find_map(|e| e.downcast_ref::<crate::signals::Interrupted>())
    {
        return signal.exit_code();
    }
    if let Some(e) = airstream_error(error) {
        return exit::for_kind(e.kind());
    }
    match error.chain().find_map(|e| e.downcast_ref::<StoreError>()) {
        Some(StoreError::Locked { .. }) => exit::for_kind(ErrorKind::Timeout),
        Some(_) => exit::for_kind(ErrorKind::Input),
        None => exit::INTERNAL,
    }
}

/// One line for the user on stderr, `airstream: ` first; a closed stderr is no reason to
/// stop (or panic, as `eprintln!` would).
pub(crate) fn note(text: &str) {
    let _ = writeln!(std::io::stderr(), "airstream: {text}");
}

/// Prints the failure (when there is anything to say) and returns the exit code.
pub(crate) fn report(error: &anyhow::Error) -> u8 {
    if is_closed_stdout(error) {
        return 0;
    }
    // stderr may be the closed pipe too (`2>&1 | head`): nothing to do about that.
    note(&message(error));
    exit_code(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let error: anyhow::Error = Error::Network {
            context: "cannot connect to 127.0.0.1:5999".into(),
            source: io,
        }
        .into();
        assert_eq!(message(&error), "cannot connect to 127.0.0.1:5999: refused");
        // A cause whose text repeats inside its parent's text is not printed again.
        let inner = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let error = anyhow::Error::new(inner).context("cannot read x.jpg: no such file");
        assert_eq!(message(&error), "cannot read x.jpg: no such file");
        assert_eq!(exit_code(&error), exit::INTERNAL);
    }

    #[test]
    fn advice_comes_from_the_cli_after_the_causes() {
        let error: anyhow::Error = Error::PairingRequired {
            device: "tv".into(),
            command: "airstream pair --device AA".into(),
        }
        .into();
        assert_eq!(
            message(&error),
            "tv needs pairing: run `airstream pair --device AA`"
        );
        assert_eq!(exit_code(&error), 15);
        let error = error.context(Advice("pair it first".into()));
        assert_eq!(message(&error), "tv needs pairing: pair it first");
        let error: anyhow::Error = Error::internal("the stream task failed", "it panicked").into();
        assert_eq!(
            message(&error),
            "the stream task failed: it panicked: this is a bug in airstream; please report it"
        );
        assert_eq!(exit_code(&error), exit::INTERNAL);
    }

    #[test]
    fn an_unusable_credential_store_is_an_input_error() {
        let corrupt: anyhow::Error = StoreError::Corrupt {
            path: "credentials.json".into(),
            detail: "expected value at line 1".into(),
        }
        .into();
        assert_eq!(exit_code(&corrupt), 18);
        let locked: anyhow::Error = StoreError::Locked {
            path: "credentials.json".into(),
        }
        .into();
        assert_eq!(exit_code(&locked), 11);
    }

    #[test]
    fn only_a_broken_pipe_outside_the_library_is_a_closed_stdout() {
        let pipe = || std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(is_closed_stdout(&anyhow::Error::new(pipe())));
        let to_receiver: anyhow::Error = Error::Network {
            context: "sending audio".into(),
            source: pipe(),
        }
        .into();
        assert!(!is_closed_stdout(&to_receiver));
    }
}
