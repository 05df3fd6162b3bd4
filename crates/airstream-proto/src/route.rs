//! Route selection: from a device's [`Capabilities`] (plus what the user forced), decide how to
//! talk to it — or say exactly what it would need that we do not do. One pure function per
//! use: [`select_audio_route`] for audio (AirPlay 1 where the device takes it, AirPlay 2 where
//! it requires it), [`select_play_url_route`] for play_url.
//!
//! Rules come from shared/protocol/raop.md (§1, §2.5, §4.4) and airplay.md (§1.1, §1.7); the
//! per-model exceptions live in [`quirks`], each with its source.

mod display;
mod quirks;
#[cfg(test)]
mod tests;

pub use quirks::{Quirk, quirks};

use crate::capabilities::{
    AdvertisedCodec, AdvertisedEncryption, AudioFormat, Capabilities, Feature, MetadataKind,
    PairingRequirement,
};
use crate::format::Codec;
use crate::raop::Encryption;
use serde::Serialize;
use std::fmt;

/// Which protocol carries the audio to a receiver (and the URL to an Apple TV): what a
/// route chose, or what the user insists on (pyatv#2204 asks for this switch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum Protocol {
    /// AirPlay 1: RAOP audio (ANNOUNCE/SETUP/RECORD, NTP-style timing answered by us) and
    /// AirPlay 1 `/play`.
    #[default]
    #[serde(rename = "airplay1")]
    AirPlay1,
    /// AirPlay 2: HAP pairing, realtime audio (type 96, ALAC) sealed with the stream key and
    /// anchored on our PTP master (UDP 319/320: root or CAP_NET_BIND_SERVICE) or NTP.
    #[serde(rename = "airplay2")]
    AirPlay2,
}

/// Which clock an AirPlay 2 receiver follows (airplay2.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimingProtocol {
    /// We are the PTP master (UDP 319/320); feature bit 41.
    Ptp,
    /// The receiver asks our NTP timing port, as in AirPlay 1.
    Ntp,
}

/// Which protocol carries the audio, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "name")]
pub enum AudioProtocol {
    /// RAOP: ANNOUNCE, SETUP, RECORD; NTP timing.
    #[serde(rename = "airplay1")]
    AirPlay1,
    /// AirPlay 2 realtime audio (type 96).
    #[serde(rename = "airplay2")]
    AirPlay2 {
        /// PTP (feature bit 41) or NTP.
        timing: TimingProtocol,
        /// Its flags require HAP pairing: stored credentials (`airstream pair`) are needed.
        pairing_required: bool,
        /// Transient pairing (bit 43 or 48) opens the session without stored credentials.
        transient_pairing: bool,
    },
}

impl AudioProtocol {
    /// Whether this is AirPlay 2.
    pub fn is_airplay2(self) -> bool {
        matches!(self, Self::AirPlay2 { .. })
    }
}

/// What the user forced; `None` everywhere means "decide from the TXT records".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteOverrides {
    /// Force AirPlay 1 or 2 instead of choosing from the TXT records.
    pub protocol: Option<Protocol>,
    /// Force PTP or NTP timing for AirPlay 2 (PTP alone also means AirPlay 2).
    pub timing: Option<TimingProtocol>,
    /// Force a codec instead of the best the device lists in `cn`.
    pub codec: Option<Codec>,
    /// Force clear or RSA-encrypted audio instead of what `et` and quirks say.
    pub encryption: Option<Encryption>,
    /// Force `POST /auth-setup` on or off.
    pub auth_setup: Option<bool>,
    /// Send exactly these metadata kinds even where `md` does not list them (model quirks
    /// still apply). `None`: what `md` lists.
    pub metadata: Option<Vec<MetadataKind>>,
}

/// Credentials the session will have to present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct RaopAuth {
    /// RTSP Digest with a password (`pw=true` or flag 0x80).
    pub password: bool,
    /// Legacy pair-verify with stored credentials (flag 0x8 or 0x200).
    pub legacy_pairing: bool,
}

