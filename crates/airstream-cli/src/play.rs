//! `airstream play`: make an Apple TV play a URL or a local file and follow it to the end.

use crate::target::TargetArgs;
use airstream::airplay::{
    PlayOptions, PlaybackEnd, PlaybackHandle, PlaybackState, PlaybackStatus, play_url,
};
use airstream::discovery::ServiceKind;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::pin::Pin;
use std::time::Duration;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    target: TargetArgs,
    /// Credentials printed by `airstream pair` (legacy `ID:KEY`, or AirPlay 2
    /// `LTPK:LTSK:DEVICE_ID:CLIENT_ID`); pair-verify runs before playing.
    /// Default: the credentials `airstream pair` stored for the device.
    // A String, parsed in `run`: clap would echo a rejected value, and this one is a secret.
    #[arg(
        long,
        value_name = "ID:KEY",
        env = "AIRSTREAM_CREDENTIALS",
        hide_env_values = true
    )]
    credentials: Option<String>,
    /// Start this many seconds into the media.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
    start: f64,
    /// Print one JSON object per status change on stdout (state, position, duration)
    /// instead of a progress bar.
    #[arg(long)]
    json: bool,
    /// Milliseconds between /playback-info polls (tests shorten it).
    #[arg(long, hide = true, default_value_t = 1000)]
    poll_interval_ms: u64,
    /// An http(s) URL the Apple TV fetches itself, or a local file airstream serves to it.
    #[arg(value_name = "URL|PATH")]
    media: String,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    // Checked before discovery, so a typo fails at once.
    let flag_credentials = args
        .credentials
        .as_deref()
        .map(crate::stored::parse_any_flag)
        .transpose()?;
    let target = args.target.resolve(Some(ServiceKind::AirPlay)).await?;
    let device = crate::pair::airplay_device(&target);
    let mut options = PlayOptions::default();
    options.start_position = Duration::try_from_secs_f64(args.start).map_err(|_| {
        airstream::Error::InvalidInput(format!(
            "--start must be a number of seconds >= 0, not {}",
            args.start
        ))
    })?;
    match flag_credentials {
        Some(crate::stored::FlagCredentials::Legacy(credentials)) => {
            options.credentials = Some(credentials);
        }
        Some(crate::stored::FlagCredentials::Hap(credentials)) => {
            options.hap_credentials = Some(credentials);
        }
        None => {
            options.credentials = crate::stored::lookup(&target);
            options.hap_credentials = crate::stored::lookup_hap(&target);
        }
    }
    options.poll_interval = Duration::from_millis(args.poll_interval_ms.max(1));

    let mut output = Output::new(args.json);
    // One Ctrl-C listener for the whole run: a fresh one per wait could miss a signal that
    // arrives between two waits.
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let handle = tokio::select! {
        handle = play_url(&device, &args.media, options) => handle?,
        _ = &mut ctrl_c => {
            // Dropping the play_url future closes the connection and the file server.
            output.done(&PlaybackStatus { state: PlaybackState::Stopped, position: None, duration: None });
            return Ok(());
        }
    };
    follow(handle, &mut output, ctrl_c).await?;
    Ok(())
}

/// Shows status changes until the playback ends; Ctrl-C stops it (closes the connection).
async fn follow(
    handle: PlaybackHandle,
    output: &mut Output,
    mut ctrl_c: Pin<&mut impl Future<Output = std::io::Result<()>>>,
) -> airstream::Result<PlaybackEnd> {
    let stopper = handle.stopper();
    let mut status = handle.subscribe();
    output.update(&status.borrow_and_update());
    let finished = handle.finished();
    tokio::pin!(finished);
    let mut watching = true;
    let mut stopping = false;
    let result = loop {
        tokio::select! {
            result = &mut finished => break result,
            changed = status.changed(), if watching => match changed {
                Ok(()) => output.update(&status.borrow_and_update()),
                Err(_) => watching = false,
            },
            _ = &mut ctrl_c, if !stopping => {
                stopping = true;
                stopper.stop();
            }
        }
    };
    output.done(&status.borrow());
    result
}

/// Either JSON lines on stdout or a progress bar on a terminal.
struct Output {
    json: bool,
    bar: ProgressBar,
    last: Option<PlaybackStatus>,
}

impl Output {
    fn new(json: bool) -> Self {
        let target = if json || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(None, target).with_style(
            ProgressStyle::with_template("{prefix:>8} [{wide_bar}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Self {
            json,
            bar,
            last: None,
        }
    }

    fn update(&mut self, status: &PlaybackStatus) {
        if self.last.as_ref() == Some(status) {
            return;
        }
        self.last = Some(*status);
        if self.json {
            // A reader that left (`| head -1`) is no reason to stop the playback.
            let _ = outln!("{}", json_line(status));
            let _ = std::io::stdout().flush();
            return;
        }
        self.bar.set_prefix(status.state.as_str());
        match status.duration {
            Some(duration) => {
                self.bar.set_length(duration.round() as u64);
                self.bar
                    .set_position(status.position.unwrap_or(0.0).round() as u64);
            }
            None => self.bar.unset_length(),
        }
        self.bar.set_message(format!(
            "{} / {}",
            clock(status.position),
            clock(status.duration)
        ));
    }

    fn done(&mut self, status: &PlaybackStatus) {
        self.update(status);
        if !self.json {
            self.bar.finish_and_clear();
            let _ = writeln!(
                std::io::stderr(),
                "{} at {} / {}",
                status.state.as_str(),
                clock(status.position),
                clock(status.duration)
            );
        }
    }
}

/// `{"state":"playing","position":12.5,"duration":600}`; unknown numbers are `null`.
fn json_line(status: &PlaybackStatus) -> String {
    let number = |n: Option<f64>| match n {
        Some(n) if n.is_finite() => n.to_string(),
        _ => "null".to_string(),
    };
    format!(
        r#"{{"state":"{}","position":{},"duration":{}}}"#,
        status.state.as_str(),
        number(status.position),
        number(status.duration)
    )
}

/// `h:mm:ss` or `m:ss`; `--:--` when unknown.
fn clock(seconds: Option<f64>) -> String {
    let Some(seconds) = seconds.filter(|s| s.is_finite() && *s >= 0.0) else {
        return "--:--".to_string();
    };
    let total = seconds.round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_are_valid_json_with_nulls_for_unknowns() {
        let status = PlaybackStatus {
            state: PlaybackState::Playing,
            position: Some(12.5),
            duration: Some(600.0),
        };
        assert_eq!(
            json_line(&status),
            r#"{"state":"playing","position":12.5,"duration":600}"#
        );
        let status = PlaybackStatus {
            state: PlaybackState::Loading,
            position: None,
            duration: Some(f64::NAN),
        };
        assert_eq!(
            json_line(&status),
            r#"{"state":"loading","position":null,"duration":null}"#
        );
    }

    #[test]
    fn clock_formats() {
        assert_eq!(clock(None), "--:--");
        assert_eq!(clock(Some(5.4)), "0:05");
        assert_eq!(clock(Some(600.0)), "10:00");
        assert_eq!(clock(Some(3725.0)), "1:02:05");
        assert_eq!(clock(Some(-1.0)), "--:--");
    }
}
