//! `airstream-py-rig -- COMMAND...`: runs COMMAND (the Python package's pytest suite) inside a
//! network namespace of its own, and serves it the testkit over a Unix socket whose path is
//! in `AIRSTREAM_TEST_RIG` (a file-system socket reaches across namespaces). The tests start
//! shairport-sync 3.3.8 there, and have the capture compared with the Rust decode of the
//! source, sample for sample, as the Rust tests do. Exits with COMMAND's status.
//!
//! Requests and answers are one JSON object per line: `{"cmd": "shairport", ...}` and so on
//! (see [`handle`]); an answer with `"error"` says what failed.

use airstream_audio::Source;
use airstream_proto::pairing::DeviceIdentity;
use airstream_testkit::compare::{align_and_compare, compare_across_pause, compare_last};
use airstream_testkit::fake_apple_tv::{FakeAppleTv, FakeAppleTvConfig, LegacyPairing};
use airstream_testkit::netns::Netns;
use airstream_testkit::shairport::{Shairport, ShairportConfig};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A receiver running now.
struct Running {
    id: u64,
    receiver: Shairport,
    _dir: tempfile::TempDir,
}

/// The fake Apple TV, on a thread of its own inside the namespace (its runtime runs there).
struct AppleTv {
    tv: Arc<FakeAppleTv>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for AppleTv {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

struct Rig {
    ns: Netns,
    apple_tv: Mutex<Option<AppleTv>>,
    scratch: tempfile::TempDir,
    /// The receivers running: one, or a group started `beside` the first (sharing its avahi).
    running: Mutex<Vec<Running>>,
    next_id: Mutex<u64>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.first().map(String::as_str) {
        Some("--") => &args[1..],
        _ => &args[..],
    };
    let Some((program, rest)) = command.split_first() else {
        eprintln!("usage: airstream-py-rig -- COMMAND [ARGS...]");
        return ExitCode::from(2);
    };
    match run(program, rest) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("airstream-py-rig: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(program: &str, args: &[String]) -> std::io::Result<ExitCode> {
    let rig = Rig {
        ns: Netns::create()?,
        apple_tv: Mutex::new(None),
        scratch: tempfile::Builder::new()
            .prefix("airstream-py-rig")
            .tempdir()?,
        running: Mutex::new(Vec::new()),
        next_id: Mutex::new(0),
    };
    let socket = rig.scratch.path().join("rig.sock");
    let listener = UnixListener::bind(&socket)?;
    let done = AtomicBool::new(false);
    // Scoped, so the namespace and the receiver are dropped (and deleted) once the command
    // is over and every connection of it closed.
    let status = std::thread::scope(|scope| {
        scope.spawn(|| {
            for stream in listener.incoming().flatten() {
                if done.load(Ordering::SeqCst) {
                    return;
                }
                let rig = &rig;
                scope.spawn(move || serve(rig, stream));
            }
        });
        let status = rig
            .ns
            .command(program)
            .args(args)
            .env("AIRSTREAM_TEST_RIG", &socket)
            .status();
        done.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees `done`.
        let _ = UnixStream::connect(&socket);
        status
    })?;
    if let Ok(mut running) = rig.running.lock() {
        // The ones started beside the first go first: it holds their avahi.
        while let Some(last) = running.pop() {
            last.receiver.stop();
        }
    }
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::from(1),
    })
}

fn serve(rig: &Rig, stream: UnixStream) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        let answer = match serde_json::from_str::<Value>(&line) {
            Ok(request) => handle(rig, &request).unwrap_or_else(|e| json!({ "error": e })),
            Err(e) => json!({ "error": format!("not JSON: {e}") }),
        };
        if writeln!(writer, "{answer}").is_err() {
            return;
        }
    }
}

