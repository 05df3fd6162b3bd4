//! `/playback-info` replies and the "loading / playing / finished / failed" decision
//! (airplay.md §1.5), kept free of I/O so the rules are tested on their own.

use plist::{Dictionary, Value};
use std::io::Cursor;

/// The parts of a `/playback-info` reply that matter. Only `duration` and `error` decide
/// anything; `position` is reported to the caller.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct PlaybackInfo {
    pub(crate) duration: Option<f64>,
    pub(crate) position: Option<f64>,
    pub(crate) error: Option<DeviceError>,
}

/// The `error` dict a device puts in `/playback-info` when it cannot play the media.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DeviceError {
    pub(crate) code: Option<i64>,
    pub(crate) domain: Option<String>,
}

impl PlaybackInfo {
    /// Parses an XML or binary plist; an empty body is an empty dict (as pyatv treats it).
    pub(crate) fn parse(body: &[u8]) -> Result<Self, String> {
        if body.is_empty() {
            return Ok(Self::default());
        }
        let dict = Value::from_reader(Cursor::new(body))
            .map_err(|e| format!("playback-info is not a plist: {e}"))?
            .into_dictionary()
            .ok_or("playback-info plist is not a dictionary")?;
        Ok(Self {
            duration: number(&dict, "duration"),
            position: number(&dict, "position"),
            error: dict.get("error").map(|error| {
                let error = error.as_dictionary();
                DeviceError {
                    code: error
                        .and_then(|e| e.get("code"))
                        .and_then(Value::as_signed_integer),
                    domain: error
                        .and_then(|e| e.get("domain"))
                        .and_then(Value::as_string)
                        .map(str::to_string),
                }
            }),
        })
    }
}

/// Devices write times as reals, but an integer is a number too.
fn number(dict: &Dictionary, key: &str) -> Option<f64> {
    let value = dict.get(key)?;
    value
        .as_real()
        .or_else(|| value.as_signed_integer().map(|n| n as f64))
        .filter(|n| n.is_finite())
}

/// What one reply means for the playback.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// Not playing yet; keep polling.
    Loading,
    Playing {
        position: Option<f64>,
        duration: f64,
    },
    /// It played and has stopped: the end of the media, or the user stopped it on the TV.
    Finished,
    /// The start-up window passed without the media ever playing.
    NeverStarted,
    Failed(DeviceError),
}

/// pyatv's rule: a reply with `duration` means playing. Before the first one, up to
/// `startup_polls` replies without it are tolerated (the next one gives up); after it, the
/// first reply without `duration` means the playback is over.
#[derive(Debug, Clone)]
pub(crate) struct PlaybackTracker {
    polls_left: u32,
    started: bool,
}

impl PlaybackTracker {
    pub(crate) fn new(startup_polls: u32) -> Self {
        Self {
            polls_left: startup_polls,
            started: false,
        }
    }

    pub(crate) fn on_reply(&mut self, info: PlaybackInfo) -> Verdict {
        if let Some(error) = info.error {
            return Verdict::Failed(error);
        }
        if let Some(duration) = info.duration {
            self.started = true;
            return Verdict::Playing {
                position: info.position,
                duration,
            };
        }
        if self.started {
            return Verdict::Finished;
        }
        match self.polls_left.checked_sub(1) {
            Some(left) => {
                self.polls_left = left;
                Verdict::Loading
            }
            None => Verdict::NeverStarted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(body: &str) -> Vec<u8> {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>{body}</dict></plist>"#
        )
        .into_bytes()
    }

    fn playing(duration: f64) -> PlaybackInfo {
        PlaybackInfo {
            duration: Some(duration),
            ..PlaybackInfo::default()
        }
    }

    #[test]
    fn parses_xml_replies_as_an_apple_tv_sends_them() {
        let info = PlaybackInfo::parse(&xml(
            "<key>duration</key><real>1801.5</real><key>position</key><real>12.25</real>\
             <key>rate</key><real>1</real><key>readyToPlay</key><true/>",
        ))
        .unwrap();
        assert_eq!(info.duration, Some(1801.5));
        assert_eq!(info.position, Some(12.25));
        assert_eq!(info.error, None);

        let info = PlaybackInfo::parse(&xml(
            "<key>error</key><dict><key>code</key><integer>-12938</integer>\
             <key>domain</key><string>CoreMediaErrorDomain</string></dict>",
        ))
        .unwrap();
        assert_eq!(
            info.error,
            Some(DeviceError {
                code: Some(-12938),
                domain: Some("CoreMediaErrorDomain".into())
            })
        );
    }

    #[test]
    fn parses_binary_replies_and_integer_times() {
        let mut dict = Dictionary::new();
        dict.insert("duration".into(), Value::Integer(300.into()));
        let mut body = Vec::new();
        Value::Dictionary(dict).to_writer_binary(&mut body).unwrap();
        assert_eq!(PlaybackInfo::parse(&body).unwrap().duration, Some(300.0));
    }

    #[test]
    fn empty_body_is_an_empty_dict_and_garbage_is_an_error() {
        assert_eq!(PlaybackInfo::parse(b"").unwrap(), PlaybackInfo::default());
        assert!(PlaybackInfo::parse(b"not a plist").is_err());
        let array = br#"<?xml version="1.0"?><plist version="1.0"><array/></plist>"#;
        assert!(PlaybackInfo::parse(array).is_err());
    }

    #[test]
    fn an_error_without_code_or_domain_still_fails() {
        let info = PlaybackInfo::parse(&xml("<key>error</key><string>oops</string>")).unwrap();
        let mut tracker = PlaybackTracker::new(5);
        assert_eq!(
            tracker.on_reply(info),
            Verdict::Failed(DeviceError::default())
        );
    }

    #[test]
    fn gives_up_on_the_sixth_reply_without_duration() {
        let mut tracker = PlaybackTracker::new(5);
        for poll in 1..=5 {
            assert_eq!(
                tracker.on_reply(PlaybackInfo::default()),
                Verdict::Loading,
                "poll {poll}"
            );
        }
        assert_eq!(
            tracker.on_reply(PlaybackInfo::default()),
            Verdict::NeverStarted
        );
    }

    #[test]
    fn after_playing_the_first_reply_without_duration_finishes() {
        let mut tracker = PlaybackTracker::new(5);
        assert_eq!(tracker.on_reply(PlaybackInfo::default()), Verdict::Loading);
        assert_eq!(
            tracker.on_reply(playing(10.0)),
            Verdict::Playing {
                position: None,
                duration: 10.0
            }
        );
        assert_eq!(tracker.on_reply(PlaybackInfo::default()), Verdict::Finished);
    }

    #[test]
    fn a_late_start_inside_the_window_still_counts() {
        let mut tracker = PlaybackTracker::new(5);
        for _ in 0..5 {
            assert_eq!(tracker.on_reply(PlaybackInfo::default()), Verdict::Loading);
        }
        assert!(matches!(
            tracker.on_reply(playing(3.0)),
            Verdict::Playing { .. }
        ));
        assert_eq!(tracker.on_reply(PlaybackInfo::default()), Verdict::Finished);
    }
}
