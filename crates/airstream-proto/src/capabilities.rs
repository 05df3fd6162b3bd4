//! What an AirPlay device can do, read from the TXT records of its `_raop._tcp` and
//! `_airplay._tcp` mDNS services (keys and meanings: shared/protocol/raop.md §1 and
//! airplay.md §1.1/§1.7).
//!
//! Parsing never fails: a receiver with an odd or broken TXT record is still listed, and every
//! value we could not use becomes a [`TxtWarning`] in [`Capabilities::warnings`]. Keys are
//! case-insensitive and the first occurrence of a key wins (RFC 6763 §6.4).

mod parse;
#[cfg(test)]
mod tests;

use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// The two DNS-SD service types an AirPlay device advertises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    /// `_raop._tcp`: AirPlay 1 audio (RTSP); instance name `<MAC>@<name>`.
    Raop,
    /// `_airplay._tcp`: video/URLs, pairing, AirPlay 2; instance name `<name>`.
    AirPlay,
}

impl ServiceKind {
    /// Fully qualified type to browse for.
    pub fn service_type(self) -> &'static str {
        match self {
            ServiceKind::Raop => "_raop._tcp.local.",
            ServiceKind::AirPlay => "_airplay._tcp.local.",
        }
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServiceKind::Raop => "_raop._tcp",
            ServiceKind::AirPlay => "_airplay._tcp",
        })
    }
}

/// Normalises a device id / MAC address written as `aabbccddeeff`, `AA-BB-CC-DD-EE-FF` or
/// `aa:bb:cc:dd:ee:ff` to `AA:BB:CC:DD:EE:FF`; anything else is not a device id.
pub fn normalize_device_id(text: &str) -> Option<String> {
    let text = text.trim();
    let digits: String = if text.len() == 17 {
        let sep = text.as_bytes()[2];
        if !(sep == b':' || sep == b'-') {
            return None;
        }
        let parts: Vec<&str> = text.split(sep as char).collect();
        if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
            return None;
        }
        parts.concat()
    } else {
        text.to_string()
    };
    if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let upper = digits.to_ascii_uppercase();
    let pairs: Vec<&str> = (0..6).map(|i| &upper[i * 2..i * 2 + 2]).collect();
    Some(pairs.join(":"))
}

/// One TXT record as received: entries in wire order, values as raw bytes (RFC 6763 allows
/// any bytes). `None` is a key without `=` (a boolean attribute), `Some(b"")` is `key=`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxtRecord {
    entries: Vec<(String, Option<Vec<u8>>)>,
}

impl TxtRecord {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a record from `key=value` string pairs (tests, fixtures, manual devices).
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Self {
        let mut record = Self::new();
        for (key, value) in pairs {
            record.push(key.as_ref(), Some(value.as_ref().as_bytes()));
        }
        record
    }

    /// Appends an entry; `None` is a bare key (boolean attribute).
    pub fn push(&mut self, key: impl Into<String>, value: Option<&[u8]>) {
        self.entries.push((key.into(), value.map(<[u8]>::to_vec)));
    }

    /// Entries in the order they were received, duplicates included.
    pub fn entries(&self) -> impl Iterator<Item = (&str, Option<&[u8]>)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_deref()))
    }

    /// First value of `key` (case-insensitive), as RFC 6763 §6.4 asks.
    pub fn get(&self, key: &str) -> Option<Option<&[u8]>> {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_deref())
    }

    /// Number of entries, duplicates included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the record has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `cn`: audio codecs the receiver decodes (raop.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AdvertisedCodec {
    /// 0: raw 16-bit big-endian PCM (`L16`).
    Pcm,
    /// 1: Apple Lossless.
    Alac,
    /// 2: AAC-LC.
    Aac,
    /// 3: AAC-ELD.
    AacEld,
    /// A code this parser does not know, kept as advertised.
    Unknown(u32),
}

