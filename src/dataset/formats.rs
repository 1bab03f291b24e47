//! Dataset files: what rows they hold and how a bad row is reported. Pure
//! logic, no backend, shared by the CLI, the package and the page so all three
//! accept the same files and name a bad row the same way.
//!
//! Formats (the first non-blank character decides; blank lines are skipped):
//! - pairs, JSONL: one `{"instruction", "input"?, "output_a", "output_b"}` per line;
//! - pairs, CSV: a header naming `instruction`, `output_a`, `output_b` (and
//!   optionally `input`), RFC 4180 quoting (fields may span lines);
//! - rankings, JSONL: one `{"instruction", "input"?, "candidates": [..]}` per line;
//! - AlpacaEval: two JSON arrays, one per model ([`super::alpaca`]).
//!
//! Other fields in a row are ignored: datasets carry ids, generators, labels.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One comparison of a pairs dataset: is `output_a` better than `output_b`?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairRow {
    /// Where the row sits in its file (see [`RowError::line`]); 0 when it
    /// does not come from a file.
    #[serde(skip)]
    pub line: usize,
    pub instruction: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub input: String,
    pub output_a: String,
    pub output_b: String,
}

/// One prompt of a rankings dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankRow {
    /// As [`PairRow::line`].
    #[serde(skip)]
    pub line: usize,
    pub instruction: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub input: String,
    pub candidates: Vec<String>,
}

/// A row that cannot be scored, and where it is: the line of a JSONL or CSV
/// file (1-based, where the record starts), or the item of an AlpacaEval file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub line: usize,
    pub error: String,
}

/// The layouts [`parse`] recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    PairsJsonl,
    PairsCsv,
    RankingsJsonl,
    AlpacaEval,
}

impl Format {
    /// Human name for the page ("pairs (JSONL)").
    pub fn describe(self) -> &'static str {
        match self {
            Format::PairsJsonl => "pairs (JSONL)",
            Format::PairsCsv => "pairs (CSV)",
            Format::RankingsJsonl => "rankings (JSONL)",
            Format::AlpacaEval => "pairs (two AlpacaEval files)",
        }
    }
}

/// A parsed file: every row in file order, good or not.
#[derive(Debug, Clone, PartialEq)]
pub enum Rows {
    Pairs(Vec<std::result::Result<PairRow, RowError>>),
    Rankings(Vec<std::result::Result<RankRow, RowError>>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub format: Format,
    pub rows: Rows,
}

impl Dataset {
    pub fn len(&self) -> usize {
        match &self.rows {
            Rows::Pairs(r) => r.len(),
            Rows::Rankings(r) => r.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bad rows, in file order.
    pub fn errors(&self) -> Vec<RowError> {
        fn errs<T>(rows: &[std::result::Result<T, RowError>]) -> Vec<RowError> {
            rows.iter()
                .filter_map(|r| r.as_ref().err().cloned())
                .collect()
        }
        match &self.rows {
            Rows::Pairs(r) => errs(r),
            Rows::Rankings(r) => errs(r),
        }
    }
}

pub(super) fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// Parse one dataset file (pairs JSONL or CSV, rankings JSONL). An AlpacaEval
/// file alone is refused with a hint: it needs its partner
/// ([`super::join_alpaca_eval`]).
pub fn parse(text: &str) -> Result<Dataset> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match text.trim_start().chars().next() {
        None => Err(Error::input("the file is empty".into())),
        Some('[') => Err(Error::input(
            "this is a JSON array (an AlpacaEval output file?): give the outputs of both models, \
             one file each"
                .into(),
        )),
        Some('{') => parse_jsonl(text),
        Some(_) => parse_csv(text),
    }
}

fn parse_jsonl(text: &str) -> Result<Dataset> {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(k, l)| (k + 1, l))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    // The first line that is an object with a telling key decides the format.
    let rankings = lines
        .iter()
        .find_map(|(_, l)| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            let o = v.as_object()?;
            if o.contains_key("candidates") {
                Some(true)
            } else if o.contains_key("output_a") || o.contains_key("output_b") {
                Some(false)
            } else {
                None
            }
        })
        .ok_or_else(|| {
            Error::input(
                "no line has \"output_a\"/\"output_b\" (pairs) or \"candidates\" (rankings)".into(),
            )
        })?;
    fn row<T: for<'de> Deserialize<'de> + Numbered>(
        line: usize,
        l: &str,
    ) -> std::result::Result<T, RowError> {
        let mut row: T = serde_json::from_str(l).map_err(|e| RowError {
            line,
            error: format!("line {line}: {}", strip_position(&e.to_string())),
        })?;
        row.set_line(line);
        Ok(row)
    }
    Ok(if rankings {
        Dataset {
            format: Format::RankingsJsonl,
            rows: Rows::Rankings(
                lines
                    .iter()
                    .map(|&(n, l)| row::<RankRow>(n, l).and_then(|r| check_rank_row(n, r)))
                    .collect(),
            ),
        }
    } else {
        Dataset {
            format: Format::PairsJsonl,
            rows: Rows::Pairs(lines.iter().map(|&(n, l)| row(n, l)).collect()),
        }
    })
}

trait Numbered {
    fn set_line(&mut self, line: usize);
}

