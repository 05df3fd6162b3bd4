//! Our sans-IO PTP master (airstream-proto's `ap2::PtpMaster`), driven by a UDP loop on
//! ports 319/320 in the sender namespace, is followed by nqptp 1.2.4 in the receiver's: its
//! shared memory names our clock identity and an offset that matches our timebase.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_proto::ap2::{ClockIdentity, PtpMaster, ptp_master::SYNC_INTERVAL};
use airstream_testkit::airplay2::{
    self, Ap2Rig, NqptpClock, PtpLoop, SENDER_ADDRESS, monotonic_raw,
};
use airstream_testkit::process::wait_until;
use std::time::Duration;

/// Our master clock runs this far ahead of CLOCK_MONOTONIC_RAW: far from any other clock,
/// so a matching offset can only come from us.
const MASTER_OFFSET: Duration = Duration::from_secs(1_000_000);
/// Generous: locking takes one Announce and a Follow_Up (1/8 s apart).
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn nqptp_follows_our_ptp_master_with_our_identity_and_offset() {
    let rig = Ap2Rig::start(&[airplay2::config("ap2-ptp")]).unwrap();
    let receiver = &rig.receivers[0];
    let identity = ClockIdentity::from_mac([0x0A, 0x00, 0x00, 0x00, 0x00, 0x01]);
    // What shairport-sync tells nqptp on a SETUP with PTP timing from us, then on RECORD.
    receiver.nqptp_follow(SENDER_ADDRESS.into()).unwrap();
    let ptp = PtpLoop::start(
        &rig.sender,
        PtpMaster::new(identity, MASTER_OFFSET),
        vec![receiver.address.ip()],
        monotonic_raw,
    )
    .unwrap();

    let ours = |c: &Option<NqptpClock>| c.is_some_and(|c| c.master_clock_id == identity.as_u64());
    let mut clock = None;
    let locked = wait_until(LOCK_TIMEOUT, || {
        clock = receiver.nqptp_clock().unwrap();
        ours(&clock)
    });
    assert!(
        locked,
        "nqptp did not follow us: {clock:?}\n{}",
        receiver.nqptp_log_text()
    );
    // Let nqptp take a second's worth of Follow_Ups (8) after locking, so its smoothing has
    // seen more than the first sample.
    let first = clock.unwrap();
    let settled = wait_until(LOCK_TIMEOUT, || {
        clock = receiver.nqptp_clock().unwrap();
        clock.is_some_and(|c| {
            c.local_time.saturating_sub(first.local_time) >= 8 * SYNC_INTERVAL.as_nanos() as u64
        })
    });
    assert!(settled, "nqptp stopped updating: {clock:?}");
    let clock = clock.unwrap();
    assert!(ours(&Some(clock)), "{clock:?}");

    // nqptp's offset = our precise origin time − its reception time = our offset − the
    // delay from our tick to its reception; the delay is positive and well under one sync
    // interval, or nqptp would not be tracking our Syncs.
    let ours_ns = MASTER_OFFSET.as_nanos() as u64;
    let delay_ns = ours_ns.wrapping_sub(clock.local_to_master_offset) as i64;
    eprintln!(
        "nqptp: master {:016x}, offset {} ns (ours {} ns, delay {:.3} ms)",
        clock.master_clock_id,
        clock.local_to_master_offset,
        ours_ns,
        delay_ns as f64 / 1e6
    );
    assert!(
        delay_ns >= 0 && delay_ns < SYNC_INTERVAL.as_nanos() as i64,
        "nqptp offset {} vs ours {ours_ns}: delay {delay_ns} ns",
        clock.local_to_master_offset
    );
    // It reads its local time from the same CLOCK_MONOTONIC_RAW.
    let now = monotonic_raw().as_nanos() as u64;
    assert!(clock.local_time <= now, "{clock:?} in the future of {now}");

    // nqptp greets a new master with an Announce of its own: we parsed it and nothing
    // it sent was malformed.
    let report = ptp.report();
    assert!(report.datagrams_sent >= 3, "{report:?}");
    assert!(report.messages_received >= 1, "{report:?}");
    assert_eq!(report.malformed_received, 0, "{report:?}");
    assert!(
        receiver
            .nqptp_log_text()
            .contains(&format!("{:x}", identity.as_u64())),
        "{}",
        receiver.nqptp_log_text()
    );
}
