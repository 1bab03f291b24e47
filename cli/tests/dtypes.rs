//! f16 and int8 through the CLI: `pairrm convert` and `--dtype` on every
//! command, within the per-dtype bounds of `tests/tolerance.json`, and a bad
//! dtype named.

#[path = "../../tests/common/mod.rs"]
mod common;
mod run;

use common::*;
use pairrm_web::WeightDtype;
use run::*;
use serde_json::Value;

#[test]
fn the_cli_converts_and_loads_every_dtype_and_names_a_bad_one() {
    let (dir, expected) = fixtures().into_iter().next().unwrap();
    let c = &cases(&expected, "forward")[0];
    let line = jsonl(std::iter::once(
        serde_json::json!({"instruction": c["instruction"], "input": c["input"], "a": c["a"], "b": c["b"]}),
    ));
    let model = dir.to_str().unwrap();
    let out = TempDir::new("cli-convert");
    let (status, report, stderr) = run(
        &[
            "convert",
            "--model",
            model,
            "--out",
            out.0.to_str().unwrap(),
            "--dtype",
            "q8",
        ],
        "",
    );
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(report[0]["dtype"], "q8");
    assert!(report[0]["bytes"].as_u64().unwrap() < report[0]["source_bytes"].as_u64().unwrap() / 2);
    for args in [
        vec!["compare", "--model", model, "--mode", "ab", "--dtype", "q8"],
        vec![
            "compare",
            "--model",
            out.0.to_str().unwrap(),
            "--mode",
            "ab",
        ],
    ] {
        let (status, lines, stderr) = run(&args, &line);
        assert_eq!(status, 0, "{args:?}: {stderr}");
        let d = (f(&lines[0]["value"]) - f(&c["logit"])).abs();
        assert!(
            d <= bound(WeightDtype::Q8, &expected) && d > 0.0,
            "{args:?}: moved by {d}"
        );
    }
    let (status, _, stderr) = run(&["compare", "--model", model, "--dtype", "int4"], &line);
    assert_ne!(status, 0);
    assert!(
        stderr.contains("int4") && stderr.contains("f32, f16 or q8"),
        "{stderr}"
    );
    let (status, _, stderr) = run(
        &[
            "compare",
            "--model",
            out.0.to_str().unwrap(),
            "--dtype",
            "f32",
        ],
        &line,
    );
    assert_ne!(status, 0);
    assert!(stderr.contains("holds q8 weights"), "{stderr}");
}

/// The 32-row dataset's win rate per dtype (`pairrm winrate --dtype`): every
/// row's value within twice the bound of the reference's, the same winner
/// unless the reference's value is within that of a tie, and the win rate
/// off by at most those rows.
#[test]
fn winrate_per_dtype_follows_the_reference() {
    let pairs =
        std::fs::read_to_string(fixtures_dir().join("datasets").join("pairs.jsonl")).unwrap();
    for (dir, expected) in fixtures() {
        let reference: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("dataset.json")).unwrap())
                .unwrap();
        let want_rows = reference["pairs"].as_array().unwrap();
        for dtype in [WeightDtype::F16, WeightDtype::Q8] {
            let what = format!("{}/{dtype}", dir.display());
            let tol = 2.0 * bound(dtype, &expected);
            let (status, lines, stderr) = run(
                &[
                    "winrate",
                    "--model",
                    dir.to_str().unwrap(),
                    "--dtype",
                    dtype.name(),
                ],
                &pairs,
            );
            assert_eq!(status, 0, "{what}: {stderr}");
            let rows: Vec<&Value> = lines.iter().filter(|l| l.get("value").is_some()).collect();
            assert_eq!(rows.len(), want_rows.len(), "{what}");
            let mut near_ties = 0;
            for (k, (got, want)) in rows.iter().zip(want_rows).enumerate() {
                let (g, w) = (f(&got["value"]), f(&want["value"]));
                assert!((g - w).abs() <= tol, "{what} row {k}: {g} vs {w}");
                if w.abs() <= tol {
                    near_ties += 1;
                } else {
                    assert_eq!(
                        g > 0.0,
                        w > 0.0,
                        "{what} row {k}: the winner flipped ({g} vs {w})"
                    );
                }
            }
            let summary = &lines.last().unwrap()["summary"];
            let d = (f(&summary["win_rate"]) - f(&reference["summary"]["win_rate"])).abs();
            assert!(
                d <= near_ties as f64 / rows.len() as f64 + 1e-9,
                "{what}: win rate moved by {d}"
            );
        }
    }
}
