//! The SET_PARAMETER requests that carry what the receiver shows: DMAP text, cover art and
//! progress, each only where the receiver takes that kind.

use super::MetadataKinds;
use super::control::Command;
use airstream_audio::Metadata;
use airstream_proto::dmap::{TrackText, progress_body};
use bytes::Bytes;

/// Requests describing `metadata` from RTP time `rtptime` on; `with_progress` marks the
/// start of a track (progress start = current = `rtptime`).
pub(super) fn commands(
    metadata: &Metadata,
    kinds: MetadataKinds,
    rtptime: u32,
    with_progress: bool,
) -> Vec<Command> {
    let mut commands = Vec::new();
    if kinds.text
        && (metadata.title.is_some() || metadata.artist.is_some() || metadata.album.is_some())
    {
        let text = TrackText {
            title: metadata.title.clone(),
            artist: metadata.artist.clone(),
            album: metadata.album.clone(),
        };
        commands.push(Command::Parameter {
            content_type: "application/x-dmap-tagged",
            body: Bytes::from(text.encode()),
            rtptime: Some(rtptime),
        });
    }
    if kinds.artwork
        && let Some(art) = &metadata.artwork
    {
        commands.push(Command::Parameter {
            content_type: art.kind.mime(),
            body: Bytes::from(art.data.clone()),
            rtptime: Some(rtptime),
        });
    }
    if kinds.progress
        && with_progress
        && let Some(duration) = metadata.duration
    {
        let frames = (duration.as_secs_f64() * 44_100.0).round() as u32;
        commands.push(Command::Parameter {
            content_type: "text/parameters",
            body: Bytes::from(progress_body(
                rtptime,
                rtptime,
                rtptime.wrapping_add(frames),
            )),
            rtptime: None,
        });
    }
    commands
}
