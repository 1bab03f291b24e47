//! From pairwise logits to rankings (spec section 5). Pure logic, no backend.

/// A full ranking of `N` candidates.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Ranking {
    /// 1 is best; tied scores share the better rank (1, 1, 3).
    pub ranks: Vec<usize>,
    /// `score_i = (1/N) Σ_j (M[i][j] − M[j][i])`.
    pub scores: Vec<f64>,
    /// `M[i][j] = logit(candidate i as A, candidate j as B)`, diagonal 0.
    pub logits: Vec<Vec<f64>>,
    /// `P[i][j] = sigmoid((M[i][j] − M[j][i]) / 2)`: how likely i beats j.
    pub probabilities: Vec<Vec<f64>>,
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Score of each candidate from the logit matrix, summed in index order.
pub fn scores_from_matrix(m: &[Vec<f64>]) -> Vec<f64> {
    let n = m.len();
    (0..n)
        .map(|i| (0..n).map(|j| m[i][j] - m[j][i]).sum::<f64>() / n as f64)
        .collect()
}

/// Competition ranking: 1 + the number of strictly better scores.
pub fn ranks_from_scores(scores: &[f64]) -> Vec<usize> {
    scores
        .iter()
        .map(|s| 1 + scores.iter().filter(|o| *o > s).count())
        .collect()
}

impl Ranking {
    pub fn from_matrix(logits: Vec<Vec<f64>>) -> Self {
        let scores = scores_from_matrix(&logits);
        let ranks = ranks_from_scores(&scores);
        let n = logits.len();
        let probabilities = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| sigmoid((logits[i][j] - logits[j][i]) / 2.0))
                    .collect()
            })
            .collect();
        Self {
            ranks,
            scores,
            logits,
            probabilities,
        }
    }

    /// Index of the best candidate (rank 1, first on ties).
    pub fn best(&self) -> usize {
        self.ranks.iter().position(|&r| r == 1).unwrap_or(0)
    }
}

/// How `compare` combines the two orders (the reference's `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum CompareMode {
    /// `logit(A, B)`: above 0 means A is better.
    Ab,
    /// `logit(B, A)`, not negated: above 0 means B is better.
    Ba,
    /// `logit(A, B) − logit(B, A)`: above 0 means A is better.
    Both,
}

impl std::str::FromStr for CompareMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ab" | "[A,B]" => Ok(Self::Ab),
            "ba" | "[B,A]" => Ok(Self::Ba),
            "both" | "[A,B]+[B,A]" => Ok(Self::Both),
            other => Err(format!(
                "unknown compare mode {other:?} (expected ab, ba or both)"
            )),
        }
    }
}

impl TryFrom<String> for CompareMode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// The candidate `rank_with_ref` compares against by default: the longest
/// (in characters), the first of equally long ones.
pub fn longest(candidates: &[String]) -> usize {
    let mut best = 0;
    for (i, c) in candidates.iter().enumerate() {
        if c.chars().count() > candidates[best].chars().count() {
            best = i;
        }
    }
    best
}

/// A seeded permutation of `0..n` (SplitMix64 + Fisher–Yates), the visiting
/// order of bubble best-of-n. Reproducible across platforms; it does not
/// reproduce Python's `random` for the same seed.
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut random = crate::random::SplitMix64::new(seed);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = random.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_ranks_and_probabilities() {
        let m = vec![
            vec![0.0, 2.0, 1.0],
            vec![-1.0, 0.0, 0.5],
            vec![-1.0, -0.5, 0.0],
        ];
        let r = Ranking::from_matrix(m);
        assert!((r.scores[0] - (0.0 + 3.0 + 2.0) / 3.0).abs() < 1e-12);
        assert!((r.scores[1] - (-3.0 + 0.0 + 1.0) / 3.0).abs() < 1e-12);
        assert_eq!(r.ranks, vec![1, 2, 3]);
        assert!((r.probabilities[0][1] - sigmoid(1.5)).abs() < 1e-12);
        assert!((r.probabilities[0][1] + r.probabilities[1][0] - 1.0).abs() < 1e-12);
        assert_eq!(r.probabilities[2][2], 0.5);
    }

    #[test]
    fn ties_share_the_better_rank() {
        assert_eq!(ranks_from_scores(&[0.5, 0.5, -1.0]), vec![1, 1, 3]);
        assert_eq!(ranks_from_scores(&[-1.0, 0.5, 0.5, 2.0]), vec![4, 2, 2, 1]);
    }

    proptest::proptest! {
        /// Any scores, ties drawn often: a rank is 1 + the number of strictly
        /// better scores, so equal scores share a rank, a better score never
        /// ranks lower, some candidate ranks 1, and `best` is the first of them.
        #[test]
        fn ranks_share_ties_and_follow_the_scores(
            levels in proptest::collection::vec(0u8..4, 1..12),
            spread in -2.0f64..2.0,
        ) {
            let scores: Vec<f64> = levels.iter().map(|&l| f64::from(l) * spread).collect();
            let ranks = ranks_from_scores(&scores);
            for i in 0..scores.len() {
                let better = scores.iter().filter(|&&o| o > scores[i]).count();
                proptest::prop_assert_eq!(ranks[i], 1 + better);
                for j in 0..scores.len() {
                    if scores[i] == scores[j] {
                        proptest::prop_assert_eq!(ranks[i], ranks[j]);
                    } else if scores[i] > scores[j] {
                        proptest::prop_assert!(ranks[i] < ranks[j]);
                    }
                }
            }
            proptest::prop_assert!(ranks.contains(&1));
        }

        /// Any logit matrix: probabilities are complementary with 0.5 on the
        /// diagonal, scores sum to zero, and the best candidate is the first
        /// with the highest score.
        #[test]
        fn rankings_are_consistent_for_any_matrix(
            n in 1usize..7,
            cells in proptest::collection::vec(-8.0f64..8.0, 36),
        ) {
            let m: Vec<Vec<f64>> = (0..n).map(|i| cells[i * 6..i * 6 + n].to_vec()).collect();
            let r = Ranking::from_matrix(m);
            for i in 0..n {
                proptest::prop_assert_eq!(r.probabilities[i][i], 0.5);
                for j in 0..n {
                    let sum = r.probabilities[i][j] + r.probabilities[j][i];
                    proptest::prop_assert!((sum - 1.0).abs() < 1e-12);
                }
            }
            proptest::prop_assert!(r.scores.iter().sum::<f64>().abs() < 1e-9);
            let top = r.scores.iter().cloned().fold(f64::MIN, f64::max);
            let first_top = r.scores.iter().position(|&s| s == top).unwrap();
            proptest::prop_assert_eq!(r.best(), first_top);
        }
    }

    #[test]
    fn longest_prefers_the_first_and_counts_characters() {
        let c = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(longest(&c(&["ab", "xyz", "abc"])), 1);
        assert_eq!(longest(&c(&["ééé", "abcd"])), 1);
    }

    #[test]
    fn permutations_are_seeded_and_complete() {
        let p = permutation(10, 7);
        let mut sorted = p.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_eq!(p, permutation(10, 7));
        assert_ne!(p, permutation(10, 8));
    }

    #[test]
    fn modes_parse() {
        assert_eq!("both".parse::<CompareMode>(), Ok(CompareMode::Both));
        assert!("sideways".parse::<CompareMode>().is_err());
    }
}