/// Answers one request:
/// - `shairport` (`name`, `password`, `output_buffer_seconds`, `beside`): stops the receivers
///   running and starts another, or with `beside` starts one more next to them (a group);
///   answers its `id`, `address` (`127.0.0.1:PORT`) and `name`;
/// - `write_wav` (`seconds`): writes generated music as a 44.1 kHz WAV; answers its `path`;
/// - `compare` (`id`, `reference`): aligns the capture with the decode of the file at
///   `reference` and compares every frame;
/// - `compare_pause` (`id`, `reference`, `max_overlap`): the same for a stream paused and
///   resumed once: the source up to the cut, silence, the rest of it;
/// - `compare_last` (`id`, `reference`): the last place the capture holds the start of
///   `reference` (an input played after a skip), compared from there;
/// - `receiver` (`id`): whether it still runs, and its log's trouble lines;
/// - `apple_tv` (`pin`, `require_pair_verify`): starts the in-repo fake Apple TV (replacing
///   the last one), with legacy pairing showing `pin` when given; answers its `address`;
/// - `apple_tv_state`: the URLs it was asked to `/play`, the PIN it showed, how many
///   clients it paired with.
fn handle(rig: &Rig, request: &Value) -> Result<Value, String> {
    let text = |key: &str| request.get(key).and_then(Value::as_str);
    let number = |key: &str| request.get(key).and_then(Value::as_f64);
    match text("cmd").unwrap_or_default() {
        "shairport" => start_receiver(
            rig,
            text("name"),
            text("password"),
            number("output_buffer_seconds"),
            request
                .get("beside")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        ),
        "write_wav" => {
            let seconds = number("seconds").ok_or("write_wav needs seconds")?;
            let frames = (seconds * 44_100.0) as usize;
            let samples = airstream_testkit::signal::music(frames, 44_100);
            let path = rig.scratch.path().join(format!("music-{frames}.wav"));
            std::fs::write(
                &path,
                airstream_testkit::signal::wav_bytes(&samples, 44_100),
            )
            .map_err(|e| e.to_string())?;
            Ok(json!({ "path": path }))
        }
        "compare" => with_receiver(rig, request, |receiver, source| {
            let captured = receiver.captured().map_err(|e| e.to_string())?;
            let Some(cmp) = align_and_compare(&source, &captured) else {
                return Ok(json!({ "bit_exact": false, "detail": "no audio in the capture" }));
            };
            // Whether the capture is quiet where it first differs: a receiver that played
            // silence (a packet it never got) rather than other audio.
            let quiet_at_mismatch = cmp.first_mismatch.map(|i| {
                let at = (cmp.offset + i) * 2;
                captured[at..at + 2].iter().all(|s| s.unsigned_abs() <= 2)
            });
            Ok(json!({
                "bit_exact": cmp.is_bit_exact(),
                "capture_frames": captured.len() / 2,
                "quiet_at_mismatch": quiet_at_mismatch,
                "receiver_log_trouble": receiver.log_errors(),
                "source_frames": source.len() / 2,
                "frames_compared": cmp.frames_compared,
                "offset": cmp.offset,
                "mismatched_frames": cmp.mismatched_frames,
                "first_mismatch": cmp.first_mismatch,
                "missing_frames": cmp.missing_frames,
            }))
        }),
        "compare_last" => with_receiver(rig, request, |receiver, source| {
            let captured = receiver.captured().map_err(|e| e.to_string())?;
            let Some(cmp) = compare_last(&source, &captured) else {
                return Ok(
                    json!({ "bit_exact": false, "detail": "the reference is not in the capture" }),
                );
            };
            Ok(json!({
                "bit_exact": cmp.is_bit_exact(),
                "source_frames": source.len() / 2,
                "frames_compared": cmp.frames_compared,
                "offset": cmp.offset,
                "first_mismatch": cmp.first_mismatch,
            }))
        }),
        "compare_pause" => with_receiver(rig, request, |receiver, source| {
            let captured = receiver.captured().map_err(|e| e.to_string())?;
            let max_overlap = number("max_overlap").unwrap_or(0.0) as usize;
            let Some(aligned) = align_and_compare(&source, &captured) else {
                return Ok(json!({ "lossless": false, "detail": "no audio in the capture" }));
            };
            Ok(
                match compare_across_pause(&source, &captured[aligned.offset * 2..], max_overlap) {
                    Ok(pause) => json!({
                        "lossless": true,
                        "source_frames": source.len() / 2,
                        "cut": pause.cut,
                        "restart": pause.restart,
                        "gap": pause.gap,
                    }),
                    Err(detail) => json!({ "lossless": false, "detail": detail }),
                },
            )
        }),
        "receiver" => {
            let mut running = rig.running.lock().map_err(|e| e.to_string())?;
            let running = running
                .iter_mut()
                .find(|r| Some(r.id) == request.get("id").and_then(Value::as_u64))
                .ok_or("no such receiver running")?;
            Ok(json!({
                "running": running.receiver.is_running(),
                "log_errors": running.receiver.log_errors(),
                "log": running.receiver.log_text(),
            }))
        }
        "apple_tv" => start_apple_tv(
            rig,
            text("pin"),
            request
                .get("require_pair_verify")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        ),
        "apple_tv_state" => {
            let apple_tv = rig.apple_tv.lock().map_err(|e| e.to_string())?;
            let tv = &apple_tv.as_ref().ok_or("no fake Apple TV running")?.tv;
            let plays: Vec<String> = tv
                .requests_to("/play")
                .iter()
                .filter_map(|r| {
                    r.plist()?
                        .get("Content-Location")?
                        .as_string()
                        .map(String::from)
                })
                .collect();
            Ok(json!({
                "plays": plays,
                "shown_pin": tv.shown_pin(),
                "paired_clients": tv.paired_clients().len(),
            }))
        }
        other => Err(format!("unknown command {other:?}")),
    }
}

