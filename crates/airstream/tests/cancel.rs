//! A setup cancelled by the caller (a signal before the stream runs): every receiver that
//! already has a session gets a TEARDOWN — the one whose handshake was done and the one
//! that never answered RECORD — and the setup fails with `Error::Cancelled`.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream::raop::{self, Codec, StreamOptions};
use airstream::{Error, ErrorKind};
use airstream_audio::{PcmFormat, VecSource};
use airstream_receiver::{Receiver, ReceiverConfig};
use airstream_testkit::signal::music;
use airstream_testkit::stalling::StallingReceiver;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_setup_tears_down_every_receiver_that_has_a_session() {
    let mut quick = Receiver::start(ReceiverConfig::default()).await.unwrap();
    let slow = Arc::new(StallingReceiver::start());
    let slow_address = SocketAddr::from(([127, 0, 0, 1], slow.port));
    // Cancel once the slow one waits to answer RECORD (the quick one is set up by then or
    // soon after: both handshakes run at once).
    let (fire, fired) = tokio::sync::oneshot::channel::<()>();
    let watching = Arc::clone(&slow);
    tokio::task::spawn_blocking(move || {
        assert!(watching.wait_for("RECORD"));
        let _ = fire.send(());
    });
    let source = VecSource::new(PcmFormat::RAOP, music(44_100, 44_100));
    let options = StreamOptions {
        codec: Codec::Pcm,
        ..StreamOptions::default()
    };
    let result = raop::start_group_until(
        vec![quick.local_addr().into(), slow_address.into()],
        Box::new(source),
        options,
        async {
            let _ = fired.await;
        },
    )
    .await;
    let Err(err) = result else {
        panic!("the setup went on")
    };
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    let requests = slow.requests();
    let record = requests.iter().position(|m| m == "RECORD").unwrap();
    assert_eq!(
        requests[record + 1..],
        ["TEARDOWN".to_string()],
        "{requests:?}"
    );
    let session = quick
        .next_session_within(Duration::from_secs(5))
        .await
        .unwrap();
    assert!(session.summary.teardown, "{:?}", session.summary.requests);
    assert_eq!(session.summary.packets, 0, "no audio was sent");
}
