//! `stream`'s progress on a terminal: what plays where on the first line, one clock (the
//! position in the audio, which stops while paused) and a bar as wide as the terminal on the
//! second, and a one-line summary when the stream ends.

use airstream::raop::{Progress, StreamHandle, StreamReport, StreamState};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Duration;

/// Two lines, each cut or stretched to the terminal's width by indicatif.
const TEMPLATE: &str = "{wide_msg}\n{prefix} [{wide_bar}]";

/// Draws the progress of `handle` on stderr until the stream finishes or the task is
/// aborted. `what` is the title and the receivers (see [`what_plays`]).
pub(crate) fn spawn(handle: &StreamHandle, what: String) -> tokio::task::JoinHandle<()> {
    let mut progress = handle.progress();
    tokio::spawn(async move {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(TEMPLATE)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(what);
        crate::logging::bar_on_screen(Some(bar.clone()));
        loop {
            let p = progress.borrow_and_update().clone();
            match p.duration {
                Some(total) => bar.set_length(millis(total)),
                None => bar.unset_length(),
            }
            bar.set_position(millis(p.position()));
            bar.set_prefix(clock_text(&p));
            if p.state == StreamState::Finished || progress.changed().await.is_err() {
                break;
            }
        }
        crate::logging::bar_on_screen(None);
        bar.finish_and_clear();
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `"Title" on Kitchen (10.0.0.2:5000), Lounge (…)`.
pub(crate) fn what_plays(title: &str, receivers: &[String]) -> String {
    format!("\"{title}\" on {}", receivers.join(", "))
}

/// The one clock: position in the audio (and its length when known), and the state when
/// it is not simply playing.
pub(crate) fn clock_text(p: &Progress) -> String {
    let mut text = clock(p.position());
    if let Some(total) = p.duration {
        text.push_str(" / ");
        text.push_str(&clock(total));
    }
    match p.state {
        StreamState::Starting => text.push_str(" starting"),
        StreamState::Paused => text.push_str(" paused"),
        StreamState::Draining => text.push_str(" ending"),
        StreamState::Streaming | StreamState::Finished => {}
    }
    text
}

/// `m:ss`, or `h:mm:ss` from an hour on.
pub(crate) fn clock(d: Duration) -> String {
    let total = d.as_secs();
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// The line printed when the stream has ended: played to the end or stopped, and where.
pub(crate) fn summary(report: &StreamReport, what: &str) -> String {
    let played = Duration::from_secs(report.frames_sent / u64::from(SAMPLE_RATE));
    summary_line(played, report.stopped, what)
}

fn summary_line(played: Duration, stopped: bool, what: &str) -> String {
    if stopped {
        format!("stopped at {}: {what}", clock(played))
    } else {
        format!("played {}: {what}", clock(played))
    }
}

/// RAOP audio is 44.1 kHz.
const SAMPLE_RATE: u32 = 44_100;

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(state: StreamState, seconds: u64, total: Option<u64>) -> Progress {
        Progress {
            state,
            frames_sent: seconds * 44_100,
            position_frames: seconds * 44_100,
            sample_rate: 44_100,
            duration: total.map(Duration::from_secs),
            underruns: 0,
            retransmitted: 0,
        }
    }

    #[test]
    fn one_clock_that_says_when_it_is_paused() {
        assert_eq!(
            clock_text(&progress(StreamState::Streaming, 2, Some(60))),
            "0:02 / 1:00"
        );
        assert_eq!(
            clock_text(&progress(StreamState::Paused, 2, Some(60))),
            "0:02 / 1:00 paused"
        );
        assert_eq!(
            clock_text(&progress(StreamState::Streaming, 3725, None)),
            "1:02:05"
        );
        // The position is the audio's, not the wall clock's: no elapsed-time field.
        assert!(!TEMPLATE.contains("elapsed"));
    }

    #[test]
    fn the_summary_says_whether_it_played_to_the_end() {
        assert_eq!(
            summary_line(Duration::from_secs(62), false, "\"Demo\" on Kitchen"),
            "played 1:02: \"Demo\" on Kitchen"
        );
        assert_eq!(
            summary_line(Duration::from_secs(2), true, "\"Demo\" on Kitchen"),
            "stopped at 0:02: \"Demo\" on Kitchen"
        );
    }

    #[test]
    fn what_plays_names_the_title_and_every_receiver() {
        assert_eq!(
            what_plays(
                "Demo",
                &["Kitchen (10.0.0.2:5000)".into(), "10.0.0.3:5000".into()]
            ),
            "\"Demo\" on Kitchen (10.0.0.2:5000), 10.0.0.3:5000"
        );
    }
}
