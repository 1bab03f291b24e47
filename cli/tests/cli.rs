//! The `pairrm` CLI reproduces the committed fixtures, JSONL in and out, on
//! both devices; bad lines get a message naming the line and a failing status.

#[path = "../../tests/common/mod.rs"]
mod common;
mod run;

use common::*;
use run::*;
use serde_json::{json, Value};

/// The CLI on wgpu for the first fixture's short rankings only: every process
/// compiles and autotunes its GPU kernels afresh (about 30 s on lavapipe),
/// and `tests/parity.rs` checks every method of every fixture on wgpu in one
/// process; here what matters is that `--device wgpu` reaches it.
fn devices(first_fixture: bool) -> Vec<&'static str> {
    if !first_fixture {
        vec!["cpu"]
    } else {
        vec!["cpu", "wgpu"]
    }
}

#[test]
fn cli_reproduces_fixtures() {
    for (index, (dir, expected)) in fixtures().into_iter().enumerate() {
        let model = dir.to_str().unwrap();
        let name = dir.file_name().unwrap().to_string_lossy().to_string();

        for tokenizer in ["json", "spm"] {
            let cases_ = cases(&expected, "tokenize");
            let (code, out, err) = run(
                &["tokenize", "--model", model, "--tokenizer", tokenizer],
                &jsonl(cases_.iter().map(|c| json!({"text": c["text"]}))),
            );
            assert_eq!(code, 0, "{err}");
            assert_eq!(out.len(), cases_.len());
            for (c, o) in cases_.iter().zip(&out) {
                assert_eq!(
                    o["ids"], c["ids"],
                    "{name}/{tokenizer}: ids of {:?}",
                    c["text"]
                );
            }
        }

        for dev in devices(index == 0) {
            let what = format!("{name}/{dev}");
            // On wgpu (lavapipe), the short rankings only: see `short_rank`.
            let ranks: Vec<&Value> = cases(&expected, "rank")
                .iter()
                .filter(|c| dev == "cpu" || short_rank(c))
                .collect();
            let input = jsonl(ranks.iter().map(|c| json!({"instruction": c["instruction"], "input": c["input"], "candidates": c["candidates"]})));
            let (code, out, err) = run(
                &[
                    "rank",
                    "--model",
                    model,
                    "--device",
                    dev,
                    "--batch-size",
                    "5",
                ],
                &input,
            );
            assert_eq!(code, 0, "{what}: {err}");
            assert_eq!(out.len(), ranks.len());
            for (k, (c, o)) in ranks.iter().zip(&out).enumerate() {
                assert_eq!(o["ranks"], c["ranks"], "{what}: rank[{k}] ranks");
                assert_all_close(
                    &format!("{what}: rank[{k}] scores"),
                    &floats(&o["scores"]),
                    &floats(&c["scores"]),
                );
                let n = c["candidates"].as_array().unwrap().len();
                for i in 0..n {
                    assert_all_close(
                        &format!("{what}: rank[{k}] logits[{i}]"),
                        &floats(&o["logits"][i]),
                        &floats(&c["logits"][i]),
                    );
                    for j in 0..n {
                        let m = |a: usize, b: usize| f(&c["logits"][a][b]);
                        let p = 1.0 / (1.0 + (-(m(i, j) - m(j, i)) / 2.0).exp());
                        assert_close(
                            &format!("{what}: rank[{k}] P[{i}][{j}]"),
                            f(&o["probabilities"][i][j]),
                            p,
                        );
                    }
                }
            }

            if dev == "wgpu" {
                continue;
            }
            for mode in ["ab", "ba", "both"] {
                let cs: Vec<&Value> = cases(&expected, "compare")
                    .iter()
                    .filter(|c| c["mode"] == mode)
                    .collect();
                let input = jsonl(cs.iter().map(|c| json!({"instruction": c["instruction"], "input": c["input"], "a": c["a"], "b": c["b"]})));
                let (code, out, err) = run(
                    &["compare", "--model", model, "--device", dev, "--mode", mode],
                    &input,
                );
                assert_eq!(code, 0, "{what}: {err}");
                assert_eq!(out.len(), cs.len());
                for (c, o) in cs.iter().zip(&out) {
                    assert_close(
                        &format!("{what}: compare {mode}"),
                        f(&o["value"]),
                        f(&c["value"]),
                    );
                    assert_eq!(o["result"], json!(f(&c["value"]) > 0.0));
                }
            }

            let convs = cases(&expected, "conversations");
            let (code, out, err) = run(
                &["compare-conversations", "--model", model, "--device", dev],
                &jsonl(convs.iter().map(|c| json!({"a": c["a"], "b": c["b"]}))),
            );
            assert_eq!(code, 0, "{what}: {err}");
            for (c, o) in convs.iter().zip(&out) {
                assert_close(
                    &format!("{what}: conversation"),
                    f(&o["value"]),
                    f(&c["value"]),
                );
            }
        }
    }
}

