//! Conversations for `compare_conversations`: the reference's layout of two
//! multi-turn conversations as one PairRM input (the USER turns) and two
//! candidates (the ASSISTANT turns).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::tokenize::text_head;

/// Instruction of `compare_conversations` (the reference's text, typo included).
pub const CONVERSATION_INSTRUCTION: &str =
    "Finish the following coversation in each i-th turn by filling in <Response i> with your response.";

/// A conversation turn for `compare_conversations`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// The reference's conversation layout: (input, candidate A, candidate B).
/// Roles are matched case-insensitively.
///
/// Each turn is cut at [`text_head`]: the tokenizer never reads further, and
/// what follows a cut turn lies past that point too.
pub fn conversation_texts(a: &[Message], b: &[Message]) -> Result<(String, String, String)> {
    for (name, conv) in [("a", a), ("b", b)] {
        if conv.is_empty() || conv.len() % 2 != 0 {
            return Err(Error::input(format!(
                "conversation {name} must have an even, non-zero number of turns (got {})",
                conv.len()
            )));
        }
        for (k, m) in conv.iter().enumerate() {
            let want = if k % 2 == 0 { "USER" } else { "ASSISTANT" };
            if !m.role.eq_ignore_ascii_case(want) {
                return Err(Error::input(format!(
                    "conversation {name}: turn {} must be {want}, got {:?}",
                    k + 1,
                    m.role
                )));
            }
        }
    }
    if a.len() != b.len() {
        return Err(Error::input(format!(
            "the conversations have {} and {} turns",
            a.len(),
            b.len()
        )));
    }
    if let Some(k) = (0..a.len())
        .step_by(2)
        .find(|&k| a[k].content != b[k].content)
    {
        return Err(Error::input(format!(
            "USER turn {} differs between the conversations",
            k + 1
        )));
    }
    let input = (0..a.len())
        .step_by(2)
        .map(|k| {
            format!(
                "USER: {}\nAssistant: <Response {}>",
                text_head(&a[k].content),
                k / 2 + 1
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let answers = |c: &[Message]| {
        (1..c.len())
            .step_by(2)
            .map(|k| format!("<Response {}>: {}", k / 2 + 1, text_head(&c[k].content)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    Ok((input, answers(a), answers(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(role: &str, content: &str) -> Message {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }

    #[test]
    fn conversation_layout_matches_the_reference() {
        let a = [
            msg("USER", "hi"),
            msg("ASSISTANT", "hello"),
            msg("USER", "more"),
            msg("ASSISTANT", "sure"),
        ];
        let b = [
            msg("USER", "hi"),
            msg("ASSISTANT", "yo"),
            msg("USER", "more"),
            msg("ASSISTANT", "no"),
        ];
        let (input, ca, cb) = conversation_texts(&a, &b).unwrap();
        assert_eq!(
            input,
            "USER: hi\nAssistant: <Response 1>\nUSER: more\nAssistant: <Response 2>"
        );
        assert_eq!(ca, "<Response 1>: hello\n<Response 2>: sure");
        assert_eq!(cb, "<Response 1>: yo\n<Response 2>: no");
    }

    #[test]
    fn bad_conversations_are_rejected() {
        let ok = [msg("USER", "hi"), msg("ASSISTANT", "x")];
        assert!(conversation_texts(&ok[..1], &ok[..1]).is_err());
        assert!(conversation_texts(&[msg("ASSISTANT", "x"), msg("USER", "y")], &ok).is_err());
        assert!(conversation_texts(&ok, &[msg("USER", "other"), msg("ASSISTANT", "x")]).is_err());
        assert!(conversation_texts(&[], &[]).is_err());
    }
}
