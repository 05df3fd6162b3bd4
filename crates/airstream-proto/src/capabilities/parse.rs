//! TXT value parsers. Each one either yields a typed value or records why not; nothing here
//! can fail a scan.

use super::{
    AdvertisedCodec, AdvertisedEncryption, Capabilities, Features, MetadataKind, PublicKey,
    ServiceKind, StatusFlags, Transports, TxtRecord, TxtWarning, Versions,
};
use std::collections::HashSet;
use std::fmt::Display;

/// More list items than any real device sends (cn has 4, et 5, md 3).
const MAX_LIST_ITEMS: usize = 16;
/// One TXT string is at most 255 bytes on the wire; anything longer did not come from mDNS.
const MAX_STRING_BYTES: usize = 255;
/// Unknown keys kept for display; a flood of junk keys must not grow the result unbounded.
const MAX_OTHER_KEYS: usize = 64;
/// Warnings kept per device; the rest are counted in one last warning.
const MAX_WARNINGS: usize = 32;
/// Characters of a bad value quoted in a warning.
const MAX_QUOTED_CHARS: usize = 64;

struct Warnings {
    list: Vec<TxtWarning>,
    dropped: usize,
}

impl Warnings {
    fn add(
        &mut self,
        service: ServiceKind,
        key: &str,
        value: Option<&[u8]>,
        problem: impl Into<String>,
    ) {
        if self.list.len() >= MAX_WARNINGS {
            self.dropped += 1;
            return;
        }
        self.list.push(TxtWarning {
            service,
            key: key.to_string(),
            value: quote(value),
            problem: problem.into(),
        });
    }

    fn finish(mut self) -> Vec<TxtWarning> {
        if self.dropped > 0
            && let Some(last) = self.list.last().cloned()
        {
            self.list.push(TxtWarning {
                problem: format!("{} more warnings not shown", self.dropped),
                key: String::new(),
                value: String::new(),
                ..last
            });
        }
        self.list
    }
}

fn quote(value: Option<&[u8]>) -> String {
    let text = String::from_utf8_lossy(value.unwrap_or_default());
    if text.chars().count() > MAX_QUOTED_CHARS {
        let mut short: String = text.chars().take(MAX_QUOTED_CHARS).collect();
        short.push('…');
        short
    } else {
        text.into_owned()
    }
}

/// One TXT entry being parsed, with the context a warning needs.
struct Entry<'a, 'w> {
    service: ServiceKind,
    key: &'a str,
    raw: Option<&'a [u8]>,
    warnings: &'w mut Warnings,
}

impl Entry<'_, '_> {
    fn warn(&mut self, problem: impl Into<String>) {
        self.warnings.add(self.service, self.key, self.raw, problem);
    }

    /// The value as trimmed UTF-8 text, or a warning saying why there is none.
    fn text(&mut self) -> Option<String> {
        let Some(raw) = self.raw else {
            self.warn("key without a value");
            return None;
        };
        let Ok(text) = std::str::from_utf8(raw).map(str::trim) else {
            self.warn("value is not UTF-8");
            return None;
        };
        if text.is_empty() {
            self.warn("empty value");
            return None;
        }
        Some(text.to_string())
    }

    /// Free text (model, versions): non-UTF-8 is kept lossily, overlong is cut.
    fn string(&mut self) -> Option<String> {
        let Some(raw) = self.raw else {
            self.warn("key without a value");
            return None;
        };
        let mut text = if let Ok(text) = std::str::from_utf8(raw) {
            text.trim().to_string()
        } else {
            self.warn("value is not UTF-8; kept with replacement characters");
            String::from_utf8_lossy(raw).trim().to_string()
        };
        if text.is_empty() {
            self.warn("empty value");
            return None;
        }
        if text.len() > MAX_STRING_BYTES {
            self.warn(format!("longer than {MAX_STRING_BYTES} bytes; shortened"));
            let mut end = MAX_STRING_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        Some(text)
    }

    /// `true`/`false`, `1`/`0`, `yes`/`no`; a bare key is a true boolean attribute (RFC 6763 §6.4).
    fn boolean(&mut self) -> Option<bool> {
        if self.raw.is_none() {
            return Some(true);
        }
        let text = self.text()?;
        match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => {
                self.warn("expected true or false");
                None
            }
        }
    }

    fn number(&mut self, range: std::ops::RangeInclusive<u32>) -> Option<u32> {
        let text = self.text()?;
        match text.parse::<u32>() {
            Ok(n) if range.contains(&n) => Some(n),
            Ok(_) => {
                self.warn(format!("out of range {}..={}", range.start(), range.end()));
                None
            }
            Err(_) => {
                self.warn("not a decimal number");
                None
            }
        }
    }

