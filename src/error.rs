//! One error type for the whole crate, so every failure reaches the CLI and JS
//! as a message instead of a panic. Each concern has its own enum
//! ([`ConfigError`], [`TokenizerError`], [`WeightsError`], [`InputError`],
//! [`DeviceError`]) whose variants carry their data where a caller may branch
//! on it; the message is its Display.

use std::fmt;

/// Everything that can go wrong between a model directory and a ranking.
#[derive(Debug)]
pub enum Error {
    /// A file could not be read (path or URL, and the cause).
    Io { what: String, cause: String },
    /// A config file is malformed or describes an architecture we do not run.
    Config(ConfigError),
    /// The tokenizer files are missing, malformed or inconsistent.
    Tokenizer(TokenizerError),
    /// The weights file is malformed, or a tensor is missing or misshapen.
    Weights(WeightsError),
    /// The caller asked for something invalid (too few candidates, bad roles, ...).
    Input(InputError),
    /// The compute device failed (adapter missing, readback failed).
    Device(DeviceError),
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

/// What is wrong with the tokenizer files.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TokenizerError {
    /// A token PairRM's input layout needs (`[CLS]`, a marker …) has no id.
    MissingToken { token: String },
    /// Anything else; the message says what (and which file).
    Invalid(String),
}

impl fmt::Display for TokenizerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenizerError::MissingToken { token } => write!(f, "no id for {token}"),
            TokenizerError::Invalid(m) => f.write_str(m),
        }
    }
}

/// What is wrong with a request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum InputError {
    /// Fewer candidates than a ranking compares.
    TooFewCandidates { got: usize, min: usize },
    /// More candidates than one request may rank (`api::MAX_CANDIDATES`).
    TooManyCandidates { got: usize, max: usize },
    /// Anything else; the message says what.
    Invalid(String),
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::TooFewCandidates { got, min } => {
                write!(f, "need at least {min} candidates, got {got}")
            }
            InputError::TooManyCandidates { got, max } => write!(
                f,
                "{got} candidates is more than {max}: a ranking compares every ordered pair \
                 ({} comparisons here); rank them in groups, or score them against one with rank-with-ref",
                got * got.saturating_sub(1)
            ),
            InputError::Invalid(m) => f.write_str(m),
        }
    }
}

/// What went wrong with the compute device.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DeviceError {
    /// No GPU to run on: no adapter, no WebGPU in this browser or build.
    Unavailable(String),
    /// The device failed while loading or computing (a lost device, a readback).
    Failed(String),
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceError::Unavailable(m) | DeviceError::Failed(m) => f.write_str(m),
        }
    }
}

impl Error {
    /// An invalid request described by its message.
    pub fn input(message: String) -> Self {
        Error::Input(InputError::Invalid(message))
    }

    /// A tokenizer failure described by its message.
    pub fn tokenizer(message: String) -> Self {
        Error::Tokenizer(TokenizerError::Invalid(message))
    }

    /// A device failure while loading or computing.
    pub fn device(message: String) -> Self {
        Error::Device(DeviceError::Failed(message))
    }

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