fn start_receiver(
    rig: &Rig,
    name: Option<&str>,
    password: Option<&str>,
    output_buffer_seconds: Option<f64>,
    beside: bool,
) -> Result<Value, String> {
    let mut running = rig.running.lock().map_err(|e| e.to_string())?;
    if !beside {
        while let Some(last) = running.pop() {
            last.receiver.stop();
        }
    }
    let id = {
        let mut next = rig.next_id.lock().map_err(|e| e.to_string())?;
        *next += 1;
        *next
    };
    // Ports apart from the last receiver's, so a socket it left in TIME_WAIT cannot clash.
    let offset = u16::try_from(id % 50).unwrap_or(0) * 20;
    let config = ShairportConfig {
        name: name.unwrap_or("airstream-test").to_string(),
        password: password.map(String::from),
        output_buffer_seconds,
        port: 5000 + offset,
        udp_port_base: 6001 + offset,
        ..ShairportConfig::default()
    };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let receiver = match running.first() {
        Some(first) => first.receiver.start_beside(&rig.ns, dir.path(), &config),
        None => Shairport::start(&rig.ns, dir.path(), &config),
    }
    .map_err(|e| e.to_string())?;
    let address = format!("127.0.0.1:{}", receiver.port);
    running.push(Running {
        id,
        receiver,
        _dir: dir,
    });
    Ok(json!({ "id": id, "address": address, "name": config.name }))
}

fn start_apple_tv(
    rig: &Rig,
    pin: Option<&str>,
    require_pair_verify: bool,
) -> Result<Value, String> {
    let mut apple_tv = rig.apple_tv.lock().map_err(|e| e.to_string())?;
    apple_tv.take();
    let config = FakeAppleTvConfig {
        pairing: pin.map(|pin| LegacyPairing {
            pin: Some(pin.to_string()),
            ..LegacyPairing::new(DeviceIdentity::new([0xC0; 32]))
        }),
        require_pair_verify,
        ..FakeAppleTvConfig::default()
    };
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    rig.ns
        .spawn("apple-tv", move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = started_tx.send(Err(e.to_string()));
                    return;
                }
            };
            runtime.block_on(async move {
                match FakeAppleTv::start(config).await {
                    Ok(tv) => {
                        let _ = started_tx.send(Ok(Arc::new(tv)));
                        let _ = stopped.await;
                    }
                    Err(e) => {
                        let _ = started_tx.send(Err(e.to_string()));
                    }
                }
            });
        })
        .map_err(|e| e.to_string())?;
    let tv = started_rx
        .recv()
        .map_err(|_| "the fake Apple TV's thread ended".to_string())??;
    let address = tv.addr().to_string();
    *apple_tv = Some(AppleTv {
        tv,
        stop: Some(stop),
    });
    Ok(json!({ "address": address }))
}

/// Runs `f` with the receiver named by the request's `id` and the decode of `reference`.
fn with_receiver(
    rig: &Rig,
    request: &Value,
    f: impl FnOnce(&mut Shairport, Vec<i16>) -> Result<Value, String>,
) -> Result<Value, String> {
    let reference = request
        .get("reference")
        .and_then(Value::as_str)
        .map(PathBuf::from)
        .ok_or("no reference file given")?;
    let source = decode(&reference)?;
    let mut running = rig.running.lock().map_err(|e| e.to_string())?;
    let running = running
        .iter_mut()
        .find(|r| Some(r.id) == request.get("id").and_then(Value::as_u64))
        .ok_or("no such receiver running")?;
    f(&mut running.receiver, source)
}

/// The reference: the file decoded by airstream's own decoder to 44.1 kHz/16-bit/stereo.
fn decode(path: &Path) -> Result<Vec<i16>, String> {
    airstream_testkit::fixtures::decode(Source::path(path)).map_err(|e| e.to_string())
}
