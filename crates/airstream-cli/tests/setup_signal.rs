//! A signal while the stream is being set up ends `airstream stream` the clean way: the
//! receiver that already has a session gets a TEARDOWN, and the exit code is the signal's
//! (130 after SIGINT, 143 after SIGTERM). The receiver here is a tiny fake on loopback that
//! answers up to SETUP and never answers RECORD, as a receiver slow to answer does.

// Test helpers may unwrap: a panic is a test failure with a message.
#![allow(clippy::unwrap_used)]

use airstream_testkit::signal::{music, wav_bytes};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A receiver that stalls after SETUP: it never answers RECORD. Records every request's
/// method, in order, over all connections.
struct StallingReceiver {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    /// The UDP ports its SETUP answer names, held open so nothing is refused.
    _udp: Vec<UdpSocket>,
}

impl StallingReceiver {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let udp: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let ports: Vec<u16> = udp.iter().map(|s| s.local_addr().unwrap().port()).collect();
        let transport = format!(
            "RTP/AVP/UDP;unicast;mode=record;server_port={};control_port={};timing_port={}",
            ports[0], ports[1], ports[2]
        );
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let log = Arc::clone(&log);
                let transport = transport.clone();
                std::thread::spawn(move || serve(stream, &log, &transport));
            }
        });
        Self {
            port,
            requests,
            _udp: udp,
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits (bounded) until a request with this method arrived.
    fn wait_for(&self, method: &str) -> bool {
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if self.requests().iter().any(|m| m == method) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

/// One connection: answers everything but RECORD with 200, echoing the CSeq.
fn serve(stream: TcpStream, log: &Mutex<Vec<String>>, transport: &str) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let method = line.split_whitespace().next().unwrap_or("").to_string();
        let mut cseq = String::from("0");
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "cseq" => cseq = value.trim().to_string(),
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        log.lock().unwrap().push(method.clone());
        let extra = match method.as_str() {
            "RECORD" => continue, // stalls: never answered
            "SETUP" => format!("Transport: {transport}\r\nSession: 1\r\n"),
            "OPTIONS" => "Public: ANNOUNCE, SETUP, RECORD, FLUSH, TEARDOWN, OPTIONS, \
                          SET_PARAMETER\r\n"
                .to_string(),
            _ => String::new(),
        };
        let answer = format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n{extra}\r\n");
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn a_signal_during_setup_tears_the_session_down_and_exits_with_the_signals_code() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("song.wav");
    std::fs::write(&file, wav_bytes(&music(44_100, 44_100), 44_100)).unwrap();
    for (signal, code) in [("-TERM", 143), ("-INT", 130)] {
        let receiver = StallingReceiver::start();
        let mut stream = Command::new(env!("CARGO_BIN_EXE_airstream"))
            .args([
                "stream",
                "--codec",
                "pcm",
                "--address",
                &format!("127.0.0.1:{}", receiver.port),
            ])
            .arg(&file)
            .env("AIRSTREAM_RUNTIME_DIR", dir.path().join("run"))
            .spawn()
            .unwrap();
        assert!(receiver.wait_for("RECORD"), "{:?}", receiver.requests());
        let killed = Command::new("kill")
            .args([signal, &stream.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = stream.wait().unwrap();
        assert_eq!(status.code(), Some(code), "after {signal}: {status:?}");
        // The TEARDOWN is sent before the process exits.
        let requests = receiver.requests();
        let record = requests.iter().position(|m| m == "RECORD").unwrap();
        assert_eq!(
            requests[record + 1..],
            ["TEARDOWN".to_string()],
            "after {signal}: {requests:?}"
        );
    }
}