impl AdvertisedCodec {
    fn from_code(code: u32) -> Self {
        match code {
            0 => AdvertisedCodec::Pcm,
            1 => AdvertisedCodec::Alac,
            2 => AdvertisedCodec::Aac,
            3 => AdvertisedCodec::AacEld,
            other => AdvertisedCodec::Unknown(other),
        }
    }
}

impl fmt::Display for AdvertisedCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdvertisedCodec::Pcm => f.write_str("pcm"),
            AdvertisedCodec::Alac => f.write_str("alac"),
            AdvertisedCodec::Aac => f.write_str("aac"),
            AdvertisedCodec::AacEld => f.write_str("aac-eld"),
            AdvertisedCodec::Unknown(n) => write!(f, "unknown({n})"),
        }
    }
}

/// `et`: how the receiver accepts the audio key (raop.md §1, §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AdvertisedEncryption {
    /// 0: unencrypted.
    None,
    /// 1: AES key wrapped with Apple's AirPort RSA key.
    Rsa,
    /// 3: FairPlay.
    FairPlay,
    /// 4: MFi-SAP (`/auth-setup`).
    MfiSap,
    /// 5: FairPlay SAPv2.5.
    FairPlaySap25,
    /// A code this parser does not know, kept as advertised.
    Unknown(u32),
}

impl AdvertisedEncryption {
    fn from_code(code: u32) -> Self {
        match code {
            0 => AdvertisedEncryption::None,
            1 => AdvertisedEncryption::Rsa,
            3 => AdvertisedEncryption::FairPlay,
            4 => AdvertisedEncryption::MfiSap,
            5 => AdvertisedEncryption::FairPlaySap25,
            other => AdvertisedEncryption::Unknown(other),
        }
    }
}

impl fmt::Display for AdvertisedEncryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdvertisedEncryption::None => f.write_str("none"),
            AdvertisedEncryption::Rsa => f.write_str("rsa"),
            AdvertisedEncryption::FairPlay => f.write_str("fairplay"),
            AdvertisedEncryption::MfiSap => f.write_str("mfi-sap"),
            AdvertisedEncryption::FairPlaySap25 => f.write_str("fairplay-sap2.5"),
            AdvertisedEncryption::Unknown(n) => write!(f, "unknown({n})"),
        }
    }
}

/// `md`: metadata the receiver accepts over SET_PARAMETER (raop.md §1, §2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetadataKind {
    /// 0: DMAP text (title, artist, album).
    Text,
    /// 1: cover art.
    Artwork,
    /// 2: `progress`.
    Progress,
    /// A code this parser does not know, kept as advertised.
    Unknown(u32),
}

impl MetadataKind {
    fn from_code(code: u32) -> Self {
        match code {
            0 => MetadataKind::Text,
            1 => MetadataKind::Artwork,
            2 => MetadataKind::Progress,
            other => MetadataKind::Unknown(other),
        }
    }
}

impl fmt::Display for MetadataKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetadataKind::Text => f.write_str("text"),
            MetadataKind::Artwork => f.write_str("artwork"),
            MetadataKind::Progress => f.write_str("progress"),
            MetadataKind::Unknown(n) => write!(f, "unknown({n})"),
        }
    }
}

macro_rules! serialize_as_display {
    ($($ty:ty),*) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
    )*};
}
serialize_as_display!(
    AdvertisedCodec,
    AdvertisedEncryption,
    MetadataKind,
    Features,
    StatusFlags,
    PublicKey
);

/// Named bits of the 64-bit `ft`/`features` value. Bits 9, 38, 40, 41, 43, 48 are from
/// raop.md §1 (pyatv utils.py); bit 0 is AirPlay video in pyatv's `AirPlayFlags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// Bit 0: plays video and URLs (AirPlay 1 `/play`).
    Video,
    /// Bit 9: takes audio.
    Audio,
    /// Bit 38: unified media control (an AirPlay 2 marker).
    UnifiedMediaControl,
    /// Bit 40: buffered audio (AirPlay 2 stream type 103).
    BufferedAudio,
    /// Bit 41: PTP timing.
    Ptp,
    /// Bit 43: system pairing (transient HAP pairing works).
    SystemPairing,
    /// Bit 48: CoreUtils pairing and encryption (HAP; transient pairing works).
    CoreUtilsPairing,
}