#[test]
fn bad_lines_are_reported_with_their_line_number() {
    let dir = fixtures_dir().join("tiny-hf");
    let model = dir.to_str().unwrap();
    let input = "{\"instruction\": \"hi\", \"candidates\": [\"a\", \"b\"]}\nnot json\n{\"instruction\": \"hi\", \"candidates\": [\"only one\"]}\n{\"instruction\": \"x\", \"candidates\": [\"a\", \"b\"]}\n";
    let (code, out, err) = run(&["rank", "--model", model], input);
    assert_ne!(code, 0);
    assert_eq!(out.len(), 4, "one output object per input line");
    assert!(out[0]["ranks"].is_array() && out[3]["ranks"].is_array());
    assert_eq!(out[1]["line"], 2);
    assert_eq!(out[2]["line"], 3);
    assert!(err.contains("line 2") && err.contains("line 3"), "{err}");
    assert!(err.contains("at least 2 candidates"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let conv = json!({"a": [{"role": "ASSISTANT", "content": "x"}, {"role": "USER", "content": "y"}],
                      "b": [{"role": "USER", "content": "y"}, {"role": "ASSISTANT", "content": "x"}]});
    let (code, out, err) = run(
        &["compare-conversations", "--model", model],
        &format!("{conv}\n"),
    );
    assert_ne!(code, 0);
    assert_eq!(out[0]["line"], 1);
    assert!(
        err.contains("line 1") && err.contains("must be USER"),
        "{err}"
    );

    let (code, _, err) = run(&["rank", "--model", "/nonexistent/model"], "");
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent/model"), "{err}");
    let (code, _, _) = run(&["frobnicate"], "");
    assert_eq!(code, 2);
}

#[test]
fn huge_and_odd_inputs_are_handled() {
    let dir = fixtures_dir().join("tiny-trunc");
    let model = dir.to_str().unwrap();
    let huge = "word ".repeat(50_000);
    let odd = "\u{0}\u{7}\u{202e}\u{fffd}\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467} e\u{301} ＡＢＣ \u{10FFFF}";
    let input = jsonl(
        [
            json!({"instruction": huge, "candidates": [huge, odd, ""]}),
            json!({"instruction": odd, "input": odd, "candidates": ["", ""]}),
        ]
        .into_iter(),
    );
    let (code, out, err) = run(&["rank", "--model", model], &input);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.len(), 2);
    // Identical candidates tie.
    assert_eq!(out[1]["ranks"], json!([1, 1]));
}

#[test]
fn zero_or_non_numeric_counts_are_usage_errors() {
    let model = common::fixtures_dir().join("tiny-hf");
    let model = model.to_str().unwrap();
    let line = r#"{"instruction": "hi", "candidates": ["a", "b"]}"#;
    for bad in ["0", "-1", "many"] {
        let (code, out, err) = run(&["rank", "--model", model, "--batch-size", bad], line);
        assert_eq!(code, 2, "--batch-size {bad}: {err}");
        assert!(out.is_empty(), "--batch-size {bad}: no results");
        assert!(
            err.contains("--batch-size") && err.contains("positive number"),
            "{err}"
        );
    }
    let (code, out, _) = run(&["rank", "--model", model, "--batch-size", "1"], line);
    assert_eq!((code, out.len()), (0, 1));
    let (code, _, err) = run(&["rank", "--model", model, "--device", "tpu"], line);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown device"), "{err}");
}

/// Lines the CLI cannot answer each get their own error line, in place, and
/// every later line is still answered: invalid UTF-8, blank lines, unknown
/// fields. Input echoed to stderr cannot drive the terminal.
#[test]
fn every_input_line_gets_exactly_one_output_line() {
    let model = common::fixtures_dir().join("tiny-hf");
    let model = model.to_str().unwrap();
    let good = r#"{"instruction": "hi", "candidates": ["a", "b"]}"#;
    let mut input = Vec::new();
    input.extend_from_slice(good.as_bytes());
    input.extend_from_slice(b"\n{\"instruction\": \"\xff\xfe\", \"candidates\": [\"a\", \"b\"]}\n");
    input.extend_from_slice(b"\n   \n");
    input.extend_from_slice(br#"{"instruction": "hi", "candidates": ["a", "b"], "mode": "ab"}"#);
    input.extend_from_slice(b"\n{\"instruction\": \"hi\", \"candidates\": [\"a\", \"b\"], \"\\u001b[2J\\u001b]0;pwned\\u0007\": 1}\n");
    input.extend_from_slice(good.as_bytes());
    input.extend_from_slice(b"\r\n");
    let (code, out, err) = run_bytes(&["rank", "--model", model], &input);
    assert_eq!(code, 1, "{err}");
    assert_eq!(out.len(), 7, "one output line per input line: {out:?}");
    assert!(out[0]["ranks"].is_array() && out[6]["ranks"].is_array());
    let error = |k: usize| out[k]["error"].as_str().unwrap_or_default().to_string();
    assert!(error(1).contains("UTF-8"), "{}", error(1));
    assert!(error(2).contains("empty line") && error(3).contains("empty line"));
    assert!(error(4).contains("unknown field `mode`"), "{}", error(4));
    assert!(error(5).contains("unknown field"), "{}", error(5));
    for (k, o) in out.iter().enumerate().take(6).skip(1) {
        assert_eq!(o["line"], k + 1);
    }
    assert!(err.contains("5 line(s) failed"), "{err}");
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
    assert!(err.contains("\\u{1b}[2J"), "{err}");
}

/// `rank-with-ref` and `best-of-n` reproduce the reference too.
#[test]
fn cli_reference_and_best_of_n_match_the_fixtures() {
    for (dir, expected) in fixtures() {
        let model = dir.to_str().unwrap();
        let cs = cases(&expected, "rank_with_ref");
        assert!(!cs.is_empty());
        let (code, out, err) = run(
            &["rank-with-ref", "--model", model],
            &jsonl(cs.iter().map(|c| json!({"instruction": c["instruction"], "input": c["input"], "candidates": c["candidates"]}))),
        );
        assert_eq!((code, out.len()), (0, cs.len()), "{err}");
        for (c, o) in cs.iter().zip(&out) {
            assert_all_close(
                "rank-with-ref scores",
                &floats(&o["scores"]),
                &floats(&c["scores"]),
            );
        }
        // Full mode is a ranking; bubble mode's order comes from a seed the
        // reference does not share, so the CLI is checked in full mode only.
        let cs: Vec<&Value> = cases(&expected, "best_of_n")
            .iter()
            .filter(|c| c["mode"] == "full")
            .collect();
        assert!(!cs.is_empty());
        let (code, out, err) = run(
            &["best-of-n", "--model", model],
            &jsonl(cs.iter().map(|c| json!({"instruction": c["instruction"], "input": c["input"], "candidates": c["candidates"], "mode": "full"}))),
        );
        assert_eq!((code, out.len()), (0, cs.len()), "{err}");
        for (c, o) in cs.iter().zip(&out) {
            assert_eq!(o["best"], c["best"]);
        }
    }
}

fn winrate(model: &str, extra: &[&str], stdin: &str) -> (i32, Vec<Value>, Value, String) {
    let mut args = vec!["winrate", "--model", model];
    args.extend_from_slice(extra);
    let (code, mut lines, err) = run(&args, stdin);
    let summary = lines
        .pop()
        .map(|l| l["summary"].clone())
        .unwrap_or(Value::Null);
    (code, lines, summary, err)
}

/// `pairrm winrate` reproduces the reference's per-row values and win rate on
/// every fixture, from the JSONL, CSV and AlpacaEval layouts of one dataset;
/// the interval is the same for the same seed.
#[test]
fn winrate_matches_the_reference_in_every_format() {
    let data = fixtures_dir().join("datasets");
    let read = |f: &str| std::fs::read_to_string(data.join(f)).unwrap();
    let (a, b) = (
        data.join("alpaca_model_a.json"),
        data.join("alpaca_model_b.json"),
    );
    for (dir, _) in fixtures() {
        let model = dir.to_str().unwrap();
        let reference: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("dataset.json")).unwrap())
                .unwrap();
        let want_rows = reference["pairs"].as_array().unwrap();
        let want = &reference["summary"];
        let mut intervals = Vec::new();
        for (layout, extra, stdin) in [
            ("jsonl", vec![], read("pairs.jsonl")),
            ("csv", vec![], read("pairs.csv")),
            (
                "alpaca",
                vec!["--a", a.to_str().unwrap(), "--b", b.to_str().unwrap()],
                String::new(),
            ),
        ] {
            let what = format!("{}/{layout}", dir.display());
            let (code, lines, summary, err) = winrate(model, &extra, &stdin);
            let (errors, rows): (Vec<&Value>, Vec<&Value>) =
                lines.iter().partition(|l| l.get("error").is_some());
            if layout == "alpaca" {
                // One item only model A answered (its 6th), one only B (its last).
                assert_eq!(code, 1, "{what}: unjoined items fail the run");
                assert_eq!(errors.len(), 2, "{what}: {errors:?}");
                assert_eq!(lines[5]["line"], 6, "{what}: A's lone item in its place");
                assert!(errors[1]["error"]
                    .as_str()
                    .unwrap()
                    .contains("no output in file A"));
                assert!(err.contains("no output in file B"), "{err}");
            } else {
                assert_eq!((code, errors.len()), (0, 0), "{what}: {err}");
            }
            assert_eq!(rows.len(), want_rows.len(), "{what}");
            for (k, (got, want)) in rows.iter().zip(want_rows).enumerate() {
                let v = f(&want["value"]);
                assert_close(&format!("{what} row {k}"), f(&got["value"]), v);
                assert_close(
                    &format!("{what} row {k} P"),
                    f(&got["probability"]),
                    1.0 / (1.0 + (-v / 2.0).exp()),
                );
                let winner = if v > 0.0 {
                    "a"
                } else if v < 0.0 {
                    "b"
                } else {
                    "tie"
                };
                assert_eq!(got["winner"], winner, "{what} row {k}");
                let keys: Vec<&String> = got.as_object().unwrap().keys().collect();
                assert_eq!(
                    keys,
                    ["probability", "value", "winner"],
                    "{what}: row fields"
                );
            }
            for field in ["n", "wins", "losses", "ties", "truncated"] {
                assert_eq!(summary[field], want[field], "{what}: {field}");
            }
            for field in ["win_rate", "mean_tokens_a", "mean_tokens_b"] {
                assert_close(
                    &format!("{what}: {field}"),
                    f(&summary[field]),
                    f(&want[field]),
                );
            }
            let ci = floats(&summary["ci"]);
            let rate = f(&summary["win_rate"]);
            assert!(
                ci.len() == 2 && ci[0] <= rate && rate <= ci[1] && ci[1] - ci[0] > 0.05,
                "{what}: {ci:?}"
            );
            intervals.push(summary["ci"].clone());
        }
        assert!(
            intervals.iter().all(|c| *c == intervals[0]),
            "same rows, same seed, same interval"
        );
        // With 32 rows the bootstrap means are multiples of 1/64, so two seeds
        // may agree; over a few seeds the interval moves.
        let reseeded: Vec<Value> = ["1", "2", "3", "4"]
            .iter()
            .map(|seed| winrate(model, &["--seed", seed], &read("pairs.jsonl")).2)
            .collect();
        assert!(reseeded.iter().all(|r| r["win_rate"] == want["win_rate"]));
        assert!(
            reseeded.iter().any(|r| r["ci"] != intervals[0]),
            "the seed drives the interval"
        );
        // A tie band wider than every value makes every row a tie.
        let (_, _, banded, _) = winrate(model, &["--tie-band", "100"], &read("pairs.jsonl"));
        assert_eq!(
            (banded["ties"].as_u64(), f(&banded["win_rate"])),
            (Some(32), 0.5)
        );
    }
}

