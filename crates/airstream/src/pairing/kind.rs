//! Which pairing a device wants, from what discovery learned (airplay2.md §7, pyatv's
//! rules): legacy PIN pairing (AirPlay 1), HAP transient pairing (AirPlay 2, no PIN, nothing
//! stored) or a full HAP PIN pairing.

use airstream_proto::capabilities::{Capabilities, PairingRequirement};

/// The pairing `airstream pair` runs for a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairingKind {
    /// Legacy PIN pairing with Ed25519 credentials (`ID:KEY`): AirPlay 1 Apple TVs, and any
    /// device known only by address.
    Legacy,
    /// AirPlay 2 device that accepts transient pairing: nothing to pair, every session runs a
    /// transient pair-setup with PIN 3939 itself.
    Transient,
    /// AirPlay 2 device that wants a full HAP pairing with the PIN it shows; the credentials
    /// (`LTPK:LTSK:DEVICE_ID:CLIENT_ID`) are stored and verified on every session.
    HapPin,
}

impl PairingKind {
    /// The kind in words, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            PairingKind::Legacy => "legacy PIN pairing (AirPlay 1)",
            PairingKind::Transient => "HAP transient pairing (AirPlay 2, no PIN, nothing stored)",
            PairingKind::HapPin => "HAP PIN pairing (AirPlay 2)",
        }
    }
}

/// Why a device cannot be paired at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CannotPair {
    /// `acl=1`: access control switches pairing off.
    Disabled,
    /// `act=2`: only members of the device's home may connect.
    HomeOnly,
}

/// Picks the pairing for a device. `capabilities` is `None` for a device given by address
/// only: it is paired the legacy way, as before AirPlay 2 support. `pin_given` asks for a
/// full HAP pairing even where transient pairing would do (devices without a screen, such
/// as shairport-sync, accept both, with a fixed PIN).
pub fn pairing_kind(
    capabilities: Option<&Capabilities>,
    pin_given: bool,
) -> Result<PairingKind, CannotPair> {
    let Some(capabilities) = capabilities else {
        return Ok(PairingKind::Legacy);
    };
    let requirement = capabilities.pairing();
    match requirement {
        PairingRequirement::Disabled => return Err(CannotPair::Disabled),
        PairingRequirement::Unsupported => return Err(CannotPair::HomeOnly),
        PairingRequirement::NotNeeded | PairingRequirement::Mandatory => {}
    }
    if !capabilities.airplay2_supported() {
        return Ok(PairingKind::Legacy);
    }
    let pin_wanted = requirement == PairingRequirement::Mandatory || pin_given;
    if capabilities.transient_pairing() && !pin_wanted {
        Ok(PairingKind::Transient)
    } else {
        Ok(PairingKind::HapPin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airstream_proto::capabilities::TxtRecord;

    fn airplay(pairs: &[(&str, &str)]) -> Capabilities {
        Capabilities::from_txt(None, Some(&TxtRecord::from_pairs(pairs)))
    }

    #[test]
    fn kinds_follow_features_and_flags() {
        assert_eq!(pairing_kind(None, false), Ok(PairingKind::Legacy));
        // An AirPlay 1 Apple TV that wants a PIN.
        let atv3 = airplay(&[("features", "0x5A7FFFF7,0x1E"), ("flags", "0x244")]);
        assert_eq!(pairing_kind(Some(&atv3), false), Ok(PairingKind::Legacy));
        // shairport-sync 4.3.7 with AirPlay 2: bit 48, no PIN flag.
        let shairport = airplay(&[("features", "0x405C4A00,0x1C340"), ("flags", "0x4")]);
        assert_eq!(
            pairing_kind(Some(&shairport), false),
            Ok(PairingKind::Transient)
        );
        assert_eq!(
            pairing_kind(Some(&shairport), true),
            Ok(PairingKind::HapPin)
        );
        // A tvOS 14+ Apple TV showing a PIN (flag 0x8).
        let tvos = airplay(&[("features", "0x4A7FDFD5,0xBC157FDE"), ("flags", "0x8")]);
        assert_eq!(pairing_kind(Some(&tvos), false), Ok(PairingKind::HapPin));
        // AirPlay 2 without transient pairing bits (38 only).
        let no_transient = airplay(&[("features", "0x0,0x40")]);
        assert_eq!(
            pairing_kind(Some(&no_transient), false),
            Ok(PairingKind::HapPin)
        );
        let home_only = airplay(&[("features", "0x405C4A00,0x1C340"), ("act", "2")]);
        assert_eq!(
            pairing_kind(Some(&home_only), false),
            Err(CannotPair::HomeOnly)
        );
        let off = airplay(&[("features", "0x405C4A00,0x1C340"), ("acl", "1")]);
        assert_eq!(pairing_kind(Some(&off), false), Err(CannotPair::Disabled));
    }
}
