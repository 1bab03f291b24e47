//! PairRM — LLM-Blender's pairwise reward model (DeBERTa-v3 + a pairwise head)
//! — in Rust, running on the CPU (a fused engine) or a GPU (burn on wgpu,
//! WebGPU in browsers).
//!
//! Data flows one way: model files ([`load`] reads them from a source) →
//! [`config`], [`tokenize`], [`weights`] →
//! [`segments`] (pair assembly and truncation) → [`model`] (encoder and head)
//! → [`rank`] (scores, ranks, probabilities) → [`api`].
//!
//! ```no_run
//! use pairrm_web::{block_on, device, Ranker};
//!
//! let dev = device::cpu();
//! let ranker = Ranker::load_dir(std::path::Path::new("PairRM"), &dev)?;
//! let candidates = vec!["Paris.".to_string(), "Lyon, I think.".to_string()];
//! let ranking = block_on(ranker.rank("What is the capital of France?", "", &candidates))?;
//! println!("ranks {:?}, P(0 beats 1) = {:.3}", ranking.ranks, ranking.probabilities[0][1]);
//! # Ok::<(), pairrm_web::Error>(())
//! ```
//!
//! One deliberate difference from the reference: marker strings typed by a
//! user (`<|source|>`, `<|candidate1|>`, `[CLS]`, NFKC look-alikes …) are
//! tokenized as text, never as control tokens (see [`tokenize`]).

pub mod api;
pub mod charsmap;
pub mod config;
pub mod conversation;
pub mod dataset;
pub mod device;
pub mod error;
pub mod files;
pub mod load;
pub mod model;
pub mod quant;
pub mod random;
pub mod rank;
pub mod requests;
pub mod segments;
pub mod spm;
pub mod tokenize;
pub mod weights;

/// The fuzz targets' bodies (`fuzz/`, `tests/fuzz_corpus.rs`).
#[doc(hidden)]
pub mod fuzz;

pub use api::block_on;
pub use api::{BestOfN, Comparison, Keep, Message, ModelFiles, Ranker, RefRanking, TokenizerFiles};
pub use device::Device;
pub use error::{
    ConfigError, DeviceError, Error, InputError, Result, TokenizerError, WeightsError,
};
pub use quant::WeightDtype;
pub use rank::{CompareMode, Ranking};
