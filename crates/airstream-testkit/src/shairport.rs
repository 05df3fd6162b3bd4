//! The real receiver, shairport-sync (Debian's 3.3.8), run by a test inside its own network
//! namespace with avahi, its stdout backend writing the PCM it plays to a file, and its
//! metadata pipe read into [`MetadataItem`]s. Everything stops when the handle drops.

use crate::avahi::Avahi;
use crate::netns::Netns;
use crate::process::{Guarded, wait_until};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// RTSP port inside the namespace (each test has its own namespace, so it never clashes).
pub const PORT: u16 = 5000;

#[derive(Debug, Clone)]
pub struct ShairportConfig {
    pub name: String,
    pub password: Option<String>,
    /// shairport-sync drops this fraction of received audio packets (its resend requests
    /// still work): receiver-side loss with no network tricks.
    pub drop_fraction: Option<f64>,
    pub metadata: bool,
    /// How far ahead of time it writes audio out (its default for stdout is 1 s). A FLUSH
    /// cannot take back what was already written, unlike a real output device's buffer.
    pub output_buffer_seconds: Option<f64>,
    /// RTSP port, and the first of the 10 UDP ports it may use: set both apart to run a
    /// second instance in the same namespace (a multi-room group).
    pub port: u16,
    pub udp_port_base: u16,
    /// Seconds without a frame played after which it ends the session on its own (its
    /// `session_timeout`; shairport-sync's default is 120).
    pub session_timeout: u32,
    /// Its `log_verbosity` (2; 3 logs HAP pair-verify, which 2 leaves out).
    pub log_verbosity: u8,
}

impl Default for ShairportConfig {
    fn default() -> Self {
        Self {
            name: "airstream-test".into(),
            password: None,
            drop_fraction: None,
            metadata: false,
            output_buffer_seconds: None,
            port: PORT,
            udp_port_base: 6001,
            session_timeout: 20,
            log_verbosity: 2,
        }
    }
}

/// One item from the metadata pipe: 4-character type and code, and the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataItem {
    pub kind: String,
    pub code: String,
    pub data: Vec<u8>,
}

pub struct Shairport {
    process: Guarded,
    metadata: Option<MetadataReader>,
    // Kept so the receiver can advertise itself; dropped after shairport-sync. Shared by
    // every instance in the namespace.
    avahi: Arc<Avahi>,
    /// Its RTSP port.
    pub port: u16,
    pub capture: PathBuf,
    pub log: PathBuf,
    pub dir: PathBuf,
}

/// Which shairport-sync a configuration is for: Debian's 3.3.8 (AirPlay 1, advertising through
/// avahi) or the AirPlay 2 build (4.3.7), which needs a fixed device id (else it spends 10 s
/// looking for a MAC address) and gets a stub `avahi-publish-service`, as it runs in a
/// namespace with a veth, where mDNS must not go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    Classic,
    AirPlay2 { device_id: u64 },
}

pub(crate) fn config_text(config: &ShairportConfig, pipe: &Path, flavour: Flavour) -> String {
    let password = config
        .password
        .as_ref()
        .map(|p| format!("password = \"{p}\";"))
        .unwrap_or_default();
    let drop = config
        .drop_fraction
        .map(|f| format!("drop_this_fraction_of_audio_packets = {f:.3};"))
        .unwrap_or_default();
    let output_buffer = config
        .output_buffer_seconds
        .map(|s| format!("audio_backend_buffer_desired_length_in_seconds = {s:.3};"))
        .unwrap_or_default();
    let metadata = if config.metadata {
        format!(
            "metadata = {{ enabled = \"yes\"; include_cover_art = \"yes\"; pipe_name = \"{}\"; pipe_timeout = 5000; }};",
            pipe.display()
        )
    } else if matches!(flavour, Flavour::AirPlay2 { .. }) {
        // 4.3.7 enables metadata by default, into a FIFO in the host's /tmp that every
        // instance would share.
        r#"metadata = { enabled = "no"; };"#.to_string()
    } else {
        String::new()
    };
    let (mdns, extra) = match flavour {
        Flavour::Classic => (
            "avahi",
            r#"dbus_service_bus = "session"; mpris_service_bus = "session";"#.to_string(),
        ),
        Flavour::AirPlay2 { device_id } => (
            "external-avahi",
            format!("airplay_device_id = 0x{device_id:012X}L;"),
        ),
    };
    format!(
        r#"general = {{ name = "{name}"; port = {port}; udp_port_base = {udp}; udp_port_range = 10;
  output_backend = "stdout"; mdns_backend = "{mdns}"; interpolation = "basic";
  ignore_volume_control = "yes"; playback_mode = "stereo"; alac_decoder = "hammerton";
  {extra} {password} {output_buffer} }};
sessioncontrol = {{ session_timeout = {timeout}; allow_session_interruption = "yes"; }};
{metadata}
diagnostics = {{ log_output_to = "stderr"; statistics = "yes"; log_verbosity = {verbosity}; {drop} }};
"#,
        name = config.name,
        verbosity = config.log_verbosity,
        port = config.port,
        udp = config.udp_port_base,
        timeout = config.session_timeout,
    )
}

