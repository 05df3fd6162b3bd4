//! Machine-readable reports (`--json`), hand-built to keep the binary's dependencies small.

use airstream::raop::StreamReport;

fn ms(d: Option<std::time::Duration>) -> String {
    d.map_or_else(
        || "null".to_string(),
        |d| format!("{:.3}", d.as_secs_f64() * 1000.0),
    )
}

pub(crate) fn stream_json(r: &StreamReport) -> String {
    format!(
        concat!(
            "{{\"receiver\":\"{}\",\"codec\":\"{}\",\"frames_sent\":{},\"packets_sent\":{},",
            "\"underruns\":{},\"time_to_first_packet_ms\":{},\"latency_ms\":{:.0},",
            "\"retransmit_requests\":{},\"retransmitted\":{},\"retransmit_missed\":{},",
            "\"timing_replies\":{},\"sync_sent\":{},\"warnings\":{},\"stopped\":{}}}"
        ),
        r.receiver,
        r.codec.name(),
        r.frames_sent,
        r.packets_sent,
        r.underruns,
        ms(r.time_to_first_packet),
        r.latency.as_secs_f64() * 1000.0,
        r.stats.retransmit_requests,
        r.stats.retransmitted,
        r.stats.retransmit_missed,
        r.stats.timing_replies,
        r.stats.sync_sent,
        r.warnings.len(),
        r.stopped,
    )
}
