/// Why an input cannot be played. Messages name the input and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// Reading the input failed (missing file, permission, broken pipe...).
    #[error("{input}: {source}")]
    Io {
        /// The input as named to the user (path, URL or `stdin`).
        input: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The input is not audio we understand, or it is damaged beyond recovery.
    #[error("{input}: {detail}")]
    Invalid {
        /// The input as named to the user (path, URL or `stdin`).
        input: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The input was recognised, but it is a format (container or codec) we do not decode.
    #[error("{input}: format {format} is not supported")]
    UnsupportedFormat {
        /// The input as named to the user (path, URL or `stdin`).
        input: String,
        /// The container or codec found ("Opus", "Matroska"...).
        format: String,
    },
    /// The input holds no bytes at all.
    #[error("{input}: input is empty (0 bytes)")]
    Empty {
        /// The input as named to the user (path, URL or `stdin`).
        input: String,
    },
    /// The input ends in the middle of the audio. Everything decodable before the cut has
    /// already been delivered when `read` returns this.
    #[error("{input}: input is truncated: {detail}")]
    Truncated {
        /// The input as named to the user (path, URL or `stdin`).
        input: String,
        /// Where the audio stopped and what was expected.
        detail: String,
    },
    /// A seek that cannot be done: the input is read as a stream (a pipe, stdin, a URL), or
    /// the position is beyond its end. The source is unchanged.
    #[error("{input}: cannot seek: {reason}")]
    NotSeekable {
        /// The input as named to the user (path, URL or `stdin`).
        input: String,
        /// Why not.
        reason: String,
    },
    /// A skip that cannot be done: the source is not a queue, or the item after the one
    /// playing has started and cannot be read again (a pipe). The source is unchanged.
    #[error("{input}: cannot skip: {reason}")]
    NotSkippable {
        /// The input as named to the user.
        input: String,
        /// Why not.
        reason: String,
    },
    /// An `http://`/`https://` input failed: bad status, unreachable host, timeout.
    #[error("{input}: {detail}")]
    Http {
        /// The input as named to the user (path, URL or `stdin`).
        input: String,
        /// The HTTP status or transport failure.
        detail: String,
    },
}

impl AudioError {
    pub(crate) fn invalid(input: &str, detail: impl Into<String>) -> Self {
        AudioError::Invalid {
            input: input.to_owned(),
            detail: detail.into(),
        }
    }

    pub(crate) fn io(input: &str, source: std::io::Error) -> Self {
        AudioError::Io {
            input: input.to_owned(),
            source,
        }
    }

    /// The input the error is about, as shown in its message.
    pub fn input(&self) -> &str {
        match self {
            AudioError::Io { input, .. }
            | AudioError::Invalid { input, .. }
            | AudioError::UnsupportedFormat { input, .. }
            | AudioError::Empty { input }
            | AudioError::Truncated { input, .. }
            | AudioError::NotSeekable { input, .. }
            | AudioError::NotSkippable { input, .. }
            | AudioError::Http { input, .. } => input,
        }
    }
}
