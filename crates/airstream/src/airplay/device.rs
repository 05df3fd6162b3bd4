//! The Apple TV to play on: an address plus what discovery learned about it, and the route
//! (AirPlay 1 `/play`, or the tvOS 14+ session path that is not built) chosen from that.

use crate::error::{Error, Result};
use airstream_proto::capabilities::{Capabilities, ServiceKind};
use airstream_proto::route::{PlayUrlRoute, RouteOverrides, select_play_url_route};
use std::net::SocketAddr;

/// A device to send `/play` to: its AirPlay service address (usually port 7000) and, when
/// discovery found it, its name and TXT-record capabilities. Without capabilities it is
/// treated as an AirPlay 1 Apple TV with nothing advertised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AirPlayDevice {
    /// The AirPlay service's address (usually port 7000).
    pub address: SocketAddr,
    /// The name discovery found, for messages.
    pub name: Option<String>,
    /// What its TXT records advertise; decides the route and pairing.
    pub capabilities: Option<Capabilities>,
}

/// How `play_url` reaches this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlayRoute {
    /// Plain `/play` (with legacy pair-verify when the device asks for it).
    AirPlay1(Airplay1Route),
    /// tvOS 14+: an encrypted AirPlay 2 session first (airplay.md §1.7).
    AirPlay2 {
        /// Transient pairing works when no HAP credentials are given.
        transient_pairing: bool,
    },
}

/// What the AirPlay 1 session must do on this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Airplay1Route {
    /// The device wants legacy pair-verify before `/play` (status flag 0x8 or 0x200).
    pub(crate) pair_verify: bool,
}

impl AirPlayDevice {
    /// A device at `address` with nothing known about it (AirPlay 1 assumed).
    pub fn new(address: SocketAddr) -> Self {
        Self {
            address,
            name: None,
            capabilities: None,
        }
    }

    /// Names the device in messages (builder form).
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Attaches the TXT capabilities the route is chosen from (builder form).
    #[must_use]
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = Some(capabilities);
        self
    }

    /// How messages name the device: its name with the address, or the address alone.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{name} ({})", self.address),
            None => self.address.to_string(),
        }
    }

    /// The exact command that pairs with this device: by its advertised id when discovery
    /// found one (that is also the key its credentials are stored under), else by address.
    pub fn pair_command(&self) -> String {
        match self
            .capabilities
            .as_ref()
            .and_then(|c| c.device_id.as_deref())
        {
            Some(id) => format!("airstream pair --device {id}"),
            None => format!("airstream pair --address {}", self.address),
        }
    }

    /// The route to play URLs on this device, or `Unsupported` when it needs something not
    /// built (a password, or a device that cannot play URLs at all).
    pub(crate) fn play_route(&self) -> Result<PlayRoute> {
        let assumed;
        let capabilities = if let Some(capabilities) = &self.capabilities {
            capabilities
        } else {
            // Given by address only: an AirPlay service with nothing advertised.
            assumed = Capabilities::assumed(ServiceKind::AirPlay);
            &assumed
        };
        match select_play_url_route(capabilities, &RouteOverrides::default()) {
            Ok(PlayUrlRoute::AirPlay1 { password: true, .. }) => Err(Error::Unsupported(format!(
                "{} requires an AirPlay password, which play_url does not support yet",
                self.label()
            ))),
            Ok(PlayUrlRoute::AirPlay1 { pair_verify, .. }) => {
                Ok(PlayRoute::AirPlay1(Airplay1Route { pair_verify }))
            }
            Ok(PlayUrlRoute::AirPlay2 { transient_pairing }) => {
                Ok(PlayRoute::AirPlay2 { transient_pairing })
            }
            Err(unsupported) => Err(Error::Unsupported(format!(
                "{} cannot play URLs: {unsupported}",
                self.label()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airstream_proto::capabilities::TxtRecord;

    fn device(txt: &[(&str, &str)]) -> AirPlayDevice {
        let txt = TxtRecord::from_pairs(txt);
        AirPlayDevice::new("127.0.0.1:7000".parse().unwrap())
            .with_name("Living Room")
            .with_capabilities(Capabilities::from_txt(None, Some(&txt)))
    }

    #[test]
    fn a_bare_address_is_an_airplay1_device_without_pairing() {
        let device = AirPlayDevice::new("127.0.0.1:7000".parse().unwrap());
        assert_eq!(
            device.play_route().unwrap(),
            PlayRoute::AirPlay1(Airplay1Route { pair_verify: false })
        );
    }

    #[test]
    fn an_apple_tv_3_takes_the_airplay1_path() {
        // Apple TV 3: 0x5A7FFFF7,0x1E has no bit 38 or 48.
        let device = device(&[("features", "0x5A7FFFF7,0x1E"), ("flags", "0x44")]);
        assert_eq!(
            device.play_route().unwrap(),
            PlayRoute::AirPlay1(Airplay1Route { pair_verify: false })
        );
    }

    #[test]
    fn legacy_pairing_flags_ask_for_pair_verify() {
        let device = device(&[("features", "0x5A7FFFF7,0x1E"), ("flags", "0x204")]);
        assert_eq!(
            device.play_route().unwrap(),
            PlayRoute::AirPlay1(Airplay1Route { pair_verify: true })
        );
    }

    #[test]
    fn the_pair_command_names_the_device_id_when_discovery_knows_it() {
        let bare = AirPlayDevice::new("127.0.0.1:7000".parse().unwrap());
        assert_eq!(
            bare.pair_command(),
            "airstream pair --address 127.0.0.1:7000"
        );
        let found = device(&[
            ("features", "0x5A7FFFF7,0x1E"),
            ("deviceid", "58:55:ca:1a:e2:88"),
        ]);
        assert_eq!(
            found.pair_command(),
            "airstream pair --device 58:55:CA:1A:E2:88"
        );
    }

    #[test]
    fn tvos14_devices_take_the_airplay2_session_path() {
        // tvOS 14 Apple TV 4K: 0x4A7FDFD5,0xBC157FDE has bits 38 and 48.
        let device = device(&[("features", "0x4A7FDFD5,0xBC157FDE")]);
        assert_eq!(
            device.play_route().unwrap(),
            PlayRoute::AirPlay2 {
                transient_pairing: true
            }
        );
    }

    #[test]
    fn speakers_and_password_devices_are_refused() {
        // Video bit 0 clear: a speaker.
        let speaker = device(&[("features", "0x445F8A00,0x1C340")]);
        assert_eq!(
            speaker.play_route().unwrap_err().kind(),
            crate::ErrorKind::Unsupported
        );
        let locked = device(&[("features", "0x5A7FFFF7,0x1E"), ("pw", "true")]);
        let err = locked.play_route().unwrap_err();
        assert!(err.to_string().contains("password"), "{err}");
    }
}
