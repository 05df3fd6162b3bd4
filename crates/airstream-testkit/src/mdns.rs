//! Fake AirPlay devices on mDNS: an mdns-sd responder, run inside a [`Netns`], that advertises
//! realistic `_raop._tcp` / `_airplay._tcp` services. TXT sets follow shared/protocol/raop.md §1
//! and what real devices send (shairport-sync's is the one avahi published on this machine).
//!
//! Addresses are in [`FAKE_SUBNET`]; add it to the namespace's `lo` first, since mdns-sd only
//! publishes addresses that lie on one of its interfaces.

use crate::netns::Netns;
use airstream_proto::capabilities::ServiceKind;
use mdns_sd::{DaemonEvent, ServiceDaemon, ServiceInfo, TxtProperty};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// Subnet of the fake devices' addresses; `netns.add_address(FAKE_SUBNET)` before advertising.
pub const FAKE_SUBNET: &str = "10.77.0.1/24";

/// After the first announcement (the one mdns-sd reports) a second follows 1.1–1.15 s later, and
/// a responder does not multicast a record again within 1 s of the last time (RFC 6762 §6): a
/// query before then would be answered late. Waiting this long makes answers immediate.
const QUIET_AFTER_ANNOUNCING: Duration = Duration::from_millis(2_300);
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(10);

/// One advertised service of a [`FakeDevice`].
#[derive(Debug, Clone)]
pub struct FakeService {
    pub kind: ServiceKind,
    pub port: u16,
    pub txt: Vec<(String, String)>,
}

/// A device as the network sees it: a name, a MAC, addresses and one or two services.
#[derive(Debug, Clone)]
pub struct FakeDevice {
    pub name: String,
    /// `AA:BB:CC:DD:EE:FF`; RAOP instance names start with it (colons removed).
    pub id: String,
    /// mDNS host name (`something.local.`).
    pub host: String,
    pub addresses: Vec<IpAddr>,
    pub services: Vec<FakeService>,
}

fn txt(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn fake_ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 77, 0, last))
}

/// Ed25519 key of the real Apple TV in shared/testdata/airplay-legacy-pairing.json (its TXT `pk`).
const APPLE_TV_PK: &str = "3853c0e2ce3844727ca0cb1b86a3e3875e66924d2648d8f8caf71f8118793d98";

impl FakeDevice {
    fn new(name: &str, id: &str, host: &str, address: u8, services: Vec<FakeService>) -> Self {
        Self {
            name: name.to_string(),
            id: id.to_string(),
            host: host.to_string(),
            addresses: vec![fake_ip(address)],
            services,
        }
    }

    /// DNS-SD instance name of one of its services.
    pub fn instance_name(&self, kind: ServiceKind) -> String {
        match kind {
            ServiceKind::Raop => format!("{}@{}", self.id.replace(':', ""), self.name),
            ServiceKind::AirPlay => self.name.clone(),
        }
    }

    pub fn service(&self, kind: ServiceKind) -> Option<&FakeService> {
        self.services.iter().find(|s| s.kind == kind)
    }

    /// Apple TV 4K (tvOS 17): both services on port 7000, AirPlay 2 feature bits.
    pub fn apple_tv() -> Self {
        Self::new(
            "Living Room",
            "58:55:CA:1A:E2:88",
            "Living-Room.local.",
            10,
            vec![
                FakeService {
                    kind: ServiceKind::Raop,
                    port: 7000,
                    txt: txt(&[
                        ("cn", "0,1,2,3"),
                        ("da", "true"),
                        ("et", "0,3,5"),
                        ("ft", "0x4A7FDFD5,0xBC157FDE"),
                        ("md", "0,1,2"),
                        ("am", "AppleTV6,2"),
                        ("pk", APPLE_TV_PK),
                        ("sf", "0x44"),
                        ("tp", "UDP"),
                        ("vn", "65537"),
                        ("vs", "670.6.2"),
                        ("ov", "17.2"),
                        ("vv", "2"),
                    ]),
                },
                FakeService {
                    kind: ServiceKind::AirPlay,
                    port: 7000,
                    txt: txt(&[
                        ("acl", "0"),
                        ("deviceid", "58:55:CA:1A:E2:88"),
                        ("features", "0x4A7FDFD5,0xBC157FDE"),
                        ("flags", "0x44"),
                        ("model", "AppleTV6,2"),
                        ("pk", APPLE_TV_PK),
                        ("protovers", "1.1"),
                        ("srcvers", "670.6.2"),
                        ("osvers", "17.2"),
                        ("vv", "2"),
                    ]),
                },
            ],
        )
    }

