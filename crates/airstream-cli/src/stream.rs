//! `airstream stream`: play a file, stdin, a URL or raw PCM on a RAOP receiver.

use crate::ipc;
use crate::progress;
use crate::stored::FlagCredentials;
use crate::target::{Target, TargetArgs};
use airstream::discovery::ServiceKind;
use airstream::hap::HapCredentials;
use airstream::raop::{self, Codec, StreamOptions, StreamReport};
use airstream_audio::{Artwork, ArtworkKind, Metadata, PcmFormat, RawFormat, Source};
use airstream_proto::capabilities::MetadataKind;
use airstream_proto::route::{
    AudioProtocol, AudioRoute, Protocol, RouteOverrides, TimingProtocol, codec_advertised,
    select_audio_route,
};
use clap::ValueEnum;
use std::io::IsTerminal;
use std::time::Duration;

/// `--codec`: clap's face for [`Codec`], the one codec type (a foreign type needs a local
/// wrapper to take clap's trait).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CodecArg(pub(crate) Codec);

impl ValueEnum for CodecArg {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            CodecArg(Codec::Alac),
            CodecArg(Codec::AlacRaw),
            CodecArg(Codec::Pcm),
        ]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let help = match self.0 {
            Codec::Alac => "Compressed (lossless) ALAC: about half the bandwidth",
            Codec::AlacRaw => {
                "ALAC frames holding uncompressed samples (plays everywhere ALAC does)"
            }
            Codec::Pcm => "Raw 16-bit PCM (L16), announced without any ALAC line",
        };
        Some(clap::builder::PossibleValue::new(self.0.name()).help(help))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProtocolArg {
    /// AirPlay 1 (RAOP).
    Raop,
    /// AirPlay 2 realtime audio (ALAC); PTP timing needs UDP ports 319/320.
    Airplay2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TimingArg {
    /// PTP: we are the master the receiver follows (AirPlay 2).
    Ptp,
    /// NTP-style timing requests answered by us (AirPlay 1; AirPlay 2 where asked).
    Ntp,
}

/// `--protocol` and `--timing`, for every command that streams (`stream`, `session`).
#[derive(clap::Args, Debug, Clone, Copy)]
pub(crate) struct ProtocolArgs {
    /// Force AirPlay 1 (`raop`) or AirPlay 2 (`airplay2`). Default: AirPlay 1 where the
    /// receiver takes it, AirPlay 2 where it requires it (`scan` and `info` say which).
    /// AirPlay 2 with PTP timing needs UDP 319/320: root or CAP_NET_BIND_SERVICE.
    #[arg(long, value_enum)]
    protocol: Option<ProtocolArg>,
    /// Timing: `ptp` (AirPlay 2 only; implies --protocol airplay2) or `ntp` (AirPlay 1, and
    /// AirPlay 2 as HomePods and Apple TVs also take it). Default for AirPlay 2: PTP where
    /// the receiver's features offer it, else NTP.
    #[arg(long, value_enum)]
    timing: Option<TimingArg>,
}

/// What the flags force: a protocol and an AirPlay 2 timing, `None` where the receiver's TXT
/// records decide. `--timing ptp` alone means AirPlay 2; `--timing ntp` alone fits both
/// (AirPlay 1 is always NTP-timed; an AirPlay 2 route then uses NTP too).
pub(crate) fn forced(
    ProtocolArgs { protocol, timing }: ProtocolArgs,
) -> Result<Forced, airstream::Error> {
    let timing = timing.map(|t| match t {
        TimingArg::Ptp => TimingProtocol::Ptp,
        TimingArg::Ntp => TimingProtocol::Ntp,
    });
    match protocol {
        Some(ProtocolArg::Raop) if timing == Some(TimingProtocol::Ptp) => {
            Err(airstream::Error::Unsupported(
                "PTP timing is AirPlay 2 only: use --protocol airplay2".into(),
            ))
        }
        Some(ProtocolArg::Raop) => Ok((Some(Protocol::AirPlay1), None)),
        Some(ProtocolArg::Airplay2) => Ok((Some(Protocol::AirPlay2), timing)),
        None if timing == Some(TimingProtocol::Ptp) => Ok((Some(Protocol::AirPlay2), timing)),
        None => Ok((None, timing)),
    }
}

/// No `Debug`: it holds the password and maybe a key.
#[derive(clap::Args)]
#[command(mut_arg("device", |arg| arg.help(
    "A receiver's name (any case), id (MAC) or IP address, found with mDNS; repeat it (and \
     --address) to play on several in sync. Default: `device` in the config file"
)))]
pub(crate) struct Args {
    #[command(flatten)]
    target: TargetArgs,
    /// What the audio packets carry (default: compressed ALAC where the receiver takes ALAC).
    #[arg(long, value_enum)]
    codec: Option<CodecArg>,
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// End-to-end latency in milliseconds, 250–10000 (default: the config file's, else
    /// 2000). A receiver may ask for more; the stream then says so and uses that.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(250..=10_000))]
    latency: Option<u64>,
    /// Receiver volume 0–100 (0 mutes); left unchanged when not given.
    #[arg(long, value_name = "LEVEL", value_parser = clap::value_parser!(u8).range(0..=100))]
    volume: Option<u8>,
    /// Password of a protected receiver (default: the config file's password_command).
    #[arg(long, env = "AIRSTREAM_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Credentials printed by `airstream pair`: pair-verify runs before the stream starts.
    /// Legacy ID:KEY (AirPlay 1), or AirPlay 2 (HAP) LTPK:LTSK:DEVICE_ID:CLIENT_ID with
    /// --protocol airplay2. Default: those stored for the device, when it needs pairing (or
    /// when it is given by --address, which tells nothing about its needs).
    // A String, parsed in `run`: clap would echo a rejected value, and this one is a secret.
    #[arg(
        long,
        value_name = "ID:KEY",
        env = "AIRSTREAM_CREDENTIALS",
        hide_env_values = true
    )]
    credentials: Option<String>,
    /// Encrypt the audio (RSA-wrapped AES) even if the receiver does not ask for it.
    #[arg(long)]
    encrypt: bool,
    /// The input is headerless PCM in this format, e.g. s16le:44100:2 (also s24le, s32le, f32le).
    #[arg(long, value_name = "FORMAT")]
    raw: Option<String>,
    /// Title to show on the receiver (overrides the input's tag).
    #[arg(long)]
    title: Option<String>,
    /// Artist to show (overrides the input's tag).
    #[arg(long)]
    artist: Option<String>,
    /// Album to show (overrides the input's tag).
    #[arg(long)]
    album: Option<String>,
    /// Cover art to show: a JPEG or PNG file (overrides the input's own).
    #[arg(long)]
    artwork: Option<std::path::PathBuf>,
    /// Print a JSON report on stdout when done.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    order: crate::queue::Order,
    /// What to play: files, `-` for stdin, or http(s) URLs (MP3, WAV, FLAC, OGG, M4A, AIFF…);
    /// several play back to back without a gap, each tagged with its own title (the tag
    /// flags then apply to every one).
    #[arg(value_name = "INPUT", required = true)]
    inputs: Vec<String>,
}