impl Numbered for PairRow {
    fn set_line(&mut self, line: usize) {
        self.line = line;
    }
}

impl Numbered for RankRow {
    fn set_line(&mut self, line: usize) {
        self.line = line;
    }
}

/// serde_json ends messages with "at line 1 column 17": the line is ours.
fn strip_position(m: &str) -> &str {
    m.rsplit_once(" at line ").map_or(m, |(head, _)| head)
}

fn check_rank_row(line: usize, r: RankRow) -> std::result::Result<RankRow, RowError> {
    let n = r.candidates.len();
    if !(2..=crate::api::MAX_CANDIDATES).contains(&n) {
        return Err(RowError {
            line,
            error: format!(
                "line {line}: {n} candidates (a ranking needs 2 to {})",
                crate::api::MAX_CANDIDATES
            ),
        });
    }
    Ok(r)
}

fn parse_csv(text: &str) -> Result<Dataset> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| Error::input(format!("CSV header: {e}")))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(ins), Some(a), Some(b)) = (
        column("instruction"),
        column("output_a"),
        column("output_b"),
    ) else {
        return Err(Error::input(format!(
            "not a pairs file: a CSV header needs instruction, output_a and output_b (optional \
             input); the first line has {:?}",
            headers.iter().collect::<Vec<_>>()
        )));
    };
    let input = column("input");
    let mut rows = Vec::new();
    for record in reader.records() {
        rows.push(match record {
            Ok(r) => {
                let field = |k: usize| r.get(k).unwrap_or_default().to_string();
                Ok(PairRow {
                    line: r.position().map_or(0, |p| p.line() as usize),
                    instruction: field(ins),
                    input: input.map(field).unwrap_or_default(),
                    output_a: field(a),
                    output_b: field(b),
                })
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                Err(RowError {
                    line,
                    error: format!("line {line}: {}", csv_message(&e)),
                })
            }
        });
    }
    Ok(Dataset {
        format: Format::PairsCsv,
        rows: Rows::Pairs(rows),
    })
}

fn csv_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("{len} fields where the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "not UTF-8 text".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The rows of a pairs dataset (the alpaca tests use it too).
    pub(in crate::dataset) fn pairs(d: &Dataset) -> &[std::result::Result<PairRow, RowError>] {
        match &d.rows {
            Rows::Pairs(p) => p,
            Rows::Rankings(_) => panic!("not pairs"),
        }
    }

    #[test]
    fn jsonl_pairs_with_a_bad_row_named_by_its_line() {
        let text = "{\"instruction\":\"i\",\"output_a\":\"x\",\"output_b\":\"y\",\"id\":3}\n\n\
                    {\"instruction\":\"j\",\"output_a\":\"x\"}\n\
                    {\"instruction\":\"k\",\"input\":null,\"output_a\":\"<b>\",\"output_b\":\"\"}\n";
        let d = parse(text).unwrap();
        assert_eq!(d.format, Format::PairsJsonl);
        let rows = pairs(&d);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].as_ref().unwrap().output_b, "y");
        let e = rows[1].as_ref().unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(e.error, "line 3: missing field `output_b`");
        assert_eq!(rows[2].as_ref().unwrap().input, "");
        assert_eq!(rows[2].as_ref().unwrap().line, 4);
    }

    #[test]
    fn rankings_are_recognised_and_checked() {
        let d = parse("{\"instruction\":\"i\",\"candidates\":[\"a\",\"b\"]}\n{\"instruction\":\"i\",\"candidates\":[\"a\"]}").unwrap();
        assert_eq!(d.format, Format::RankingsJsonl);
        let errors = d.errors();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 2);
        assert!(errors[0].error.contains("1 candidates"), "{:?}", errors[0]);
    }

    #[test]
    fn csv_with_quoted_multiline_fields_and_a_short_record() {
        let text = "\u{feff}instruction,output_a,output_b,input\n\
                    \"Say \"\"hi\"\"\",\"line one\nline two\",b,\n\
                    only,two\n\
                    x,y,z,w\n";
        let d = parse(text).unwrap();
        assert_eq!(d.format, Format::PairsCsv);
        let rows = pairs(&d);
        assert_eq!(rows.len(), 3);
        let r = rows[0].as_ref().unwrap();
        assert_eq!(r.instruction, "Say \"hi\"");
        assert_eq!(r.output_a, "line one\nline two");
        assert_eq!((r.line, rows[2].as_ref().unwrap().line), (2, 5));
        let e = rows[1].as_ref().unwrap_err();
        assert_eq!(
            (e.line, e.error.as_str()),
            (4, "line 4: 2 fields where the header has 4")
        );
        assert_eq!(rows[2].as_ref().unwrap().input, "w");
        assert!(parse("a,b\n1,2\n")
            .unwrap_err()
            .to_string()
            .contains("output_a"));
    }

    #[test]
    fn empty_and_lone_alpaca_files_are_refused() {
        assert!(parse(" \n").unwrap_err().to_string().contains("empty"));
        assert!(parse("[{\"instruction\":\"i\",\"output\":\"o\"}]")
            .unwrap_err()
            .to_string()
            .contains("both models"));
        assert!(parse("{\"x\":1}").is_err());
    }
}
