//! One error type for the whole crate, so every failure reaches the CLI and JS
//! as a message instead of a panic. Config and weights failures carry their
//! data ([`ConfigError`], [`WeightsError`]): a caller or a test branches on
//! the variant, and the message is its Display.

use std::fmt;

/// Everything that can go wrong between a model directory and a ranking.
#[derive(Debug)]
pub enum Error {
    /// A file could not be read (path or URL, and the cause).
    Io { what: String, cause: String },
    /// A config file is malformed or describes an architecture we do not run.
    Config(ConfigError),
    /// The tokenizer files are missing, malformed or inconsistent.
    Tokenizer(String),
    /// The weights file is malformed, or a tensor is missing or misshapen.
    Weights(WeightsError),
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

/// What is wrong with a `config.json`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A size outside what this runtime accepts (`config::limits`).
    OutOfRange {
        field: String,
        value: u64,
        min: u64,
        max: u64,
    },
    /// A valid DeBERTa config of a variant PairRM never uses (what differs).
    Unsupported(String),
    /// Anything else; the message says what.
    Invalid(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::OutOfRange {
                field,
                value,
                min,
                max,
            } => write!(
                f,
                "{field} {value} is out of range (expected {min} to {max})"
            ),
            ConfigError::Unsupported(what) => write!(f, "unsupported backbone: {what}"),
            ConfigError::Invalid(m) => f.write_str(m),
        }
    }
}

/// What is wrong with a weights file, or with the tensors read from it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WeightsError {
    /// A tensor the config calls for is not in the file (its key).
    MissingTensor { key: String },
    /// A tensor's shape differs from the one the config implies.
    Shape {
        key: String,
        got: Vec<usize>,
        want: Vec<usize>,
    },
    /// Anything else; the message says what.
    Invalid(String),
}

impl fmt::Display for WeightsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeightsError::MissingTensor { key } => write!(f, "missing tensor {key}"),
            WeightsError::Shape { key, got, want } => {
                write!(f, "tensor {key} has shape {got:?}, expected {want:?}")
            }
            WeightsError::Invalid(m) => f.write_str(m),
        }
    }
}

impl Error {
    /// A config failure described by its message.
    pub fn config(message: impl Into<String>) -> Self {
        Error::Config(ConfigError::Invalid(message.into()))
    }

    /// A weights failure described by its message.
    pub fn weights(message: impl Into<String>) -> Self {
        Error::Weights(WeightsError::Invalid(message.into()))
    }

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
