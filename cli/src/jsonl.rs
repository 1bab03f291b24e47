//! The JSONL loop: one answer per input line, in order. A line that cannot be
//! answered (invalid UTF-8, blank, malformed, or refused by the model) gets
//! `{"error", "line"}` in its place so output stays 1:1 with input, and the
//! run goes on.

use std::io::{BufRead, Write};

use pairrm_web::Error;
use serde_json::{json, Value};

/// How a run over the input ended.
pub enum Outcome {
    /// Every line was read; this many got an error line.
    Done { failed: usize },
    /// Reading stdin or writing stdout failed (a closed pipe): stop.
    Broken(String),
}

/// The longest input line answered (the text of a request plus its JSON):
/// a longer one gets an error line without being held in memory, and the
/// run goes on. Texts are read only as far as the model can use them
/// (`PairRmTokenizer::encode_prefix`), so this bounds memory, not results.
pub const MAX_LINE_BYTES: usize = 256 << 20;

/// Answers each line of `input` with `answer(text, line_number)`.
pub fn run(
    input: impl BufRead,
    output: &mut impl Write,
    answer: impl FnMut(&str, usize) -> Result<Value, Error>,
) -> Outcome {
    run_with_limit(input, output, MAX_LINE_BYTES, answer)
}

/// [`run`] with another line limit.
pub fn run_with_limit(
    mut input: impl BufRead,
    output: &mut impl Write,
    max_line: usize,
    mut answer: impl FnMut(&str, usize) -> Result<Value, Error>,
) -> Outcome {
    let mut failed = 0;
    let mut line = Vec::new();
    for lineno in 1.. {
        let read = match read_line(&mut input, &mut line, max_line) {
            Ok(None) => break,
            Ok(Some(n)) => n,
            Err(e) => return Outcome::Broken(format!("line {lineno}: cannot read input: {e}")),
        };
        let bytes = line.strip_suffix(b"\r").unwrap_or(&line);
        let reply = if read > max_line {
            Err(Error::input(format!(
                "the line has {read} bytes, more than the {max_line} a line may have"
            )))
        } else {
            Ok(bytes)
        }
        .and_then(|bytes| {
            std::str::from_utf8(bytes).map_err(|e| {
                Error::input(format!(
                    "the line is not valid UTF-8 (byte {})",
                    e.valid_up_to() + 1
                ))
            })
        })
        .and_then(|text| {
            if text.trim().is_empty() {
                Err(Error::input("empty line (expected one JSON object)".into()))
            } else {
                answer(text, lineno)
            }
        })
        .unwrap_or_else(|e| {
            failed += 1;
            eprintln!("pairrm: line {lineno}: {}", for_terminal(&e.to_string()));
            json!({ "error": e.to_string(), "line": lineno })
        });
        if let Err(e) = writeln!(output, "{reply}").and_then(|_| output.flush()) {
            return Outcome::Broken(format!("cannot write output: {e}"));
        }
    }
    Outcome::Done { failed }
}

/// Reads the next line (without its `\n`) into `line`; returns its length,
/// or `None` at the end of the input. A line longer than `max` is read to its
/// end but not kept (`line` is left empty; the length says how long it was).
fn read_line(
    input: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<usize>> {
    line.clear();
    let mut total = 0usize;
    let mut any = false;
    loop {
        let buf = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(any.then_some(total));
        }
        any = true;
        let (piece, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], i + 1),
            None => (buf, buf.len()),
        };
        total += piece.len();
        if total <= max {
            line.extend_from_slice(piece);
        } else if !line.is_empty() {
            *line = Vec::new(); // let the memory go
        }
        let newline = done > piece.len();
        input.consume(done);
        if newline {
            return Ok(Some(total));
        }
    }
}

/// `text` safe to print on a terminal: control characters (escape sequences
/// start with one) and bidirectional overrides from the input are shown as
/// `\u{..}` escapes instead of being interpreted.
pub fn for_terminal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
        if (c.is_control() && c != '\n') || bidi {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(input: &[u8]) -> (Vec<Value>, usize) {
        let mut out = Vec::new();
        let outcome = run(input, &mut out, |text, _| {
            serde_json::from_str::<Value>(text).map_err(|e| Error::input(e.to_string()))
        });
        let Outcome::Done { failed } = outcome else {
            panic!("run broke")
        };
        let lines = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (lines, failed)
    }

    #[test]
    fn every_line_gets_an_answer_in_order() {
        let (out, failed) = answers(b"{\"a\":1}\n\xff\xfe{}\n\n   \r\n{\"b\":2}\r\nnot json\n");
        assert_eq!(out.len(), 6);
        assert_eq!(failed, 4);
        assert_eq!(out[0]["a"], 1);
        assert!(out[1]["error"].as_str().unwrap().contains("UTF-8"));
        assert_eq!(out[1]["line"], 2);
        assert!(out[2]["error"].as_str().unwrap().contains("empty line"));
        assert_eq!(out[3]["line"], 4);
        assert_eq!(out[4]["b"], 2);
        assert_eq!(out[5]["line"], 6);
    }

    #[test]
    fn a_line_over_the_limit_gets_an_error_and_the_rest_go_on() {
        let input = format!(
            "{{\"a\":1}}\n{{\"b\":\"{}\"}}\n{{\"c\":3}}",
            "x".repeat(100)
        );
        let mut out = Vec::new();
        // A reader that hands out a few bytes at a time, as a pipe may.
        let reader = std::io::BufReader::with_capacity(7, input.as_bytes());
        let outcome = run_with_limit(reader, &mut out, 50, |text, _| {
            serde_json::from_str::<Value>(text).map_err(|e| Error::input(e.to_string()))
        });
        assert!(matches!(outcome, Outcome::Done { failed: 1 }));
        let lines: Vec<Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["a"], 1);
        let err = lines[1]["error"].as_str().unwrap();
        assert!(err.contains("108 bytes") && err.contains("50"), "{err}");
        assert_eq!(lines[1]["line"], 2);
        assert_eq!(lines[2]["c"], 3);
    }

    #[test]
    fn terminal_text_has_no_control_sequences() {
        let s = for_terminal("a\u{1b}[31mred\u{7}\u{202e}b\nc");
        assert_eq!(s, "a\\u{1b}[31mred\\u{7}\\u{202e}b\nc");
    }
}
