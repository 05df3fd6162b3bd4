//! What `stream_file` accepts as audio, as pyatv does: a path (`str` or `os.PathLike`), an
//! `http(s)://` URL, `bytes`/`bytearray`/`memoryview`, or any binary file-like object,
//! seekable (`io.BytesIO`, an open file) or not (`sys.stdin.buffer`, a pipe), or an
//! `asyncio.StreamReader` (its reads run on its event loop). A file object
//! is read by the decoder's thread, which takes the GIL for each `read` call only.

use crate::errors::invalid;
use airstream_audio::Source;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView, PyString};
use std::io::{self, Read, Seek, SeekFrom};

/// The [`Source`] for a Python object, or `InvalidInput` saying what is accepted.
pub(crate) fn source(object: &Bound<'_, PyAny>) -> PyResult<Source> {
    let py = object.py();
    if object.is_instance_of::<PyBytes>()
        || object.is_instance_of::<PyByteArray>()
        || object.is_instance_of::<PyMemoryView>()
    {
        return Ok(Source::buffer(to_bytes(object)?).with_name("<bytes>"));
    }
    if let Ok(text) = object.cast::<PyString>() {
        let text: String = text.extract()?;
        let text = text.as_str();
        let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Ok(Source::url(text));
        }
        return Ok(Source::path(text));
    }
    let stream_reader = py.import("asyncio")?.getattr("StreamReader")?;
    if object.is_instance(&stream_reader)? {
        // Its read() is a coroutine: the decoder's thread runs each one on the event loop
        // the call came from, and waits for it there (without the GIL).
        let event_loop = py
            .import("asyncio")?
            .call_method0("get_running_loop")
            .map_err(|_| {
                invalid("an asyncio.StreamReader needs the event loop it belongs to running")
            })?;
        let file = PyFile {
            file: object.clone().unbind(),
            event_loop: Some(event_loop.unbind()),
        };
        return Ok(Source::reader(file).with_name("<stream reader>"));
    }
    if object.hasattr("read")? {
        let text_io = py.import("io")?.getattr("TextIOBase")?;
        if object.is_instance(&text_io)? {
            return Err(invalid(
                "a text stream cannot carry audio: open the file in binary mode ('rb'), or \
                 pass sys.stdin.buffer instead of sys.stdin",
            ));
        }
        let seekable = object.hasattr("seekable")?
            && object.hasattr("seek")?
            && object.call_method0("seekable")?.is_truthy()?;
        let file = PyFile {
            file: object.clone().unbind(),
            event_loop: None,
        };
        return Ok(if seekable {
            Source::seekable(file)
        } else {
            Source::reader(file)
        }
        .with_name("<file object>"));
    }
    if object.hasattr("__fspath__")? {
        let path: std::path::PathBuf = object.extract()?;
        return Ok(Source::path(path));
    }
    Err(invalid(format!(
        "cannot play a {}: give a path, a URL, bytes, or a binary file object",
        object.get_type().name()?
    )))
}

/// A copy of the bytes of a `bytes`, `bytearray` or `memoryview` (any buffer `bytes()` takes).
pub(crate) fn to_bytes(object: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let bytes = object.py().get_type::<PyBytes>().call1((object,))?;
    Ok(bytes.cast::<PyBytes>()?.as_bytes().to_vec())
}

/// A Python binary file object (or an `asyncio.StreamReader` and its loop) as a Rust reader.
struct PyFile {
    file: Py<PyAny>,
    event_loop: Option<Py<PyAny>>,
}

fn io_error(py: Python<'_>, error: &PyErr) -> io::Error {
    let text = error.value(py).to_string();
    io::Error::other(format!("the file object failed: {text}"))
}

impl Read for PyFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Python::attach(|py| {
            let read = self.file.bind(py).call_method1("read", (buf.len(),));
            let data = match &self.event_loop {
                None => read,
                Some(event_loop) => read.and_then(|coroutine| {
                    py.import("asyncio")?
                        .call_method1("run_coroutine_threadsafe", (coroutine, event_loop))?
                        .call_method0("result")
                }),
            }
            .map_err(|e| io_error(py, &e))?;
            if data.is_none() {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "the file object is non-blocking and had no data",
                ));
            }
            let bytes = data.cast::<PyBytes>().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the file object's read() did not return bytes (open it in binary mode)",
                )
            })?;
            let bytes = bytes.as_bytes();
            if bytes.len() > buf.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the file object's read() returned more than asked for",
                ));
            }
            buf[..bytes.len()].copy_from_slice(bytes);
            Ok(bytes.len())
        })
    }
}

impl Seek for PyFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let (offset, whence) = match pos {
            SeekFrom::Start(n) => (i128::from(n), 0),
            SeekFrom::Current(n) => (i128::from(n), 1),
            SeekFrom::End(n) => (i128::from(n), 2),
        };
        Python::attach(|py| {
            self.file
                .bind(py)
                .call_method1("seek", (offset, whence))
                .and_then(|p| p.extract::<u64>())
                .map_err(|e| io_error(py, &e))
        })
    }
}