impl Feature {
    /// The bit's position in the 64-bit features value.
    pub fn bit(self) -> u8 {
        match self {
            Feature::Video => 0,
            Feature::Audio => 9,
            Feature::UnifiedMediaControl => 38,
            Feature::BufferedAudio => 40,
            Feature::Ptp => 41,
            Feature::SystemPairing => 43,
            Feature::CoreUtilsPairing => 48,
        }
    }
}

/// Feature bits; the TXT form `0xLO,0xHI` puts the upper 32 bits second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features(pub u64);

impl Features {
    /// True when the named feature's bit is set.
    pub fn has(self, feature: Feature) -> bool {
        self.has_bit(feature.bit())
    }

    /// True when bit `bit` (0–63) is set; false beyond 63.
    pub fn has_bit(self, bit: u8) -> bool {
        bit < 64 && self.0 & (1 << bit) != 0
    }
}

impl fmt::Display for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:X}", self.0)
    }
}

/// `sf` (RAOP) / `flags` (AirPlay) status bits (raop.md §1, airplay.md §1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusFlags(pub u64);

impl StatusFlags {
    /// 0x8: PIN pairing required.
    pub const PIN_REQUIRED: u64 = 0x8;
    /// 0x80: password (RTSP Digest) required.
    pub const PASSWORD_REQUIRED: u64 = 0x80;
    /// Legacy pairing ("device verification") required.
    pub const LEGACY_PAIRING_REQUIRED: u64 = 0x200;

    /// True when every bit of `bits` is set.
    pub fn contains(self, bits: u64) -> bool {
        self.0 & bits == bits
    }
}

impl fmt::Display for StatusFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:X}", self.0)
    }
}

/// `pk`: the device's Ed25519 public key (pairing, pair-verify signature check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub [u8; 32]);

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// `tp`: RTP transports for audio. Senders need UDP (OwnTone drops devices without it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Transports {
    /// `UDP` is listed: RTP over UDP, the only transport we send.
    pub udp: bool,
    /// `TCP` is listed: RTP over TCP.
    pub tcp: bool,
}

/// PCM format the receiver plays; real devices all say 44100/16/2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AudioFormat {
    /// Frames per second (`sr`).
    pub sample_rate: u32,
    /// Bits per sample (`ss`).
    pub sample_size: u16,
    /// Channels (`ch`).
    pub channels: u16,
}

impl Default for AudioFormat {
    fn default() -> Self {
        Self {
            sample_rate: 44_100,
            sample_size: 16,
            channels: 2,
        }
    }
}

/// Version strings as advertised; informative only (no decision depends on them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Versions {
    /// `txtvers`.
    pub txt: Option<u32>,
    /// `vn`: RAOP protocol version (65537 = 1.1).
    pub protocol: Option<u32>,
    /// `protovers` (AirPlay), e.g. "1.1".
    pub airplay_protocol: Option<String>,
    /// `vs` (RAOP) / `srcvers` (AirPlay): AirTunes server version, e.g. "366.0".
    pub server: Option<String>,
    /// `ov` / `osvers`.
    pub os: Option<String>,
    /// `fv`.
    pub firmware: Option<String>,
}

/// Whether, and how, a device wants a sender to pair (pyatv's PairingRequirement).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PairingRequirement {
    /// No flag asks for pairing: connect directly.
    NotNeeded,
    /// `sf`/`flags` has 0x8 or 0x200: a PIN pairing, then pair-verify on every connection.
    Mandatory,
    /// `acl=1`: access control is on and pairing is switched off on the device.
    Disabled,
    /// `act=2`: only members of the device's home ("current user") may connect.
    Unsupported,
}

