//! Lab-file diagnostics: a message tied to a byte span, rendered as `file:line:col`, or to the
//! file as a whole (`file: message`) when there is no text to point into.

use std::fmt;
use std::ops::Range;

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// 1-based line and column (in characters); `None` for a problem with the file as a whole
    /// (it cannot be read, is not a regular file, is too big), where a position would be a lie.
    pub at: Option<(usize, usize)>,
    pub message: String,
    pub help: Option<String>,
}

impl Diagnostic {
    /// A problem at `line`:`col`.
    pub fn at(line: usize, col: usize, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            at: Some((line, col)),
            message: message.into(),
            help: None,
        }
    }

    /// A problem with the file as a whole, shown without a position.
    pub fn whole_file(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            at: None,
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(self, help: impl Into<String>) -> Diagnostic {
        Diagnostic {
            help: Some(help.into()),
            ..self
        }
    }
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
            match d.at {
                Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.file, d.message)?,
                None => write!(f, "{}: {}", self.file, d.message)?,
            }
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

    /// A problem with optional help, as found by someone else (the TOML reader).
    pub fn report(&mut self, span: Range<usize>, message: String, help: Option<String>) {
        self.push(span, message, help);
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
            at: Some((line, col)),
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

    /// The diagnostics in file order (validation finds them section by section), with a last
    /// one saying how many were left out.
    pub fn finish(mut self) -> Vec<Diagnostic> {
        self.diagnostics.sort_by_key(|d| d.at);
        if self.suppressed > 0 {
            let last = self
                .diagnostics
                .last()
                .and_then(|d| d.at)
                .map_or(1, |a| a.0);
            self.diagnostics.push(Diagnostic {
                at: Some((last, 1)),
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
    fn a_whole_file_problem_has_no_position() {
        let e = SpecError {
            file: "labs/x.toml".into(),
            diagnostics: vec![
                Diagnostic::whole_file("is a FIFO, not a lab file").with_help("give a file"),
                Diagnostic::at(3, 7, "boom"),
            ],
        };
        assert_eq!(
            e.to_string(),
            "labs/x.toml: is a FIFO, not a lab file\n  help: give a file\nlabs/x.toml:3:7: boom"
        );
    }

    #[test]
    fn reporter_gives_diagnostics_in_file_order() {
        let mut r = Reporter::new("a\nb\nc\n");
        r.error(4..5, "third line");
        r.error(0..1, "first line");
        r.error(2..3, "second line");
        let got: Vec<_> = r.finish().into_iter().map(|d| d.message).collect();
        assert_eq!(got, ["first line", "second line", "third line"]);
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