impl Shairport {
    /// Starts avahi and shairport-sync in `ns`, with files under `dir`; returns once the
    /// RTSP port accepts connections.
    pub fn start(ns: &Netns, dir: &Path, config: &ShairportConfig) -> io::Result<Self> {
        Self::start_with(Arc::new(Avahi::start_in(ns)?), ns, dir, config)
    }

    /// Starts another instance beside this one (same namespace and avahi), with files
    /// under `dir`; `config` must give it its own name and ports.
    pub fn start_beside(
        &self,
        ns: &Netns,
        dir: &Path,
        config: &ShairportConfig,
    ) -> io::Result<Self> {
        Self::start_with(Arc::clone(&self.avahi), ns, dir, config)
    }

    fn start_with(
        avahi: Arc<Avahi>,
        ns: &Netns,
        dir: &Path,
        config: &ShairportConfig,
    ) -> io::Result<Self> {
        let pipe = dir.join("metadata.pipe");
        let conf = dir.join("shairport-sync.conf");
        std::fs::write(&conf, config_text(config, &pipe, Flavour::Classic))?;
        let metadata = MetadataReader::start_if(config.metadata, &pipe)?;
        let capture = dir.join("capture.raw");
        let log = dir.join("shairport-sync.log");
        let mut cmd = avahi.command("shairport-sync");
        cmd.arg("-c")
            .arg(&conf)
            .arg("-u")
            .stdout(File::create(&capture)?)
            .stderr(File::create(&log)?);
        let mut process = Guarded::spawn("shairport-sync", cmd)?;
        if !wait_until(Duration::from_secs(10), || ns.tcp_port_open(config.port)) {
            process.check_running()?;
            return Err(io::Error::other(format!(
                "shairport-sync did not listen: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )));
        }
        Ok(Self {
            process,
            metadata,
            avahi,
            port: config.port,
            capture,
            log,
            dir: dir.to_path_buf(),
        })
    }

    /// The PCM played so far (signed 16-bit little-endian stereo).
    pub fn captured(&self) -> io::Result<Vec<i16>> {
        Ok(crate::compare::read_s16le(&std::fs::read(&self.capture)?))
    }

    /// Log lines that report trouble (see `log_trouble`).
    pub fn log_errors(&self) -> Vec<String> {
        log_trouble(&self.log_text())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Metadata items received so far.
    pub fn metadata(&self) -> Vec<MetadataItem> {
        self.metadata
            .as_ref()
            .map(MetadataReader::items)
            .unwrap_or_default()
    }

    /// Metadata items once the end of the play session (`pend`) arrived, or those that came
    /// within `within`: items reach the pipe as the receiver handles them.
    pub fn metadata_to_the_end(&self, within: std::time::Duration) -> Vec<MetadataItem> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let items = self.metadata();
            if items.iter().any(|i| i.code == "pend") || std::time::Instant::now() >= deadline {
                return items;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Whether the process is still running (it must survive every test stream).
    pub fn is_running(&mut self) -> bool {
        self.process.check_running().is_ok()
    }

    pub fn stop(mut self) {
        self.process.terminate(Duration::from_secs(2));
    }
}

/// Lines of a shairport-sync log that report trouble. Its D-Bus/MPRIS warnings on a private
/// bus, and the configuration it echoes at start, are not.
pub(crate) fn log_trouble(log: &str) -> Vec<String> {
    const TROUBLE: [&str; 7] = [
        "error:",
        "fatal",
        "unrecoverable",
        "bad audio packet",
        "segmentation",
        "sync packet received before",
        "inconsistent sequence",
    ];
    log.lines()
        .filter(|l| {
            let lower = l.to_ascii_lowercase();
            TROUBLE.iter().any(|t| lower.contains(t))
        })
        .map(str::to_string)
        .collect()
}

/// The usual end-to-end setup: shairport-sync in a network namespace of its own, with a
/// scratch directory for inputs. Fields drop in order: receiver, namespace, directory.
pub struct Rig {
    pub receiver: Shairport,
    pub ns: Netns,
    pub dir: tempfile::TempDir,
}

impl Rig {
    pub fn start(config: &ShairportConfig) -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let ns = Netns::create()?;
        let receiver = Shairport::start(&ns, dir.path(), config)?;
        Ok(Self { receiver, ns, dir })
    }

    /// Where senders inside the namespace reach it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.receiver.port)
    }

    /// Runs `program` with `args` inside the namespace and waits for it.
    pub fn run(
        &self,
        program: impl AsRef<std::ffi::OsStr>,
        args: &[&str],
    ) -> io::Result<std::process::Output> {
        self.ns.command(program).args(args).output()
    }

    /// Writes `samples` as a 44.1 kHz WAV file in the scratch directory; returns its path.
    pub fn write_wav(&self, samples: &[i16]) -> io::Result<String> {
        let path = self.dir.path().join("source.wav");
        std::fs::write(&path, crate::signal::wav_bytes(samples, 44_100))?;
        Ok(path.display().to_string())
    }
}

/// Reads the metadata FIFO on a thread. The FIFO is opened read-write, so the open never
/// blocks and we can unblock our own read at the end by writing a sentinel.
pub(crate) struct MetadataReader {
    items: Arc<Mutex<Vec<MetadataItem>>>,
    pipe: File,
    thread: Option<std::thread::JoinHandle<()>>,
}

const SENTINEL: &[u8] = b"<airstream-stop/>";

impl MetadataReader {
    /// When `enabled`, makes the FIFO at `path` and starts reading it. Call it before
    /// shairport-sync starts, so our reader holds the FIFO open from the start.
    pub(crate) fn start_if(enabled: bool, path: &Path) -> io::Result<Option<Self>> {
        if !enabled {
            return Ok(None);
        }
        let status = std::process::Command::new("mkfifo").arg(path).status()?;
        if !status.success() {
            return Err(io::Error::other("mkfifo failed"));
        }
        Self::start(path).map(Some)
    }

    /// Items received so far.
    pub(crate) fn items(&self) -> Vec<MetadataItem> {
        self.items.lock().map(|i| i.clone()).unwrap_or_default()
    }

    fn start(path: &Path) -> io::Result<Self> {
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)?;
        let writer = reader.try_clone()?;
        let items = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&items);
        let thread = std::thread::spawn(move || {
            let mut text = Vec::new();
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                text.extend_from_slice(&buf[..n]);
                let done = text.windows(SENTINEL.len()).any(|w| w == SENTINEL);
                let (parsed, consumed) = parse_items(&text);
                text.drain(..consumed);
                if let Ok(mut items) = sink.lock() {
                    items.extend(parsed);
                }
                if done {
                    break;
                }
            }
        });
        Ok(Self {
            items,
            pipe: writer,
            thread: Some(thread),
        })
    }
}

