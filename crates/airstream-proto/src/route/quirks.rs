//! Devices known to need something the TXT records do not say. Keyed by model (`am`/`model`);
//! each entry names where the knowledge comes from (GitHub threads: pyatv unless a repository is
//! named; notes: shared/protocol/*.md, shared/anchors.md).

use crate::capabilities::{AdvertisedEncryption, Capabilities};
use serde::Serialize;

/// A device model's known deviation from its TXT records, and what we do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Quirk {
    /// AirPort Express gen 1 advertises no `am`; it wants RSA+AES although et lists 0.
    #[serde(rename = "airport-express-gen1-rsa")]
    AirPortExpressGen1Rsa,
    /// `AirPort4,*` (AirPort Express gen 2): RSA+AES as well.
    #[serde(rename = "airport4-rsa")]
    AirPort4Rsa,
    /// Other AirPort models on AirPlay 2 firmware 7.8 answer 406 to an RSA key.
    #[serde(rename = "airport-rejects-rsa")]
    AirPortRejectsRsa,
    /// AirPort with et∋4 needs `POST /auth-setup` before ANNOUNCE (else 403).
    #[serde(rename = "airport-auth-setup")]
    AirPortAuthSetup,
    /// AirPort Express answers text metadata with an error unless `md` lists text.
    #[serde(rename = "airport-text-only-if-listed")]
    AirPortTextOnlyIfListed,
    /// HomePod gen 1 times out on SETUP without PTP timing: AirPlay 2 only.
    #[serde(rename = "homepod-gen1-needs-ptp")]
    HomePodGen1NeedsPtp,
}

impl Quirk {
    /// One line for the user saying what the quirk changes.
    pub fn description(self) -> &'static str {
        match self {
            Quirk::AirPortExpressGen1Rsa => "AirPort Express (1st gen) needs RSA encryption",
            Quirk::AirPort4Rsa => "AirPort4 models need RSA encryption",
            Quirk::AirPortRejectsRsa => "AirPort firmware 7.8 rejects RSA keys",
            Quirk::AirPortAuthSetup => "AirPort with MFi-SAP needs /auth-setup",
            Quirk::AirPortTextOnlyIfListed => "AirPort errors on text metadata it did not list",
            Quirk::HomePodGen1NeedsPtp => "HomePod (1st gen) needs AirPlay 2 with PTP",
        }
    }

    /// Whether the quirk changes an [`super::AudioRoute`] it appears in (the HomePod one only
    /// ever makes the route impossible).
    pub(super) fn shapes_audio_route(self) -> bool {
        self != Quirk::HomePodGen1NeedsPtp
    }
}

fn model_starts_with(caps: &Capabilities, prefix: &str) -> bool {
    caps.model.as_deref().is_some_and(|m| {
        m.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    })
}

fn is_airport(caps: &Capabilities) -> bool {
    model_starts_with(caps, "AirPort")
}

/// `et` does not rule RSA out: it lists 1, or there is no `et` at all.
fn rsa_allowed_by_et(caps: &Capabilities) -> bool {
    caps.encryption_types.is_none() || caps.supports_encryption(AdvertisedEncryption::Rsa)
}

type Rule = (Quirk, fn(&Capabilities) -> bool);

const TABLE: &[Rule] = &[
    // raop.md §4.4 (OwnTone raop.c: no `am` ⇒ AirPort Express gen 1 ⇒ RSA+AES) and §3 (its
    // uppercase digest). Only when et lists 1, so a bare `--address` device stays unencrypted.
    (Quirk::AirPortExpressGen1Rsa, |caps| {
        caps.raop && caps.model.is_none() && caps.supports_encryption(AdvertisedEncryption::Rsa)
    }),
    // raop.md §4.4 (OwnTone raop.c: `AirPort4,*` ⇒ RSA+AES).
    (Quirk::AirPort4Rsa, |caps| {
        model_starts_with(caps, "AirPort4,") && rsa_allowed_by_et(caps)
    }),
    // raop.md §2.4 and §10: pyatv#1077, AirPort Express on AirPlay 2 firmware 7.8 answers 406
    // to an RSA key; OwnTone streams in clear to every AirPort but AirPort4 (raop.md §4.4).
    (Quirk::AirPortRejectsRsa, |caps| {
        is_airport(caps) && !model_starts_with(caps, "AirPort4,")
    }),
    // raop.md §2.5: pyatv sends /auth-setup only to `am=AirPort*` with et∋4 (pyatv#1134: a
    // Yamaha with et=0,4 goes silent after an unfinished auth-setup); needed by fw 7.8.
    (Quirk::AirPortAuthSetup, |caps| {
        is_airport(caps) && caps.supports_encryption(AdvertisedEncryption::MfiSap)
    }),
    // raop.md §1 (`md` row): AirPort Express errors on text metadata (pyatv PR #1098).
    (Quirk::AirPortTextOnlyIfListed, is_airport),
    // anchors.md §1 (jburnhams/airplay2-rs notes: HomePod gen 1 times out on SETUP unless
    // timingProtocol=PTP) and §2 (shairport-sync#1407, owntone#2011: PTP-only receivers are
    // silent with NTP senders). `AudioAccessory1,*` is the first-generation HomePod.
    (Quirk::HomePodGen1NeedsPtp, |caps| {
        model_starts_with(caps, "AudioAccessory1,")
    }),
];

/// Every quirk that applies to this device, in table order.
pub fn quirks(caps: &Capabilities) -> Vec<Quirk> {
    TABLE
        .iter()
        .filter(|(_, applies)| applies(caps))
        .map(|(quirk, _)| *quirk)
        .collect()
}
