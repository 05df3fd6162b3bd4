//! A receiver slow to answer: it answers OPTIONS, ANNOUNCE, SETUP (and anything else but
//! RECORD) at once and never answers RECORD, on loopback; for setups cancelled by a signal.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A receiver that stalls after SETUP: it never answers RECORD. Records every request's
/// method, in order, over all connections.
pub struct StallingReceiver {
    /// Its RTSP port on 127.0.0.1.
    pub port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    /// The UDP ports its SETUP answer names, held open so nothing is refused.
    _udp: Vec<UdpSocket>,
}

impl StallingReceiver {
    /// Listens on 127.0.0.1 (any port), each connection served on a thread of its own.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("loopback sockets");
        let port = listener.local_addr().expect("loopback sockets").port();
        let udp: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind("127.0.0.1:0").expect("loopback sockets"))
            .collect();
        let ports: Vec<u16> = udp
            .iter()
            .map(|s| s.local_addr().expect("loopback sockets").port())
            .collect();
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

    /// The methods received so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Waits (bounded) until a request with this method arrived.
    pub fn wait_for(&self, method: &str) -> bool {
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
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
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
        // A sender's requests are small; a bound keeps a broken one from allocating much.
        let mut body = vec![0u8; length.min(1 << 20)];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if let Ok(mut log) = log.lock() {
            log.push(method.clone());
        }
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
