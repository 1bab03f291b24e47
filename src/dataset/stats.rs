//! From per-row values to a verdict: who won each row, the win rate and its
//! bootstrap interval. Pure logic, no backend; the CLI, the package and the
//! page all call it, so they report the same numbers for the same rows.

use serde::{Deserialize, Serialize};

use crate::random::SplitMix64;
use crate::rank::sigmoid;

/// Resamples of the bootstrap interval: enough that the 2.5 % and 97.5 %
/// quantiles move by well under a point between seeds on a few hundred rows.
pub const BOOTSTRAP_RESAMPLES: usize = 1000;

/// Options of a dataset run (the same for the CLI, the package and the page).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scoring {
    /// A row is a tie when `|value| ≤ tie_band` (logit units). The default, 0,
    /// makes ties exactly the rows whose two orders score the same, such as
    /// identical outputs, so the win rate counts what the reference's boolean
    /// `compare` says (value > 0) and adds half of the exact ties.
    pub tie_band: f64,
    /// Seed of the bootstrap resampling: a fixed seed gives the same interval.
    pub seed: u64,
}

impl Default for Scoring {
    fn default() -> Self {
        Self {
            tie_band: 0.0,
            seed: 0,
        }
    }
}

impl Scoring {
    pub fn check(&self) -> crate::Result<()> {
        if !(self.tie_band >= 0.0 && self.tie_band.is_finite()) {
            return Err(crate::Error::input(format!(
                "tie band {} must be a finite number ≥ 0",
                self.tie_band
            )));
        }
        Ok(())
    }

    pub fn winner(&self, value: f64) -> Winner {
        if value.abs() <= self.tie_band {
            Winner::Tie
        } else if value > 0.0 {
            Winner::A
        } else {
            Winner::B
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Winner {
    A,
    B,
    Tie,
}

impl Winner {
    /// A's share of the row: 1, ½ or 0.
    pub fn points(self) -> f64 {
        match self {
            Winner::A => 1.0,
            Winner::Tie => 0.5,
            Winner::B => 0.0,
        }
    }
}

/// The verdict on one row, as the CLI prints it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Verdict {
    /// `logit(A, B) − logit(B, A)`: the reference's `[A,B]+[B,A]` compare.
    pub value: f64,
    /// P(A beats B) = sigmoid(value / 2), as the ranking's probabilities.
    pub probability: f64,
    pub winner: Winner,
}

impl Verdict {
    pub fn new(value: f64, scoring: &Scoring) -> Self {
        Self {
            value,
            probability: sigmoid(value / 2.0),
            winner: scoring.winner(value),
        }
    }
}

/// One scored row with what the summary needs besides the value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairScore {
    pub value: f64,
    /// Tokens of each output before truncation, counted up to
    /// [`crate::Ranker::token_cap`] (that count means "at least").
    pub tokens_a: usize,
    pub tokens_b: usize,
    /// Whether the max lengths cut the source or either output.
    pub truncated: bool,
}

/// One row's result as the package and the page report it: the verdict and
/// what the summary counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairResult {
    #[serde(flatten)]
    pub verdict: Verdict,
    pub tokens_a: usize,
    pub tokens_b: usize,
    pub truncated: bool,
}

impl PairResult {
    pub fn new(score: &PairScore, scoring: &Scoring) -> Self {
        Self {
            verdict: Verdict::new(score.value, scoring),
            tokens_a: score.tokens_a,
            tokens_b: score.tokens_b,
            truncated: score.truncated,
        }
    }
}

/// The dataset-level numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Rows scored (bad rows are not counted).
    pub n: usize,
    pub wins: usize,
    pub losses: usize,
    pub ties: usize,
    /// (wins + ties / 2) / n; `None` when no row was scored.
    pub win_rate: Option<f64>,
    /// 95 % percentile bootstrap interval of the win rate over rows.
    pub ci: Option<[f64; 2]>,
    /// Rows whose source or outputs were cut by the max lengths.
    pub truncated: usize,
    /// Mean output length of each side, in tokens (before truncation).
    pub mean_tokens_a: Option<f64>,
    pub mean_tokens_b: Option<f64>,
    pub tie_band: f64,
    pub seed: u64,
}

