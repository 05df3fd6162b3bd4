//! Advertising the receiver on mDNS as a `_raop._tcp` service, so senders (`airstream scan`,
//! a Mac, an iPhone) find it by name.
//!
//! Only `_raop._tcp`: this is an AirPlay 1 audio receiver, and `_airplay._tcp` announces
//! AirPlay 2 and video features it does not have (shairport-sync's classic build advertises
//! only `_raop._tcp` too). The TXT record is shairport-sync's, saying what this receiver
//! takes: PCM and ALAC (`cn=0,1`), no encryption (`et=0`: it has no RSA key of Apple's),
//! 44.1 kHz 16-bit stereo, text, artwork and progress metadata, and whether it wants a
//! password.
//!
//! The advertisement goes out only on the interface of the address the receiver listens on
//! (every interface when it listens on all), with that address.

use airstream_proto::capabilities::ServiceKind;
use mdns_sd::{DaemonEvent, IfKind, ServiceDaemon, ServiceInfo, TxtProperty};
use std::net::SocketAddr;
use std::time::Duration;

/// The longest name: a DNS label holds 63 bytes, and the instance name is `<id>@<name>`
/// with a 12-digit id.
pub const MAX_NAME_BYTES: usize = 63 - 13;

/// How long a goodbye (the withdrawal) may take when the advertisement is dropped.
const GOODBYE_LIMIT: Duration = Duration::from_secs(1);

/// Why the receiver could not be advertised.
#[derive(Debug, thiserror::Error)]
pub enum AdvertiseError {
    /// The name does not fit in an mDNS instance name.
    #[error("the name must be 1 to {MAX_NAME_BYTES} bytes with no control characters, not {0:?}")]
    BadName(String),
    /// The responder could not start or register the service.
    #[error("mDNS responder: {0}")]
    Mdns(#[from] mdns_sd::Error),
    /// The responder is gone (the advertisement was dropped).
    #[error("the mDNS responder stopped")]
    Stopped,
}

/// Checks a receiver name before anything is started.
pub fn check_name(name: &str) -> Result<(), AdvertiseError> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES || name.chars().any(char::is_control) {
        Err(AdvertiseError::BadName(name.to_string()))
    } else {
        Ok(())
    }
}

/// What the network learns about the receiver.
#[derive(Debug, Clone)]
pub struct Advertised {
    /// The name senders show.
    pub name: String,
    /// Where the receiver listens (an unspecified address: on every interface).
    pub address: SocketAddr,
    /// It asks for a password (`pw=true`).
    pub password: bool,
}

/// What happened to the advertisement after it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdvertiseEvent {
    /// Announced on the network: senders find it from now on.
    Announced,
    /// Another device had the name; the responder took this one (the name part) instead.
    Renamed(String),
}

/// A running advertisement; dropping it withdraws it (goodbye packets) and stops the
/// responder.
pub struct Advertisement {
    daemon: ServiceDaemon,
    fullname: String,
    id: String,
}

/// What the responder reports about an [`Advertisement`]; ends when it is dropped.
pub struct AdvertiseEvents {
    events: mdns_sd::Receiver<DaemonEvent>,
    fullname: String,
}

impl Advertisement {
    /// Starts a responder and registers the receiver. The id is random for each start (with
    /// the locally-administered bit set, as for a random MAC address): the receiver has no
    /// pairing or stored state tied to it.
    pub fn start(advertised: &Advertised) -> Result<(Self, AdvertiseEvents), AdvertiseError> {
        check_name(&advertised.name)?;
        let daemon = ServiceDaemon::new()?;
        let ip = advertised.address.ip();
        if ip.is_unspecified() {
            if ip.is_ipv4() {
                // Listening on 0.0.0.0 takes no IPv6 connections.
                daemon.disable_interface(IfKind::IPv6)?;
            }
        } else {
            daemon.disable_interface(IfKind::All)?;
            daemon.enable_interface(IfKind::Addr(ip))?;
        }
        let events = daemon.monitor()?;
        let mac: [u8; 6] = rand::random();
        let mac = [
            (mac[0] & 0xFC) | 0x02,
            mac[1],
            mac[2],
            mac[3],
            mac[4],
            mac[5],
        ];
        let hex: Vec<String> = mac.iter().map(|b| format!("{b:02X}")).collect();
        let host = format!("airstream-{}.local.", hex.concat().to_ascii_lowercase());
        let addresses: Vec<std::net::IpAddr> = if ip.is_unspecified() {
            Vec::new()
        } else {
            vec![ip]
        };
        let mut info = ServiceInfo::new(
            ServiceKind::Raop.service_type(),
            &format!("{}@{}", hex.concat(), advertised.name),
            &host,
            &addresses[..],
            advertised.address.port(),
            txt(advertised.password),
        )?;
        if ip.is_unspecified() {
            info = info.enable_addr_auto();
        }
        let fullname = info.get_fullname().to_string();
        daemon.register(info)?;
        let events = AdvertiseEvents {
            events,
            fullname: fullname.clone(),
        };
        let advertisement = Self {
            daemon,
            fullname,
            id: hex.join(":"),
        };
        Ok((advertisement, events))
    }

