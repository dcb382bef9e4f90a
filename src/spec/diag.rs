//! Lab-file diagnostics: a message tied to a byte span, rendered as `file:line:col`.

use std::fmt;
use std::ops::Range;

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub help: Option<String>,
}

/// Every problem found in a lab file. Validation reports all of them, not just the first.
#[derive(Debug, Clone)]
pub struct SpecError {
    pub file: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl std::error::Error for SpecError {}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: {}", self.file, d.line, d.col, d.message)?;
            if let Some(help) = &d.help {
                write!(f, "\n  help: {help}")?;
            }
        }
        Ok(())
    }
}

/// At most this many diagnostics are kept; the rest are counted and summarised, so a hostile
/// file with thousands of mistakes cannot make validation slow or flood the terminal.
pub const MAX_DIAGNOSTICS: usize = 50;

/// Collects diagnostics against one source text.
pub struct Reporter<'a> {
    text: &'a str,
    /// Byte offset where each line starts, for O(log n) line/column lookups.
    line_starts: Vec<usize>,
    pub diagnostics: Vec<Diagnostic>,
    suppressed: usize,
}

impl<'a> Reporter<'a> {
    pub fn new(text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Reporter {
            text,
            line_starts,
            diagnostics: Vec::new(),
            suppressed: 0,
        }
    }

    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.push(span, message.into(), None);
    }

    pub fn error_help(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.push(span, message.into(), Some(help.into()));
    }

    fn push(&mut self, span: Range<usize>, message: String, help: Option<String>) {
        if self.is_full() {
            self.suppressed += 1;
            return;
        }
        let (line, col) = self.line_col(span.start);
        self.diagnostics.push(Diagnostic {
            line,
            col,
            message,
            help,
        });
    }

    /// True once further diagnostics would only be counted: skip expensive help text then.
    pub fn is_full(&self) -> bool {
        self.diagnostics.len() >= MAX_DIAGNOSTICS
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        (line, self.text[start..offset].chars().count() + 1)
    }

    pub fn has_errors(&self) -> bool {
        !self.diagnostics.is_empty()
    }

    /// The diagnostics, with a last one saying how many were left out.
    pub fn finish(mut self) -> Vec<Diagnostic> {
        if self.suppressed > 0 {
            let last = self.diagnostics.last().map(|d| d.line).unwrap_or(1);
            self.diagnostics.push(Diagnostic {
                line: last,
                col: 1,
                message: format!(
                    "... and {} more problems not shown; fix the ones above first",
                    self.suppressed
                ),
                help: None,
            });
        }
        self.diagnostics
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = text[line_start..offset].chars().count() + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_and_in_chars() {
        let t = "ab\ncdé f\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 3), (2, 1));
        assert_eq!(line_col(t, 8), (2, 5));
        assert_eq!(line_col(t, 999), (3, 1));
    }

    #[test]
    fn reporter_line_col_matches_line_col() {
        let t = "ab\ncdé f\n\nx";
        let r = Reporter::new(t);
        for off in 0..=t.len() + 2 {
            assert_eq!(r.line_col(off), line_col(t, off), "offset {off}");
        }
    }

    #[test]
    fn reporter_caps_diagnostics() {
        let mut r = Reporter::new("a\nb\n");
        for _ in 0..MAX_DIAGNOSTICS + 7 {
            r.error(2..3, "x");
        }
        let d = r.finish();
        assert_eq!(d.len(), MAX_DIAGNOSTICS + 1);
        assert!(d.last().unwrap().message.contains("7 more problems"));
    }
}
