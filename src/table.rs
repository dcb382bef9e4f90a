//! How netlab lays out text for a person: tables in netlab's preset, fitted to the terminal and
//! coloured through comfy-table's own cell styling (never escape codes inside cell text, which
//! comfy-table would count as width), and counted nouns ("1 namespace", "2 namespaces").
//! Whether colour is on is decided once, by `colored` (the terminal, NO_COLOR, CLICOLOR_FORCE,
//! and `--color`, which sets colored's override): tables follow the same decision.

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

/// Is colour on for stdout? (`--color`, NO_COLOR and the terminal, as `colored` decided.)
pub fn colour() -> bool {
    colored::control::SHOULD_COLORIZE.should_colorize()
}

/// The width of the terminal stdout is, if it is one.
pub fn terminal_width() -> Option<u16> {
    // A fresh comfy-table asks the terminal only when stdout is one.
    Table::new().width()
}

/// A table with netlab's preset and `header`, as wide as the terminal at most, with cell
/// styling (`Cell::fg`) on exactly when colour is on.
pub fn new(header: &[&str]) -> Table {
    with(header, colour(), terminal_width())
}

/// [`new`] with the decisions made by the caller (tests).
pub fn with(header: &[&str], styled: bool, width: Option<u16>) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    // force_no_tty also stops comfy-table asking the terminal for its width: set it here.
    if styled {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    if let Some(w) = width {
        t.set_width(w);
    }
    t.set_header(header.to_vec());
    t
}

/// "1 namespace", "3 namespaces": `n` and the noun, plural unless `n` is 1.
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// A line without its ANSI escape sequences (CSI: ESC [ ... final byte), as a terminal shows
/// it: for tests of styled output.
#[cfg(test)]
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if ('@'..='~').contains(&d) && d != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use comfy_table::{Cell, Color};

    /// Visible characters of a line, escape sequences removed.
    fn visible(line: &str) -> usize {
        strip_ansi(line).chars().count()
    }

    #[test]
    fn styled_cells_keep_columns_aligned() {
        let mut t = with(&["name", "state"], true, None);
        t.add_row(vec![Cell::new("a"), Cell::new("up").fg(Color::Green)]);
        t.add_row(vec![Cell::new("bbbbbb"), Cell::new("down").fg(Color::Red)]);
        let s = t.to_string();
        assert!(s.contains('\x1b'), "styling is on: {s:?}");
        let widths: Vec<usize> = s.lines().map(visible).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{s}\n{widths:?}");
    }

    #[test]
    fn unstyled_tables_have_no_escapes_and_fit_the_width() {
        let mut t = with(&["name", "what"], false, Some(30));
        t.add_row(vec![
            Cell::new("a").fg(Color::Green),
            Cell::new("a long sentence that cannot fit in thirty columns at all"),
        ]);
        let s = t.to_string();
        assert!(!s.contains('\x1b'), "{s:?}");
        assert!(s.lines().all(|l| l.chars().count() <= 30), "{s}");
    }

    #[test]
    fn counts_say_one_or_many() {
        assert_eq!(count(1, "network", "networks"), "1 network");
        assert_eq!(count(0, "network", "networks"), "0 networks");
        assert_eq!(count(2, "namespace", "namespaces"), "2 namespaces");
    }
}
