//! Which waiting comparisons go through the next forward pass.
//!
//! burn's engine (wgpu, WebGPU) pads every input of a pass to the longest, so
//! a pass that mixes a 40-token comparison with a 1,600-token one computes
//! the short one at 1,600 tokens and its attention at 1,600² scores. Passes
//! are therefore made of comparisons of similar length. The fused CPU engine
//! does not pad: it takes the comparisons in order. Results never depend on
//! how comparisons are grouped (padding is masked).

/// Padded tokens up to which a pass is not split for its padding: a pass this
/// small costs its kernel launches more than its padded rows.
pub const SMALL_PASS_TOKENS: usize = 2048;

/// Most padding a larger pass may carry: padded tokens ≤ 5/4 of real tokens.
const PADDING_NUMERATOR: usize = 5;
const PADDING_DENOMINATOR: usize = 4;

/// The next pass out of the waiting comparisons, whose token counts are
/// `lens` (in arrival order): indices into `lens`, ascending.
///
/// - `most`: the most comparisons in one pass (the batch size, at least 1).
/// - `fits(n, longest)`: whether `n` comparisons padded to `longest` stay
///   within the device's buffer budget.
/// - `padded`: whether the engine pads to the longest. If not, the pass is
///   the longest prefix that fits; if so, the shortest comparison waiting and
///   those of similar length after it.
///
/// The pass holds at least one comparison whenever `lens` is not empty.
pub fn next_pass(
    lens: &[usize],
    most: usize,
    fits: impl Fn(usize, usize) -> bool,
    padded: bool,
) -> Vec<usize> {
    if lens.is_empty() {
        return Vec::new();
    }
    let most = most.max(1);
    if !padded {
        let mut longest = lens[0];
        let mut take = 1;
        while take < most.min(lens.len()) {
            let l = longest.max(lens[take]);
            if !fits(take + 1, l) {
                break;
            }
            longest = l;
            take += 1;
        }
        return (0..take).collect();
    }
    let mut order: Vec<usize> = (0..lens.len()).collect();
    order.sort_by_key(|&i| (lens[i], i));
    let mut real = lens[order[0]];
    let mut take = 1;
    for &i in &order[1..] {
        // Sorted: this one is the longest of the pass if it joins.
        let (n, longest) = (take + 1, lens[i]);
        let padded_tokens = n * longest;
        let wasteful = padded_tokens > SMALL_PASS_TOKENS
            && PADDING_DENOMINATOR * padded_tokens > PADDING_NUMERATOR * (real + longest);
        if n > most || !fits(n, longest) || wasteful {
            break;
        }
        real += longest;
        take += 1;
    }
    let mut pass = order[..take].to_vec();
    pass.sort_unstable();
    pass
}

#[cfg(test)]
mod tests {
    use super::*;

    fn always(_: usize, _: usize) -> bool {
        true
    }

    /// Every comparison exactly once, and each pass non-empty, however the
    /// waiting list is refilled.
    fn passes(lens: &[usize], most: usize, padded: bool) -> Vec<Vec<usize>> {
        let mut waiting: Vec<usize> = (0..lens.len()).collect();
        let mut out = Vec::new();
        while !waiting.is_empty() {
            let l: Vec<usize> = waiting.iter().map(|&k| lens[k]).collect();
            let pass = next_pass(&l, most, always, padded);
            assert!(!pass.is_empty());
            let mut taken: Vec<usize> = pass.iter().rev().map(|&i| waiting.remove(i)).collect();
            taken.reverse();
            out.push(taken);
        }
        let mut all: Vec<usize> = out.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..lens.len()).collect::<Vec<_>>());
        out
    }

    #[test]
    fn padded_passes_group_similar_lengths() {
        // The recorded forward cases of the tiny-hf fixture.
        let lens = [45, 45, 33, 23, 24, 29, 295, 1462, 1644];
        assert_eq!(
            passes(&lens, 32, true),
            vec![vec![0, 1, 2, 3, 4, 5], vec![6], vec![7, 8]]
        );
    }

    #[test]
    fn small_passes_are_not_split_for_padding() {
        // 8 × 200 padded tokens is under SMALL_PASS_TOKENS: one pass.
        let lens = [10, 200, 20, 30, 40, 50, 60, 70];
        assert_eq!(passes(&lens, 32, true), vec![(0..8).collect::<Vec<_>>()]);
    }

    #[test]
    fn unpadded_passes_keep_arrival_order() {
        let lens = [45, 1644, 33, 23, 1462];
        assert_eq!(
            passes(&lens, 2, false),
            vec![vec![0, 1], vec![2, 3], vec![4]]
        );
    }

    #[test]
    fn passes_respect_the_batch_size_and_the_budget() {
        let lens = [100; 10];
        assert!(passes(&lens, 3, true).iter().all(|p| p.len() <= 3));
        // A budget of 4 comparisons of 100 tokens.
        let fits = |n: usize, l: usize| n * l <= 400;
        assert_eq!(next_pass(&lens, 32, fits, true), vec![0, 1, 2, 3]);
        assert_eq!(next_pass(&lens, 32, fits, false), vec![0, 1, 2, 3]);
        // One comparison over the budget still goes alone.
        assert_eq!(next_pass(&[1000, 10], 32, fits, true), vec![1]);
        assert_eq!(next_pass(&[1000], 32, fits, true), vec![0]);
        assert!(next_pass(&[], 32, fits, true).is_empty());
    }
}
