//! Turning (source, candidate A, candidate B) into one PairRM input sequence
//! (spec section 3): three `[CLS] marker … [SEP]` segments, truncated on the
//! right by tokens, and the three pooling positions. Pure logic, no backend.

use crate::tokenize::SpecialIds;

/// The reference replaces every literal `[SEP]` in user text by a space.
pub fn clean_text(text: &str) -> String {
    text.replace("[SEP]", " ")
}

/// Source text = instruction followed directly by input (nothing between).
pub fn source_text(instruction: &str, input: &str) -> String {
    clean_text(&format!("{instruction}{input}"))
}

/// Token budgets of one comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub source_maxlength: usize,
    pub candidate_maxlength: usize,
}

impl Limits {
    /// Length of the source segment (`[CLS] <|source|> … [SEP]`) after truncation.
    pub fn source_segment_len(&self, source_tokens: usize) -> usize {
        (source_tokens + 3).min(self.source_maxlength.max(3))
    }

    /// Max length of each candidate segment, given the source segment length:
    /// what the source leaves unused is shared by the two candidates, so the
    /// whole sequence stays within `source_maxlength + 2 * candidate_maxlength`.
    pub fn candidate_budget(&self, source_segment_len: usize) -> usize {
        self.candidate_maxlength + self.source_maxlength.saturating_sub(source_segment_len) / 2
    }
}

/// One assembled comparison: token ids and where the three markers sit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairInput {
    pub ids: Vec<u32>,
    /// Positions of `<|source|>`, `<|candidate1|>`, `<|candidate2|>`.
    pub markers: [usize; 3],
}

fn push_segment(
    out: &mut Vec<u32>,
    special: &SpecialIds,
    marker: u32,
    text: &[u32],
    max_len: usize,
) -> usize {
    let start = out.len();
    let keep = text.len().min(max_len.saturating_sub(3));
    out.push(special.cls);
    out.push(marker);
    out.extend_from_slice(&text[..keep]);
    out.push(special.sep);
    start + 1
}

/// Assemble `[CLS] <|source|> s [SEP] [CLS] <|candidate1|> a [SEP] [CLS] <|candidate2|> b [SEP]`
/// from already-tokenized texts (no special ids inside them).
pub fn assemble(
    special: &SpecialIds,
    limits: Limits,
    source: &[u32],
    a: &[u32],
    b: &[u32],
) -> PairInput {
    let source_len = limits.source_segment_len(source.len());
    let budget = limits.candidate_budget(source_len);
    let mut ids = Vec::with_capacity(source_len + 2 * budget);
    let s = push_segment(
        &mut ids,
        special,
        special.source,
        source,
        limits.source_maxlength,
    );
    let ma = push_segment(&mut ids, special, special.candidate1, a, budget);
    let mb = push_segment(&mut ids, special, special.candidate2, b, budget);
    PairInput {
        ids,
        markers: [s, ma, mb],
    }
}

