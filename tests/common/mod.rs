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

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
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

/// Runs the `pairrm` CLI with `stdin`: exit status, stdout as JSON lines, stderr.
pub fn run(args: &[&str], stdin: &str) -> (i32, Vec<Value>, String) {
    run_bytes(args, stdin.as_bytes())
}

pub fn run_bytes(args: &[&str], stdin: &[u8]) -> (i32, Vec<Value>, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pairrm"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run pairrm");
    // A process that rejects its arguments exits before reading stdin: a
    // broken pipe here is that, and its status and stderr say the rest.
    use std::io::Write;
    let written = child.stdin.take().unwrap().write_all(stdin);
    if let Err(e) = written {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    let out = child.wait_with_output().unwrap();
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("stdout line is JSON"))
        .collect();
    (
        out.status.code().unwrap_or(-1),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