/// Summarise scored rows (in any order: the interval depends on the order,
/// so pass them in dataset order for a reproducible one).
pub fn summarize(rows: &[PairScore], scoring: &Scoring) -> Summary {
    let n = rows.len();
    let points: Vec<f64> = rows
        .iter()
        .map(|r| scoring.winner(r.value).points())
        .collect();
    let count = |w: Winner| rows.iter().filter(|r| scoring.winner(r.value) == w).count();
    let mean =
        |f: &dyn Fn(&PairScore) -> f64| (n > 0).then(|| rows.iter().map(f).sum::<f64>() / n as f64);
    Summary {
        n,
        wins: count(Winner::A),
        losses: count(Winner::B),
        ties: count(Winner::Tie),
        win_rate: (n > 0).then(|| points.iter().sum::<f64>() / n as f64),
        ci: bootstrap_interval(&points, BOOTSTRAP_RESAMPLES, scoring.seed),
        truncated: rows.iter().filter(|r| r.truncated).count(),
        mean_tokens_a: mean(&|r| r.tokens_a as f64),
        mean_tokens_b: mean(&|r| r.tokens_b as f64),
        tie_band: scoring.tie_band,
        seed: scoring.seed,
    }
}

/// Percentile bootstrap of the mean of `points`: `resamples` means of `n`
/// rows drawn with replacement (SplitMix64 from `seed`), sorted; the interval
/// is the means at ranks ⌊0.025·R⌋ and ⌈0.975·R⌉ − 1 (25 and 974 for 1000).
pub fn bootstrap_interval(points: &[f64], resamples: usize, seed: u64) -> Option<[f64; 2]> {
    let n = points.len();
    if n == 0 || resamples == 0 {
        return None;
    }
    let mut rng = SplitMix64::new(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            (0..n)
                .map(|_| points[rng.below(n as u64) as usize])
                .sum::<f64>()
                / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let low = (0.025 * resamples as f64).floor() as usize;
    let high = ((0.975 * resamples as f64).ceil() as usize).saturating_sub(1);
    Some([means[low], means[high.max(low)]])
}

/// Rankings datasets: how each candidate position fared over the rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankSummary {
    /// Rows ranked.
    pub n: usize,
    /// Per candidate position: the mean rank over the rows that have it.
    pub mean_rank: Vec<f64>,
    /// Per candidate position: rows where it ranked first (ties included).
    pub firsts: Vec<usize>,
    /// Rows whose source or a candidate was cut by the max lengths.
    pub truncated: usize,
}

