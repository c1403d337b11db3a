//! `Error`: the one error a plugin returns, mirroring the WIT `plugin-error`.

use std::fmt;

/// Why a plugin could not do its work. The host records the message on the
/// delivery; the webhook's policy then decides what happens to the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The configuration attached to the webhook is unusable.
    InvalidConfig(String),
    /// The event or request lacks something the plugin needs.
    InvalidEvent(String),
    /// Anything else.
    Failed(String),
}

impl Error {
    /// An [`Error::InvalidConfig`] from anything printable.
    pub fn invalid_config(message: impl fmt::Display) -> Self {
        Self::InvalidConfig(message.to_string())
    }

    /// An [`Error::InvalidEvent`] from anything printable.
    pub fn invalid_event(message: impl fmt::Display) -> Self {
        Self::InvalidEvent(message.to_string())
    }

    /// An [`Error::Failed`] from anything printable.
    pub fn failed(message: impl fmt::Display) -> Self {
        Self::Failed(message.to_string())
    }

    /// The message without its kind.
    pub fn message(&self) -> &str {
        match self {
            Self::InvalidConfig(m) | Self::InvalidEvent(m) | Self::Failed(m) => m,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidConfig(m) => write!(f, "invalid config: {m}"),
            Self::InvalidEvent(m) => write!(f, "invalid event: {m}"),
            Self::Failed(m) => write!(f, "failed: {m}"),
        }
    }
}

impl std::error::Error for Error {}
