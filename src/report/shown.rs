//! How a cell read from a results file is shown by `report`. The cells are anyone's text: an
//! input's, a service's, or a hand edit's. Shown on a terminal, nothing in them may act on it
//! (an escape sequence, a carriage return over the line before); in Markdown, nothing may add
//! a heading, a link or HTML, or leave its table row. Every cell `report` prints goes through
//! [`shown`], in the form of the output it reaches.

/// The output a cell is shown in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// A terminal, or a file a terminal may print: control characters escaped, as Rust
    /// writes them (`\x1b`, `\n`, `\t`), and `\` itself as `\\`, so the escapes are never
    /// confused with a cell's own text.
    Terminal,
    /// A Markdown document: the terminal form in a code span, where Markdown interprets
    /// nothing; the span's fence longer than any run of backticks in it, and `|` escaped so
    /// that a table cell never ends early (GitHub's table rule, which holds in code spans).
    Markdown,
}

/// `text` as it may be shown in `form`.
pub fn shown(text: &str, form: Form) -> String {
    match form {
        Form::Terminal => terminal(text),
        Form::Markdown => code_span(&terminal(text).replace('|', "\\|")),
    }
}

/// Control characters, `\`, and the characters that reorder a line's text (a right-to-left
/// override could make a cell read as another) escaped.
fn terminal(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => shown.push_str("\\\\"),
            '\n' => shown.push_str("\\n"),
            '\r' => shown.push_str("\\r"),
            '\t' => shown.push_str("\\t"),
            c if c.is_control() && u32::from(c) < 0x100 => {
                shown.push_str(&format!("\\x{:02x}", u32::from(c)))
            }
            c if c.is_control() || reorders(c) => {
                shown.push_str(&format!("\\u{{{:x}}}", u32::from(c)))
            }
            c => shown.push(c),
        }
    }
    shown
}

/// The Unicode bidirectional marks, embeddings, overrides and isolates.
fn reorders(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` (one line) as a CommonMark code span; an empty text stays empty, since two
/// backticks alone are not a span.
fn code_span(text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    let longest_run = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    // A span strips one space from each end when both have one, and a backtick at an end
    // would join the fence: a space on each side keeps the text as it is.
    let padded = text.starts_with('`')
        || text.ends_with('`')
        || (text.starts_with(' ') && text.ends_with(' ') && !text.trim().is_empty());
    let pad = if padded { " " } else { "" };
    format!("{fence}{pad}{text}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_sees_no_control_character() {
        let shown = shown("a\u{1b}[31m\nb\tc\\d\u{9b}e\u{202e}f", Form::Terminal);
        assert_eq!(shown, "a\\x1b[31m\\nb\\tc\\\\d\\x9be\\u{202e}f");
        assert!(!shown.chars().any(char::is_control));
    }

    #[test]
    fn markdown_keeps_a_cell_in_one_code_span_of_its_row() {
        assert_eq!(shown("acct", Form::Markdown), "`acct`");
        assert_eq!(shown("", Form::Markdown), "");
        assert_eq!(shown("a`b", Form::Markdown), "``a`b``");
        assert_eq!(shown("`x``", Form::Markdown), "``` `x`` ```");
        assert_eq!(shown("a|b\nc", Form::Markdown), "`a\\|b\\nc`");
        // A backslash before a pipe: the pair stays escaped, the pipe too.
        assert_eq!(shown("a\\|b", Form::Markdown), "`a\\\\\\|b`");
    }
}
