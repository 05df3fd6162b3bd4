//! How `scan` and `info` show devices: table rows for people, JSON objects for scripts. The
//! JSON carries the device, its parsed capabilities, and what airstream would do with it.

use airstream::discovery::{Device, ServiceKind};
use airstream_proto::capabilities::{AirPlay2, PairingRequirement};
use airstream_proto::route::{
    AudioProtocol, AudioRoute, PlayUrlRoute, RouteOverrides, Unsupported, select_audio_route,
    select_play_url_route,
};
use serde::Serialize;
use std::fmt::Display;

/// A route, or why there is none.
#[derive(Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RouteReport<T> {
    Ok(T),
    Unsupported(Unsupported),
}

impl<T> From<Result<T, Unsupported>> for RouteReport<T> {
    fn from(result: Result<T, Unsupported>) -> Self {
        match result {
            Ok(route) => RouteReport::Ok(route),
            Err(unsupported) => RouteReport::Unsupported(unsupported),
        }
    }
}

/// One device in `--json` output.
#[derive(Debug, Serialize)]
pub(crate) struct DeviceReport<'a> {
    #[serde(flatten)]
    pub(crate) device: &'a Device,
    pub(crate) password_required: bool,
    pub(crate) pairing: PairingRequirement,
    pub(crate) airplay2: AirPlay2,
    pub(crate) audio_route: RouteReport<AudioRoute>,
    pub(crate) play_url_route: RouteReport<PlayUrlRoute>,
}

impl<'a> DeviceReport<'a> {
    pub(crate) fn new(device: &'a Device) -> Self {
        let caps = &device.capabilities;
        let defaults = RouteOverrides::default();
        Self {
            device,
            password_required: caps.password_required(),
            pairing: caps.pairing(),
            airplay2: caps.airplay2(),
            audio_route: select_audio_route(caps, &defaults).into(),
            play_url_route: select_play_url_route(caps, &defaults).into(),
        }
    }
}

const COLUMNS: [&str; 10] = [
    "NAME",
    "ID",
    "MODEL",
    "ADDRESS",
    "PROTOCOLS",
    "STREAM",
    "CODECS",
    "ENCRYPTION",
    "PASSWORD",
    "PAIRING",
];

fn joined<T: Display>(items: Option<&Vec<T>>) -> String {
    items.map_or_else(
        || "-".to_string(),
        |items| {
            items
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        },
    )
}

fn protocols(device: &Device) -> String {
    let mut services = Vec::new();
    if device.has(ServiceKind::Raop) {
        services.push("RAOP");
    }
    if device.has(ServiceKind::AirPlay) {
        services.push("AirPlay");
    }
    let airplay2 = match device.capabilities.airplay2() {
        AirPlay2::No => "",
        AirPlay2::Supported => " (AP2)",
        AirPlay2::Required => " (needs AP2)",
    };
    format!("{}{airplay2}", services.join("+"))
}

/// What `stream` would use: `AirPlay 1`, `AirPlay 2 (PTP)` or `AirPlay 2 (NTP)`; `-` where
/// no audio route exists.
fn stream_protocol(device: &Device) -> String {
    match select_audio_route(&device.capabilities, &RouteOverrides::default()) {
        Ok(route) => match route.protocol {
            AudioProtocol::AirPlay1 => route.protocol.to_string(),
            AudioProtocol::AirPlay2 { timing, .. } => format!("{} ({timing})", route.protocol),
        },
        Err(_) => "-".to_string(),
    }
}

fn pairing(device: &Device) -> &'static str {
    let caps = &device.capabilities;
    match caps.pairing() {
        PairingRequirement::NotNeeded if caps.transient_pairing() => "transient",
        PairingRequirement::NotNeeded => "no",
        PairingRequirement::Mandatory if caps.pin_required() => "PIN",
        PairingRequirement::Mandatory => "legacy",
        PairingRequirement::Disabled => "disabled",
        PairingRequirement::Unsupported => "home only",
    }
}

/// The table row of one device, in [`COLUMNS`] order.
pub(crate) fn row(device: &Device) -> [String; 10] {
    let caps = &device.capabilities;
    let address = device
        .socket_addr(ServiceKind::Raop)
        .or_else(|| device.socket_addr(ServiceKind::AirPlay))
        .map_or_else(|| "-".to_string(), |a| a.to_string());
    let dash = || "-".to_string();
    [
        device.name.clone(),
        device.id.clone().unwrap_or_else(dash),
        device.model.clone().unwrap_or_else(|| "-".to_string()),
        address,
        protocols(device),
        stream_protocol(device),
        joined(caps.codecs.as_ref()),
        joined(caps.encryption_types.as_ref()),
        if caps.password_required() {
            "yes"
        } else {
            "no"
        }
        .to_string(),
        pairing(device).to_string(),
    ]
}

/// A left-aligned table with a header; widths count characters, not bytes.
pub(crate) fn table(devices: &[Device]) -> String {
    let rows: Vec<[String; 10]> = devices.iter().map(row).collect();
    let header = COLUMNS.map(String::from);
    let mut widths = [0usize; 10];
    for cells in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for cells in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| {
                let pad = width - cell.chars().count();
                format!("{cell}{}", " ".repeat(pad))
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(kind: ServiceKind, addr: &str) -> Device {
        Device::from_address(addr.parse().expect("addr"), kind)
    }

    #[test]
    fn rows_show_defaults_for_a_device_that_advertises_nothing() {
        assert_eq!(
            row(&device(ServiceKind::Raop, "127.0.0.1:5000")),
            [
                "127.0.0.1:5000",
                "-",
                "-",
                "127.0.0.1:5000",
                "RAOP",
                "AirPlay 1",
                "-",
                "-",
                "no",
                "no"
            ]
        );
    }

    #[test]
    fn table_aligns_columns_by_characters() {
        let text = table(&[
            device(ServiceKind::Raop, "127.0.0.1:5000"),
            device(ServiceKind::AirPlay, "[::1]:7000"),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "NAME            ID  MODEL  ADDRESS         PROTOCOLS  STREAM     CODECS  ENCRYPTION  PASSWORD  PAIRING",
                "127.0.0.1:5000  -   -      127.0.0.1:5000  RAOP       AirPlay 1  -       -           no        no",
                "[::1]:7000      -   -      [::1]:7000      AirPlay    -          -       -           no        no",
            ]
        );
    }

    #[test]
    fn json_report_has_routes_or_reasons() {
        let raop = device(ServiceKind::Raop, "127.0.0.1:5000");
        let json = serde_json::to_value(DeviceReport::new(&raop)).expect("json");
        assert_eq!(json["name"], "127.0.0.1:5000");
        assert_eq!(json["raop_port"], 5000);
        assert_eq!(json["pairing"], "not-needed");
        assert_eq!(json["airplay2"], "no");
        assert_eq!(json["audio_route"]["ok"]["codec"], "alac");
        assert_eq!(
            json["play_url_route"]["unsupported"]["needs"],
            "airplay-service"
        );
    }
}
