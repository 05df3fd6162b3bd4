//! `play_url`: an Apple TV plays a URL (or a local file airstream serves to it), followed
//! through a handle.

use crate::bridge::{Convert, value};
use crate::errors::{invalid, to_py};
use crate::target;
use airstream::airplay::{AirPlayDevice, PlayOptions, PlaybackEnd, PlaybackStatus, Stopper};
use airstream::discovery::ServiceKind;
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The AirPlay device to talk to for `target`, with what discovery knows of it.
pub(crate) fn airplay_device(target: &target::Target) -> AirPlayDevice {
    let device = AirPlayDevice::new(target.addr);
    if target.discovered {
        device
            .with_name(target.device.name.clone())
            .with_capabilities(target.device.capabilities.clone())
    } else {
        device
    }
}

/// Credentials for `play_url`: legacy `ID:KEY` or AirPlay 2 `LTPK:LTSK:DEVICE_ID:CLIENT_ID`.
fn set_credentials(options: &mut PlayOptions, text: &str) -> PyResult<()> {
    if text.trim().split(':').count() == 4 {
        options.hap_credentials = Some(
            text.parse()
                .map_err(|e| invalid(format!("credentials: {e}")))?,
        );
    } else {
        options.credentials = Some(
            text.parse()
                .map_err(|e| invalid(format!("credentials: {e}")))?,
        );
    }
    Ok(())
}

/// Makes the device at `target` play `url` (or a local file); returns a `PlaybackHandle`.
#[pyfunction]
#[pyo3(signature = (target, url, *, credentials = None, start = 0.0, discovery_timeout = 5.0,
    poll_interval = 1.0))]
pub(crate) fn play_url<'py>(
    py: Python<'py>,
    target: &Bound<'py, PyAny>,
    url: String,
    credentials: Option<&str>,
    start: f64,
    discovery_timeout: f64,
    poll_interval: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let spec = target::spec(target)?;
    let mut options = PlayOptions::default();
    if let Some(text) = credentials {
        set_credentials(&mut options, text)?;
    }
    options.start_position = Duration::try_from_secs_f64(start).map_err(|_| {
        invalid(format!(
            "start must be a number of seconds >= 0, not {start}"
        ))
    })?;
    options.poll_interval = crate::device::seconds("poll_interval", poll_interval)?;
    let discovery_timeout = crate::device::seconds("discovery_timeout", discovery_timeout)?;
    crate::bridge::awaitable(py, async move {
        let target = target::resolve(spec, ServiceKind::AirPlay, discovery_timeout).await?;
        let device = airplay_device(&target);
        let playback = airstream::airplay::play_url(&device, &url, options)
            .await
            .map_err(|e| to_py(&e))?;
        let status = playback.subscribe();
        let stopper = playback.stopper();
        let media_url = playback.media_url().to_string();
        let warnings = playback.warnings().to_vec();
        let (end_tx, end_rx) = watch::channel(None);
        // The playback's own task reports the end; this one keeps it for every waiter.
        tokio::spawn(async move {
            let end = playback.finished().await.map_err(Arc::new);
            let _ = end_tx.send(Some(end));
        });
        Ok(value(PlaybackHandle {
            status,
            stopper,
            media_url,
            warnings,
            end: end_rx,
        }))
    })
}

type End = Option<Result<PlaybackEnd, Arc<airstream::Error>>>;

/// A playback started by `play_url`.
#[pyclass(frozen, module = "airstream")]
pub(crate) struct PlaybackHandle {
    status: watch::Receiver<PlaybackStatus>,
    stopper: Stopper,
    media_url: String,
    warnings: Vec<String>,
    end: watch::Receiver<End>,
}

#[pymethods]
impl PlaybackHandle {
    /// The URL the device was asked to play (for a local file, the address airstream serves
    /// it at).
    #[getter]
    fn media_url(&self) -> &str {
        &self.media_url
    }

    /// Things worth knowing that did not stop the playback.
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    /// The latest status.
    #[getter]
    fn status(&self) -> PlaybackUpdate {
        PlaybackUpdate::from(&*self.status.borrow())
    }

    /// Stops the playback on the device; `wait()` then returns `"stopped"`.
    fn stop(&self) {
        self.stopper.stop();
    }

    /// An async iterator of status changes, ending with the final one.
    fn events(&self) -> PlaybackEvents {
        PlaybackEvents {
            status: Arc::new(tokio::sync::Mutex::new(self.status.clone())),
            first: Arc::new(Mutex::new(true)),
        }
    }

    /// Waits for the end: `"finished"` (played to the end, or stopped on the device) or
    /// `"stopped"` (by `stop()`); raises what made it fail.
    fn wait<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut end = self.end.clone();
        crate::bridge::awaitable(py, async move {
            let outcome = end
                .wait_for(Option::is_some)
                .await
                .map_err(|_| invalid("the playback's task is gone"))?
                .clone();
            match outcome {
                Some(Ok(PlaybackEnd::Finished)) => Ok(value("finished")),
                Some(Ok(PlaybackEnd::Stopped)) => Ok(value("stopped")),
                Some(Err(e)) => Err(to_py(&e)),
                None => Err(invalid("the playback's task is gone")),
            }
        })
    }
}

/// The async iterator of `PlaybackHandle.events()`.
#[pyclass(frozen, module = "airstream")]
pub(crate) struct PlaybackEvents {
    status: Arc<tokio::sync::Mutex<watch::Receiver<PlaybackStatus>>>,
    first: Arc<Mutex<bool>>,
}

#[pymethods]
impl PlaybackEvents {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let status = Arc::clone(&self.status);
        let first = Arc::clone(&self.first);
        crate::bridge::awaitable(py, async move {
            let mut rx = status.lock().await;
            let was_first = first
                .lock()
                .is_ok_and(|mut f| std::mem::replace(&mut *f, false));
            let current = *rx.borrow();
            if !was_first && current.state.is_final() {
                return Err(PyStopAsyncIteration::new_err(()));
            }
            if was_first {
                rx.borrow_and_update();
                return Ok(value(PlaybackUpdate::from(&current)) as Convert);
            }
            match rx.changed().await {
                Ok(()) => Ok(value(PlaybackUpdate::from(&*rx.borrow_and_update()))),
                Err(_) => Err(PyStopAsyncIteration::new_err(())),
            }
        })
    }
}

/// One status of a playback.
#[pyclass(frozen, get_all, module = "airstream")]
pub(crate) struct PlaybackUpdate {
    /// `"loading"`, `"playing"`, `"finished"`, `"stopped"` or `"failed"`.
    state: &'static str,
    /// Seconds into the media, when the device says.
    position: Option<f64>,
    /// The media's length in seconds, when the device says.
    duration: Option<f64>,
}

#[pymethods]
impl PlaybackUpdate {
    fn __repr__(&self) -> String {
        format!(
            "PlaybackUpdate(state={:?}, position={:?}, duration={:?})",
            self.state, self.position, self.duration
        )
    }
}

impl From<&PlaybackStatus> for PlaybackUpdate {
    fn from(s: &PlaybackStatus) -> Self {
        Self {
            state: s.state.as_str(),
            position: s.position,
            duration: s.duration,
        }
    }
}