    /// AirPort Express 2nd gen on firmware 7.8 (AirPlay 2 era): et=0,4 and no RSA.
    pub fn airport_express() -> Self {
        Self::new(
            "Kitchen",
            "C8:D0:83:E1:A0:B1",
            "Kitchen.local.",
            11,
            vec![FakeService {
                kind: ServiceKind::Raop,
                port: 5000,
                txt: txt(&[
                    ("txtvers", "1"),
                    ("ch", "2"),
                    ("cn", "0,1"),
                    ("et", "0,4"),
                    ("sv", "false"),
                    ("ek", "1"),
                    ("da", "true"),
                    ("sr", "44100"),
                    ("ss", "16"),
                    ("pw", "false"),
                    ("vn", "65537"),
                    ("tp", "UDP"),
                    ("vs", "366.0"),
                    ("am", "AirPort10,115"),
                    ("fv", "p20.78100.3"),
                    ("sf", "0x4"),
                    ("ft", "0x445F8A00,0x1C340"),
                ]),
            }],
        )
    }

    /// HomePod (1st generation): AirPlay 2 with PTP only.
    pub fn homepod_gen1() -> Self {
        let features = "0x4A7FCA00,0xBC354BD0";
        Self::new(
            "Bedroom",
            "D0:D2:B0:A1:B2:C3",
            "Bedroom.local.",
            12,
            vec![
                FakeService {
                    kind: ServiceKind::Raop,
                    port: 7000,
                    txt: txt(&[
                        ("cn", "0,1,2,3"),
                        ("da", "true"),
                        ("et", "0,3,5"),
                        ("ft", features),
                        ("md", "0,1,2"),
                        ("am", "AudioAccessory1,1"),
                        ("sf", "0x98404"),
                        ("tp", "UDP"),
                        ("vn", "65537"),
                        ("vs", "670.6.2"),
                        ("ov", "17.2"),
                    ]),
                },
                FakeService {
                    kind: ServiceKind::AirPlay,
                    port: 7000,
                    txt: txt(&[
                        ("deviceid", "D0:D2:B0:A1:B2:C3"),
                        ("features", features),
                        ("flags", "0x98404"),
                        ("model", "AudioAccessory1,1"),
                        ("protovers", "1.1"),
                        ("srcvers", "670.6.2"),
                    ]),
                },
            ],
        )
    }

    /// shairport-sync 3.3.8, TXT exactly as it publishes through avahi.
    pub fn shairport_sync() -> Self {
        Self::shairport("Office", "F4:5B:0E:6A:EC:16", "Office.local.", 13)
    }

    fn shairport(name: &str, id: &str, host: &str, address: u8) -> Self {
        Self::new(
            name,
            id,
            host,
            address,
            vec![FakeService {
                kind: ServiceKind::Raop,
                port: 5000,
                txt: txt(&[
                    ("sf", "0x4"),
                    ("fv", "76400.10"),
                    ("am", "ShairportSync"),
                    ("vs", "105.1"),
                    ("tp", "TCP,UDP"),
                    ("vn", "65537"),
                    ("md", "0,1,2"),
                    ("ss", "16"),
                    ("sr", "44100"),
                    ("da", "true"),
                    ("sv", "false"),
                    ("et", "0,1"),
                    ("ek", "1"),
                    ("cn", "0,1"),
                    ("ch", "2"),
                    ("txtvers", "1"),
                    ("pw", "false"),
                ]),
            }],
        )
    }

    /// shairport-sync 4.3.7 built with AirPlay 2, TXT as its rtsp.c builds them (features
    /// `0x405C4A00,0x1C340`, flags `0x4`), on port 7000: `_airplay._tcp`, plus `_raop._tcp`
    /// when `with_raop` (as it runs; without, it is a receiver that takes only AirPlay 2).
    pub fn shairport_sync_airplay2(name: &str, id: &str, address: u8, with_raop: bool) -> Self {
        let features = "0x405C4A00,0x1C340";
        let mut services = vec![FakeService {
            kind: ServiceKind::AirPlay,
            port: 7000,
            txt: txt(&[
                ("srcvers", "366.0"),
                ("deviceid", id),
                ("features", features),
                ("flags", "0x4"),
                ("protovers", "1.1"),
                ("acl", "0"),
                ("rsf", "0x0"),
                ("fv", "4.3.7"),
                ("model", "Shairport Sync"),
                ("pi", "5e3e4a4c-7e1d-4c3b-9a51-3f1bb2a0c001"),
                ("gid", "5e3e4a4c-7e1d-4c3b-9a51-3f1bb2a0c001"),
                ("gcgl", "0"),
                (
                    "pk",
                    "c6d3e2d7b3c1a2f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6",
                ),
            ]),
        }];
        if with_raop {
            services.push(FakeService {
                kind: ServiceKind::Raop,
                port: 7000,
                txt: txt(&[
                    ("cn", "0,1"),
                    ("da", "true"),
                    ("et", "0,1"),
                    ("ft", features),
                    ("fv", "4.3.7"),
                    ("md", "0,1,2"),
                    ("am", "Shairport Sync"),
                    ("sf", "0x4"),
                    ("tp", "UDP"),
                    ("vn", "65537"),
                    ("vs", "366.0"),
                ]),
            });
        }
        let host = format!("{}.local.", name.replace(' ', "-"));
        Self::new(name, id, &host, address, services)
    }

