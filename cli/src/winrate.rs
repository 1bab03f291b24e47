//! `pairrm winrate`: a pairs dataset (JSONL or CSV on stdin, or two AlpacaEval
//! files) scored row by row, then one summary line. Same parsing and numbers
//! as the package's `evaluatePairs` and the page's Dataset view.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use pairrm_web::dataset::{self, PairRow, PairScore, RowError, Rows, Scoring, Verdict};
use pairrm_web::{block_on, Error, Ranker};
use serde_json::json;

use super::jsonl::for_terminal;

/// Rows per group of forward passes: big enough to fill a batch, small enough
/// that lines appear steadily.
const ROWS_PER_GROUP: usize = 16;

/// The pairs to score, from stdin or two AlpacaEval files.
pub fn read_pairs(
    a: Option<&Path>,
    b: Option<&Path>,
) -> Result<Vec<Result<PairRow, RowError>>, Error> {
    let text_of = |bytes: Vec<u8>, what: &str| {
        String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let line = 1 + e.as_bytes()[..at].iter().filter(|&&c| c == b'\n').count();
            Error::input(format!("{what}: line {line} is not valid UTF-8 text"))
        })
    };
    let read = |p: &Path| {
        std::fs::read(p)
            .map_err(|e| Error::Io {
                what: p.display().to_string(),
                cause: e.to_string(),
            })
            .and_then(|bytes| text_of(bytes, &p.display().to_string()))
    };
    let d = match (a, b) {
        (Some(a), Some(b)) => dataset::join_alpaca_eval(&read(a)?, &read(b)?)?.0,
        (None, None) => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| Error::Io {
                    what: "stdin".into(),
                    cause: e.to_string(),
                })?;
            dataset::parse(&text_of(bytes, "stdin")?)?
        }
        _ => return Err(Error::input("--a and --b go together".into())),
    };
    match d.rows {
        Rows::Pairs(rows) => Ok(rows),
        Rows::Rankings(_) => Err(Error::input(
            "this is a rankings file (\"candidates\"): winrate needs pairs \
             (\"output_a\", \"output_b\"); rank prompts one by one with `pairrm rank`"
                .into(),
        )),
    }
}

/// Scores every row, printing a line per row as it is done, then the summary.
/// Returns how many rows failed.
pub fn run(
    ranker: &Ranker,
    rows: &[Result<PairRow, RowError>],
    scoring: &Scoring,
    out: &mut impl Write,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<usize, Error> {
    let write = |out: &mut dyn Write, line: serde_json::Value| {
        writeln!(out, "{line}")
            .and_then(|_| out.flush())
            .map_err(|e| Error::Io {
                what: "stdout".into(),
                cause: e.to_string(),
            })
    };
    let mut scored: Vec<PairScore> = Vec::new();
    let mut failed = 0;
    let report = |out: &mut dyn Write, e: RowError| {
        eprintln!("pairrm: {}", for_terminal(&e.error));
        write(out, json!({ "error": e.error, "line": e.line }))
    };
    for (group_index, group) in rows.chunks(ROWS_PER_GROUP).enumerate() {
        let first = group_index * ROWS_PER_GROUP;
        let good: Vec<PairRow> = group
            .iter()
            .filter_map(|r| r.as_ref().ok().cloned())
            .collect();
        let mut within = |done: usize, _: usize| progress(first + done, rows.len());
        let mut results = match block_on(ranker.evaluate_pairs(&good, &mut within)) {
            Ok(r) => r.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(Error::Cancelled) => return Err(Error::Cancelled),
            // Find the rows at fault: score them one by one.
            Err(_) => good
                .iter()
                .map(|r| {
                    block_on(ranker.evaluate_pairs(std::slice::from_ref(r), &mut |_, _| true))
                        .map(|v| v[0])
                })
                .collect(),
        }
        .into_iter();
        for row in group {
            let result = match row {
                Err(e) => Err(e.clone()),
                Ok(row) => results
                    .next()
                    .expect("one result per good row")
                    .map_err(|e| RowError {
                        line: row.line,
                        error: format!("line {}: {e}", row.line),
                    }),
            };
            match result {
                Ok(score) => {
                    write(out, json!(Verdict::new(score.value, scoring)))?;
                    scored.push(score);
                }
                Err(e) => {
                    failed += 1;
                    report(out, e)?;
                }
            }
        }
    }
    write(
        out,
        json!({ "summary": dataset::summarize(&scored, scoring) }),
    )?;
    Ok(failed)
}

/// The whole command: read, score, print; the exit status says whether every row was scored.
pub fn main(
    ranker: &Ranker,
    (a, b): (Option<&Path>, Option<&Path>),
    scoring: &Scoring,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> ExitCode {
    let rows = match read_pairs(a, b) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("pairrm winrate: {}", for_terminal(&e.to_string()));
            return ExitCode::FAILURE;
        }
    };
    match run(
        ranker,
        &rows,
        scoring,
        &mut std::io::stdout().lock(),
        progress,
    ) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failed) => {
            eprintln!("pairrm: {failed} row(s) failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("pairrm winrate: {}", for_terminal(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}