/// Summarise rankings: `rows` holds each row's ranks and truncation flag.
pub fn summarize_ranks(rows: &[(Vec<usize>, bool)]) -> RankSummary {
    let width = rows.iter().map(|(r, _)| r.len()).max().unwrap_or(0);
    let mut sum = vec![0.0; width];
    let mut seen = vec![0usize; width];
    let mut firsts = vec![0usize; width];
    for (ranks, _) in rows {
        for (k, &r) in ranks.iter().enumerate() {
            sum[k] += r as f64;
            seen[k] += 1;
            firsts[k] += usize::from(r == 1);
        }
    }
    RankSummary {
        n: rows.len(),
        mean_rank: sum.iter().zip(&seen).map(|(s, &c)| s / c as f64).collect(),
        firsts,
        truncated: rows.iter().filter(|(_, t)| *t).count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(value: f64) -> PairScore {
        PairScore {
            value,
            tokens_a: 10,
            tokens_b: 4,
            truncated: value > 1.0,
        }
    }

    #[test]
    fn winners_ties_and_the_win_rate() {
        let s = Scoring::default();
        assert_eq!(s.winner(0.0), Winner::Tie);
        assert_eq!(s.winner(-0.0), Winner::Tie);
        assert_eq!(s.winner(1e-9), Winner::A);
        assert_eq!(s.winner(-1e-9), Winner::B);
        let banded = Scoring {
            tie_band: 0.5,
            seed: 0,
        };
        assert_eq!(banded.winner(0.5), Winner::Tie);
        assert_eq!(banded.winner(-0.51), Winner::B);
        let v = Verdict::new(2.0, &s);
        assert!((v.probability - 0.731_058_578_630_005).abs() < 1e-12);
        let rows = [row(2.0), row(-1.0), row(0.0), row(0.3)];
        let sum = summarize(&rows, &s);
        assert_eq!(
            (sum.n, sum.wins, sum.losses, sum.ties, sum.truncated),
            (4, 2, 1, 1, 1)
        );
        assert_eq!(sum.win_rate, Some(0.625));
        assert_eq!(sum.mean_tokens_a, Some(10.0));
        let [lo, hi] = sum.ci.unwrap();
        assert!(
            lo <= 0.625 && 0.625 <= hi && lo >= 0.0 && hi <= 1.0,
            "{lo} {hi}"
        );
        let empty = summarize(&[], &s);
        assert_eq!(
            (empty.win_rate, empty.ci, empty.mean_tokens_b),
            (None, None, None)
        );
        assert!(Scoring {
            tie_band: -1.0,
            seed: 0
        }
        .check()
        .is_err());
        assert!(Scoring {
            tie_band: f64::NAN,
            seed: 0
        }
        .check()
        .is_err());
    }

    proptest::proptest! {
        /// Any win points (0, ½, 1), any number of rows and resamples: the
        /// interval is ordered, within the smallest and largest point, the
        /// same for the same seed, and a point when every row scores alike.
        #[test]
        fn bootstrap_bounds_hold_for_any_rows(
            halves in proptest::collection::vec(0u8..3, 1..60),
            resamples in 1usize..300,
            seed in proptest::num::u64::ANY,
        ) {
            let points: Vec<f64> = halves.iter().map(|&h| f64::from(h) / 2.0).collect();
            let [low, high] = bootstrap_interval(&points, resamples, seed).unwrap();
            let min = points.iter().cloned().fold(f64::MAX, f64::min);
            let max = points.iter().cloned().fold(f64::MIN, f64::max);
            proptest::prop_assert!(min <= low && low <= high && high <= max, "{low} {high} in {min}..{max}");
            proptest::prop_assert_eq!(bootstrap_interval(&points, resamples, seed), Some([low, high]));
            if min == max {
                proptest::prop_assert_eq!([low, high], [min, min]);
            }
        }
    }

    #[test]
    fn the_interval_is_reproducible_and_shrinks_with_more_rows() {
        let points: Vec<f64> = (0..200).map(|k| f64::from(k % 3 == 0)).collect();
        let a = bootstrap_interval(&points, 1000, 7).unwrap();
        assert_eq!(a, bootstrap_interval(&points, 1000, 7).unwrap());
        assert_ne!(a, bootstrap_interval(&points, 1000, 8).unwrap());
        let mean = points.iter().sum::<f64>() / 200.0;
        assert!(a[0] < mean && mean < a[1], "{a:?} {mean}");
        // Normal approximation: half-width ≈ 1.96 · sqrt(p(1-p)/n) = 0.065.
        assert!((a[1] - a[0] - 0.13).abs() < 0.03, "{a:?}");
        let wide = bootstrap_interval(&points[..20], 1000, 7).unwrap();
        assert!(wide[1] - wide[0] > a[1] - a[0]);
        assert_eq!(bootstrap_interval(&[1.0; 5], 1000, 0), Some([1.0, 1.0]));
    }

    #[test]
    fn rankings_summary_per_position() {
        let s = summarize_ranks(&[
            (vec![1, 2, 3], false),
            (vec![2, 1, 3], true),
            (vec![1, 1], false),
        ]);
        assert_eq!(s.n, 3);
        assert_eq!(s.mean_rank, vec![4.0 / 3.0, 4.0 / 3.0, 3.0]);
        assert_eq!(s.firsts, vec![2, 2, 0]);
        assert_eq!(s.truncated, 1);
    }
}
