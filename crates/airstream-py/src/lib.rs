//! The `airstream` Python package's native module (`airstream._airstream`): pyatv's Stream
//! interface for asyncio on the Rust library. Every coroutine runs on one tokio runtime owned
//! by this module (one per process); the event loop only waits for a socket to say the
//! result is there (see the `bridge` module), so it never blocks and the GIL is free while Rust works. Python file objects are read from the
//! decoder's thread, taking the GIL only for each `read` call.

// PyO3's macros expand to `unsafe` FFI glue; this crate has no unsafe code of its own.
#![allow(unsafe_code)]

mod bridge;
mod device;
mod errors;
mod input;
mod metadata;
mod pair;
mod play;
mod stream;
mod target;

use pyo3::prelude::*;

#[pymodule]
fn _airstream(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<bridge::Pending>()?;
    m.add_class::<device::Device>()?;
    m.add_class::<stream::StreamHandle>()?;
    m.add_class::<stream::Progress>()?;
    m.add_class::<stream::Events>()?;
    m.add_class::<play::PlaybackHandle>()?;
    m.add_class::<play::PlaybackEvents>()?;
    m.add_class::<play::PlaybackUpdate>()?;
    m.add_class::<pair::Pairing>()?;
    m.add_function(wrap_pyfunction!(device::scan, m)?)?;
    m.add_function(wrap_pyfunction!(play::play_url, m)?)?;
    m.add_function(wrap_pyfunction!(pair::pair, m)?)?;
    m.add_function(wrap_pyfunction!(stream::stream_file, m)?)?;
    m.add_function(wrap_pyfunction!(stream::start_stream, m)?)?;
    Ok(())
}