/// How a device relates to AirPlay 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AirPlay2 {
    /// Nothing in the TXT records points to AirPlay 2.
    No,
    /// Feature bit 38 or 48: pyatv would pick AirPlay 2, but AirPlay 1 also works.
    Supported,
    /// AirPlay 1 (RAOP) audio cannot work with this device; see [`crate::route`].
    Required,
}

/// A TXT value we could not use, kept so `scan` can show why a field is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TxtWarning {
    /// The record (`_raop._tcp` or `_airplay._tcp`) the value came from.
    pub service: ServiceKind,
    /// The TXT key.
    pub key: String,
    /// The value as received (lossy UTF-8, shortened).
    pub value: String,
    /// Why the value was not used.
    pub problem: String,
}

impl fmt::Display for TxtWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} TXT {}={:?}: {}",
            self.service, self.key, self.value, self.problem
        )
    }
}

/// Everything the TXT records of one device say, typed. `None` means "not advertised".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// A `_raop._tcp` record was part of the input.
    pub raop: bool,
    /// An `_airplay._tcp` record was part of the input.
    pub airplay: bool,
    /// `cn`, in advertised order.
    pub codecs: Option<Vec<AdvertisedCodec>>,
    /// `et`, in advertised order.
    pub encryption_types: Option<Vec<AdvertisedEncryption>>,
    /// `md`, in advertised order.
    pub metadata: Option<Vec<MetadataKind>>,
    /// `pw`.
    pub password: Option<bool>,
    /// `da`: digest authentication supported.
    pub digest_auth: Option<bool>,
    /// `ek`.
    pub encryption_key: Option<bool>,
    /// `sr`.
    pub sample_rate: Option<u32>,
    /// `ss`.
    pub sample_size: Option<u16>,
    /// `ch`.
    pub channels: Option<u16>,
    /// `ft` / `features`.
    pub features: Option<Features>,
    /// `sf` / `flags`.
    pub status_flags: Option<StatusFlags>,
    /// `am` / `model`.
    pub model: Option<String>,
    /// Version strings (`txtvers`, `vn`, `vs`, `ov`, `fv`...).
    pub versions: Versions,
    /// `deviceid`, normalised to `AA:BB:CC:DD:EE:FF`.
    pub device_id: Option<String>,
    /// `pk`.
    pub public_key: Option<PublicKey>,
    /// `tp`.
    pub transports: Option<Transports>,
    /// `sv`: the receiver wants the sender to scale the volume itself.
    pub software_volume: Option<bool>,
    /// `sm`: ... and to mute itself.
    pub software_mute: Option<bool>,
    /// `acl`: access control level (1 = restricted, pairing disabled).
    pub access_control_level: Option<u32>,
    /// `act`: access control type (2 = current user only).
    pub access_control_type: Option<u32>,
    /// Keys this parser does not interpret (`gid`, `pi`, `vv`, …), values lossy UTF-8.
    pub other: BTreeMap<String, String>,
    /// Values that could not be used, and why.
    pub warnings: Vec<TxtWarning>,
}

impl Capabilities {
    /// Parses the TXT records of one device: its `_raop._tcp` record, its `_airplay._tcp`
    /// record, or both. Where both carry the same fact (`ft`/`features`, `sf`/`flags`,
    /// `am`/`model`, `pk`, …) the RAOP value is used and a disagreement becomes a warning.
    pub fn from_txt(raop: Option<&TxtRecord>, airplay: Option<&TxtRecord>) -> Self {
        parse::from_txt(raop, airplay)
    }

    /// What we assume about a device given only as `--address HOST:PORT`: the service is
    /// there and every key is missing, so every default applies.
    pub fn assumed(service: ServiceKind) -> Self {
        let empty = TxtRecord::new();
        match service {
            ServiceKind::Raop => Self::from_txt(Some(&empty), None),
            ServiceKind::AirPlay => Self::from_txt(None, Some(&empty)),
        }
    }

    fn flags(&self) -> StatusFlags {
        self.status_flags.unwrap_or_default()
    }

