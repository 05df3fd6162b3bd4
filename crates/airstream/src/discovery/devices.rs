//! Folding resolved mDNS services into physical devices: a device's `_raop._tcp` instance
//! (`<MAC>@<name>`) and its `_airplay._tcp` instance (`<name>`, TXT `deviceid=<MAC>`) become one
//! [`Device`]. Pure data handling, tested without a network.

use airstream_proto::capabilities::{Capabilities, ServiceKind, TxtRecord, normalize_device_id};
use serde::Serialize;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};

/// One resolved service as mDNS delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceUpdate {
    pub(crate) kind: ServiceKind,
    /// Instance name without the service type, e.g. `5855CA1AE288@Living Room`.
    pub(crate) instance: String,
    /// SRV target, e.g. `Living-Room.local.`.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Addresses with the IPv6 scope (interface index) where one is needed.
    pub(crate) addresses: Vec<(IpAddr, u32)>,
    pub(crate) txt: TxtRecord,
}

impl ServiceUpdate {
    /// The MAC-style id this service names: the RAOP instance prefix, or AirPlay's `deviceid`.
    fn device_id(&self) -> Option<String> {
        match self.kind {
            ServiceKind::Raop => self
                .instance
                .split_once('@')
                .and_then(|(mac, _)| normalize_device_id(mac)),
            ServiceKind::AirPlay => self
                .txt
                .get("deviceid")
                .flatten()
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(normalize_device_id),
        }
    }

    /// The friendly name: the RAOP instance after the first `@`, or the AirPlay instance.
    fn device_name(&self) -> &str {
        match self.kind {
            ServiceKind::Raop => self
                .instance
                .split_once('@')
                .map_or(self.instance.as_str(), |(_, name)| name),
            ServiceKind::AirPlay => &self.instance,
        }
    }
}

/// An AirPlay device on the network, with what its TXT records say it can do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    /// The friendly name (AirPlay instance name, or the part after `@` in the RAOP one).
    pub name: String,
    /// MAC-style id `AA:BB:CC:DD:EE:FF`, from the RAOP instance name or AirPlay `deviceid`.
    pub id: Option<String>,
    /// Model identifier from `am`/`model` (`AppleTV5,3`, `AudioAccessory1,1`...).
    pub model: Option<String>,
    /// IPv4 first, then IPv6 (global before link-local).
    pub addresses: Vec<IpAddr>,
    /// Port of the `_raop._tcp` service (audio).
    pub raop_port: Option<u16>,
    /// Port of the `_airplay._tcp` service (video, pairing, AirPlay 2).
    pub airplay_port: Option<u16>,
    /// What the TXT records of both services say, typed.
    pub capabilities: Capabilities,
    #[serde(skip)]
    raop: Option<ServiceUpdate>,
    #[serde(skip)]
    airplay: Option<ServiceUpdate>,
}

impl Device {
    fn from_services(raop: Option<ServiceUpdate>, airplay: Option<ServiceUpdate>) -> Self {
        let capabilities = Capabilities::from_txt(
            raop.as_ref().map(|s| &s.txt),
            airplay.as_ref().map(|s| &s.txt),
        );
        let services = || raop.iter().chain(airplay.iter());
        let name = airplay
            .as_ref()
            .or(raop.as_ref())
            .map(|s| s.device_name().to_string())
            .unwrap_or_default();
        let id = services().find_map(ServiceUpdate::device_id);
        let mut addresses: Vec<IpAddr> = services()
            .flat_map(|s| s.addresses.iter().map(|(ip, _)| *ip))
            .collect();
        addresses.sort_by_key(|ip| (address_rank(ip), *ip));
        addresses.dedup();
        Self {
            name,
            id,
            model: capabilities.model.clone(),
            addresses,
            raop_port: raop.as_ref().map(|s| s.port),
            airplay_port: airplay.as_ref().map(|s| s.port),
            capabilities,
            raop,
            airplay,
        }
    }

