//! `stream_file`, `start_stream` and the handle of a running stream.

use crate::bridge::Convert;
use crate::errors::{invalid, of_kind, to_py};
use crate::target::{self, Spec};
use airstream::discovery::ServiceKind;
use airstream::pairing::Credentials;
use airstream::raop::{self, Outcome, Receiver, StreamOptions, StreamReport, StreamState};
use airstream_audio::{Metadata, PcmFormat, PcmSource, Queue, QueueItem, QueueTimeline, Source};
use airstream_proto::capabilities::MetadataKind;
use airstream_proto::route::{RouteOverrides, select_audio_route};
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How much audio a `start_stream` queue decodes ahead: also how long before the end of its
/// inputs `enqueue` must come.
const PREFETCH: Duration = Duration::from_secs(5);

/// Everything a stream call was given, checked, before any network traffic.
struct StreamArgs {
    targets: Vec<Spec>,
    password: Option<String>,
    credentials: Option<Credentials>,
    volume: Option<u8>,
    metadata: Option<Metadata>,
    latency: Option<Duration>,
    discovery_timeout: Duration,
}

impl StreamArgs {
    #[allow(clippy::too_many_arguments)]
    fn parse(
        target: &Bound<'_, PyAny>,
        password: Option<String>,
        credentials: Option<&str>,
        volume: Option<f64>,
        metadata: Option<&Bound<'_, PyAny>>,
        latency: Option<f64>,
        discovery_timeout: f64,
    ) -> PyResult<Self> {
        Ok(Self {
            targets: target::specs(target)?,
            password,
            credentials: credentials.map(parse_credentials).transpose()?,
            volume: volume.map(percent).transpose()?,
            metadata: metadata.map(crate::metadata::from_py).transpose()?,
            latency: latency
                .map(|s| {
                    if s.is_finite() && (0.25..=10.0).contains(&s) {
                        Ok(Duration::from_secs_f64(s))
                    } else {
                        Err(invalid(format!(
                            "latency must be 0.25 to 10 seconds, not {s}"
                        )))
                    }
                })
                .transpose()?,
            discovery_timeout: crate::device::seconds("discovery_timeout", discovery_timeout)?,
        })
    }

    /// Finds the receivers and decides how to stream to them (codec, encryption, metadata).
    async fn receivers(self) -> PyResult<(Vec<Receiver>, StreamOptions)> {
        let targets =
            target::resolve_all(self.targets, ServiceKind::Raop, self.discovery_timeout).await?;
        let mut routes = Vec::with_capacity(targets.len());
        for target in &targets {
            let mut overrides = RouteOverrides::default();
            if !target.discovered {
                // Nothing advertised what it shows: send every kind (a refusal is a warning).
                overrides.metadata = Some(vec![
                    MetadataKind::Text,
                    MetadataKind::Artwork,
                    MetadataKind::Progress,
                ]);
            }
            let route =
                select_audio_route(&target.device.capabilities, &overrides).map_err(|u| {
                    to_py(&airstream::Error::Unsupported(format!(
                        "{}: {u}",
                        target.label
                    )))
                })?;
            routes.push(route);
        }
        if routes.iter().any(|r| r.codec != routes[0].codec) {
            let names: Vec<&str> = targets.iter().map(|t| t.label.as_str()).collect();
            return Err(to_py(&airstream::Error::Unsupported(format!(
                "these receivers take different codecs and cannot play one stream: {}",
                names.join(", ")
            ))));
        }
        let mut options = StreamOptions::for_route(&routes[0]);
        if let Some(latency) = self.latency {
            options.latency = latency;
        }
        options.metadata = self.metadata;
        let receivers = targets
            .iter()
            .zip(&routes)
            .map(|(target, route)| {
                let mut receiver = Receiver::for_route(target.addr, route);
                receiver.volume = self.volume;
                receiver.password.clone_from(&self.password);
                receiver.credentials.clone_from(&self.credentials);
                receiver
            })
            .collect();
        Ok((receivers, options))
    }
}

/// Legacy `ID:KEY` credentials; the message never repeats the value (it holds the key).
fn parse_credentials(value: &str) -> PyResult<Credentials> {
    if value.trim().split(':').count() == 4 {
        return Err(to_py(&airstream::Error::Unsupported(
            "credentials: these are AirPlay 2 (HAP) credentials; audio streams take legacy \
             ID:KEY credentials only"
                .into(),
        )));
    }
    value
        .parse()
        .map_err(|e| invalid(format!("credentials: {e}")))
}

