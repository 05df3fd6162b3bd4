//! Entry points for the fuzz targets (`fuzz/` at the repository root): the receiver's
//! stateful parts as a sender drives them, without sockets. Not part of the API.

use crate::assembler::Assembler;
use crate::decode::PayloadDecoder;
use crate::format::{FRAMES_PER_PACKET, StreamFormat};
use airstream_proto::sdp::AnnouncedFormat;
use std::time::{Duration, Instant};

/// Takes `n` bytes off the front of `data`.
fn take<'a>(data: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, rest) = data.split_at_checked(n)?;
    *data = rest;
    Some(head)
}

/// Reads a format from the first bytes of `data` (the ALAC numbers that reach the decoder's
/// magic cookie come from the input), then packets until the input ends: each is
/// `op (1) | seq (2) | timestamp (4) | ms since the previous (1) | length (2) | payload`.
/// Odd ops are FLUSHes at the timestamp instead. Decodes and assembles all of it.
pub fn decode_and_assemble(mut data: &[u8]) {
    let Some(head) = take(&mut data, 12) else {
        return;
    };
    let u32_at = |i: usize| u32::from_be_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    let rates = [44_100, 48_000, 8_000, 192_000];
    let sample_rate = rates[usize::from(head[0] >> 6)];
    let announced = match head[0] & 3 {
        0 | 1 => {
            let fmtp = vec![
                FRAMES_PER_PACKET,
                0,
                16,
                u32::from(head[1]),
                u32::from(head[2]),
                u32::from(head[3]),
                2,
                u32::from(u16::from_be_bytes([head[4], head[5]])),
                u32_at(6),
                0,
                sample_rate,
            ];
            AnnouncedFormat::Alac {
                frames_per_packet: FRAMES_PER_PACKET,
                bit_depth: 16,
                channels: 2,
                sample_rate,
                fmtp,
            }
        }
        n => AnnouncedFormat::L16 {
            sample_rate,
            channels: u32::from(n - 1),
        },
    };
    let Ok(format) = StreamFormat::check(&announced) else {
        return;
    };
    let fmtp = match &announced {
        AnnouncedFormat::Alac { fmtp, .. } => fmtp.clone(),
        AnnouncedFormat::L16 { .. } => Vec::new(),
    };
    let mut decoder = PayloadDecoder::new(format, &fmtp, None);
    let mut assembler = Assembler::new(
        usize::from(format.channels),
        format.sample_rate,
        FRAMES_PER_PACKET,
    );
    let mut now = Instant::now();
    if head[10] & 1 == 1 {
        assembler.anchor(u16::from_be_bytes([head[10], head[11]]), u32_at(6), now);
    }
    while let Some(record) = take(&mut data, 10) {
        let seq = u16::from_be_bytes([record[1], record[2]]);
        let timestamp = u32::from_be_bytes([record[3], record[4], record[5], record[6]]);
        now += Duration::from_millis(u64::from(record[7]));
        let len = usize::from(u16::from_be_bytes([record[8], record[9]]));
        let available = len.min(data.len());
        let Some(payload) = take(&mut data, available) else {
            return;
        };
        if record[0] & 1 == 1 {
            assembler.drop_after(timestamp);
            continue;
        }
        if let Ok(samples) = decoder.decode(payload) {
            let _ = assembler.insert(seq, timestamp, &samples, now);
        }
        let _ = assembler.missing_ranges();
    }
    let samples = assembler.into_samples();
    assert!(samples.len().is_multiple_of(usize::from(format.channels)));
}