/// How to stream audio to one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AudioRoute {
    /// AirPlay 1 (RAOP) or AirPlay 2, with its timing and pairing.
    pub protocol: AudioProtocol,
    /// Payload the audio packets carry.
    pub codec: Codec,
    /// Whether the payload is AES-encrypted (et=1) or clear.
    pub encryption: Encryption,
    /// Credentials the RTSP session must present.
    pub auth: RaopAuth,
    /// Send `POST /auth-setup` before ANNOUNCE.
    pub auth_setup: bool,
    /// Metadata kinds to send, in the order text, artwork, progress.
    pub metadata: Vec<MetadataKind>,
    /// Sample rate, size and channels announced for the stream.
    pub format: AudioFormat,
    /// Model quirks that shaped this route.
    pub quirks: Vec<Quirk>,
    /// The device also speaks AirPlay 2 (pyatv would use it); AirPlay 1 works too.
    pub airplay2_supported: bool,
}

/// How to make a device play a URL (airplay.md §1.1 step 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "path")]
pub enum PlayUrlRoute {
    /// Plain HTTP `/play` on one connection.
    #[serde(rename = "airplay1")]
    AirPlay1 {
        /// Legacy pair-verify with stored credentials first (flag 0x8 or 0x200).
        pair_verify: bool,
        /// RTSP Digest with a password (`pw=true` or flag 0x80).
        password: bool,
    },
    /// tvOS 14+: HAP pair-verify, encrypted RTSP session, then `/play`.
    #[serde(rename = "airplay2")]
    AirPlay2 {
        /// Transient pairing (bit 43 or 48) works when no HAP credentials are stored.
        transient_pairing: bool,
    },
}

/// The missing piece that makes a route impossible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Need {
    /// The device only takes AirPlay 2 streams.
    #[serde(rename = "airplay2")]
    AirPlay2,
    /// Every encryption type it lists is FairPlay/MFi (or unknown).
    FairPlay,
    /// None of its codecs is PCM or ALAC.
    Codec,
    /// It wants RTP over TCP.
    TcpTransport,
    /// Access is limited to members of its home (`act=2`).
    HomeAccess,
    /// It requires pairing but has pairing switched off (`acl=1`).
    PairingEnabled,
    /// No `_raop._tcp` service.
    RaopService,
    /// No `_airplay._tcp` service.
    #[serde(rename = "airplay-service")]
    AirPlayService,
    /// It does not play video/URLs (no video feature bit).
    Video,
}

impl Need {
    /// True when the only way to this device is AirPlay 2.
    pub fn is_airplay2(self) -> bool {
        self == Need::AirPlay2
    }

    fn label(self) -> &'static str {
        match self {
            Need::AirPlay2 => "AirPlay 2",
            Need::FairPlay => "FairPlay/MFi encryption",
            Need::Codec => "an AAC codec",
            Need::TcpTransport => "RTP over TCP",
            Need::HomeAccess => "home membership",
            Need::PairingEnabled => "pairing to be enabled on the device",
            Need::RaopService => "a _raop._tcp service",
            Need::AirPlayService => "an _airplay._tcp service",
            Need::Video => "AirPlay video",
        }
    }
}

/// Why a route is impossible: the need, plus the facts that led there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unsupported {
    /// What the device would need from us.
    pub needs: Need,
    /// The TXT facts that led there, for the user.
    pub detail: String,
}

impl Unsupported {
    fn new(needs: Need, detail: impl Into<String>) -> Self {
        Self {
            needs,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "needs {}: {}", self.needs.label(), self.detail)
    }
}

impl std::error::Error for Unsupported {}

fn list<T: fmt::Display>(items: Option<&Vec<T>>) -> String {
    items.map_or_else(
        || "not advertised".to_string(),
        |items| {
            items
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        },
    )
}

/// Picks protocol, codec, encryption, auth, auth-setup and metadata for audio: AirPlay 1
/// where the device takes it (also when it does both), AirPlay 2 where it requires it (no
/// `_raop._tcp` service, FairPlay-only RAOP, a first-generation HomePod), unless the user
/// forced one.
pub fn select_audio_route(
    caps: &Capabilities,
    overrides: &RouteOverrides,
) -> Result<AudioRoute, Unsupported> {
    let ptp_forced = overrides.timing == Some(TimingProtocol::Ptp);
    match overrides.protocol {
        Some(Protocol::AirPlay2) => airplay2_route(caps, overrides),
        Some(Protocol::AirPlay1) if ptp_forced => Err(Unsupported::new(
            Need::AirPlay2,
            "PTP timing was requested, which is AirPlay 2 only",
        )),
        Some(Protocol::AirPlay1) => airplay1_route(caps, overrides),
        None if ptp_forced => airplay2_route(caps, overrides),
        None => match airplay1_route(caps, overrides) {
            Err(why) if why.needs.is_airplay2() => airplay2_route(caps, overrides),
            route => route,
        },
    }
}