/// A volume of 0 to 100 (0 mutes), as pyatv takes it.
fn percent(volume: f64) -> PyResult<u8> {
    if volume.is_finite() && (0.0..=100.0).contains(&volume) {
        Ok(volume.round() as u8)
    } else {
        Err(invalid(format!("volume must be 0 to 100, not {volume}")))
    }
}

/// Opens `source` off the async threads (a pipe, a file object or a URL may block).
async fn open(source: Source) -> PyResult<Box<dyn PcmSource>> {
    tokio::task::spawn_blocking(move || source.open(PcmFormat::RAOP))
        .await
        .map_err(|e| {
            to_py(&airstream::Error::internal(
                "the input could not be opened",
                e,
            ))
        })?
        .map_err(|e| to_py(&airstream::Error::from(e)))
}

/// Stops the stream when the awaiting Python task is cancelled (the future is dropped).
struct StopOnDrop(raop::StreamHandle);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Streams `source` to `target` (a device, name, id, "host:port", or a list of them for a
/// group in sync) and returns a report once the receivers have played it all.
#[pyfunction]
#[pyo3(signature = (target, source, *, password = None, credentials = None, volume = None,
    metadata = None, latency = None, discovery_timeout = 5.0))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn stream_file<'py>(
    py: Python<'py>,
    target: &Bound<'py, PyAny>,
    source: &Bound<'py, PyAny>,
    password: Option<String>,
    credentials: Option<&str>,
    volume: Option<f64>,
    metadata: Option<&Bound<'py, PyAny>>,
    latency: Option<f64>,
    discovery_timeout: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let args = StreamArgs::parse(
        target,
        password,
        credentials,
        volume,
        metadata,
        latency,
        discovery_timeout,
    )?;
    let source = crate::input::source(source)?;
    crate::bridge::awaitable(py, async move {
        let (receivers, options) = args.receivers().await?;
        let pcm = open(source).await?;
        let (handle, task) = raop::start_group(receivers, pcm, options)
            .await
            .map_err(|e| to_py(&e))?;
        let _stop = StopOnDrop(handle);
        let report = task.await.map_err(|e| to_py(&e))?;
        Ok(Box::new(move |py: Python<'_>| report_dict(py, &report)) as Convert)
    })
}

/// Connects to `target` and starts streaming `source`; returns a `StreamHandle` to pause,
/// resume, stop, change volume or tags, queue more inputs, follow progress and wait.
#[pyfunction]
#[pyo3(signature = (target, source, *, password = None, credentials = None, volume = None,
    metadata = None, latency = None, discovery_timeout = 5.0))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn start_stream<'py>(
    py: Python<'py>,
    target: &Bound<'py, PyAny>,
    source: &Bound<'py, PyAny>,
    password: Option<String>,
    credentials: Option<&str>,
    volume: Option<f64>,
    metadata: Option<&Bound<'py, PyAny>>,
    latency: Option<f64>,
    discovery_timeout: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let args = StreamArgs::parse(
        target,
        password,
        credentials,
        volume,
        metadata,
        latency,
        discovery_timeout,
    )?;
    let pending = Arc::new(Mutex::new(Pending {
        items: VecDeque::from([crate::input::source(source)?]),
        closed: false,
    }));
    crate::bridge::awaitable(py, async move {
        let (receivers, options) = args.receivers().await?;
        let items = PendingItems(Arc::clone(&pending));
        let queue =
            tokio::task::spawn_blocking(move || Queue::new(PcmFormat::RAOP, items, PREFETCH))
                .await
                .map_err(|e| {
                    to_py(&airstream::Error::internal(
                        "the input could not be opened",
                        e,
                    ))
                })?
                .map_err(|e| to_py(&airstream::Error::from(e)))?;
        let timeline = queue.timeline();
        let (handle, task) = raop::start_group(receivers, Box::new(queue), options)
            .await
            .map_err(|e| to_py(&e))?;
        // The handle's outcome says how it ended; the task only has to run.
        tokio::spawn(task);
        Ok(crate::bridge::value(StreamHandle {
            handle,
            pending,
            timeline,
        }))
    })
}

/// Inputs waiting to be played after the current one.
struct Pending {
    items: VecDeque<Source>,
    /// The queue asked for the next input and there was none: the stream ends after what it
    /// has, and `enqueue` is too late.
    closed: bool,
}

/// What the queue's decoding thread takes its inputs from.
struct PendingItems(Arc<Mutex<Pending>>);

impl Iterator for PendingItems {
    type Item = QueueItem;

    fn next(&mut self) -> Option<QueueItem> {
        let mut pending = self.0.lock().ok()?;
        let next = pending.items.pop_front().map(QueueItem::source);
        pending.closed = next.is_none();
        next
    }
}