impl Drop for MetadataReader {
    fn drop(&mut self) {
        let _ = self.pipe.write_all(SENTINEL);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = s.find(open)? + open.len();
    let end = s[start..].find(close)? + start;
    Some(&s[start..end])
}

fn hex_code(s: &str) -> String {
    String::from_utf8_lossy(&hex::decode(s.trim()).unwrap_or_default()).to_string()
}

/// Parses whole `<item>…</item>` records; returns them and the bytes consumed.
pub fn parse_items(text: &[u8]) -> (Vec<MetadataItem>, usize) {
    let s = String::from_utf8_lossy(text);
    let mut items = Vec::new();
    let mut consumed = 0;
    while let Some(end) = s[consumed..].find("</item>") {
        let item = &s[consumed..consumed + end];
        consumed += end + "</item>".len();
        let (Some(kind), Some(code)) = (
            between(item, "<type>", "</type>"),
            between(item, "<code>", "</code>"),
        ) else {
            continue;
        };
        let data = between(item, "<data encoding=\"base64\">", "</data>")
            .and_then(|b64| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(b64.split_whitespace().collect::<String>())
                    .ok()
            })
            .unwrap_or_default();
        items.push(MetadataItem {
            kind: hex_code(kind),
            code: hex_code(code),
            data,
        });
    }
    (items, consumed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_flavours_differ_in_mdns_device_id_and_default_metadata() {
        let pipe = Path::new("/tmp/pipe");
        let config = ShairportConfig::default();
        let classic = config_text(&config, pipe, Flavour::Classic);
        assert!(classic.contains(r#"mdns_backend = "avahi";"#), "{classic}");
        assert!(
            classic.contains(r#"dbus_service_bus = "session";"#),
            "{classic}"
        );
        assert!(!classic.contains("airplay_device_id"), "{classic}");
        let ap2 = config_text(
            &config,
            pipe,
            Flavour::AirPlay2 {
                device_id: 0x0A1B_2C3D_4E5F,
            },
        );
        assert!(ap2.contains(r#"mdns_backend = "external-avahi";"#), "{ap2}");
        assert!(
            ap2.contains("airplay_device_id = 0x0A1B2C3D4E5FL;"),
            "{ap2}"
        );
        for common in [
            r#"output_backend = "stdout";"#,
            r#"interpolation = "basic";"#,
            "log_verbosity = 2;",
        ] {
            assert!(classic.contains(common) && ap2.contains(common), "{common}");
        }
    }

    #[test]
    fn parses_metadata_items() {
        let text = b"<item><type>636f7265</type><code>6d696e6d</code><length>5</length>\n<data encoding=\"base64\">\naGVsbG8=</data></item>\n<item><type>73736e63</type><code>70626567</code><length>0</length></item><item><type>";
        let (items, consumed) = parse_items(text);
        assert_eq!(
            items,
            vec![
                MetadataItem {
                    kind: "core".into(),
                    code: "minm".into(),
                    data: b"hello".to_vec()
                },
                MetadataItem {
                    kind: "ssnc".into(),
                    code: "pbeg".into(),
                    data: vec![]
                },
            ]
        );
        assert_eq!(&text[consumed..], b"<item><type>");
    }
}