/// AirPlay 2 realtime audio: ALAC (compressed unless forced), sealed with the stream key
/// (no RSA), metadata as `md` lists it; PTP timing where the features offer it (bit 41) or
/// nothing is known, else NTP.
fn airplay2_route(
    caps: &Capabilities,
    overrides: &RouteOverrides,
) -> Result<AudioRoute, Unsupported> {
    check_access(caps)?;
    let quirks = quirks(caps);
    let timing = overrides.timing.unwrap_or(match caps.features {
        Some(features)
            if !features.has(Feature::Ptp) && !quirks.contains(&Quirk::HomePodGen1NeedsPtp) =>
        {
            TimingProtocol::Ntp
        }
        _ => TimingProtocol::Ptp,
    });
    let metadata = choose_metadata(caps, overrides, &quirks);
    Ok(AudioRoute {
        protocol: AudioProtocol::AirPlay2 {
            timing,
            pairing_required: caps.pairing() == PairingRequirement::Mandatory,
            transient_pairing: caps.transient_pairing(),
        },
        codec: overrides.codec.unwrap_or(Codec::Alac),
        encryption: Encryption::None,
        auth: RaopAuth::default(),
        auth_setup: false,
        metadata,
        format: AudioFormat::default(),
        quirks: quirks
            .into_iter()
            .filter(|q| q.shapes_audio_route())
            .collect(),
        airplay2_supported: true,
    })
}

/// RAOP (AirPlay 1) audio, or what makes it impossible.
fn airplay1_route(
    caps: &Capabilities,
    overrides: &RouteOverrides,
) -> Result<AudioRoute, Unsupported> {
    let quirks = quirks(caps);
    let forced_airplay1 = overrides.protocol == Some(Protocol::AirPlay1);
    if !caps.raop && !forced_airplay1 {
        return Err(if caps.airplay2_supported() {
            Unsupported::new(Need::AirPlay2, "it advertises no _raop._tcp service")
        } else {
            Unsupported::new(Need::RaopService, "it advertises no _raop._tcp service")
        });
    }
    if quirks.contains(&Quirk::HomePodGen1NeedsPtp) && !forced_airplay1 {
        return Err(Unsupported::new(
            Need::AirPlay2,
            "a first-generation HomePod only plays AirPlay 2 streams with PTP timing",
        ));
    }
    if caps.transports.is_some_and(|tp| !tp.udp) {
        return Err(Unsupported::new(
            Need::TcpTransport,
            "its tp key lists no UDP transport",
        ));
    }
    check_access(caps)?;

    let (encryption, mfi_only) = choose_encryption(caps, overrides, &quirks)?;
    let auth_setup = overrides
        .auth_setup
        .unwrap_or(mfi_only || quirks.contains(&Quirk::AirPortAuthSetup));
    let codec = choose_codec(caps, overrides)?;
    let metadata = choose_metadata(caps, overrides, &quirks);
    let applied = quirks
        .into_iter()
        .filter(|q| q.shapes_audio_route())
        .collect();
    Ok(AudioRoute {
        protocol: AudioProtocol::AirPlay1,
        codec,
        encryption,
        auth: RaopAuth {
            password: caps.password_required(),
            legacy_pairing: caps.pin_required() || caps.legacy_pairing_required(),
        },
        auth_setup,
        metadata,
        format: caps.audio_format(),
        quirks: applied,
        airplay2_supported: caps.airplay2_supported(),
    })
}

fn check_access(caps: &Capabilities) -> Result<(), Unsupported> {
    match caps.pairing() {
        PairingRequirement::Unsupported => Err(Unsupported::new(
            Need::HomeAccess,
            "act=2: only members of its home may connect",
        )),
        PairingRequirement::Disabled if caps.pin_required() || caps.legacy_pairing_required() => {
            Err(Unsupported::new(
                Need::PairingEnabled,
                "its flags require pairing but acl=1 switches pairing off",
            ))
        }
        _ => Ok(()),
    }
}

