//! Rust futures as Python awaitables, on the module's own tokio runtime (one per process).
//!
//! A future runs on the runtime; when it is done it stores its result and writes one byte to
//! a socket the event loop watches (`loop.sock_recv`). The loop thread then takes the result
//! and turns it into Python objects. No runtime thread ever touches the interpreter to
//! deliver a result, so nothing can race the interpreter's shutdown, and the loop is never
//! blocked: it only waits for a readable socket.

use crate::errors::AirstreamError;
use pyo3::IntoPyObjectExt;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::future::Future;
use std::io::Write;
use std::os::fd::IntoRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::runtime::Runtime;

/// Turns a finished future's value into Python objects, on the loop thread.
pub(crate) type Convert = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// A value that needs no conversion work beyond `into_pyobject`.
pub(crate) fn value<T>(value: T) -> Convert
where
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    Box::new(move |py| value.into_py_any(py))
}

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// The runtime every call runs on, started on first use.
pub(crate) fn runtime() -> PyResult<&'static Runtime> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("airstream")
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start airstream's runtime: {e}")))
}

type Slot = Arc<Mutex<Option<PyResult<Convert>>>>;

/// A future running on the runtime, as `airstream._bridge.wait_for` awaits it.
#[pyclass(frozen, module = "airstream._airstream")]
pub(crate) struct Pending {
    slot: Slot,
    abort: tokio::task::AbortHandle,
    /// The end the event loop reads; handed over once.
    wake: Mutex<Option<UnixStream>>,
}

#[pymethods]
impl Pending {
    /// The file descriptor that becomes readable when the result is there (the caller owns
    /// it from then on).
    fn take_fd(&self) -> PyResult<i32> {
        let wake = self.wake.lock().ok().and_then(|mut w| w.take());
        wake.map(IntoRawFd::into_raw_fd)
            .ok_or_else(|| AirstreamError::new_err("this call is awaited already"))
    }

    /// The result: the value, or the exception the call raises.
    fn result(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let outcome = self.slot.lock().ok().and_then(|mut s| s.take());
        match outcome {
            Some(Ok(convert)) => convert(py),
            Some(Err(error)) => Err(error),
            None => Err(AirstreamError::new_err(
                "the call ended without a result (it was cancelled)",
            )),
        }
    }

    /// Cancels the call: its future is dropped (a stream it started is stopped).
    fn cancel(&self) {
        self.abort.abort();
    }
}

/// Runs `future` on the runtime and returns a coroutine that awaits it.
pub(crate) fn awaitable<F>(py: Python<'_>, future: F) -> PyResult<Bound<'_, PyAny>>
where
    F: Future<Output = PyResult<Convert>> + Send + 'static,
{
    let (wake, signal) = UnixStream::pair()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot make a wake-up socket: {e}")))?;
    let slot: Slot = Arc::new(Mutex::new(None));
    let result = Arc::clone(&slot);
    let task = runtime()?.spawn(async move {
        let outcome = future.await;
        if let Ok(mut slot) = result.lock() {
            *slot = Some(outcome);
        }
        // One byte into an empty socket buffer never blocks. If the reader is gone (the
        // awaiting task was cancelled), nobody needs the byte.
        let _ = (&signal).write_all(&[1]);
    });
    let pending = Pending {
        slot,
        abort: task.abort_handle(),
        wake: Mutex::new(Some(wake)),
    };
    py.import("airstream._bridge")?
        .call_method1("wait_for", (pending,))
}