    /// A comma-separated list of small decimal codes such as `0,1,2`.
    fn codes<T: PartialEq + Display>(
        &mut self,
        decode: fn(u32) -> T,
        is_unknown: fn(&T) -> bool,
    ) -> Option<Vec<T>> {
        let text = self.text()?;
        let mut out: Vec<T> = Vec::new();
        for (index, item) in text.split(',').map(str::trim).enumerate() {
            if index == MAX_LIST_ITEMS {
                self.warn(format!(
                    "more than {MAX_LIST_ITEMS} items; the rest is ignored"
                ));
                break;
            }
            let Ok(code) = item.parse::<u32>() else {
                self.warn(format!("item {item:?} is not a number; skipped"));
                continue;
            };
            let value = decode(code);
            if is_unknown(&value) {
                self.warn(format!("unknown code {code}"));
            }
            if !out.contains(&value) {
                out.push(value);
            }
        }
        if out.is_empty() { None } else { Some(out) }
    }

    /// `0xLO` or `0xLO,0xHI` (pyatv `parse_features`); a single word of up to 16 digits is
    /// accepted as the whole 64-bit value.
    fn features(&mut self) -> Option<Features> {
        let text = self.text()?;
        let words: Vec<&str> = text.split(',').map(str::trim).collect();
        let value = match words.as_slice() {
            [single] => hex_u64(single),
            [lo, hi] if strip_hex_prefix(lo).len() <= 8 && strip_hex_prefix(hi).len() <= 8 => {
                match (hex_u64(lo), hex_u64(hi)) {
                    (Some(lo), Some(hi)) => Some(hi << 32 | lo),
                    _ => None,
                }
            }
            _ => None,
        };
        if value.is_none() {
            self.warn("expected 0xLOWER or 0xLOWER,0xUPPER in hex");
        }
        value.map(Features)
    }

    fn status_flags(&mut self) -> Option<StatusFlags> {
        let text = self.text()?;
        let value = hex_u64(&text);
        if value.is_none() {
            self.warn("expected a hex number such as 0x204");
        }
        value.map(StatusFlags)
    }

    fn device_id(&mut self) -> Option<String> {
        let text = self.text()?;
        let id = super::normalize_device_id(&text);
        if id.is_none() {
            self.warn("expected a MAC address such as AA:BB:CC:DD:EE:FF");
        }
        id
    }

    fn public_key(&mut self) -> Option<PublicKey> {
        let text = self.text()?;
        let mut key = [0u8; 32];
        if hex::decode_to_slice(&text, &mut key).is_ok() {
            Some(PublicKey(key))
        } else {
            self.warn("expected 64 hex digits (an Ed25519 public key)");
            None
        }
    }

    fn transports(&mut self) -> Option<Transports> {
        let text = self.text()?;
        let mut transports = Transports::default();
        let mut any = false;
        for token in text.split(',').map(str::trim).take(MAX_LIST_ITEMS) {
            match token.to_ascii_uppercase().as_str() {
                "UDP" => transports.udp = true,
                "TCP" => transports.tcp = true,
                _ => {
                    self.warn(format!("unknown transport {token:?}"));
                    continue;
                }
            }
            any = true;
        }
        any.then_some(transports)
    }
}

/// Hex with or without `0x`, as pyatv's `int(value, 16)` reads it.
fn hex_u64(text: &str) -> Option<u64> {
    let digits = strip_hex_prefix(text);
    if digits.is_empty() || digits.len() > 16 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

fn strip_hex_prefix(text: &str) -> &str {
    text.strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text)
}

/// Sets `slot` unless an alias of the same key already did; a different second value is
/// worth a warning.
fn set_once<T: PartialEq>(slot: &mut Option<T>, value: Option<T>, entry: &mut Entry<'_, '_>) {
    let Some(value) = value else { return };
    match slot {
        None => *slot = Some(value),
        Some(existing) if *existing == value => {}
        Some(_) => entry.warn("same fact as an earlier key with another value; the first is kept"),
    }
}