/// Latency when neither the flag nor the config file gives one (Apple's figure).
pub(crate) const DEFAULT_LATENCY_MS: u64 = 2000;

pub(crate) async fn run(mut args: Args) -> anyhow::Result<()> {
    let config = crate::config::Config::load()?;
    args.codec = args.codec.or(config.codec()?);
    let latency_ms = args
        .latency
        .or(config.latency)
        .unwrap_or(DEFAULT_LATENCY_MS);
    let (flag_credentials, flag_hap) = match args
        .credentials
        .as_deref()
        .map(crate::stored::parse_any_flag)
        .transpose()?
    {
        None => (None, None),
        Some(FlagCredentials::Legacy(c)) => (Some(c), None),
        Some(FlagCredentials::Hap(c)) => (None, Some(c)),
    };
    let forced = forced(args.protocol)?;
    let mut targets = args.target.resolve_all(service_for(forced)).await?;
    let routes = routes_for(&mut targets, args.codec, args.encrypt, forced)?;
    let codec = group_codec(&targets, &routes, args.codec)?;

    if args.inputs.iter().any(|i| i == "-") && std::io::stdin().is_terminal() {
        crate::failure::note("waiting for audio on stdin (pipe a file in; Ctrl-D ends the input)");
    }
    let (source, track_at) = open_inputs(&args).await?;
    let what = progress::what_plays(
        &title(args.title.as_deref(), &source.metadata(), &args.inputs[0]),
        &targets.iter().map(|t| t.label.clone()).collect::<Vec<_>>(),
    );
    let mut options = StreamOptions::for_route(&routes[0]);
    options.codec = codec;
    let asked_latency = Duration::from_millis(latency_ms);
    options.latency = asked_latency;
    options.metadata = Some(Metadata {
        title: args.title,
        artist: args.artist,
        album: args.album,
        artwork: args.artwork.as_deref().map(read_artwork).transpose()?,
        duration: None,
    });
    // Run the password command only where a password may be asked for: a discovered
    // receiver that says it wants one, or one given by --address (which says nothing).
    let may_want_password = targets
        .iter()
        .zip(&routes)
        .any(|(t, r)| r.auth.password || !t.discovered);
    if args.password.is_none() && may_want_password {
        args.password = config.password()?;
    }
    let settings = ReceiverSettings {
        volume: args.volume,
        password: args.password.clone(),
        legacy: flag_credentials,
        hap: flag_hap,
    };
    let receivers = targets
        .iter()
        .zip(&routes)
        .map(|(target, route)| receiver_for(target, route, &settings))
        .collect::<Result<Vec<_>, airstream::Error>>()?;

    // SIGINT, SIGTERM, SIGHUP: TEARDOWN, then exit 128 + the signal (see `signals`); during
    // the setup too (a receiver slow to answer must not leave a session behind).
    let (signals, stopper) = crate::signals::stop_setup_or_stream()?;
    let started = raop::start_group_until(receivers, source, options, stopper.cancelled()).await;
    let (handle, driver) = match started {
        Ok(started) => started,
        Err(airstream::Error::Cancelled) => {
            return Err(signals.check().err().map_or_else(
                || anyhow::Error::from(airstream::Error::Cancelled),
                anyhow::Error::from,
            ));
        }
        Err(e) => return Err(pair_by_id(e, &targets[0]).into()),
    };
    stopper.stop_stream(&handle);
    let driver = tokio::spawn(driver);
    // `volume`, `pause`, `status`… find the stream by any of its receivers.
    let _control = ipc::serve(ipc::Control::new(
        handle.clone(),
        targets.iter().map(ipc::Member::of).collect(),
        vec![args.volume; targets.len()],
        track_at,
    ))?;
    // Nothing to draw on a pipe: skip the bar's task altogether.
    let on_terminal = std::io::stderr().is_terminal();
    let bar = on_terminal.then(|| progress::spawn(&handle, what.clone()));
    let result = driver
        .await
        .map_err(|e| airstream::Error::internal("the stream task failed", e))?;
    if let Some(bar) = bar {
        // It ends with the stream's progress channel and clears itself.
        let _ = bar.await;
    }
    let report = result?;
    if let Some(note) = latency_note(asked_latency, report.latency) {
        crate::failure::note(&note);
    }
    if on_terminal {
        crate::failure::note(&progress::summary(&report, &what));
    }
    if args.json {
        outln!("{}", report_json(&report, asked_latency))?;
    }
    Ok(signals.check()?)
}

