//! Setting up that the caller can cancel (a signal before the stream runs): every handshake
//! stops where it is, and each receiver that already has a session gets a TEARDOWN, even
//! one that has not answered the request in flight (a receiver slow to answer RECORD).

use crate::connection::Connection;
use crate::error::{Error, Result};
use airstream_proto::rtsp::Request;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;

/// How long a TEARDOWN sent on cancelling may wait for its answer: it is sent either way,
/// and a receiver that stalls must not hold the caller up.
const TEARDOWN_ANSWER: Duration = Duration::from_secs(1);

/// The handshakes' view of the caller's cancel.
#[derive(Clone)]
pub(super) struct Cancel(watch::Receiver<bool>);

impl Cancel {
    /// A cancel and the switch that fires it.
    pub(super) fn new() -> (watch::Sender<bool>, Self) {
        let (tx, rx) = watch::channel(false);
        (tx, Self(rx))
    }

    /// Completes once the setup is cancelled (never if the switch is dropped unused).
    pub(super) async fn cancelled(&self) {
        let mut rx = self.0.clone();
        if rx.wait_for(|cancelled| *cancelled).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Runs `step` unless the setup is cancelled first ([`Error::Cancelled`]).
    pub(super) async fn run<T>(&self, step: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::select! {
            result = step => result,
            () = self.cancelled() => Err(Error::Cancelled),
        }
    }
}

/// Sends `teardown` (if there is a session to end) and waits a little for its answer.
pub(super) async fn tear_down(conn: &mut Connection, teardown: Option<Request>) {
    let Some(request) = teardown else {
        return;
    };
    match tokio::time::timeout(TEARDOWN_ANSWER, conn.request(&request)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::debug!("TEARDOWN after a cancelled setup: {e}"),
        Err(_) => tracing::debug!("TEARDOWN after a cancelled setup was not answered"),
    }
}
