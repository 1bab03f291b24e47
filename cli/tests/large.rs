//! The `pairrm` CLI at PairRM's real size: the large stand-in (see
//! `large_stand_in_matches_the_reference` in tests/parity.rs, which checks the
//! library on the same cases). Slow, so not in the default run:
//! `cargo test --release -p pairrm-cli --test large -- --ignored`.

#[path = "../../tests/common/mod.rs"]
mod common;
mod run;

use common::*;
use run::*;

#[test]
#[ignore]
fn large_stand_in_cli_matches_the_reference() {
    let (dir, reference) = large_stand_in("large-cli-test");
    let dir = &dir.0;
    let forward = cases(&reference, "forward");

    // The CLI, one JSON line per comparison.
    let requests = forward
        .iter()
        .map(|c| serde_json::json!({"instruction": c["instruction"], "input": c["input"], "a": c["a"], "b": c["b"]}));
    let (status, lines, stderr) = run(
        &["compare", "--model", dir.to_str().unwrap(), "--mode", "ab"],
        &jsonl(requests),
    );
    assert_eq!(status, 0, "pairrm compare failed: {stderr}");
    assert_eq!(lines.len(), forward.len());
    for (k, (c, line)) in forward.iter().zip(&lines).enumerate() {
        assert_close(
            &format!("large CLI forward[{k}] value"),
            f(&line["value"]),
            f(&c["logit"]),
        );
    }
}