    /// Replaces (or adds) `key` in the TXT record of its `kind` service.
    #[must_use]
    pub fn with_txt(mut self, kind: ServiceKind, key: &str, value: &str) -> Self {
        if let Some(service) = self.services.iter_mut().find(|s| s.kind == kind) {
            service.txt.retain(|(k, _)| k != key);
            service.txt.push((key.to_string(), value.to_string()));
        }
        self
    }

    /// A third-party AV receiver with an AirPlay password (pw=true, flag 0x80).
    pub fn password_speaker() -> Self {
        Self::new(
            "Patio",
            "00:05:CD:12:34:56",
            "Patio.local.",
            14,
            vec![FakeService {
                kind: ServiceKind::Raop,
                port: 1024,
                txt: txt(&[
                    ("txtvers", "1"),
                    ("ch", "2"),
                    ("cn", "0,1"),
                    ("et", "0,1"),
                    ("md", "0,1,2"),
                    ("am", "AVR-X2700H"),
                    ("pw", "true"),
                    ("sf", "0x84"),
                    ("sr", "44100"),
                    ("ss", "16"),
                    ("tp", "UDP"),
                    ("vn", "65537"),
                    ("vs", "366.0"),
                ]),
            }],
        )
    }

    /// Two shairport-sync instances that share the name "Speaker".
    pub fn speaker_twins() -> [Self; 2] {
        [
            Self::shairport("Speaker", "0A:00:00:00:00:01", "Speaker-1.local.", 15),
            Self::shairport("Speaker", "0A:00:00:00:00:02", "Speaker-2.local.", 16),
        ]
    }

    /// The whole fake household: the five kinds above plus the two "Speaker"s.
    pub fn household() -> Vec<Self> {
        let mut devices = vec![
            Self::apple_tv(),
            Self::airport_express(),
            Self::homepod_gen1(),
            Self::shairport_sync(),
            Self::password_speaker(),
        ];
        devices.extend(Self::speaker_twins());
        devices
    }
}

/// An mDNS responder advertising fake devices; stops advertising when dropped.
pub struct Advertiser {
    daemon: ServiceDaemon,
}

fn mdns_error(e: &mdns_sd::Error) -> io::Error {
    io::Error::other(format!("mDNS responder: {e}"))
}

impl Advertiser {
    /// Starts a responder inside `netns`, registers every service of `devices`, and returns once
    /// all are announced and the responder answers the next query at once (about 3 s).
    pub fn start(netns: &Netns, devices: &[FakeDevice]) -> io::Result<Self> {
        // The daemon's thread (and so its sockets) inherits the namespace of the creating thread.
        let daemon = netns.run(ServiceDaemon::new)?.map_err(|e| mdns_error(&e))?;
        let advertiser = Self { daemon };
        let monitor = advertiser.daemon.monitor().map_err(|e| mdns_error(&e))?;
        let mut pending: HashMap<String, u32> = HashMap::new();
        for device in devices {
            for service in &device.services {
                let properties: Vec<TxtProperty> = service
                    .txt
                    .iter()
                    .map(|(k, v)| TxtProperty::from((k.as_str(), v.as_str())))
                    .collect();
                let info = ServiceInfo::new(
                    service.kind.service_type(),
                    &device.instance_name(service.kind),
                    &device.host,
                    &device.addresses[..],
                    service.port,
                    properties,
                )
                .map_err(|e| mdns_error(&e))?;
                pending.insert(info.get_fullname().to_ascii_lowercase(), 0);
                advertiser
                    .daemon
                    .register(info)
                    .map_err(|e| mdns_error(&e))?;
            }
        }
        let deadline = Instant::now() + ANNOUNCE_TIMEOUT;
        while pending.values().any(|&n| n == 0) {
            let left = deadline.saturating_duration_since(Instant::now());
            match monitor.recv_timeout(left) {
                Ok(DaemonEvent::Announce(fullname, _)) => {
                    if let Some(count) = pending.get_mut(&fullname.to_ascii_lowercase()) {
                        *count += 1;
                    }
                }
                Ok(DaemonEvent::Error(e)) => return Err(mdns_error(&e)),
                Ok(_) => {}
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("services not announced within 10 s: {pending:?}"),
                    ));
                }
            }
        }
        std::thread::sleep(QUIET_AFTER_ANNOUNCING);
        Ok(advertiser)
    }

    /// Withdraws one service (sends goodbye packets) and waits until that is done.
    pub fn unregister(&self, device: &FakeDevice, kind: ServiceKind) -> io::Result<()> {
        let fullname = format!("{}.{}", device.instance_name(kind), kind.service_type());
        let status = self
            .daemon
            .unregister(&fullname)
            .map_err(|e| mdns_error(&e))?;
        status
            .recv_timeout(ANNOUNCE_TIMEOUT)
            .map(|_| ())
            .map_err(|e| io::Error::other(format!("unregister {fullname}: {e}")))
    }
}

impl Drop for Advertiser {
    fn drop(&mut self) {
        if let Ok(done) = self.daemon.shutdown() {
            let _ = done.recv_timeout(Duration::from_secs(2));
        }
    }
}
