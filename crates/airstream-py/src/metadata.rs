//! Tags from Python: a mapping or any object with `title`, `artist`, `album`, `artwork`
//! (JPEG or PNG bytes) and `duration` (seconds), such as pyatv's `MediaMetadata`.

use crate::errors::invalid;
use airstream_audio::{Artwork, ArtworkKind, Metadata};
use pyo3::prelude::*;
use pyo3::types::PyMapping;
use std::time::Duration;

/// Reads the tags from `object`; fields it lacks (or sets to `None`) stay empty.
pub(crate) fn from_py(object: &Bound<'_, PyAny>) -> PyResult<Metadata> {
    let field = |name: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
        let value = if let Ok(mapping) = object.cast::<PyMapping>() {
            if mapping.contains(name)? {
                Some(mapping.get_item(name)?)
            } else {
                None
            }
        } else if object.hasattr(name)? {
            Some(object.getattr(name)?)
        } else {
            None
        };
        Ok(value.filter(|v| !v.is_none()))
    };
    let text = |name: &str| -> PyResult<Option<String>> {
        field(name)?
            .map(|v| {
                v.extract::<String>()
                    .map_err(|_| invalid(format!("metadata {name} must be a str")))
            })
            .transpose()
    };
    let artwork = field("artwork")?
        .map(|v| {
            let data = crate::input::to_bytes(&v)
                .map_err(|_| invalid("metadata artwork must be bytes (a JPEG or PNG image)"))?;
            let kind = ArtworkKind::sniff(&data)
                .ok_or_else(|| invalid("metadata artwork must be a JPEG or PNG image"))?;
            Ok::<_, PyErr>(Artwork { kind, data })
        })
        .transpose()?;
    let duration = field("duration")?
        .map(|v| {
            let seconds: f64 = v
                .extract()
                .map_err(|_| invalid("metadata duration must be a number of seconds"))?;
            Duration::try_from_secs_f64(seconds).map_err(|_| {
                invalid(format!(
                    "metadata duration must be a number of seconds >= 0, not {seconds}"
                ))
            })
        })
        .transpose()?;
    Ok(Metadata {
        title: text("title")?,
        artist: text("artist")?,
        album: text("album")?,
        artwork,
        duration,
    })
}