    fn has_feature(&self, feature: Feature) -> bool {
        self.features.is_some_and(|f| f.has(feature))
    }

    /// `pw=true` or status flag 0x80 (pyatv airplay/utils.py).
    pub fn password_required(&self) -> bool {
        self.password == Some(true) || self.flags().contains(StatusFlags::PASSWORD_REQUIRED)
    }

    /// Status flag 0x8: the device shows a PIN and wants it entered.
    pub fn pin_required(&self) -> bool {
        self.flags().contains(StatusFlags::PIN_REQUIRED)
    }

    /// Status flag 0x200: legacy pairing / device verification.
    pub fn legacy_pairing_required(&self) -> bool {
        self.flags().contains(StatusFlags::LEGACY_PAIRING_REQUIRED)
    }

    /// pyatv's rule: pairing is mandatory if `sf`/`flags` & 0x208, unless access control
    /// makes it impossible (`act=2`) or switched off (`acl=1`).
    pub fn pairing(&self) -> PairingRequirement {
        if self.access_control_type == Some(2) {
            PairingRequirement::Unsupported
        } else if self.access_control_level == Some(1) {
            PairingRequirement::Disabled
        } else if self.pin_required() || self.legacy_pairing_required() {
            PairingRequirement::Mandatory
        } else {
            PairingRequirement::NotNeeded
        }
    }

    /// Feature bit 43 or 48: transient pairing (PIN 3939, no user action) is possible.
    pub fn transient_pairing(&self) -> bool {
        self.has_feature(Feature::SystemPairing) || self.has_feature(Feature::CoreUtilsPairing)
    }

    /// Feature bit 38 or 48: pyatv would choose AirPlay 2 for this device.
    pub fn airplay2_supported(&self) -> bool {
        self.has_feature(Feature::UnifiedMediaControl)
            || self.has_feature(Feature::CoreUtilsPairing)
    }

    /// Whether AirPlay 1 audio is possible, or AirPlay 2 would be needed (model quirks
    /// included, so this agrees with [`crate::route::select_audio_route`]).
    pub fn airplay2(&self) -> AirPlay2 {
        let default = crate::route::RouteOverrides::default();
        match crate::route::select_audio_route(self, &default) {
            Ok(route) if route.protocol.is_airplay2() => AirPlay2::Required,
            Err(unsupported) if unsupported.needs.is_airplay2() => AirPlay2::Required,
            _ if self.airplay2_supported() => AirPlay2::Supported,
            _ => AirPlay2::No,
        }
    }

    /// `sr`/`ss`/`ch` with the defaults pyatv uses for missing keys.
    pub fn audio_format(&self) -> AudioFormat {
        let default = AudioFormat::default();
        AudioFormat {
            sample_rate: self.sample_rate.unwrap_or(default.sample_rate),
            sample_size: self.sample_size.unwrap_or(default.sample_size),
            channels: self.channels.unwrap_or(default.channels),
        }
    }

    /// `cn` lists `codec`. A missing `cn` counts as "PCM and ALAC" (every RAOP receiver).
    pub fn supports_codec(&self, codec: AdvertisedCodec) -> bool {
        self.codecs.as_ref().map_or(
            matches!(codec, AdvertisedCodec::Pcm | AdvertisedCodec::Alac),
            |c| c.contains(&codec),
        )
    }

    /// `et` lists `kind`. A missing `et` counts as "unencrypted only" (pyatv's default).
    pub fn supports_encryption(&self, kind: AdvertisedEncryption) -> bool {
        self.encryption_types
            .as_ref()
            .map_or(kind == AdvertisedEncryption::None, |e| e.contains(&kind))
    }

    /// `md` lists `kind`. A missing `md` means no metadata at all (pyatv parsers.py).
    pub fn accepts_metadata(&self, kind: MetadataKind) -> bool {
        self.metadata.as_ref().is_some_and(|m| m.contains(&kind))
    }
}
