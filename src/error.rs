//! One error type for the whole crate, so every failure reaches the CLI and JS
//! as a message instead of a panic.

use std::fmt;

/// Everything that can go wrong between a model directory and a ranking.
#[derive(Debug)]
pub enum Error {
    /// A file could not be read (path or URL, and the cause).
    Io { what: String, cause: String },
    /// A config file is malformed or describes an architecture we do not run.
    Config(String),
    /// The tokenizer files are missing, malformed or inconsistent.
    Tokenizer(String),
    /// The weights file is malformed, or a tensor is missing or misshapen.
    Weights(String),
    /// The caller asked for something invalid (too few candidates, bad roles, ...).
    Input(String),
    /// The compute device failed (adapter missing, readback failed).
    Device(String),
    /// The caller stopped the work (an aborted signal, a Cancel button).
    Cancelled,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { what, cause } => write!(f, "cannot read {what}: {cause}"),
            Error::Config(m) => write!(f, "config: {m}"),
            Error::Tokenizer(m) => write!(f, "tokenizer: {m}"),
            Error::Weights(m) => write!(f, "weights: {m}"),
            Error::Input(m) => write!(f, "invalid input: {m}"),
            Error::Device(m) => write!(f, "device: {m}"),
            Error::Cancelled => write!(f, "cancelled"),
        }
    }
}

impl Error {
    /// What went wrong, as a word a caller can branch on (the JS error's
    /// `kind`): `io`, `config`, `tokenizer`, `weights`, `input`, `device` or
    /// `cancelled`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::Config(_) => "config",
            Error::Tokenizer(_) => "tokenizer",
            Error::Weights(_) => "weights",
            Error::Input(_) => "input",
            Error::Device(_) => "device",
            Error::Cancelled => "cancelled",
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
