//! What `--device` may say: a name (case-insensitive), a device id/MAC, or an IP address.

use super::Device;
use airstream_proto::capabilities::normalize_device_id;
use std::fmt;
use std::net::IpAddr;

/// A parsed `--device` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceQuery {
    /// Matches any address of the device.
    Address(IpAddr),
    /// `AA:BB:CC:DD:EE:FF` (any case, `:`/`-`/no separators); matches the id or the RAOP prefix.
    Id(String),
    /// Matches the friendly name, ignoring case and typographic apostrophes.
    Name(String),
}

/// Case-folded name with `’` written as `'`, as users type "Bob's HomePod".
fn fold(name: &str) -> String {
    name.trim().to_lowercase().replace('\u{2019}', "'")
}

impl DeviceQuery {
    /// Reads what the user typed: an IP address, a device id, else a name.
    pub fn parse(text: &str) -> Self {
        let trimmed = text.trim();
        let unbracketed = trimmed
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(trimmed);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            DeviceQuery::Address(ip)
        } else if let Some(id) = normalize_device_id(trimmed) {
            DeviceQuery::Id(id)
        } else {
            DeviceQuery::Name(fold(trimmed))
        }
    }

    /// True when `device` is the one asked for.
    pub fn matches(&self, device: &Device) -> bool {
        match self {
            DeviceQuery::Address(ip) => device.addresses.contains(ip),
            DeviceQuery::Id(id) => {
                device.id.as_ref() == Some(id) || device.raop_id().as_ref() == Some(id)
            }
            DeviceQuery::Name(name) => fold(&device.name) == *name,
        }
    }

    /// Ids name one device; names and addresses may name several.
    pub(crate) fn is_unique(&self) -> bool {
        matches!(self, DeviceQuery::Id(_))
    }
}

impl fmt::Display for DeviceQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceQuery::Address(ip) => write!(f, "address {ip}"),
            DeviceQuery::Id(id) => write!(f, "id {id}"),
            DeviceQuery::Name(name) => write!(f, "name {name:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::devices::{DeviceSet, ServiceUpdate};
    use super::*;
    use airstream_proto::capabilities::{ServiceKind, TxtRecord};

    fn household() -> Vec<Device> {
        let mut set = DeviceSet::default();
        for (instance, ip) in [
            ("5855CA1AE288@Bob\u{2019}s HomePod", "10.0.0.2"),
            ("0A0000000001@Speaker", "10.0.0.3"),
            ("0A0000000002@Speaker", "fd00::3"),
        ] {
            set.upsert(ServiceUpdate {
                kind: ServiceKind::Raop,
                instance: instance.to_string(),
                host: format!("{ip}.local."),
                port: 5000,
                addresses: vec![(ip.parse().expect("ip"), 0)],
                txt: TxtRecord::new(),
            });
        }
        set.into_devices()
    }

    #[test]
    fn parses_addresses_ids_and_names() {
        let rows = [
            (
                "10.0.0.2",
                DeviceQuery::Address("10.0.0.2".parse().expect("ip")),
            ),
            (
                "[fd00::3]",
                DeviceQuery::Address("fd00::3".parse().expect("ip")),
            ),
            (
                "fd00::3",
                DeviceQuery::Address("fd00::3".parse().expect("ip")),
            ),
            (
                "58:55:ca:1a:e2:88",
                DeviceQuery::Id("58:55:CA:1A:E2:88".into()),
            ),
            ("5855CA1AE288", DeviceQuery::Id("58:55:CA:1A:E2:88".into())),
            (" Living ROOM ", DeviceQuery::Name("living room".into())),
            ("10.0.0.2:7000", DeviceQuery::Name("10.0.0.2:7000".into())),
        ];
        for (text, expected) in rows {
            assert_eq!(DeviceQuery::parse(text), expected, "{text}");
        }
    }

    #[test]
    fn matches_by_name_id_and_address() {
        let devices = household();
        let matching = |q: &str| -> Vec<String> {
            let query = DeviceQuery::parse(q);
            devices
                .iter()
                .filter(|d| query.matches(d))
                .map(Device::describe)
                .collect()
        };
        assert_eq!(
            matching("bob's homepod"),
            ["Bob’s HomePod (58:55:CA:1A:E2:88 at 10.0.0.2)"]
        );
        assert_eq!(matching("BOB’S HOMEPOD").len(), 1);
        assert_eq!(matching("speaker").len(), 2);
        assert_eq!(
            matching("0a-00-00-00-00-02"),
            ["Speaker (0A:00:00:00:00:02 at fd00::3)"]
        );
        assert_eq!(
            matching("10.0.0.3"),
            ["Speaker (0A:00:00:00:00:01 at 10.0.0.3)"]
        );
        assert!(matching("kitchen").is_empty());
        assert!(matching("10.0.0.9").is_empty());
        assert!(DeviceQuery::parse("aabbccddeeff").is_unique());
        assert!(!DeviceQuery::parse("Speaker").is_unique());
        assert_eq!(
            DeviceQuery::parse("Speaker").to_string(),
            "name \"speaker\""
        );
    }
}
