//! `scan()` and the devices it finds.

use crate::errors::{invalid, to_py};
use airstream::discovery::{self, ServiceKind};
use pyo3::prelude::*;
use std::time::Duration;

/// An AirPlay device found by `scan()`; pass it as the target of any call.
#[pyclass(frozen, module = "airstream")]
pub(crate) struct Device {
    pub(crate) inner: discovery::Device,
}

#[pymethods]
impl Device {
    /// The name it advertises.
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }

    /// Its device id (`AA:BB:CC:DD:EE:FF`), when it advertises one.
    #[getter]
    fn id(&self) -> Option<&str> {
        self.inner.id.as_deref()
    }

    /// Its model (`AppleTV6,2`, `AirPort10,115`...), when advertised.
    #[getter]
    fn model(&self) -> Option<&str> {
        self.inner.model.as_deref()
    }

    /// Where audio goes: `host:port` of its RAOP service, else of its AirPlay service.
    #[getter]
    fn address(&self) -> Option<String> {
        self.inner
            .socket_addr(ServiceKind::Raop)
            .or_else(|| self.inner.socket_addr(ServiceKind::AirPlay))
            .map(|a| a.to_string())
    }

    /// Every IP address it answered from.
    #[getter]
    fn addresses(&self) -> Vec<String> {
        self.inner
            .addresses
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// The port of its RAOP (AirPlay 1 audio) service.
    #[getter]
    fn raop_port(&self) -> Option<u16> {
        self.inner.raop_port
    }

    /// The port of its AirPlay service (play_url, pairing).
    #[getter]
    fn airplay_port(&self) -> Option<u16> {
        self.inner.airplay_port
    }

    /// Whether it asks for a password.
    #[getter]
    fn password_required(&self) -> bool {
        self.inner.capabilities.password_required()
    }

    /// What pairing it needs, as pyatv says it: `"not-needed"`, `"mandatory"`, `"disabled"`
    /// (access control is on) or `"unsupported"` (home members only).
    #[getter]
    fn pairing(&self) -> PyResult<String> {
        json_str(&self.inner.capabilities.pairing())
    }

    /// Everything its TXT records say, typed (codecs, encryption, features, versions...).
    #[getter]
    fn capabilities(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let text = serde_json::to_string(&self.inner.capabilities)
            .map_err(|e| invalid(format!("capabilities: {e}")))?;
        Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
    }

    fn __repr__(&self) -> String {
        format!(
            "Device(name={:?}, id={:?}, address={:?})",
            self.inner.name,
            self.inner.id,
            self.address()
        )
    }
}

fn json_str(value: &impl serde::Serialize) -> PyResult<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        _ => Err(invalid("cannot describe the value")),
    }
}

/// Looks for AirPlay devices with mDNS for `timeout` seconds and returns those that answered.
#[pyfunction]
#[pyo3(signature = (timeout = 3.0))]
pub(crate) fn scan(py: Python<'_>, timeout: f64) -> PyResult<Bound<'_, PyAny>> {
    let timeout = seconds("timeout", timeout)?;
    crate::bridge::awaitable(py, async move {
        let devices = discovery::scan(timeout).await.map_err(|e| to_py(&e))?;
        Ok(crate::bridge::value(
            devices
                .into_iter()
                .map(|inner| Device { inner })
                .collect::<Vec<_>>(),
        ))
    })
}

/// A positive number of seconds, at most an hour, for the argument `name`.
pub(crate) fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    if value.is_finite() && value > 0.0 && value <= 3600.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(invalid(format!(
            "{name} must be more than 0 and at most 3600 seconds, not {value}"
        )))
    }
}