/// Whether [`assemble`] cuts any of these texts (token counts without
/// special tokens): the source, or any candidate at the budget it leaves.
pub fn truncates(limits: Limits, source_tokens: usize, candidate_tokens: &[usize]) -> bool {
    let source_len = limits.source_segment_len(source_tokens);
    let text_room = |max_len: usize| max_len.saturating_sub(3);
    source_tokens > text_room(limits.source_maxlength.max(3))
        || candidate_tokens
            .iter()
            .any(|&c| c > text_room(limits.candidate_budget(source_len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECIAL: SpecialIds = SpecialIds {
        cls: 1,
        sep: 2,
        pad: 0,
        source: 101,
        candidate1: 102,
        candidate2: 103,
    };

    #[test]
    fn short_inputs_are_not_truncated() {
        let limits = Limits {
            source_maxlength: 1224,
            candidate_maxlength: 412,
        };
        let p = assemble(&SPECIAL, limits, &[10, 11], &[20], &[]);
        assert_eq!(p.ids, vec![1, 101, 10, 11, 2, 1, 102, 20, 2, 1, 103, 2]);
        assert_eq!(p.markers, [1, 6, 10]);
    }

    #[test]
    fn truncation_keeps_sep_and_shares_unused_source_budget() {
        let limits = Limits {
            source_maxlength: 8,
            candidate_maxlength: 5,
        };
        let long: Vec<u32> = (10..30).collect();
        // Source: 8 tokens kept in all (5 text tokens), nothing left to share.
        let p = assemble(&SPECIAL, limits, &long, &long, &long);
        assert_eq!(&p.ids[..8], &[1, 101, 10, 11, 12, 13, 14, 2]);
        assert_eq!(p.ids.len(), 8 + 5 + 5);
        assert_eq!(&p.ids[8..13], &[1, 102, 10, 11, 2]);
        // Source of 4 tokens leaves 4 unused: each candidate gets 5 + 2.
        let p = assemble(&SPECIAL, limits, &[10], &long, &long);
        assert_eq!(p.ids.len(), 4 + 7 + 7);
        assert_eq!(p.markers, [1, 5, 12]);
    }

    #[test]
    fn truncation_is_detected_exactly_where_assemble_cuts() {
        let limits = Limits {
            source_maxlength: 8,
            candidate_maxlength: 5,
        };
        for source in 0..12usize {
            for cand in 0..14usize {
                let (s, c): (Vec<u32>, Vec<u32>) =
                    ((0..source as u32).collect(), (0..cand as u32).collect());
                let p = assemble(&SPECIAL, limits, &s, &c, &[7]);
                let kept = p.ids.len() - 9 - 1; // three segments' specials, and [7]
                assert_eq!(
                    truncates(limits, source, &[cand, 1]),
                    kept < source + cand,
                    "source {source}, candidate {cand}"
                );
            }
        }
    }

    proptest::proptest! {
        /// Any budgets and lengths: every segment keeps its [CLS] marker … [SEP]
        /// frame, the whole stays within the budgets, a segment is cut only
        /// when it does not fit, and `truncates` says so exactly.
        #[test]
        fn assembly_respects_every_budget(
            source_max in 0usize..80,
            cand_max in 0usize..40,
            s_raw in 0usize..120,
            a_raw in 0usize..90,
            b_raw in 0usize..90,
            near_the_edge in proptest::bool::ANY,
        ) {
            let limits = Limits { source_maxlength: source_max, candidate_maxlength: cand_max };
            // Half the cases within two tokens of where each segment is cut.
            let edge = |room: usize, raw: usize| (room + raw % 5).saturating_sub(2);
            let s = if near_the_edge { edge(source_max.max(3) - 3, s_raw) } else { s_raw };
            let room = limits.candidate_budget(limits.source_segment_len(s)).max(3) - 3;
            let (a, b) = if near_the_edge { (edge(room, a_raw), edge(room, b_raw)) } else { (a_raw, b_raw) };
            let text = |n: usize, base: u32| (0..n as u32).map(|i| base + i % 50).collect::<Vec<u32>>();
            let (st, at, bt) = (text(s, 200), text(a, 300), text(b, 400));
            let p = assemble(&SPECIAL, limits, &st, &at, &bt);
            let [ms, ma, mb] = p.markers;
            proptest::prop_assert_eq!(p.ids[ms - 1], SPECIAL.cls);
            proptest::prop_assert_eq!(p.ids[ms], SPECIAL.source);
            proptest::prop_assert_eq!(p.ids[ma], SPECIAL.candidate1);
            proptest::prop_assert_eq!(p.ids[mb], SPECIAL.candidate2);
            proptest::prop_assert_eq!(p.ids[ma - 2], SPECIAL.sep);
            proptest::prop_assert_eq!(p.ids[mb - 2], SPECIAL.sep);
            proptest::prop_assert_eq!(*p.ids.last().unwrap(), SPECIAL.sep);
            let (ks, ka, kb) = (ma - 1 - ms - 2, mb - 1 - ma - 2, p.ids.len() - mb - 2);
            proptest::prop_assert!(ks <= s && ka <= a && kb <= b);
            proptest::prop_assert_eq!(&p.ids[ms + 1..ms + 1 + ks], &st[..ks]);
            proptest::prop_assert_eq!(&p.ids[ma + 1..ma + 1 + ka], &at[..ka]);
            proptest::prop_assert_eq!(&p.ids[mb + 1..mb + 1 + kb], &bt[..kb]);
            let source_len = limits.source_segment_len(s);
            proptest::prop_assert!(ks + 3 <= source_max.max(3));
            let budget = limits.candidate_budget(source_len);
            proptest::prop_assert!(ka + 3 <= budget.max(3) && kb + 3 <= budget.max(3));
            proptest::prop_assert!(p.ids.len() <= source_max.max(3) + 2 * cand_max.max(3) + source_max);
            proptest::prop_assert_eq!(truncates(limits, s, &[a, b]), ks < s || ka < a || kb < b);
        }
    }

    #[test]
    fn literal_sep_becomes_space() {
        assert_eq!(source_text("a[SEP]b", "[SEP]"), "a b ");
    }
}