/// How an AirPlay 2 receiver's channel is secured: pair-verify with HAP credentials (the
/// flag's, else those stored for it); without them, transient pairing where its features
/// offer it, else RTSP in the clear. A device whose flags say it requires pairing and that
/// has no credentials is refused before any connection (exit 15, with the `pair` command).
fn ap2_pairing(
    target: &Target,
    flag: Option<HapCredentials>,
    pairing_required: bool,
    transient_pairing: bool,
) -> Result<raop::Ap2Pairing, airstream::Error> {
    if let Some(credentials) = flag.or_else(|| crate::stored::lookup_hap(target)) {
        return Ok(raop::Ap2Pairing::Verified(credentials));
    }
    if !target.discovered {
        return Ok(raop::Ap2Pairing::Open);
    }
    if pairing_required {
        return Err(airstream::Error::PairingRequired {
            device: target.label.clone(),
            command: format!("airstream pair --device {}", target.store_id),
        });
    }
    Ok(if transient_pairing {
        raop::Ap2Pairing::Transient
    } else {
        raop::Ap2Pairing::Open
    })
}

/// What the flags force: a protocol and an AirPlay 2 timing (`None`: the receiver decides).
pub(crate) type Forced = (Option<Protocol>, Option<TimingProtocol>);

/// What route selection decides for one receiver, with the command line's wishes.
pub(crate) fn route(
    target: &Target,
    codec: Option<CodecArg>,
    encrypt: bool,
    (protocol, timing): Forced,
) -> Result<AudioRoute, airstream::Error> {
    let overrides = RouteOverrides {
        protocol,
        timing,
        ..overrides(target, codec, encrypt)
    };
    route_from(target, &overrides)
}