/// A running stream (from `start_stream`). Dropping it does not stop the stream: `stop()` does.
#[pyclass(frozen, module = "airstream")]
pub(crate) struct StreamHandle {
    handle: raop::StreamHandle,
    pending: Arc<Mutex<Pending>>,
    /// Where each input started: seeks count from the start of the one playing.
    timeline: QueueTimeline,
}

#[pymethods]
impl StreamHandle {
    /// Pauses at once; the receiver drops what it buffered and `resume()` continues exactly
    /// where the listener was.
    fn pause(&self) {
        self.handle.pause();
    }

    /// Resumes after `pause()`, with nothing lost and nothing repeated.
    fn resume(&self) {
        self.handle.resume();
    }

    /// Stops the stream (the receivers are told at once); `wait()` then returns.
    fn stop(&self) {
        self.handle.stop();
    }

    /// Sets the volume of every receiver, 0 to 100 (0 mutes).
    fn set_volume(&self, volume: f64) -> PyResult<()> {
        self.handle.set_volume(percent(volume)?);
        Ok(())
    }

    /// Shows other tags from the next packet on: a mapping or an object with `title`,
    /// `artist`, `album`, `artwork` (JPEG/PNG bytes) and `duration` (seconds).
    fn set_metadata(&self, metadata: &Bound<'_, PyAny>) -> PyResult<()> {
        self.handle
            .set_metadata(crate::metadata::from_py(metadata)?);
        Ok(())
    }

    /// Plays `source` after what is queued, without a gap. The stream decodes a few seconds
    /// ahead; once it has read all its inputs it ends, and `enqueue` raises `InvalidInput`.
    fn enqueue(&self, source: &Bound<'_, PyAny>) -> PyResult<()> {
        let source = crate::input::source(source)?;
        let mut pending = self
            .pending
            .lock()
            .map_err(|_| invalid("the queue is unusable"))?;
        if pending.closed {
            return Err(invalid(
                "the stream has read all its input and ends after it: enqueue earlier",
            ));
        }
        pending.items.push_back(source);
        Ok(())
    }

