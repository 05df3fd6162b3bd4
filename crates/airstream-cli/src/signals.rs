//! SIGINT, SIGTERM and SIGHUP (Ctrl-C, systemd and supervisors, a closed terminal) end a
//! stream the clean way, also while it is being set up: the setup is cancelled or the handle
//! stops the stream, either way with TEARDOWN to every receiver that has a session, and
//! the command then exits with the shell's code for that signal (128 + its number), so a
//! script can tell an interrupted stream from one that played to the end.

use airstream::raop::StreamHandle;
use std::sync::{Arc, Mutex};
use tokio::signal::unix::{SignalKind, signal};

/// A signal that ended the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caught {
    Interrupt,
    Terminate,
    Hangup,
}

impl Caught {
    /// Its name, as `kill -l` prints it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Caught::Interrupt => "SIGINT",
            Caught::Terminate => "SIGTERM",
            Caught::Hangup => "SIGHUP",
        }
    }

    /// 128 + the signal's number, what a shell reports for a process it ended.
    pub(crate) fn exit_code(self) -> u8 {
        match self {
            Caught::Hangup => 129,
            Caught::Interrupt => 130,
            Caught::Terminate => 143,
        }
    }
}

/// The error a stream ended by a signal returns: it carries the exit code.
#[derive(Debug)]
pub(crate) struct Interrupted(pub(crate) Caught);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stopped by {}", self.0.name())
    }
}

impl std::error::Error for Interrupted {}

/// Watches for the three signals while it lives.
pub(crate) struct Watch {
    caught: Arc<Mutex<Option<Caught>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watch {
    /// The first signal caught, if any.
    pub(crate) fn caught(&self) -> Option<Caught> {
        self.caught.lock().map_or(None, |c| *c)
    }

    /// `Err(Interrupted)` when a signal stopped the stream, else `Ok`.
    pub(crate) fn check(&self) -> Result<(), Interrupted> {
        self.caught().map_or(Ok(()), |c| Err(Interrupted(c)))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// From now on the three signals call `on_signal` (once, for the first one) instead of
/// killing the process. Returns an error only if the signal handlers cannot be installed.
pub(crate) fn watch(on_signal: impl FnOnce() + Send + 'static) -> anyhow::Result<Watch> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let caught = Arc::new(Mutex::new(None));
    let record = Arc::clone(&caught);
    let task = tokio::spawn(async move {
        let which = tokio::select! {
            _ = interrupt.recv() => Caught::Interrupt,
            _ = terminate.recv() => Caught::Terminate,
            _ = hangup.recv() => Caught::Hangup,
        };
        tracing::info!("{} received: stopping the stream", which.name());
        if let Ok(mut slot) = record.lock() {
            *slot = Some(which);
        }
        on_signal();
        // Later signals are swallowed: the stop already under way ends the stream.
        loop {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
                _ = hangup.recv() => {}
            }
        }
    });
    Ok(Watch { caught, task })
}

/// What a signal asks of a stream that may still be setting up.
pub(crate) struct Stopper {
    fired: tokio::sync::watch::Receiver<bool>,
}

impl Stopper {
    /// Completes when a signal came: pass it to
    /// [`start_group_until`](airstream::raop::start_group_until) to cancel the setup.
    pub(crate) fn cancelled(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut fired = self.fired.clone();
        async move {
            if fired.wait_for(|f| *f).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// From now on (and at once, if a signal came already) a signal stops `handle`.
    pub(crate) fn stop_stream(&self, handle: &StreamHandle) {
        let handle = handle.clone();
        let stopped = self.cancelled();
        tokio::spawn(async move {
            stopped.await;
            handle.stop();
        });
    }
}

/// [`watch`] for a stream from before its setup: a signal during the setup cancels it
/// (TEARDOWN to every receiver that has a session), one after stops the stream (TEARDOWN to
/// every receiver) once [`Stopper::stop_stream`] was called.
pub(crate) fn stop_setup_or_stream() -> anyhow::Result<(Watch, Stopper)> {
    let (fire, fired) = tokio::sync::watch::channel(false);
    let watch = watch(move || {
        let _ = fire.send(true);
    })?;
    Ok((watch, Stopper { fired }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_128_plus_the_signal_number() {
        assert_eq!(Caught::Hangup.exit_code(), 128 + 1);
        assert_eq!(Caught::Interrupt.exit_code(), 128 + 2);
        assert_eq!(Caught::Terminate.exit_code(), 128 + 15);
        assert_eq!(
            Interrupted(Caught::Terminate).to_string(),
            "stopped by SIGTERM"
        );
    }
}
