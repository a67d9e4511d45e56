//! Cedar's complaints about a document, each at its place in the text (1-based line and
//! column, columns counted in characters), for an editor that shows them beside the line.

use std::fmt::Write as _;

use serde::Serialize;

/// One problem in a document; `line`/`column` are absent when Cedar gives no place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

/// Why a document was refused: the whole message (what the admin API answers, as before
/// diagnostics existed) and one [`Diagnostic`] per problem Cedar reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DocumentErrors {
    pub message: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl DocumentErrors {
    /// A refusal about the document as a whole (no place in it).
    pub fn whole(message: impl Into<String>) -> Self {
        let message = message.into();
        Self { diagnostics: vec![Diagnostic { line: None, column: None, message: message.clone() }], message }
    }

    /// `message` for the API, and one diagnostic per error of `errors`, placed in `text` by
    /// the first label Cedar attached to it.
    pub(super) fn located<'a>(
        text: &str,
        message: String,
        errors: impl IntoIterator<Item = &'a dyn miette::Diagnostic>,
    ) -> Self {
        let diagnostics = errors
            .into_iter()
            .map(|e| {
                let offset = e.labels().and_then(|mut labels| labels.next()).map(|l| l.offset());
                let (line, column) = match offset {
                    Some(o) => {
                        let (l, c) = position(text, o);
                        (Some(l), Some(c))
                    }
                    None => (None, None),
                };
                let mut message = render(e);
                if let Some(help) = e.help() {
                    let _ = write!(message, " (help: {help})");
                }
                Diagnostic { line, column, message }
            })
            .collect();
        Self { message, diagnostics }
    }
}

/// An error with its causes, on one line.
pub(super) fn render(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let _ = write!(out, ": {s}");
        source = s.source();
    }
    out
}

/// The 1-based line and column (in characters) of byte `offset` of `text`; an offset past the
/// end (or inside a character) is placed at the nearest character boundary before it.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::position;

    #[test]
    fn positions_are_one_based_in_characters() {
        let text = "ab\ncé d\n";
        assert_eq!(position(text, 0), (1, 1));
        assert_eq!(position(text, 3), (2, 1));
        assert_eq!(position(text, 6), (2, 3), "é is one character");
        assert_eq!(position(text, 5), (2, 2), "inside é: its start");
        assert_eq!(position(text, 99), (3, 1));
    }
}