/// Bad rows are named by their line and counted out; bad files and options are refused.
#[test]
fn winrate_reports_bad_rows_and_refuses_bad_files() {
    let (dir, _) = fixtures().into_iter().next().unwrap();
    let model = dir.to_str().unwrap();
    let data = fixtures_dir().join("datasets");
    let read = |f: &str| std::fs::read_to_string(data.join(f)).unwrap();

    let (code, lines, summary, err) = winrate(model, &[], &read("malformed.jsonl"));
    assert_eq!(code, 1);
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[2],
        json!({"error": "line 3: missing field `output_b`", "line": 3})
    );
    assert!(err.contains("line 3: missing field `output_b`"), "{err}");
    assert_eq!(summary["n"], 3);

    let (code, lines, _, _) = winrate(model, &[], "instruction,output_a,output_b\na,b\nc,d,e\n");
    assert_eq!(code, 1);
    assert_eq!(lines[0]["line"], 2);

    for (stdin, message) in [
        ("", "empty"),
        (read("rankings.jsonl").as_str(), "rankings file"),
        ("[{\"instruction\":\"i\",\"output\":\"o\"}]", "both models"),
        ("a,b\n1,2\n", "output_a"),
    ] {
        let (code, lines, _, err) = winrate(model, &[], stdin);
        assert_eq!((code, lines.len()), (1, 0), "{stdin:?}");
        assert!(err.contains(message), "{stdin:?}: {err}");
    }
    let (code, _, err) = run_bytes(&["winrate", "--model", model], b"{\"a\":1}\n\xff\n");
    assert_eq!(code, 1);
    assert!(err.contains("line 2 is not valid UTF-8"), "{err}");
    for bad in [
        ["--tie-band", "-1"],
        ["--tie-band", "x"],
        ["--a", "only-a.json"],
    ] {
        let (code, _, _, err) = winrate(model, &bad, "");
        assert_eq!(code, 2, "{bad:?}: {err}");
    }
}
