//! The session and stream SETUP bodies from airstream-proto's `ap2::setup`, sent to
//! shairport-sync 4.3.7 from the sender namespace: it takes them as an AirPlay 2 realtime
//! stream, its replies pass our validating parsers, and the timingPeerInfo we sent makes it
//! point nqptp at our PTP master, which nqptp then follows.
//!
//! shairport-sync answers these SETUPs on a connection in the clear; real devices need HAP
//! pairing first, which this test does not exercise.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_proto::ap2::setup::STREAM_TYPE_REALTIME;
use airstream_proto::ap2::{
    ClockIdentity, PtpMaster, SessionSetup, SessionSetupReply, StreamSetup, StreamSetupReply,
    Timing,
};
use airstream_testkit::airplay2::{
    self, Ap2Rig, PtpLoop, RtspClient, SENDER_ADDRESS, monotonic_raw,
};
use airstream_testkit::process::wait_until;
use std::net::{IpAddr, UdpSocket};
use std::time::Duration;

const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn our_setup_bodies_open_an_airplay_2_realtime_stream_and_point_nqptp_at_our_master() {
    let rig = Ap2Rig::start(&[airplay2::config("ap2-setup")]).unwrap();
    let receiver = &rig.receivers[0];
    let identity = ClockIdentity::from_mac([0x0A, 0x00, 0x00, 0x00, 0x00, 0x02]);
    let _ptp = PtpLoop::start(
        &rig.sender,
        PtpMaster::new(identity, Duration::from_secs(2_000_000)),
        vec![receiver.address.ip()],
        monotonic_raw,
    )
    .unwrap();

    let address = receiver.address;
    let (session, stream, locked) = rig
        .run_in_sender(|| {
            let mut rtsp = RtspClient::connect(address).unwrap();
            let ours = IpAddr::V4(SENDER_ADDRESS);
            assert_eq!(rtsp.local_addr().unwrap().ip(), ours);
            let timing = Timing::Ptp {
                addresses: vec![ours],
                id: ours.to_string(),
            };
            let session = SessionSetup {
                device_id: "0A:00:00:00:00:02".into(),
                session_uuid: "2E8B1F3C-5D7A-4E91-B6C2-0F4A8D3E7B15".into(),
                group_uuid: "9C1D2E3F-4A5B-4C6D-8E7F-0A1B2C3D4E5F".into(),
                group_contains_group_leader: false,
                model: "airstream".into(),
                name: "airstream-test".into(),
                timing: timing.clone(),
            };
            let uri = format!("rtsp://{ours}/3141592653");
            let reply = rtsp
                .send_bplist("SETUP", &uri, session.encode().unwrap())
                .unwrap();
            let session_reply = SessionSetupReply::parse(&reply.body, &timing).unwrap();

            // Our control port: a real socket, so the port is ours to name.
            let control = UdpSocket::bind((SENDER_ADDRESS, 0)).unwrap();
            let stream = StreamSetup {
                shk: [0x5A; 32],
                control_port: control.local_addr().unwrap().port(),
                latency_min: 11_025,
                latency_max: 88_200,
                stream_connection_id: 0x0123_4567_89AB_CDEF,
            };
            let reply = rtsp
                .send_bplist("SETUP", &uri, stream.encode().unwrap())
                .unwrap();
            let stream_reply = StreamSetupReply::parse(&reply.body, STREAM_TYPE_REALTIME).unwrap();

            // shairport-sync has told nqptp to follow the timing peer we named, and that play
            // begins; nqptp now follows our master (the connection stays open meanwhile).
            let locked = wait_until(LOCK_TIMEOUT, || {
                receiver
                    .nqptp_clock()
                    .unwrap()
                    .is_some_and(|c| c.master_clock_id == identity.as_u64())
            });
            (session_reply, stream_reply, locked)
        })
        .unwrap();

    eprintln!("{session:?}\n{stream:?}");
    assert_eq!(session.timing_port, None);
    assert_eq!(stream.stream_type, STREAM_TYPE_REALTIME);
    assert_ne!(stream.data_port, stream.control_port);
    let log = receiver.log_text();
    assert!(log.contains("AP2 Realtime Audio Stream"), "{log}");
    assert!(!log.contains("Classic AirPlay connection"), "{log}");
    assert!(
        locked,
        "nqptp did not follow our master: {:?}\n{}",
        receiver.nqptp_clock(),
        receiver.nqptp_log_text()
    );
}
