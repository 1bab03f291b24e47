//! Whole datasets: win rates between two models' outputs (pairs) and
//! rankings of many prompts, for the CLI's `winrate`, the package's
//! `evaluatePairs`/`rankMany` and the page's Dataset view.
//!
//! files ([`formats`], [`alpaca`]) → rows → [`crate::Ranker::evaluate_pairs`] /
//! [`crate::Ranker::rank_many`] ([`evaluate`]) → per-row verdicts and the
//! summary ([`stats`]).

pub mod alpaca;
pub mod evaluate;
pub mod formats;
pub mod stats;

pub use alpaca::join_alpaca_eval;
pub use evaluate::RankedRow;
pub use formats::{parse, Dataset, Format, PairRow, RankRow, RowError, Rows};
pub use stats::{
    summarize, summarize_ranks, PairResult, PairScore, RankSummary, Scoring, Summary, Verdict,
    Winner,
};
