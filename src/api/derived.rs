//! The reference's methods built on `compare` and `rank`: conversations,
//! ranking against a reference candidate, and best-of-n.

use super::{check_candidates, BestOfN, Ranker};
use crate::conversation::{conversation_texts, Message, CONVERSATION_INSTRUCTION};
use crate::error::{Error, Result};
use crate::rank::{self, CompareMode};
use crate::requests::RefRanking;
use crate::segments::{self, PairInput};

/// What a bubble pass ([`Ranker::bubble_pass`]) carries to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The better of each pair: best-of-n.
    Best,
    /// The worse of each pair: worst-of-n.
    Worst,
}

impl Ranker {
    /// Compare two conversations with identical USER turns (default `both` mode).
    pub async fn compare_conversations(&self, a: &[Message], b: &[Message]) -> Result<f64> {
        let (input, cand_a, cand_b) = conversation_texts(a, b)?;
        self.compare(
            CONVERSATION_INSTRUCTION,
            &input,
            &cand_a,
            &cand_b,
            CompareMode::Both,
        )
        .await
    }

    /// Score every candidate against a reference one (the longest when `None`):
    /// `score_j = −compare(reference, candidate_j)`.
    pub async fn rank_with_ref(
        &self,
        instruction: &str,
        input: &str,
        candidates: &[String],
        reference: Option<usize>,
    ) -> Result<RefRanking> {
        check_candidates(candidates)?;
        let reference = reference.unwrap_or_else(|| rank::longest(candidates));
        if reference >= candidates.len() {
            return Err(Error::input(format!(
                "reference {reference} is not a candidate index"
            )));
        }
        let source = self.source_ids(instruction, input)?;
        let cands = candidates
            .iter()
            .map(|c| self.encode(c))
            .collect::<Result<Vec<_>>>()?;
        let (special, limits) = (&self.tokenizer.special, self.limits());
        let r = &cands[reference];
        let pairs: Vec<PairInput> = cands
            .iter()
            .flat_map(|c| {
                [
                    segments::assemble(special, limits, &source, r, c),
                    segments::assemble(special, limits, &source, c, r),
                ]
            })
            .collect();
        let v = self.logits(&pairs).await?;
        let scores: Vec<f64> = v.chunks(2).map(|p| -(p[0] - p[1])).collect();
        Ok(RefRanking {
            reference,
            ranks: rank::ranks_from_scores(&scores),
            scores,
        })
    }

    /// Index of the best candidate.
    pub async fn best_of_n(
        &self,
        instruction: &str,
        input: &str,
        candidates: &[String],
        strategy: BestOfN,
    ) -> Result<usize> {
        check_candidates(candidates)?;
        match strategy {
            BestOfN::Full => Ok(self.rank(instruction, input, candidates).await?.best()),
            BestOfN::Bubble { seed } => {
                let order = rank::permutation(candidates.len(), seed);
                self.best_of_n_in_order(instruction, input, candidates, &order)
                    .await
            }
        }
    }

    /// Bubble best-of-n over an explicit visiting order: keep the current
    /// winner while `logit(cur, next) − logit(next, cur) > 0` (ties go to next).
    pub async fn best_of_n_in_order(
        &self,
        instruction: &str,
        input: &str,
        candidates: &[String],
        order: &[usize],
    ) -> Result<usize> {
        let pass = self.bubble_pass(instruction, input, candidates, order, Keep::Best);
        Ok(pass.await?[0])
    }

    /// One bubble pass over `order`, as the reference's `_bubble_predict`:
    /// the candidate carried so far meets the next one, and the better one
    /// (the worse one for [`Keep::Worst`]) is carried on; on a tie (value 0)
    /// the next one is carried. Returns the candidate carried to the end, then
    /// the one left behind at each step, in order: the reference's
    /// `return_all` order for best-of-n and worst-of-n.
    pub async fn bubble_pass(
        &self,
        instruction: &str,
        input: &str,
        candidates: &[String],
        order: &[usize],
        keep: Keep,
    ) -> Result<Vec<usize>> {
        let n = candidates.len();
        let mut seen = vec![false; n];
        if n == 0
            || order.len() != n
            || order
                .iter()
                .any(|&i| i >= n || std::mem::replace(&mut seen[i], true))
        {
            return Err(Error::input(
                "order must be a permutation of the candidate indices".into(),
            ));
        }
        let mut carried = order[0];
        let mut dropped = Vec::with_capacity(n - 1);
        for &next in &order[1..] {
            let value = self
                .compare(
                    instruction,
                    input,
                    &candidates[carried],
                    &candidates[next],
                    CompareMode::Both,
                )
                .await?;
            let keep_current = match keep {
                Keep::Best => value > 0.0,
                Keep::Worst => value < 0.0,
            };
            if keep_current {
                dropped.push(next);
            } else {
                dropped.push(std::mem::replace(&mut carried, next));
            }
        }
        Ok(std::iter::once(carried).chain(dropped).collect())
    }
}