fn parse_record(service: ServiceKind, record: &TxtRecord, warnings: &mut Warnings) -> Capabilities {
    let mut caps = Capabilities {
        raop: service == ServiceKind::Raop,
        airplay: service == ServiceKind::AirPlay,
        ..Capabilities::default()
    };
    let mut seen = HashSet::new();
    let mut other_dropped = 0usize;
    for (key, raw) in record.entries() {
        let lower = key.to_ascii_lowercase();
        let mut entry = Entry {
            service,
            key,
            raw,
            warnings,
        };
        if !seen.insert(lower.clone()) {
            entry.warn("duplicate key; the first value is used");
            continue;
        }
        match lower.as_str() {
            "cn" => {
                caps.codecs = entry.codes(AdvertisedCodec::from_code, |c| {
                    matches!(c, AdvertisedCodec::Unknown(_))
                });
            }
            "et" => {
                caps.encryption_types = entry.codes(AdvertisedEncryption::from_code, |e| {
                    matches!(e, AdvertisedEncryption::Unknown(_))
                });
            }
            "md" => {
                caps.metadata = entry.codes(MetadataKind::from_code, |m| {
                    matches!(m, MetadataKind::Unknown(_))
                });
            }
            "pw" => caps.password = entry.boolean(),
            "da" => caps.digest_auth = entry.boolean(),
            "ek" => caps.encryption_key = entry.boolean(),
            "sv" => caps.software_volume = entry.boolean(),
            "sm" => caps.software_mute = entry.boolean(),
            "sr" => caps.sample_rate = entry.number(8_000..=768_000),
            "ss" => caps.sample_size = entry.number(8..=32).map(|n| n as u16),
            "ch" => caps.channels = entry.number(1..=8).map(|n| n as u16),
            "ft" | "features" => {
                let value = entry.features();
                set_once(&mut caps.features, value, &mut entry);
            }
            "sf" | "flags" => {
                let value = entry.status_flags();
                set_once(&mut caps.status_flags, value, &mut entry);
            }
            "am" | "model" => {
                let value = entry.string();
                set_once(&mut caps.model, value, &mut entry);
            }
            "vs" | "srcvers" => {
                let value = entry.string();
                set_once(&mut caps.versions.server, value, &mut entry);
            }
            "ov" | "osvers" => {
                let value = entry.string();
                set_once(&mut caps.versions.os, value, &mut entry);
            }
            "fv" => caps.versions.firmware = entry.string(),
            "vn" => caps.versions.protocol = entry.number(0..=u32::MAX),
            "txtvers" => caps.versions.txt = entry.number(0..=u32::MAX),
            "protovers" => caps.versions.airplay_protocol = entry.string(),
            "deviceid" => caps.device_id = entry.device_id(),
            "pk" => caps.public_key = entry.public_key(),
            "tp" => caps.transports = entry.transports(),
            "acl" => caps.access_control_level = entry.number(0..=u32::MAX),
            "act" => caps.access_control_type = entry.number(0..=u32::MAX),
            _ if caps.other.len() < MAX_OTHER_KEYS => {
                let value = String::from_utf8_lossy(raw.unwrap_or_default());
                caps.other
                    .insert(key.to_string(), quote(Some(value.as_bytes())));
            }
            _ => other_dropped += 1,
        }
    }
    if other_dropped > 0 {
        warnings.add(
            service,
            "",
            None,
            format!("{other_dropped} more unknown keys ignored"),
        );
    }
    caps
}

/// Picks the RAOP value, falling back to the AirPlay one; warns when both exist and differ.
fn pick<T: PartialEq + Display>(
    key: &str,
    raop: Option<T>,
    airplay: Option<T>,
    warnings: &mut Warnings,
) -> Option<T> {
    match (raop, airplay) {
        (Some(r), Some(a)) => {
            if r != a {
                warnings.add(
                    ServiceKind::AirPlay,
                    key,
                    Some(a.to_string().as_bytes()),
                    format!(
                        "differs from the {} value {r}; that one is used",
                        ServiceKind::Raop
                    ),
                );
            }
            Some(r)
        }
        (r, a) => r.or(a),
    }
}

pub(super) fn from_txt(raop: Option<&TxtRecord>, airplay: Option<&TxtRecord>) -> Capabilities {
    let mut warnings = Warnings {
        list: Vec::new(),
        dropped: 0,
    };
    let r = raop
        .map(|t| parse_record(ServiceKind::Raop, t, &mut warnings))
        .unwrap_or_default();
    let a = airplay
        .map(|t| parse_record(ServiceKind::AirPlay, t, &mut warnings))
        .unwrap_or_default();
    let w = &mut warnings;
    let mut other = a.other;
    other.extend(r.other);
    Capabilities {
        raop: r.raop,
        airplay: a.airplay,
        codecs: r.codecs.or(a.codecs),
        encryption_types: r.encryption_types.or(a.encryption_types),
        metadata: r.metadata.or(a.metadata),
        password: pick("pw", r.password, a.password, w),
        digest_auth: r.digest_auth.or(a.digest_auth),
        encryption_key: r.encryption_key.or(a.encryption_key),
        sample_rate: r.sample_rate.or(a.sample_rate),
        sample_size: r.sample_size.or(a.sample_size),
        channels: r.channels.or(a.channels),
        features: pick("features", r.features, a.features, w),
        status_flags: pick("flags", r.status_flags, a.status_flags, w),
        model: pick("model", r.model, a.model, w),
        versions: Versions {
            txt: r.versions.txt.or(a.versions.txt),
            protocol: r.versions.protocol.or(a.versions.protocol),
            airplay_protocol: r.versions.airplay_protocol.or(a.versions.airplay_protocol),
            server: pick("srcvers", r.versions.server, a.versions.server, w),
            os: r.versions.os.or(a.versions.os),
            firmware: r.versions.firmware.or(a.versions.firmware),
        },
        device_id: r.device_id.or(a.device_id),
        public_key: pick("pk", r.public_key, a.public_key, w),
        transports: r.transports.or(a.transports),
        software_volume: r.software_volume.or(a.software_volume),
        software_mute: r.software_mute.or(a.software_mute),
        access_control_level: r.access_control_level.or(a.access_control_level),
        access_control_type: r.access_control_type.or(a.access_control_type),
        other,
        warnings: warnings.finish(),
    }
}