/// The codec, encryption and metadata the command line asks for `target`.
fn overrides(target: &Target, codec: Option<CodecArg>, encrypt: bool) -> RouteOverrides {
    let mut overrides = RouteOverrides {
        codec: codec.map(|c| c.0),
        encryption: encrypt.then_some(raop::Encryption::AirPortRsa),
        ..RouteOverrides::default()
    };
    if !target.discovered {
        // Nothing advertised what it shows: send every kind (a refusal is only a warning).
        overrides.metadata = Some(vec![
            MetadataKind::Text,
            MetadataKind::Artwork,
            MetadataKind::Progress,
        ]);
    }
    overrides
}

fn route_from(target: &Target, overrides: &RouteOverrides) -> Result<AudioRoute, airstream::Error> {
    let route = select_audio_route(target.capabilities(), overrides)
        .map_err(|u| airstream::Error::Unsupported(format!("{}: {u}", target.label)))?;
    tracing::info!("route to {}: {route}", target.label);
    Ok(route)
}

/// One payload goes to every receiver, so they need one codec: the one their routes agree
/// on, else PCM where every one of them takes it.
pub(crate) fn group_codec(
    targets: &[Target],
    routes: &[AudioRoute],
    asked: Option<CodecArg>,
) -> Result<Codec, airstream::Error> {
    if asked.is_some() || routes.iter().all(|r| r.codec == routes[0].codec) {
        return Ok(routes[0].codec);
    }
    if targets
        .iter()
        .all(|t| codec_advertised(t.capabilities(), Codec::Pcm))
    {
        return Ok(Codec::Pcm);
    }
    Err(airstream::Error::Unsupported(format!(
        "these receivers take no codec in common: {}",
        targets
            .iter()
            .zip(routes)
            .map(|(t, r)| format!("{} {}", t.label, r.codec))
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// One input as it is, several (or `--repeat`, `--shuffle`) as a gapless queue; with what
/// `status` needs to tell which track plays.
async fn open_inputs(
    args: &Args,
) -> anyhow::Result<(Box<dyn airstream_audio::PcmSource>, ipc::TrackAt)> {
    if let [input] = args.inputs.as_slice()
        && !args.order.repeat
        && !args.order.shuffle
    {
        let source = open_input(input, args.raw.as_deref()).await?;
        let tags = tags_with_flags(source.metadata(), args, source.duration());
        return Ok((source, ipc::Control::single_track(tags)));
    }
    let raw = args
        .raw
        .as_deref()
        .map(|format| {
            format
                .parse::<RawFormat>()
                .map_err(|e| airstream::Error::InvalidInput(format!("--raw {format}: {e}")))
        })
        .transpose()?;
    let flags = tags_with_flags(Metadata::default(), args, None);
    let (queue, timeline) = crate::queue::open(args.inputs.clone(), raw, flags, args.order).await?;
    Ok((queue, crate::queue::track_at(timeline)))
}

/// Opens and probes the input off the async threads (a pipe or URL may block).
async fn open_input(
    input: &str,
    raw: Option<&str>,
) -> anyhow::Result<Box<dyn airstream_audio::PcmSource>> {
    let mut source = Source::from_arg(input);
    if let Some(format) = raw {
        let format: RawFormat = format
            .parse()
            .map_err(|e| airstream::Error::InvalidInput(format!("--raw {format}: {e}")))?;
        source = source.raw(format);
    }
    let opened = tokio::task::spawn_blocking(move || source.open(PcmFormat::RAOP))
        .await
        .map_err(|e| airstream::Error::internal("the input could not be opened", e))?;
    Ok(opened.map_err(airstream::Error::from)?)
}

/// Reads a cover image; the kind comes from its bytes, not its name.
pub(crate) fn read_artwork(path: &std::path::Path) -> anyhow::Result<Artwork> {
    let data = std::fs::read(path).map_err(|e| {
        airstream::Error::InvalidInput(format!("cannot read --artwork {}: {e}", path.display()))
    })?;
    let kind = ArtworkKind::sniff(&data).ok_or_else(|| {
        airstream::Error::InvalidInput(format!(
            "{}: artwork must be a JPEG or PNG image",
            path.display()
        ))
    })?;
    Ok(Artwork { kind, data })
}

pub(crate) fn report_json(r: &StreamReport, asked: Duration) -> serde_json::Value {
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
    serde_json::json!({
        "receiver": r.receiver.to_string(),
        "codec": r.codec.name(),
        "frames_sent": r.frames_sent,
        "packets_sent": r.packets_sent,
        "underruns": r.underruns,
        "time_to_first_packet_ms": ms(r.time_to_first_packet),
        "latency_ms": r.latency.as_secs_f64() * 1000.0,
        "latency_asked_ms": asked.as_secs_f64() * 1000.0,
        "retransmit_requests": r.stats.retransmit_requests,
        "retransmitted": r.stats.retransmitted,
        "retransmit_missed": r.stats.retransmit_missed,
        "timing_replies": r.stats.timing_replies,
        "sync_sent": r.stats.sync_sent,
        "warnings": r.warnings,
        "stopped": r.stopped,
        "receivers": r.receivers.iter().map(|m| serde_json::json!({
            "receiver": m.receiver.to_string(),
            "packets_sent": m.stats.packets_sent,
            "retransmitted": m.stats.retransmitted,
            "failure": m.failure,
        })).collect::<Vec<_>>(),
    })
}

/// The RAOP session only knows the address; for a discovered device, point the "run
/// `airstream pair`" hint at its id, which is also where the credentials get stored.
pub(crate) fn pair_by_id(error: airstream::Error, target: &Target) -> airstream::Error {
    match error {
        airstream::Error::PairingRequired { device, .. } if target.discovered => {
            airstream::Error::PairingRequired {
                device,
                command: format!("airstream pair --device {}", target.store_id),
            }
        }
        airstream::Error::CredentialsRejected { device, reason, .. } if target.discovered => {
            airstream::Error::CredentialsRejected {
                device,
                reason,
                command: format!("airstream pair --device {}", target.store_id),
            }
        }
        other => other,
    }
}

/// What the command line says for every receiver of a stream. No `Debug`: it holds the
/// password and maybe keys.
pub(crate) struct ReceiverSettings {
    pub(crate) volume: Option<u8>,
    pub(crate) password: Option<String>,
    /// `--credentials` of the legacy kind (AirPlay 1).
    pub(crate) legacy: Option<airstream_proto::pairing::Credentials>,
    /// `--credentials` of the HAP kind (AirPlay 2).
    pub(crate) hap: Option<HapCredentials>,
}

/// The receiver `route` says how to reach, with the command line's settings: AirPlay 2
/// timing and pairing, stored credentials where the device asks for them.
pub(crate) fn receiver_for(
    target: &Target,
    route: &AudioRoute,
    settings: &ReceiverSettings,
) -> Result<raop::Receiver, airstream::Error> {
    let mut receiver = raop::Receiver::for_route(target.addr, route);
    receiver.volume = settings.volume;
    receiver.password.clone_from(&settings.password);
    match route.protocol {
        AudioProtocol::AirPlay2 {
            pairing_required,
            transient_pairing,
            ..
        } => {
            receiver.ap2_pairing = ap2_pairing(
                target,
                settings.hap.clone(),
                pairing_required,
                transient_pairing,
            )?;
        }
        AudioProtocol::AirPlay1 if settings.hap.is_some() => {
            return Err(airstream::Error::Unsupported(format!(
                "--credentials: these are AirPlay 2 (HAP) credentials and {} takes \
                 AirPlay 1; add --protocol airplay2",
                target.label
            )));
        }
        AudioProtocol::AirPlay1 => {}
    }
    // pyatv verifies whenever credentials are stored; we skip it where discovery
    // says the device does not ask for it, so a stale entry cannot break a stream.
    receiver.credentials = settings.legacy.clone().or_else(|| {
        (route.auth.legacy_pairing || !target.discovered)
            .then(|| crate::stored::lookup(target))
            .flatten()
    });
    Ok(receiver)
}

/// Which services to look for: devices that advertise only `_airplay._tcp` are AirPlay 2
/// receivers, so both unless AirPlay 1 is forced.
pub(crate) fn service_for(forced: Forced) -> Option<ServiceKind> {
    (forced.0 == Some(Protocol::AirPlay1)).then_some(ServiceKind::Raop)
}

/// Each target's route, with what the command line forces; an AirPlay 2 route is reached on
/// the target's `_airplay._tcp` port.
pub(crate) fn routes_for(
    targets: &mut [Target],
    codec: Option<CodecArg>,
    encrypt: bool,
    forced: Forced,
) -> Result<Vec<AudioRoute>, airstream::Error> {
    let routes = targets
        .iter()
        .map(|t| route(t, codec, encrypt, forced))
        .collect::<Result<Vec<_>, _>>()?;
    for (target, route) in targets.iter_mut().zip(&routes) {
        if route.protocol.is_airplay2() {
            target.use_airplay_service();
        }
    }
    Ok(routes)
}

/// The input's tags with the command line's over them (what `status` shows).
fn tags_with_flags(mut tags: Metadata, args: &Args, duration: Option<Duration>) -> Metadata {
    tags.title = args.title.clone().or(tags.title);
    tags.artist = args.artist.clone().or(tags.artist);
    tags.album = args.album.clone().or(tags.album);
    tags.artwork = None;
    tags.duration = tags.duration.or(duration);
    tags
}

/// What to call the audio: `--title`, else its own tag, else the file name.
fn title(flag: Option<&str>, tags: &Metadata, input: &str) -> String {
    flag.map(String::from)
        .or_else(|| tags.title.clone())
        .unwrap_or_else(|| match input {
            "-" => "stdin".to_string(),
            path => std::path::Path::new(path)
                .file_name()
                .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned()),
        })
}

/// Receivers may ask for more latency than `--latency` (shairport-sync: about 500 ms at
/// least); the stream then runs with theirs, and the user should know.
fn latency_note(asked: Duration, effective: Duration) -> Option<String> {
    let ms = |d: Duration| d.as_millis();
    (ms(effective) > ms(asked)).then(|| {
        format!(
            "latency is {} ms, not the {} ms asked for: the receiver needs at least that",
            ms(effective),
            ms(asked)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_and_timing_flags_choose_the_route_or_refuse() {
        use Protocol::{AirPlay1, AirPlay2};
        use TimingProtocol::{Ntp, Ptp};
        let chosen =
            |protocol, timing| forced(ProtocolArgs { protocol, timing }).map_err(|e| e.kind());
        assert_eq!(chosen(None, None), Ok((None, None)));
        assert_eq!(chosen(None, Some(TimingArg::Ntp)), Ok((None, Some(Ntp))));
        assert_eq!(
            chosen(None, Some(TimingArg::Ptp)),
            Ok((Some(AirPlay2), Some(Ptp)))
        );
        assert_eq!(
            chosen(Some(ProtocolArg::Airplay2), None),
            Ok((Some(AirPlay2), None))
        );
        assert_eq!(
            chosen(Some(ProtocolArg::Airplay2), Some(TimingArg::Ntp)),
            Ok((Some(AirPlay2), Some(Ntp)))
        );
        assert_eq!(
            chosen(Some(ProtocolArg::Raop), None),
            Ok((Some(AirPlay1), None))
        );
        assert_eq!(
            chosen(Some(ProtocolArg::Raop), Some(TimingArg::Ptp)),
            Err(airstream::ErrorKind::Unsupported)
        );
    }

    #[test]
    fn a_latency_raised_by_the_receiver_is_told() {
        let ms = Duration::from_millis;
        assert_eq!(latency_note(ms(2000), ms(2000)), None);
        assert_eq!(latency_note(ms(300), ms(300)), None);
        assert_eq!(
            latency_note(ms(250), ms(500)).as_deref(),
            Some("latency is 500 ms, not the 250 ms asked for: the receiver needs at least that")
        );
    }

    #[test]
    fn the_title_is_the_flag_the_tag_or_the_file_name() {
        let tags = Metadata {
            title: Some("Tagged".into()),
            ..Metadata::default()
        };
        assert_eq!(title(Some("Flag"), &tags, "a.wav"), "Flag");
        assert_eq!(title(None, &tags, "a.wav"), "Tagged");
        assert_eq!(title(None, &Metadata::default(), "/music/a.wav"), "a.wav");
        assert_eq!(title(None, &Metadata::default(), "-"), "stdin");
    }
}
