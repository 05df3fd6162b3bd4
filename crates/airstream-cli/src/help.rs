//! The text after `--help`: examples, the exit codes, the files and the environment
//! variables. One source for each: the exit codes come from [`crate::exit::TABLE`], the
//! README's table is checked against it (tests/help.rs).

use crate::exit;
use std::fmt::Write as _;

/// Under `-h`: where the rest is.
pub(crate) const SHORT: &str =
    "`airstream --help` adds examples, exit codes, files and environment variables.";

/// Every environment variable airstream reads, and what for.
pub(crate) const ENVIRONMENT: [(&str, &str); 9] = [
    (
        "AIRSTREAM_PASSWORD",
        "password of protected receivers (stream --password)",
    ),
    (
        "AIRSTREAM_CREDENTIALS",
        "pairing credentials ID:KEY (stream, play and pair --credentials)",
    ),
    ("AIRSTREAM_PIN", "the PIN for pair --pin"),
    (
        "AIRSTREAM_RECEIVER_PASSWORD",
        "password the embedded receiver asks for (receive --password)",
    ),
    (
        "AIRSTREAM_CONFIG_DIR",
        "directory of config.toml, credentials.json (~/.config/airstream)",
    ),
    (
        "AIRSTREAM_RUNTIME_DIR",
        "control socket directory (default: see XDG_RUNTIME_DIR)",
    ),
    (
        "XDG_RUNTIME_DIR",
        "control sockets: $XDG_RUNTIME_DIR/airstream, else /tmp/airstream-UID",
    ),
    (
        "RUST_LOG",
        "log filter instead of -v (e.g. RUST_LOG=airstream=debug)",
    ),
    ("NO_COLOR", "set (to anything) to turn colour off"),
];

const EXAMPLES: &str = "\
Examples:
  airstream demo                                   # try it: no receiver needed
  airstream scan                                   # find receivers
  airstream stream --device Kitchen song.flac
  airstream stream --device Kitchen --device \"Living Room\" song.flac   # in sync
  cat song.mp3 | airstream stream --address 192.168.1.20:5000 -
  airstream volume --device Kitchen 30             # while a stream runs
  airstream play --device \"Living Room\" https://example.com/video.mp4
  airstream pair --device \"Living Room\"            # once, for Apple TVs that ask";

/// The long help of `airstream` itself.
pub(crate) fn long() -> String {
    let mut text = String::from(EXAMPLES);
    text.push_str("\n\nExit codes:\n");
    for (code, meaning) in exit::TABLE {
        let _ = writeln!(text, "  {code:>2}  {meaning}");
    }
    let _ = write!(
        text,
        "\nFiles:\n  {}\n      defaults: device, address, latency, codec, password_command\n  \
         credentials.json next to it: what `airstream pair` stored (mode 0600)\n  \
         $AIRSTREAM_RUNTIME_DIR/<receiver>.sock: control sockets of a running stream, one\n      \
         per receiver (used by volume, pause, resume, stop and status)\n",
        crate::config::LOCATION
    );
    text.push_str("\nEnvironment:\n");
    for (name, meaning) in ENVIRONMENT {
        // One line each, under clap's 100 columns: a wrapped line would read as a name.
        let _ = writeln!(text, "  {name:<28} {meaning}");
    }
    text
}

/// Examples shown under `airstream stream --help`.
pub(crate) const STREAM_EXAMPLES: &str = "\
Examples:
  airstream stream --device Kitchen song.flac
  airstream stream --address 192.168.1.20:5000 --volume 40 --title Demo song.wav
  airstream stream --device Kitchen --device \"Living Room\" song.flac   # a group
  airstream stream --device Kitchen a.flac b.mp3 - c.ogg           # gapless, stdin among them
  airstream stream --device Kitchen --shuffle --repeat album/*.flac
  ffmpeg -i in.mkv -f s16le -ac 2 -ar 48000 - | airstream stream --device Kitchen --raw s16le:48000:2 -";

/// Examples shown under `airstream session --help`.
pub(crate) const SESSION_EXAMPLES: &str = "\
Commands (one JSON object per line on stdin):
  {\"cmd\":\"enqueue\",\"source\":\"song.flac\"}   the first one starts the stream
  {\"cmd\":\"pause\"}  {\"cmd\":\"resume\"}  {\"cmd\":\"stop\"}
  {\"cmd\":\"volume\",\"level\":40,\"receiver\":\"Kitchen\"}   receiver: index, name, id or address
  {\"cmd\":\"metadata\",\"title\":\"T\",\"artist\":\"A\",\"album\":\"B\",\"artwork\":\"cover.jpg\"}
  {\"cmd\":\"seek\",\"position\":83}  {\"cmd\":\"skip\"}   into the track playing; the next track
  {\"cmd\":\"add\",\"receiver\":\"Bath\"}  {\"cmd\":\"remove\",\"receiver\":1}
Events (one JSON object per line on stdout): ready, enqueued, started, state, track,
position (each second), volume, metadata, seeked, skipped, receiver, removed, warning,
error, input_closed, finished.
See docs/session.md for the schema and an example transcript.

Example:
  printf '%s\\n' '{\"cmd\":\"enqueue\",\"source\":\"a.flac\"}' | airstream session --device Kitchen";

/// Examples shown under `airstream play --help`.
pub(crate) const PLAY_EXAMPLES: &str = "\
Examples:
  airstream play --device \"Living Room\" https://example.com/video.mp4
  airstream play --address 192.168.1.30:7000 ./clip.mp4 --start 30";

/// Examples shown under `airstream scan --help` and `airstream info --help`.
pub(crate) const SCAN_EXAMPLES: &str = "\
Examples:
  airstream scan
  airstream scan --json --discovery-timeout 5
  airstream info --device Kitchen";

/// Examples shown under `airstream receive --help`.
pub(crate) const RECEIVE_EXAMPLES: &str = "\
Examples:
  airstream receive --output received.wav                     # on this machine, as \"airstream\"
  airstream receive --bind 0.0.0.0 --name Den --output den.wav  # for the whole network
  airstream receive --no-advertise --port 6000 --output x.wav --once

It is advertised on mDNS (_raop._tcp) on the interface of --bind unless --no-advertise,
and plays one sender at a time: another one meanwhile is told it is busy (exit code 13
for `airstream stream`). Each session's summary is one line on stdout.";

/// Examples shown under `airstream volume --help`.
pub(crate) const VOLUME_EXAMPLES: &str = "\
Examples (another shell than the one running `airstream stream`):
  airstream volume --device Kitchen 30             # in a group: Kitchen only (--all: every one)
  airstream volume --device Kitchen                # prints its volume
  airstream pause --device Kitchen                 # any receiver of the group finds the stream
  airstream resume --device 10.0.0.2
  airstream seek --device Kitchen 1:23             # into the track playing; or seconds: 83
  airstream skip --device Kitchen                  # the next track of `stream a.flac b.mp3`
  airstream status --device Kitchen --json
  airstream stop --device Kitchen

The stream is found through its control socket in $AIRSTREAM_RUNTIME_DIR (default
$XDG_RUNTIME_DIR/airstream, else /tmp/airstream-UID), by any receiver's name, id or address.";