    /// Continues from `position` seconds into the input playing, on the exact frame: the
    /// receivers drop what they buffered and play from there after the latency. Inputs read
    /// as streams (pipes, URLs, readers that cannot seek) raise `InvalidInput`, as does a
    /// position beyond the end, and the stream plays on unchanged.
    fn seek<'py>(&self, py: Python<'py>, position: f64) -> PyResult<Bound<'py, PyAny>> {
        let into_input = Duration::try_from_secs_f64(position)
            .map_err(|_| invalid("seek needs a position in seconds, 0 or more"))?;
        let progress = self.handle.progress().borrow().clone();
        let start = self
            .timeline
            .track_at(progress.position_frames)
            .map_or(0, |t| t.start_frame);
        let target = progress.in_track(start, into_input);
        let handle = self.handle.clone();
        crate::bridge::awaitable(py, async move {
            handle.seek(target).await.map_err(|e| to_py(&e))?;
            Ok(crate::bridge::value(()))
        })
    }

    /// Ends the input playing: the next one plays at once, from its first frame, after
    /// the latency's silence (skipping the last one ends the stream). Raises
    /// `InvalidInput` when the next input was read from a pipe and has started already.
    fn skip<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let handle = self.handle.clone();
        crate::bridge::awaitable(py, async move {
            handle.skip().await.map_err(|e| to_py(&e))?;
            Ok(crate::bridge::value(()))
        })
    }

    /// The total latency the stream runs with, in seconds (a receiver may ask for more).
    #[getter]
    fn latency(&self) -> f64 {
        self.handle.latency().as_secs_f64()
    }

    /// The latest progress.
    #[getter]
    fn progress(&self) -> Progress {
        Progress::from(&*self.handle.progress().borrow())
    }

    /// An async iterator of `Progress` updates, ending after the one whose state is
    /// `"finished"`. Updates come about every packet burst; a slow reader gets the latest.
    fn events(&self) -> Events {
        Events {
            progress: Arc::new(tokio::sync::Mutex::new(self.handle.progress())),
            state: Arc::new(Mutex::new(EventsState::First)),
        }
    }

    /// Waits for the end of the stream: returns its report, or raises what made it fail.
    fn wait<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let handle = self.handle.clone();
        crate::bridge::awaitable(py, async move {
            match handle.finished().await {
                Outcome::Finished(report) => {
                    Ok(Box::new(move |py: Python<'_>| report_dict(py, &report)) as Convert)
                }
                Outcome::Failed { kind, message } => Err(of_kind(kind, message)),
            }
        })
    }

    fn __repr__(&self) -> String {
        let progress = self.handle.progress().borrow().clone();
        format!(
            "StreamHandle(state={:?}, position={:.3})",
            state_name(progress.state),
            progress.position().as_secs_f64()
        )
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum EventsState {
    First,
    Following,
    Ended,
}

/// The async iterator of `StreamHandle.events()`.
#[pyclass(frozen, module = "airstream")]
pub(crate) struct Events {
    progress: Arc<tokio::sync::Mutex<watch::Receiver<raop::Progress>>>,
    state: Arc<Mutex<EventsState>>,
}

#[pymethods]
impl Events {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let progress = Arc::clone(&self.progress);
        let state = Arc::clone(&self.state);
        crate::bridge::awaitable(py, async move {
            let mut rx = progress.lock().await;
            let current = *state
                .lock()
                .map_err(|_| invalid("the iterator is unusable"))?;
            let next = match current {
                EventsState::Ended => None,
                EventsState::First => Some(rx.borrow_and_update().clone()),
                EventsState::Following => match rx.changed().await {
                    Ok(()) => Some(rx.borrow_and_update().clone()),
                    Err(_) => None,
                },
            };
            let mut state = state
                .lock()
                .map_err(|_| invalid("the iterator is unusable"))?;
            let Some(p) = next else {
                *state = EventsState::Ended;
                return Err(PyStopAsyncIteration::new_err(()));
            };
            *state = if p.state == StreamState::Finished {
                EventsState::Ended
            } else {
                EventsState::Following
            };
            Ok(crate::bridge::value(Progress::from(&p)))
        })
    }
}

/// Where a stream is.
#[pyclass(frozen, get_all, module = "airstream")]
pub(crate) struct Progress {
    /// `"starting"`, `"streaming"`, `"paused"`, `"draining"` or `"finished"`.
    state: &'static str,
    /// Audio frames sent so far (lead-in and silence excluded).
    frames_sent: u64,
    /// Frames per second.
    sample_rate: u32,
    /// Seconds of the inputs the receivers play now (what was sent, less the latency's
    /// worth in flight), moved by seeks and skips.
    position: f64,
    /// The input's length in seconds, when known.
    duration: Option<f64>,
    /// Packets of silence sent because the input had nothing ready.
    underruns: u64,
    /// Packets resent because a receiver asked.
    retransmitted: u64,
}

#[pymethods]
impl Progress {
    fn __repr__(&self) -> String {
        format!(
            "Progress(state={:?}, position={:.3}, duration={:?})",
            self.state, self.position, self.duration
        )
    }
}

impl From<&raop::Progress> for Progress {
    fn from(p: &raop::Progress) -> Self {
        Self {
            state: state_name(p.state),
            frames_sent: p.frames_sent,
            sample_rate: p.sample_rate,
            position: p.position().as_secs_f64(),
            duration: p.duration.map(|d| d.as_secs_f64()),
            underruns: p.underruns,
            retransmitted: p.retransmitted,
        }
    }
}

fn state_name(state: StreamState) -> &'static str {
    match state {
        StreamState::Starting => "starting",
        StreamState::Streaming => "streaming",
        StreamState::Paused => "paused",
        StreamState::Draining => "draining",
        StreamState::Finished => "finished",
    }
}

/// The report of a finished stream as a dict (what the CLI's `--json` prints).
fn report_dict(py: Python<'_>, report: &StreamReport) -> PyResult<Py<PyAny>> {
    let dict = PyDict::new(py);
    dict.set_item("receiver", report.receiver.to_string())?;
    dict.set_item("frames_sent", report.frames_sent)?;
    dict.set_item("packets_sent", report.packets_sent)?;
    dict.set_item("underruns", report.underruns)?;
    dict.set_item("latency", report.latency.as_secs_f64())?;
    dict.set_item("lead_in_frames", report.lead_in_frames)?;
    dict.set_item("retransmitted", report.stats.retransmitted)?;
    dict.set_item("warnings", report.warnings.clone())?;
    dict.set_item("stopped", report.stopped)?;
    let receivers = report
        .receivers
        .iter()
        .map(|r| {
            let item = PyDict::new(py);
            item.set_item("receiver", r.receiver.to_string())?;
            item.set_item("warnings", r.warnings.clone())?;
            item.set_item("failure", r.failure.clone())?;
            Ok(item)
        })
        .collect::<PyResult<Vec<_>>>()?;
    dict.set_item("receivers", receivers)?;
    Ok(dict.into_any().unbind())
}
