/// Why an input cannot be played. Messages name the input and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    #[error("{input}: {source}")]
    Io {
        input: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{input}: {detail}")]
    Invalid { input: String, detail: String },
    #[error("{input}: format {format} is not supported")]
    UnsupportedFormat { input: String, format: String },
}