/// Returns the encryption and whether MFi-SAP is the only way in (then `/auth-setup` is
/// mandatory and announces "no encryption", raop.md §2.5).
fn choose_encryption(
    caps: &Capabilities,
    overrides: &RouteOverrides,
    quirks: &[Quirk],
) -> Result<(Encryption, bool), Unsupported> {
    if let Some(forced) = overrides.encryption.clone() {
        return Ok((forced, false));
    }
    let rsa_ok = caps.supports_encryption(AdvertisedEncryption::Rsa)
        && !quirks.contains(&Quirk::AirPortRejectsRsa);
    if quirks.contains(&Quirk::AirPortExpressGen1Rsa) || quirks.contains(&Quirk::AirPort4Rsa) {
        return Ok((Encryption::AirPortRsa, false));
    }
    if caps.supports_encryption(AdvertisedEncryption::None) {
        return Ok((Encryption::None, false));
    }
    if rsa_ok {
        return Ok((Encryption::AirPortRsa, false));
    }
    if caps.supports_encryption(AdvertisedEncryption::MfiSap) {
        return Ok((Encryption::None, true));
    }
    let advertised = list(caps.encryption_types.as_ref());
    Err(if caps.airplay2_supported() {
        Unsupported::new(
            Need::AirPlay2,
            format!("its RAOP service only offers et={advertised}, which needs FairPlay"),
        )
    } else if caps.supports_encryption(AdvertisedEncryption::Rsa) {
        Unsupported::new(
            Need::FairPlay,
            format!("et={advertised}, and AirPort firmware 7.8 rejects RSA keys (406)"),
        )
    } else {
        Unsupported::new(Need::FairPlay, format!("et={advertised}"))
    })
}

/// Compressed ALAC when `cn` lists ALAC or is missing, PCM only when it lists PCM but not ALAC.
fn choose_codec(caps: &Capabilities, overrides: &RouteOverrides) -> Result<Codec, Unsupported> {
    if let Some(forced) = overrides.codec {
        return Ok(forced);
    }
    let Some(codecs) = caps.codecs.as_ref() else {
        return Ok(Codec::Alac);
    };
    if codecs.contains(&AdvertisedCodec::Alac) {
        Ok(Codec::Alac)
    } else if codecs.contains(&AdvertisedCodec::Pcm) {
        Ok(Codec::Pcm)
    } else {
        Err(Unsupported::new(
            Need::Codec,
            format!("cn={}", list(Some(codecs))),
        ))
    }
}

fn choose_metadata(
    caps: &Capabilities,
    overrides: &RouteOverrides,
    quirks: &[Quirk],
) -> Vec<MetadataKind> {
    let order = [
        MetadataKind::Text,
        MetadataKind::Artwork,
        MetadataKind::Progress,
    ];
    order
        .into_iter()
        .filter(|kind| match &overrides.metadata {
            Some(forced) => forced.contains(kind),
            None => caps.accepts_metadata(*kind),
        })
        .filter(|kind| {
            *kind != MetadataKind::Text
                || !quirks.contains(&Quirk::AirPortTextOnlyIfListed)
                || caps.accepts_metadata(MetadataKind::Text)
        })
        .collect()
}

/// Picks the AirPlay 1 `/play` path or the tvOS 14+ session path for play_url.
pub fn select_play_url_route(
    caps: &Capabilities,
    overrides: &RouteOverrides,
) -> Result<PlayUrlRoute, Unsupported> {
    let forced = overrides.protocol;
    if forced.is_none() {
        if !caps.airplay {
            return Err(Unsupported::new(
                Need::AirPlayService,
                "it advertises no _airplay._tcp service; play_url needs an Apple TV",
            ));
        }
        if caps.features.is_some_and(|f| !f.has(Feature::Video)) {
            return Err(Unsupported::new(
                Need::Video,
                "its features lack the video bit (speakers and HomePods cannot play URLs)",
            ));
        }
    }
    if caps.pairing() == PairingRequirement::Unsupported {
        return Err(Unsupported::new(
            Need::HomeAccess,
            "act=2: only members of its home may connect",
        ));
    }
    let airplay2 = match forced {
        Some(Protocol::AirPlay2) => true,
        Some(Protocol::AirPlay1) => false,
        None => caps.airplay2_supported(),
    };
    if airplay2 {
        return Ok(PlayUrlRoute::AirPlay2 {
            transient_pairing: caps.transient_pairing(),
        });
    }
    check_access(caps)?;
    Ok(PlayUrlRoute::AirPlay1 {
        pair_verify: caps.pairing() == PairingRequirement::Mandatory,
        password: caps.password_required(),
    })
}

/// Whether a forced codec is one the device lists (for a warning; the user still wins).
pub fn codec_advertised(caps: &Capabilities, codec: Codec) -> bool {
    caps.supports_codec(codec.advertised_as())
}
