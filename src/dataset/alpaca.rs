//! Pairs from two AlpacaEval output files: JSON arrays of `{"instruction",
//! "input"?, "output", "generator"}`, one per model, joined by instruction and
//! input. The k-th occurrence of an instruction in one file meets the k-th in
//! the other; every item left without a partner becomes an error row, never
//! dropped silently.

use serde::Deserialize;

use super::formats::{null_as_empty, Dataset, Format, PairRow, RowError, Rows};
use crate::error::{Error, Result};

/// One item of an AlpacaEval output file.
#[derive(Debug, Deserialize)]
struct AlpacaItem {
    instruction: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    input: String,
    output: String,
    #[serde(default)]
    generator: Option<String>,
}

/// Pairs from two AlpacaEval output files: A's outputs against B's, in A's
/// order; items of either file without a partner become error rows (A's at
/// their place, B's at the end). Also returns the two generator names when the
/// files give them.
pub fn join_alpaca_eval(a: &str, b: &str) -> Result<(Dataset, [Option<String>; 2])> {
    let read = |text: &str, side: &str| -> Result<Vec<std::result::Result<AlpacaItem, String>>> {
        let items: Vec<serde_json::Value> =
            serde_json::from_str(text.trim_start_matches('\u{feff}'))
                .map_err(|e| Error::input(format!("{side}: not a JSON array of outputs: {e}")))?;
        Ok(items
            .into_iter()
            .map(|v| serde_json::from_value::<AlpacaItem>(v).map_err(|e| e.to_string()))
            .collect())
    };
    let (items_a, items_b) = (read(a, "file A")?, read(b, "file B")?);
    let key = |i: &AlpacaItem| (i.instruction.clone(), i.input.clone());
    let mut unused_b: std::collections::HashMap<
        (String, String),
        std::collections::VecDeque<usize>,
    > = Default::default();
    for (k, item) in items_b.iter().enumerate() {
        if let Ok(item) = item {
            unused_b.entry(key(item)).or_default().push_back(k);
        }
    }
    let mut matched_b = vec![false; items_b.len()];
    let mut rows = Vec::with_capacity(items_a.len());
    for (k, item) in items_a.iter().enumerate() {
        let line = k + 1;
        rows.push(match item {
            Err(e) => Err(RowError {
                line,
                error: format!("file A item {line}: {e}"),
            }),
            Ok(item) => match unused_b.get_mut(&key(item)).and_then(|q| q.pop_front()) {
                Some(kb) => {
                    matched_b[kb] = true;
                    let Ok(other) = &items_b[kb] else {
                        unreachable!("only good items are keyed")
                    };
                    Ok(PairRow {
                        line,
                        instruction: item.instruction.clone(),
                        input: item.input.clone(),
                        output_a: item.output.clone(),
                        output_b: other.output.clone(),
                    })
                }
                None => Err(RowError {
                    line,
                    error: format!(
                        "file A item {line}: no output in file B for the instruction {:?}",
                        preview(&item.instruction)
                    ),
                }),
            },
        });
    }
    for (k, item) in items_b.iter().enumerate() {
        let line = k + 1;
        match item {
            Err(e) => rows.push(Err(RowError {
                line,
                error: format!("file B item {line}: {e}"),
            })),
            Ok(item) if !matched_b[k] => rows.push(Err(RowError {
                line,
                error: format!(
                    "file B item {line}: no output in file A for the instruction {:?}",
                    preview(&item.instruction)
                ),
            })),
            Ok(_) => {}
        }
    }
    let generator = |items: &[std::result::Result<AlpacaItem, String>]| {
        items
            .iter()
            .find_map(|i| i.as_ref().ok()?.generator.clone())
    };
    Ok((
        Dataset {
            format: Format::AlpacaEval,
            rows: Rows::Pairs(rows),
        },
        [generator(&items_a), generator(&items_b)],
    ))
}

/// The first 60 characters of a text, for a message.
fn preview(text: &str) -> String {
    let mut p: String = text.chars().take(60).collect();
    if p.len() < text.len() {
        p.push('…');
    }
    p
}

#[cfg(test)]
mod tests {
    use super::super::formats::tests::pairs;
    use super::*;

    #[test]
    fn alpaca_eval_files_join_by_instruction_and_report_the_rest() {
        let a = r#"[{"instruction":"q1","output":"a1","generator":"A"},
                    {"instruction":"q2","output":"a2"},
                    {"instruction":"q1","output":"a1bis"},
                    {"instruction":"only in a","output":"x"},
                    {"output":"no instruction"}]"#;
        let b = r#"[{"instruction":"q2","output":"b2","generator":"B"},
                    {"instruction":"q1","output":"b1"},
                    {"instruction":"only in b","output":"y"},
                    {"instruction":"q1","output":"b1bis"}]"#;
        let (d, generators) = join_alpaca_eval(a, b).unwrap();
        assert_eq!(generators, [Some("A".into()), Some("B".into())]);
        let rows = pairs(&d);
        let ok: Vec<(&str, &str)> = rows
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|r| (r.output_a.as_str(), r.output_b.as_str()))
            .collect();
        assert_eq!(ok, [("a1", "b1"), ("a2", "b2"), ("a1bis", "b1bis")]);
        let errors: Vec<String> = d.errors().into_iter().map(|e| e.error).collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("file A item 4: no output in file B"));
        assert!(errors[1].starts_with("file A item 5: missing field `instruction`"));
        assert!(errors[2].starts_with("file B item 3: no output in file A"));
    }
}
