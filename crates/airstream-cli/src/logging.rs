//! Log lines on stderr: one line per event, in words (`warning: skipped 0.2 s of damaged
//! audio (input: song.mp3)`), no timestamps or module paths unless `-vv` asks for them, colour
//! only on a terminal and never with `NO_COLOR`. Our crates speak from the default level on;
//! dependencies (symphonia, mdns-sd, hyper…) only from `-vv`.

use indicatif::ProgressBar;
use std::fmt::{self, Write as _};
use std::io::{self, IsTerminal};
use std::sync::Mutex;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The crates whose messages are ours to show from the default level on.
const OUR_CRATES: [&str; 5] = [
    "airstream",
    "airstream_cli",
    "airstream_proto",
    "airstream_audio",
    "airstream_receiver",
];

/// The filter for `-v` given `verbose` times: ours at warn/info/debug/trace, the
/// dependencies off below `-vv`.
pub(crate) fn filter_directives(verbose: u8) -> String {
    let (ours, others) = match verbose {
        0 => ("warn", "off"),
        1 => ("info", "off"),
        2 => ("debug", "info"),
        _ => ("trace", "trace"),
    };
    let mut directives = others.to_string();
    for krate in OUR_CRATES {
        write!(directives, ",{krate}={ours}").unwrap_or_default();
    }
    directives
}

/// The progress bar on the terminal, if one is drawn: log lines go above it instead of
/// into it (the bar's next redraw would erase a line written under it).
static BAR_ON_SCREEN: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Registers the bar that is on screen (`None` once it is gone).
pub(crate) fn bar_on_screen(bar: Option<ProgressBar>) {
    if let Ok(mut slot) = BAR_ON_SCREEN.lock() {
        *slot = bar;
    }
}

/// stderr, with the progress bar (if any) cleared while a line is written.
struct Stderr;

impl Stderr {
    fn around_bar<T>(write: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        let bar = BAR_ON_SCREEN.lock().ok().and_then(|slot| slot.clone());
        match bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}

impl io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Self::around_bar(|| io::stderr().write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        Self::around_bar(|| io::stderr().write_all(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Whether stderr gets colour: a terminal, and `NO_COLOR` unset or empty (no-color.org).
pub(crate) fn colour_wanted(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(std::ffi::OsStr::is_empty)
}

/// Installs the stderr logger; `RUST_LOG` replaces the level filter.
pub(crate) fn init(verbose: u8) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(filter_directives(verbose)));
    let colour = colour_wanted(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Stderr)
        .with_ansi(colour)
        .event_format(Line {
            show_target: verbose >= 2,
        })
        .init();
}

/// `warning: message (key: value, …)`; with `-vv`, the module path after the level.
struct Line {
    show_target: bool,
}

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let (word, colour) = match *metadata.level() {
            Level::ERROR => ("error", "31"),
            Level::WARN => ("warning", "33"),
            Level::INFO => ("info", "32"),
            Level::DEBUG => ("debug", "34"),
            Level::TRACE => ("trace", "35"),
        };
        if writer.has_ansi_escapes() {
            write!(writer, "\x1b[{colour}m{word}\x1b[0m: ")?;
        } else {
            write!(writer, "{word}: ")?;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if self.show_target {
            let target = fields.log_target.as_deref().unwrap_or(metadata.target());
            write!(writer, "[{target}] ")?;
        }
        writer.write_str(&one_line(&fields.message))?;
        if !fields.rest.is_empty() {
            write!(writer, " ({})", one_line(&fields.rest.join(", ")))?;
        }
        writeln!(writer)
    }
}

/// Line breaks inside a message would break "one event, one line".
fn one_line(text: &str) -> String {
    text.trim_end().replace(['\r', '\n'], " ")
}

/// The message, then the other fields as `key: value`.
/// `log` records (from dependencies such as symphonia) arrive with target `log` and their
/// origin in `log.*` fields: the target is kept, the rest is noise.
#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<String>,
    log_target: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "log.target" => self.log_target = Some(value.to_string()),
            name if name.starts_with("log.") => {}
            name => self.rest.push(format!("{name}: {value}")),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            name if name.starts_with("log.") => {}
            name => self.rest.push(format!("{name}: {value:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn dependencies_are_silent_below_two_v() {
        for verbose in [0, 1] {
            let directives = filter_directives(verbose);
            assert!(directives.starts_with("off,"), "{directives}");
            assert!(directives.contains(",airstream="), "{directives}");
            assert!(directives.contains(",airstream_audio="), "{directives}");
        }
        assert!(filter_directives(0).contains("airstream_cli=warn"));
        assert!(filter_directives(1).contains("airstream_cli=info"));
        assert!(filter_directives(2).starts_with("info,"));
        assert!(filter_directives(3).starts_with("trace,"));
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour_wanted(true, None));
        assert!(colour_wanted(true, Some(OsStr::new(""))));
        assert!(!colour_wanted(true, Some(OsStr::new("1"))));
        assert!(!colour_wanted(false, None));
    }

    /// A terminal that records what is done to it.
    #[derive(Debug, Clone, Default)]
    struct Recorder(std::sync::Arc<Mutex<Vec<String>>>);

    impl Recorder {
        fn ops(&self) -> Vec<String> {
            self.0.lock().expect("recorder").clone()
        }
        fn push(&self, op: String) {
            self.0.lock().expect("recorder").push(op);
        }
    }

    impl indicatif::TermLike for Recorder {
        fn width(&self) -> u16 {
            40
        }
        fn move_cursor_up(&self, n: usize) -> io::Result<()> {
            self.push(format!("up {n}"));
            Ok(())
        }
        fn move_cursor_down(&self, n: usize) -> io::Result<()> {
            self.push(format!("down {n}"));
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.push(format!("line {s}"));
            Ok(())
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            self.push(format!("text {s}"));
            Ok(())
        }
        fn clear_line(&self) -> io::Result<()> {
            self.push("clear".into());
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_log_line_clears_the_bar_and_the_bar_comes_back_below_it() {
        use std::io::Write as _;
        let term = Recorder::default();
        let bar = ProgressBar::with_draw_target(
            Some(10),
            indicatif::ProgressDrawTarget::term_like(Box::new(term.clone())),
        );
        bar.set_position(3);
        bar.tick();
        let drawn = term.ops().len();
        assert!(drawn > 0, "the bar is drawn: {:?}", term.ops());
        bar_on_screen(Some(bar.clone()));
        Stderr.write_all(b"").expect("stderr");
        bar_on_screen(None);
        let after: Vec<String> = term.ops().split_off(drawn);
        let cleared = after.iter().position(|op| op == "clear");
        let redrawn = after.iter().rposition(|op| op.starts_with("text "));
        assert!(
            matches!((cleared, redrawn), (Some(c), Some(r)) if c < r),
            "cleared, then drawn again: {after:?}"
        );
        // Without a bar on screen, nothing touches the terminal.
        let before = term.ops().len();
        Stderr.write_all(b"").expect("stderr");
        assert_eq!(term.ops().len(), before);
    }

    #[test]
    fn messages_stay_on_one_line() {
        assert_eq!(one_line("a\nb\r\n"), "a b");
    }
}