    /// A device known only by address (`--address HOST:PORT`, no mDNS): it offers `kind` at
    /// `addr`, advertises nothing, and so gets every default (see `Capabilities::assumed`).
    pub fn from_address(addr: SocketAddr, kind: ServiceKind) -> Self {
        let scope = match addr {
            SocketAddr::V6(v6) => v6.scope_id(),
            SocketAddr::V4(_) => 0,
        };
        let service = ServiceUpdate {
            kind,
            instance: addr.to_string(),
            host: String::new(),
            port: addr.port(),
            addresses: vec![(addr.ip(), scope)],
            txt: TxtRecord::new(),
        };
        match kind {
            ServiceKind::Raop => Self::from_services(Some(service), None),
            ServiceKind::AirPlay => Self::from_services(None, Some(service)),
        }
    }

    fn service(&self, kind: ServiceKind) -> Option<&ServiceUpdate> {
        match kind {
            ServiceKind::Raop => self.raop.as_ref(),
            ServiceKind::AirPlay => self.airplay.as_ref(),
        }
    }

    /// Whether the device advertises this service.
    pub fn has(&self, kind: ServiceKind) -> bool {
        self.service(kind).is_some()
    }

    /// Port of the service of that kind, if the device advertises it.
    pub fn port(&self, kind: ServiceKind) -> Option<u16> {
        self.service(kind).map(|s| s.port)
    }

    /// Every address of the service to try, in preference order (IPv6 with its scope).
    pub fn socket_addrs(&self, kind: ServiceKind) -> Vec<SocketAddr> {
        let Some(service) = self.service(kind) else {
            return Vec::new();
        };
        let scope_of = |ip: &IpAddr| {
            self.raop
                .iter()
                .chain(self.airplay.iter())
                .flat_map(|s| s.addresses.iter())
                .find(|(a, _)| a == ip)
                .map_or(0, |(_, scope)| *scope)
        };
        self.addresses
            .iter()
            .map(|ip| match ip {
                IpAddr::V4(_) => SocketAddr::new(*ip, service.port),
                IpAddr::V6(v6) => {
                    SocketAddr::V6(SocketAddrV6::new(*v6, service.port, 0, scope_of(ip)))
                }
            })
            .collect()
    }

    /// First address to connect to for this service.
    pub fn socket_addr(&self, kind: ServiceKind) -> Option<SocketAddr> {
        self.socket_addrs(kind).into_iter().next()
    }

    /// The RAOP instance name's MAC prefix, which can differ from `deviceid` on odd devices.
    pub(crate) fn raop_id(&self) -> Option<String> {
        self.raop.as_ref().and_then(ServiceUpdate::device_id)
    }

    fn instance(&self, kind: ServiceKind) -> Option<&str> {
        self.service(kind).map(|s| s.instance.as_str())
    }

    /// Host names (SRV targets) of its services.
    fn hosts(&self) -> impl Iterator<Item = &str> {
        self.raop
            .iter()
            .chain(self.airplay.iter())
            .map(|s| s.host.as_str())
    }

    /// One line naming the device for messages: `Living Room (58:55:CA:1A:E2:88 at 10.0.0.5)`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(id) = &self.id {
            parts.push(id.clone());
        }
        if let Some(ip) = self.addresses.first() {
            parts.push(format!("at {ip}"));
        }
        if parts.is_empty() {
            self.name.clone()
        } else {
            format!("{} ({})", self.name, parts.join(" "))
        }
    }
}

/// IPv4, then routable IPv6, then link-local IPv6: the order a connection should try.
fn address_rank(ip: &IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 0,
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => 2,
        IpAddr::V6(_) => 1,
    }
}

/// The devices seen so far, updated as services resolve and disappear.
#[derive(Debug, Default)]
pub(crate) struct DeviceSet {
    devices: Vec<Device>,
}

impl DeviceSet {
    pub(crate) fn devices(&self) -> &[Device] {
        &self.devices
    }