    /// The id senders see (`AA:BB:CC:DD:EE:FF`).
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl AdvertiseEvents {
    /// The next thing worth telling the user: an announcement, a rename; `Err` once the
    /// advertisement is over. Errors the responder reports (a send that failed on one
    /// interface) are logged: it carries on.
    pub async fn next(&mut self) -> Result<AdvertiseEvent, AdvertiseError> {
        loop {
            match self.events.recv_async().await {
                Ok(DaemonEvent::Announce(fullname, _))
                    if fullname.eq_ignore_ascii_case(&self.fullname) =>
                {
                    return Ok(AdvertiseEvent::Announced);
                }
                Ok(DaemonEvent::NameChange(change))
                    if change.original.eq_ignore_ascii_case(&self.fullname) =>
                {
                    // `<id>@<name> (2)._raop._tcp.local.`: the part a sender shows.
                    let instance = change
                        .new_name
                        .strip_suffix(ServiceKind::Raop.service_type())
                        .map_or(change.new_name.as_str(), |s| s.trim_end_matches('.'));
                    let name = instance.split_once('@').map_or(instance, |(_, n)| n);
                    return Ok(AdvertiseEvent::Renamed(name.to_string()));
                }
                Ok(DaemonEvent::Error(e)) => tracing::warn!("mDNS responder: {e}"),
                Ok(_) => {}
                Err(_) => return Err(AdvertiseError::Stopped),
            }
        }
    }
}

impl Drop for Advertisement {
    fn drop(&mut self) {
        if let Ok(done) = self.daemon.unregister(&self.fullname) {
            let _ = done.recv_timeout(GOODBYE_LIMIT);
        }
        let _ = self.daemon.shutdown();
    }
}

/// shairport-sync's TXT record, for what this receiver takes.
fn txt(password: bool) -> Vec<TxtProperty> {
    [
        ("txtvers", "1"),
        ("ch", "2"),
        ("cn", "0,1"),
        ("et", "0"),
        ("sv", "false"),
        ("da", "true"),
        ("sr", "44100"),
        ("ss", "16"),
        ("pw", if password { "true" } else { "false" }),
        ("vn", "65537"),
        ("tp", "UDP"),
        ("md", "0,1,2"),
        ("vs", "105.1"),
        ("am", "airstream"),
        // Status flags: 0x4 as shairport-sync; 0x80 says a password is needed.
        ("sf", if password { "0x84" } else { "0x4" }),
    ]
    .into_iter()
    .map(TxtProperty::from)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_do_not_fit_a_dns_label_are_refused() {
        assert!(check_name("Kitchen").is_ok());
        assert!(check_name(&"x".repeat(MAX_NAME_BYTES)).is_ok());
        for bad in [
            String::new(),
            "x".repeat(MAX_NAME_BYTES + 1),
            "a\nb".to_string(),
        ] {
            let e = check_name(&bad).expect_err("refused");
            assert!(e.to_string().starts_with("the name must be"), "{e}");
        }
    }

    #[test]
    fn the_txt_record_says_whether_a_password_is_needed() {
        let value = |txt: &[TxtProperty], key: &str| {
            txt.iter()
                .find(|p| p.key() == key)
                .map(|p| p.val_str().to_string())
        };
        let open = txt(false);
        let closed = txt(true);
        assert_eq!(value(&open, "pw").as_deref(), Some("false"));
        assert_eq!(value(&open, "sf").as_deref(), Some("0x4"));
        assert_eq!(value(&closed, "pw").as_deref(), Some("true"));
        assert_eq!(value(&closed, "sf").as_deref(), Some("0x84"));
        // What a sender needs to choose a route, as shairport-sync sends it.
        for key in ["cn", "et", "sr", "ss", "ch", "tp", "vn", "md", "am"] {
            assert!(value(&open, key).is_some(), "{key}");
        }
    }
}
