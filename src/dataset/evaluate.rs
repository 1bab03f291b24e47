//! Scoring whole datasets with a loaded [`Ranker`]: every pairs row in both
//! orders (the reference's `[A,B]+[B,A]` compare), rankings row by row. The
//! comparisons of many rows share forward passes.

use crate::api::{check_candidates, Progress, Ranker};
use crate::error::Result;
use crate::rank::Ranking;
use crate::segments;

use super::formats::{PairRow, RankRow};
use super::stats::PairScore;

/// One ranked row of a rankings dataset.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RankedRow {
    #[serde(flatten)]
    pub ranking: Ranking,
    /// Whether the max lengths cut the source or a candidate.
    pub truncated: bool,
}

impl Ranker {
    /// `value = logit(A, B) − logit(B, A)` for each row, with its token
    /// counts and truncation. `progress` gets `(rows done, rows)`. Rows whose
    /// outputs tokenize identically score exactly 0 without a forward pass,
    /// as both orders are then the same input.
    pub async fn evaluate_pairs(
        &self,
        rows: &[PairRow],
        progress: &mut Progress<'_>,
    ) -> Result<Vec<PairScore>> {
        struct Tokens {
            source: Vec<u32>,
            a: Vec<u32>,
            b: Vec<u32>,
        }
        let tokens = rows
            .iter()
            .map(|r| {
                Ok(Tokens {
                    source: self.source_ids(&r.instruction, &r.input)?,
                    a: self.encode(&r.output_a)?,
                    b: self.encode(&r.output_b)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // Rows that need the model, each as two comparisons (A,B) then (B,A).
        let run: Vec<usize> = (0..rows.len())
            .filter(|&k| tokens[k].a != tokens[k].b)
            .collect();
        let (special, limits) = (&self.tokenizer().special, self.limits());
        let pair = |k: usize| {
            let t = &tokens[run[k / 2]];
            let (first, second) = if k.is_multiple_of(2) {
                (&t.a, &t.b)
            } else {
                (&t.b, &t.a)
            };
            segments::assemble(special, limits, &t.source, first, second)
        };
        let skipped = rows.len() - run.len();
        let mut row_progress = |done: usize, _: usize| progress(skipped + done / 2, rows.len());
        let logits = self
            .logits_of(2 * run.len(), pair, &mut row_progress)
            .await?;
        let mut values = vec![0.0; rows.len()];
        for (j, &k) in run.iter().enumerate() {
            values[k] = logits[2 * j] - logits[2 * j + 1];
        }
        Ok(tokens
            .iter()
            .zip(values)
            .map(|(t, value)| PairScore {
                value,
                tokens_a: t.a.len(),
                tokens_b: t.b.len(),
                truncated: segments::truncates(limits, t.source.len(), &[t.a.len(), t.b.len()]),
            })
            .collect())
    }

    /// [`Ranker::rank`] for each row (each text tokenized once); `progress`
    /// gets `(rows done, rows)`.
    pub async fn rank_many(
        &self,
        rows: &[RankRow],
        progress: &mut Progress<'_>,
    ) -> Result<Vec<RankedRow>> {
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            check_candidates(&r.candidates)?;
            let source = self.source_ids(&r.instruction, &r.input)?;
            let cands = r
                .candidates
                .iter()
                .map(|c| self.encode(c))
                .collect::<Result<Vec<_>>>()?;
            let lens: Vec<usize> = cands.iter().map(Vec::len).collect();
            let done = out.len();
            let mut within = |_: usize, _: usize| progress(done, rows.len());
            let logits = self
                .logit_matrix_of_ids(&source, &cands, &mut within)
                .await?;
            out.push(RankedRow {
                ranking: Ranking::from_matrix(logits),
                truncated: segments::truncates(self.limits(), source.len(), &lens),
            });
            if !progress(out.len(), rows.len()) {
                return Err(crate::Error::Cancelled);
            }
        }
        Ok(out)
    }
}
