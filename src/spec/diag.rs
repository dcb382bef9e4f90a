//! Lab-file diagnostics: a message tied to a byte span, rendered as `file:line:col: message`
//! (the form editors and `grep` know) followed by the line it points into, underlined, and its
//! help, as compilers show them; or tied to the file as a whole (`file: message`) when there is
//! no text to point into. The snippet is drawn by annotate-snippets (the renderer rustc and
//! cargo use): it knows wide characters, tabs and long lines, which a hand-drawn caret does not.

use std::fmt;
use std::ops::Range;

use annotate_snippets::{Level, Renderer, Snippet};

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// 1-based line and column (in characters); `None` for a problem with the file as a whole
    /// (it cannot be read, is not a regular file, is too big), where a position would be a lie.
    pub at: Option<(usize, usize)>,
    pub message: String,
    pub help: Option<String>,
    /// The line the problem is on, to show under the message; `None` when there is no text.
    pub source: Option<SourceLine>,
}

/// One line of the lab file and the part of it a diagnostic points at.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceLine {
    /// The line, without its line break.
    pub text: String,
    /// Byte range within `text`; empty for a point (drawn as one caret).
    pub span: Range<usize>,
}

impl SourceLine {
    /// The line of `text` that byte `span.start` is on, with `span` cut to that line.
    pub fn of(text: &str, span: &Range<usize>) -> SourceLine {
        let mut start = span.start.min(text.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line = text[line_start..line_end].trim_end_matches('\r');
        let mut end = span.end.clamp(start, line_start + line.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        SourceLine {
            text: line.to_string(),
            span: start - line_start..end.max(start) - line_start,
        }
    }
}

impl Diagnostic {
    /// A problem at `line`:`col`.
    pub fn at(line: usize, col: usize, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            at: Some((line, col)),
            message: message.into(),
            help: None,
            source: None,
        }
    }

    /// A problem at byte `span` of `text`, shown with its line.
    pub fn in_text(text: &str, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            at: Some(line_col(text, span.start)),
            message: message.into(),
            help: None,
            source: Some(SourceLine::of(text, &span)),
        }
    }

    /// A problem with the file as a whole, shown without a position.
    pub fn whole_file(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            at: None,
            message: message.into(),
            help: None,
            source: None,
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
            match (&d.source, d.at) {
                (Some(source), Some((line, _))) => {
                    write!(f, "\n{}", snippet(source, line, d.help.as_deref()))?
                }
                _ => {
                    if let Some(help) = &d.help {
                        write!(f, "\n  help: {help}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// `source` as line `line`, underlined, with `help` under it, in colour when stdout has it.
fn snippet(source: &SourceLine, line: usize, help: Option<&str>) -> String {
    // The message, with its position, is already on the line above, in the `file:line:col:`
    // form; annotate-snippets always starts with a title line ("error: ..."), so the title is
    // left empty and its line dropped.
    let mut message = Level::Error.title("").snippet(
        Snippet::source(&source.text)
            .line_start(line)
            .annotation(Level::Error.span(source.span.clone())),
    );
    if let Some(help) = help {
        message = message.footer(Level::Help.title(help));
    }
    let renderer = if crate::table::colour() {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let drawn = renderer.render(message).to_string();
    match drawn.split_once('\n') {
        Some((_, rest)) => rest.to_string(),
        None => drawn,
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
            source: Some(SourceLine::of(self.text, &span)),
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
                source: None,
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
    fn a_positioned_problem_shows_its_line_underlined_and_its_help() {
        let text = "[lab]\nname = \"x\"\ndriver = overlay\n";
        let mut r = Reporter::new(text);
        r.error_help(26..33, "string values must be quoted", "write \"overlay\"");
        let e = SpecError {
            file: "labs/x.toml".into(),
            diagnostics: r.finish(),
        };
        assert_eq!(
            e.to_string(),
            "labs/x.toml:3:10: string values must be quoted\n  \
             |\n\
             3 | driver = overlay\n  \
             |          ^^^^^^^\n  \
             |\n  \
             = help: write \"overlay\""
        );
    }

    #[test]
    fn a_source_line_is_cut_to_its_line_and_to_char_boundaries() {
        let text = "a = 1\r\nnamé = \"long\nvalue\"\n";
        // A span running past the line ends at its end (without the \r of a CRLF file).
        let s = SourceLine::of(text, &(0..12));
        assert_eq!((s.text.as_str(), s.span), ("a = 1", 0..5));
        // A span starting inside a multi-byte character starts at the character.
        let s = SourceLine::of(text, &(11..13));
        assert_eq!((s.text.as_str(), s.span), ("namé = \"long", 3..6));
        // An empty span at the end of the text: the last, empty line.
        let s = SourceLine::of(text, &(text.len()..text.len()));
        assert_eq!((s.text.as_str(), s.span), ("", 0..0));
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
