//! Pairing, in pyatv's steps: `pairing = await pair(target)`, `await pairing.begin()` (the
//! device shows a PIN), `pairing.pin(code)`, `await pairing.finish()`, then
//! `pairing.credentials`: legacy `ID:KEY`, or AirPlay 2 `LTPK:LTSK:DEVICE_ID:CLIENT_ID`,
//! which `stream_file` and `play_url` take back.

use crate::bridge::value;
use crate::errors::{AirstreamError, invalid, to_py};
use crate::play::airplay_device;
use crate::target;
use airstream::airplay::AirPlayDevice;
use airstream::discovery::ServiceKind;
use airstream::pairing::{CannotPair, PairingKind, pairing_kind};
use pyo3::prelude::*;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Finds `target` (its AirPlay service) and prepares to pair with it.
#[pyfunction]
#[pyo3(signature = (target, *, discovery_timeout = 5.0))]
pub(crate) fn pair<'py>(
    py: Python<'py>,
    target: &Bound<'py, PyAny>,
    discovery_timeout: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let spec = target::spec(target)?;
    let discovery_timeout = crate::device::seconds("discovery_timeout", discovery_timeout)?;
    crate::bridge::awaitable(py, async move {
        let target = target::resolve(spec, ServiceKind::AirPlay, discovery_timeout).await?;
        let mut device = airplay_device(&target);
        // Given by address, a device says what it is in `GET /info` (AirPlay 2 devices do).
        if device.capabilities.is_none()
            && let Some(capabilities) = airstream::hap::probe_capabilities(device.address)
                .await
                .map_err(|e| to_py(&e))?
        {
            device = device.with_capabilities(capabilities);
        }
        let kind = pairing_kind(device.capabilities.as_ref(), true).map_err(|why| {
            let why = match why {
                CannotPair::Disabled => "its AirPlay access control switches pairing off (acl=1)",
                CannotPair::HomeOnly => "it only lets members of its home connect (act=2)",
            };
            to_py(&airstream::Error::Unsupported(format!(
                "{} cannot be paired: {why}",
                device.label()
            )))
        })?;
        Ok(value(Pairing {
            device,
            kind,
            state: Arc::new(Mutex::new(State::default())),
        }))
    })
}

/// The steps so far. The PIN and the credentials stay here and never reach a message.
#[derive(Default)]
struct State {
    pin: Option<String>,
    /// Where `finish()` sends the PIN to the pairing task, once `begin()` has started it.
    pin_tx: Option<oneshot::Sender<String>>,
    task: Option<tokio::task::JoinHandle<airstream::Result<String>>>,
    credentials: Option<String>,
}

/// A pairing in progress with one device (from `pair()`).
#[pyclass(frozen, module = "airstream")]
pub(crate) struct Pairing {
    device: AirPlayDevice,
    kind: PairingKind,
    state: Arc<Mutex<State>>,
}

fn locked(state: &Mutex<State>) -> PyResult<std::sync::MutexGuard<'_, State>> {
    state
        .lock()
        .map_err(|_| AirstreamError::new_err("the pairing is unusable"))
}