    pub(crate) fn into_devices(self) -> Vec<Device> {
        let mut devices = self.devices;
        devices.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then_with(|| a.id.cmp(&b.id))
        });
        devices
    }

    /// Adds or replaces a service, merging it with the other service of the same device.
    pub(crate) fn upsert(&mut self, update: ServiceUpdate) {
        self.remove(update.kind, &update.instance);
        let id = update.device_id();
        let position = self.devices.iter().position(|device| {
            if device.has(update.kind) {
                return false;
            }
            match (&id, &device.id) {
                (Some(a), Some(b)) => a == b,
                // Without an id on one side, the same name on the same host is the same device.
                _ => {
                    device.name.eq_ignore_ascii_case(update.device_name())
                        && device.hosts().any(|h| h.eq_ignore_ascii_case(&update.host))
                }
            }
        });
        let (mut raop, mut airplay) = match position {
            Some(index) => {
                let device = self.devices.remove(index);
                (device.raop, device.airplay)
            }
            None => (None, None),
        };
        match update.kind {
            ServiceKind::Raop => raop = Some(update),
            ServiceKind::AirPlay => airplay = Some(update),
        }
        self.devices.push(Device::from_services(raop, airplay));
    }

    /// Drops a service that went away; a device without services goes with it.
    pub(crate) fn remove(&mut self, kind: ServiceKind, instance: &str) {
        let Some(index) = self
            .devices
            .iter()
            .position(|d| d.instance(kind) == Some(instance))
        else {
            return;
        };
        let device = self.devices.remove(index);
        let (raop, airplay) = match kind {
            ServiceKind::Raop => (None, device.airplay),
            ServiceKind::AirPlay => (device.raop, None),
        };
        if raop.is_some() || airplay.is_some() {
            self.devices.push(Device::from_services(raop, airplay));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn update(
        kind: ServiceKind,
        instance: &str,
        host: &str,
        port: u16,
        addresses: &[(IpAddr, u32)],
        txt: &[(&str, &str)],
    ) -> ServiceUpdate {
        ServiceUpdate {
            kind,
            instance: instance.to_string(),
            host: host.to_string(),
            port,
            addresses: addresses.to_vec(),
            txt: TxtRecord::from_pairs(txt),
        }
    }

    const V4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20));
    const V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x20));
    const LINK_LOCAL: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x20));

    fn apple_tv_raop() -> ServiceUpdate {
        update(
            ServiceKind::Raop,
            "5855CA1AE288@Living Room",
            "Living-Room.local.",
            7000,
            &[(LINK_LOCAL, 3), (V4, 0)],
            &[("am", "AppleTV6,2"), ("cn", "0,1")],
        )
    }

    fn apple_tv_airplay() -> ServiceUpdate {
        update(
            ServiceKind::AirPlay,
            "Living Room",
            "Living-Room.local.",
            7001,
            &[(V6, 0), (V4, 0)],
            &[("deviceid", "58:55:ca:1a:e2:88"), ("model", "AppleTV6,2")],
        )
    }

    #[test]
    fn raop_and_airplay_services_of_one_device_merge_by_id() {
        let mut set = DeviceSet::default();
        set.upsert(apple_tv_raop());
        set.upsert(apple_tv_airplay());
        let devices = set.into_devices();
        assert_eq!(devices.len(), 1);
        let d = &devices[0];
        assert_eq!(d.name, "Living Room");
        assert_eq!(d.id.as_deref(), Some("58:55:CA:1A:E2:88"));
        assert_eq!(d.model.as_deref(), Some("AppleTV6,2"));
        assert_eq!(d.addresses, vec![V4, V6, LINK_LOCAL]);
        assert_eq!((d.raop_port, d.airplay_port), (Some(7000), Some(7001)));
        assert!(d.capabilities.raop && d.capabilities.airplay);
        assert_eq!(
            d.socket_addrs(ServiceKind::Raop),
            vec![
                "192.168.1.20:7000".parse().expect("v4"),
                "[2001:db8::20]:7000".parse().expect("v6"),
                "[fe80::20%3]:7000".parse().expect("link-local"),
            ]
        );
        assert_eq!(
            d.socket_addr(ServiceKind::AirPlay),
            Some("192.168.1.20:7001".parse().expect("v4"))
        );
        assert_eq!(
            d.describe(),
            "Living Room (58:55:CA:1A:E2:88 at 192.168.1.20)"
        );
    }

    #[test]
    fn a_bare_address_is_a_device_with_assumed_capabilities() {
        let addr: SocketAddr = "[fe80::20%3]:5000".parse().expect("addr");
        let device = Device::from_address(addr, ServiceKind::Raop);
        assert_eq!(device.name, "[fe80::20%3]:5000");
        assert_eq!(device.id, None);
        assert_eq!(device.addresses, [LINK_LOCAL]);
        assert_eq!((device.raop_port, device.airplay_port), (Some(5000), None));
        assert_eq!(
            device.capabilities,
            Capabilities::assumed(ServiceKind::Raop)
        );
        assert_eq!(device.socket_addr(ServiceKind::Raop), Some(addr));
        assert_eq!(device.socket_addr(ServiceKind::AirPlay), None);
    }

    #[test]
    fn same_names_with_different_ids_stay_apart() {
        let mut set = DeviceSet::default();
        set.upsert(update(
            ServiceKind::Raop,
            "0A0000000001@Speaker",
            "a.local.",
            5000,
            &[(V4, 0)],
            &[],
        ));
        set.upsert(update(
            ServiceKind::Raop,
            "0A0000000002@Speaker",
            "b.local.",
            5000,
            &[(V4, 0)],
            &[],
        ));
        assert_eq!(set.devices().len(), 2);
    }

    #[test]
    fn services_without_ids_merge_by_name_and_host() {
        let mut set = DeviceSet::default();
        set.upsert(update(
            ServiceKind::Raop,
            "Den",
            "den.local.",
            5000,
            &[(V4, 0)],
            &[],
        ));
        set.upsert(update(
            ServiceKind::AirPlay,
            "den",
            "DEN.local.",
            7000,
            &[(V4, 0)],
            &[],
        ));
        set.upsert(update(
            ServiceKind::AirPlay,
            "Den",
            "elsewhere.local.",
            7000,
            &[(V4, 0)],
            &[],
        ));
        let devices = set.into_devices();
        assert_eq!(devices.len(), 2);
        assert_eq!(
            (devices[0].raop_port, devices[0].airplay_port),
            (Some(5000), Some(7000))
        );
        assert_eq!(devices[0].id, None);
        assert_eq!(devices[1].raop_port, None);
    }

    #[test]
    fn updates_replace_and_removals_drop_services() {
        let mut set = DeviceSet::default();
        set.upsert(apple_tv_raop());
        set.upsert(apple_tv_airplay());
        let mut changed = apple_tv_raop();
        changed.port = 7100;
        changed.txt = TxtRecord::from_pairs(&[("am", "AppleTV6,2"), ("pw", "true")]);
        set.upsert(changed);
        assert_eq!(set.devices().len(), 1);
        assert_eq!(set.devices()[0].raop_port, Some(7100));
        assert!(set.devices()[0].capabilities.password_required());

        set.remove(ServiceKind::Raop, "5855CA1AE288@Living Room");
        assert_eq!(set.devices().len(), 1);
        assert_eq!(set.devices()[0].raop_port, None);
        assert!(!set.devices()[0].has(ServiceKind::Raop));
        assert_eq!(set.devices()[0].socket_addrs(ServiceKind::Raop), Vec::new());
        set.remove(ServiceKind::AirPlay, "Living Room");
        assert!(set.devices().is_empty());
        set.remove(ServiceKind::AirPlay, "never seen");
        assert!(set.devices().is_empty());
    }

    #[test]
    fn odd_instance_names_still_give_a_device() {
        let mut set = DeviceSet::default();
        set.upsert(update(
            ServiceKind::Raop,
            "nothex@Odd@Name",
            "odd.local.",
            5000,
            &[],
            &[],
        ));
        set.upsert(update(
            ServiceKind::AirPlay,
            "Plain",
            "p.local.",
            7000,
            &[],
            &[("deviceid", "junk")],
        ));
        let devices = set.into_devices();
        assert_eq!(devices[0].name, "Odd@Name");
        assert_eq!(devices[0].id, None);
        assert_eq!(devices[0].describe(), "Odd@Name");
        assert_eq!(devices[1].name, "Plain");
        assert_eq!(devices[1].id, None);
        assert_eq!(devices[1].capabilities.warnings.len(), 1);
    }

    #[test]
    fn serializes_without_internal_service_records() {
        let mut set = DeviceSet::default();
        set.upsert(apple_tv_raop());
        let json = serde_json::to_value(&set.devices()[0]).expect("json");
        let keys: Vec<&str> = json
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "addresses",
                "airplay_port",
                "capabilities",
                "id",
                "model",
                "name",
                "raop_port"
            ]
        );
        assert_eq!(
            json["addresses"],
            serde_json::json!(["192.168.1.20", "fe80::20"])
        );
    }
}
