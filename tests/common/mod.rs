//! Shared helpers for the parity tests: fixture discovery and tolerances.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Logits and scores must match the reference within this: `logit` in
/// `tests/tolerance.json`, which says why and is shared with the browser tests.
pub static TOLERANCE: std::sync::LazyLock<f64> = std::sync::LazyLock::new(|| {
    let text = include_str!("../tolerance.json");
    let v: Value = serde_json::from_str(text).expect("tests/tolerance.json is JSON");
    v["logit"].as_f64().expect("a logit tolerance")
});

/// The repository's `tests/fixtures`, from the core's tests or from a target
/// crate's (`cli/`), which include this module by path.
pub fn fixtures_dir() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .ancestors()
        .take(2)
        .map(|d| d.join("tests").join("fixtures"))
        .find(|d| d.is_dir())
        .expect("tests/fixtures in the crate or its workspace")
}

/// Every fixture model dir with an `expected.json`, sorted by name.
pub fn fixtures() -> Vec<(PathBuf, Value)> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("tests/fixtures exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("expected.json").is_file())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 3,
        "expected the committed fixtures, found {dirs:?}"
    );
    dirs.into_iter()
        .map(|d| {
            let text =
                std::fs::read_to_string(d.join("expected.json")).expect("read expected.json");
            (d, serde_json::from_str(&text).expect("valid expected.json"))
        })
        .collect()
}

/// The recorded cases of one section; a missing or empty section fails the
/// test (a fixture regenerated without it must not turn checks into passes).
pub fn cases<'a>(expected: &'a Value, section: &str) -> &'a [Value] {
    let list = expected[section]
        .as_array()
        .unwrap_or_else(|| panic!("the fixture has no {section:?} section"));
    assert!(
        !list.is_empty(),
        "the fixture's {section:?} section is empty"
    );
    list
}

/// Rank cases whose texts (instruction, input and candidates) pass this many
/// characters are checked on the CPU only, not on emulated GPUs (lavapipe):
/// each of their comparisons is ~1,500 tokens, and their first pass there
/// autotunes every kernel at that size for minutes. The recorded forward
/// cases still take inputs of that length through the GPU's kernels.
pub const EMULATED_GPU_RANK_CHARS: usize = 2000;

/// Whether a recorded rank case's texts stay within [`EMULATED_GPU_RANK_CHARS`].
pub fn short_rank(case: &Value) -> bool {
    let chars = |v: &Value| v.as_str().map_or(0, |t| t.chars().count());
    let candidates: usize = case["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .map(chars)
        .sum();
    chars(&case["instruction"]) + chars(&case["input"]) + candidates <= EMULATED_GPU_RANK_CHARS
}

pub fn s(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array of strings")
        .iter()
        .map(s)
        .collect()
}

pub fn f(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

pub fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array of numbers")
        .iter()
        .map(f)
        .collect()
}

pub fn ints(v: &Value) -> Vec<u64> {
    v.as_array()
        .expect("array of ints")
        .iter()
        .map(|x| x.as_u64().expect("int"))
        .collect()
}

pub fn assert_close(what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= *TOLERANCE,
        "{what}: got {got}, reference {want} (diff {})",
        (got - want).abs()
    );
}

pub fn assert_all_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_close(&format!("{what}[{i}]"), *g, *w);
    }
}

/// One JSON value per line.
pub fn jsonl(items: impl Iterator<Item = Value>) -> String {
    items.map(|v| v.to_string() + "\n").collect()
}

/// The assembled input of a recorded `forward` case.
pub fn pair_input(ranker: &pairrm_web::Ranker, c: &Value) -> pairrm_web::segments::PairInput {
    ranker
        .pair_input(
            &s(&c["instruction"]),
            &s(&c["input"]),
            &s(&c["a"]),
            &s(&c["b"]),
        )
        .unwrap()
}

/// A temporary folder, deleted however the test ends.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("pairrm-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The large stand-in (1.74 GB, `make-random-model` with the seed and layer
/// count `tests/fixtures/large/reference.json` records) in a temp dir of its
/// own, and that reference.
pub fn large_stand_in(name: &str) -> (TempDir, Value) {
    let path = fixtures_dir().join("large").join("reference.json");
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("reference.json")).unwrap();
    let seed = reference["stand_in"]["seed"].as_u64().unwrap();
    let layers = reference["stand_in"]["layers"].as_u64().unwrap() as usize;
    let dir = TempDir::new(name);
    pairrm_web::weights::write_stand_in_model(
        &fixtures_dir().join("tiny-hf"),
        &dir.0,
        layers,
        seed,
    )
    .expect("write the stand-in");
    (dir, reference)
}

/// The bound on a logit's change for `dtype` on a model whose recorded
/// logits are `expected` (`dtypes` in tests/tolerance.json says why it
/// grows with the logits).
pub fn bound(dtype: pairrm_web::WeightDtype, expected: &Value) -> f64 {
    let v: Value = serde_json::from_str(include_str!("../tolerance.json")).unwrap();
    let base = v["dtypes"][dtype.name()]
        .as_f64()
        .expect("a bound per dtype");
    let scale = v["dtypes"]["logit_scale"].as_f64().expect("a logit scale");
    let largest = cases(expected, "forward")
        .iter()
        .map(|c| f(&c["logit"]).abs())
        .fold(0.0, f64::max);
    base * (largest / scale).max(1.0)
}