#[pymethods]
impl Pairing {
    /// Asks the device to show a PIN; returns once it does.
    fn begin<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let device = self.device.clone();
        let kind = self.kind;
        let state = Arc::clone(&self.state);
        if locked(&state)?.task.is_some() {
            return Err(invalid("begin() was called already"));
        }
        crate::bridge::awaitable(py, async move {
            let (shown_tx, shown_rx) = oneshot::channel::<()>();
            let (pin_tx, pin_rx) = oneshot::channel::<String>();
            let ask_pin = move || async move {
                let _ = shown_tx.send(());
                pin_rx.await.map_err(|_| {
                    airstream::Error::InvalidInput("the pairing was closed before its PIN".into())
                })
            };
            let task = tokio::spawn(async move {
                match kind {
                    PairingKind::Transient => Err(airstream::Error::Unsupported(format!(
                        "{} needs no pairing: it takes {} on every connection",
                        device.label(),
                        kind.describe()
                    ))),
                    PairingKind::HapPin => airstream::hap::pair(&device, ask_pin)
                        .await
                        .map(|c| c.to_secret_string()),
                    PairingKind::Legacy => airstream::pairing::pair(&device, ask_pin, None)
                        .await
                        .map(|c| c.to_secret_string()),
                }
            });
            {
                let mut state = locked(&state)?;
                state.pin_tx = Some(pin_tx);
                state.task = Some(task);
            }
            if shown_rx.await.is_ok() {
                return Ok(value(()));
            }
            // The task ended before asking for a PIN: it failed.
            let task = locked(&state)?.task.take();
            match task {
                Some(task) => match task.await {
                    Ok(Err(e)) => Err(to_py(&e)),
                    Ok(Ok(_)) => Err(invalid("the pairing ended without a PIN")),
                    Err(e) => Err(to_py(&airstream::Error::internal(
                        "the pairing task failed",
                        e,
                    ))),
                },
                None => Err(invalid("the pairing is over")),
            }
        })
    }

    /// The PIN the device shows (digits, as `int` or `str`).
    fn pin(&self, code: &Bound<'_, PyAny>) -> PyResult<()> {
        let text = code.str()?.to_string().trim().to_string();
        if text.is_empty() || text.len() > 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(
                "the PIN must be 1 to 8 digits, as the device shows it",
            ));
        }
        locked(&self.state)?.pin = Some(text);
        Ok(())
    }

    /// Sends the PIN and completes the pairing (with one pair-verify to prove it works).
    fn finish<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (pin, pin_tx, task) = {
            let mut state = locked(&self.state)?;
            let Some(pin) = state.pin.take() else {
                return Err(invalid("no PIN: call pin() with the PIN the device shows"));
            };
            match (state.pin_tx.take(), state.task.take()) {
                (Some(pin_tx), Some(task)) => (pin, pin_tx, task),
                _ => return Err(invalid("call begin() first")),
            }
        };
        let state = Arc::clone(&self.state);
        crate::bridge::awaitable(py, async move {
            let _ = pin_tx.send(pin);
            let credentials = task
                .await
                .map_err(|e| to_py(&airstream::Error::internal("the pairing task failed", e)))?
                .map_err(|e| to_py(&e))?;
            locked(&state)?.credentials = Some(credentials);
            Ok(value(()))
        })
    }

    /// Gives up: a pairing begun is abandoned. Does nothing after `finish()`.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let task = {
            let mut state = locked(&self.state)?;
            state.pin_tx = None;
            state.task.take()
        };
        if let Some(task) = &task {
            task.abort();
        }
        crate::bridge::awaitable(py, async move { Ok(value(())) })
    }

    /// Whether `finish()` succeeded.
    #[getter]
    fn has_paired(&self) -> PyResult<bool> {
        Ok(locked(&self.state)?.credentials.is_some())
    }

    /// `"legacy"` (AirPlay 1 PIN pairing), `"hap"` (AirPlay 2 PIN pairing) or `"transient"`
    /// (AirPlay 2 device that needs none).
    #[getter]
    fn kind(&self) -> &'static str {
        match self.kind {
            PairingKind::HapPin => "hap",
            PairingKind::Transient => "transient",
            PairingKind::Legacy => "legacy",
        }
    }

    /// The credentials after `finish()` (a secret: store it like a password), else `None`.
    #[getter]
    fn credentials(&self) -> PyResult<Option<String>> {
        Ok(locked(&self.state)?.credentials.clone())
    }

    fn __repr__(&self) -> PyResult<String> {
        Ok(format!(
            "Pairing(device={:?}, kind={:?}, has_paired={})",
            self.device.label(),
            self.kind(),
            self.has_paired()?
        ))
    }
}
