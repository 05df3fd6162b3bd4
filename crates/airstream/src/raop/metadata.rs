//! The SET_PARAMETER requests that carry what the receiver shows: DMAP text, cover art and
//! progress, each only where the receiver takes that kind.

use super::MetadataKinds;
use airstream_audio::Metadata;
use airstream_proto::dmap::{TrackText, progress_body};
use airstream_proto::format::SAMPLE_RATE;
use bytes::Bytes;

/// One SET_PARAMETER body.
pub(super) struct Parameter {
    pub(super) content_type: &'static str,
    pub(super) body: Bytes,
    pub(super) rtptime: Option<u32>,
}

/// Requests describing `metadata` from RTP time `rtptime` on; `with_progress` marks the
/// start of a track (progress start = current = `rtptime`).
pub(super) fn parameters(
    metadata: &Metadata,
    kinds: MetadataKinds,
    rtptime: u32,
    with_progress: bool,
) -> Vec<Parameter> {
    let mut parameters = Vec::new();
    if kinds.text
        && (metadata.title.is_some() || metadata.artist.is_some() || metadata.album.is_some())
    {
        let text = TrackText {
            title: metadata.title.clone(),
            artist: metadata.artist.clone(),
            album: metadata.album.clone(),
        };
        parameters.push(Parameter {
            content_type: "application/x-dmap-tagged",
            body: Bytes::from(text.encode()),
            rtptime: Some(rtptime),
        });
    }
    if kinds.artwork
        && let Some(art) = &metadata.artwork
    {
        parameters.push(Parameter {
            content_type: art.kind.mime(),
            body: Bytes::from(art.data.clone()),
            rtptime: Some(rtptime),
        });
    }
    if kinds.progress
        && with_progress
        && let Some(duration) = metadata.duration
    {
        let frames = (duration.as_secs_f64() * f64::from(SAMPLE_RATE)).round() as u32;
        parameters.push(Parameter {
            content_type: "text/parameters",
            body: Bytes::from(progress_body(
                rtptime,
                rtptime,
                rtptime.wrapping_add(frames),
            )),
            rtptime: None,
        });
    }
    parameters
}
