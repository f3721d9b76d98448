//! The header row: which columns hold the account, the user and the email (their names are
//! matched loosely, as spreadsheets spell them), which are carried through to the results, and
//! which delimiter the file uses.

use crate::rules::header_cell_for_message;

use super::{InputError, InputOptions};

/// Header names accepted for each column, compared after [`normalize_header`].
pub const ACCOUNT_HEADERS: &[&str] = &["account_id", "AccountId", "account-id", "account"];
pub const USER_HEADERS: &[&str] = &["user_id", "UserId", "user-id", "user"];
pub const EMAIL_HEADERS: &[&str] = &["email", "primary_email", "PrimaryEmail", "user_email"];

/// Where our columns are in the header.
#[derive(Clone, Debug)]
pub(super) struct Columns {
    pub account: Option<usize>,
    pub user: Option<usize>,
    pub email: Option<usize>,
    /// Indexes of the carried columns, in order.
    pub carried: Vec<usize>,
}

/// Lowercase, without `_`, `-` and spaces: `Account ID`, `account-id` and `AccountId` match.
pub fn normalize_header(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

pub(super) fn find_columns(
    headers: &[String],
    header_line: u64,
    options: &InputOptions,
    file: &str,
) -> Result<Columns, InputError> {
    let find = |accepted: &[&str]| {
        let accepted: Vec<String> = accepted.iter().map(|name| normalize_header(name)).collect();
        headers
            .iter()
            .position(|header| accepted.contains(&normalize_header(header)))
    };
    let missing = |column, accepted: &[&'static str]| InputError::MissingColumn {
        file: file.to_string(),
        line: header_line,
        column,
        found: headers
            .iter()
            .map(|header| header_cell_for_message(header))
            .collect(),
        accepted: accepted.to_vec(),
    };
    let account = find(ACCOUNT_HEADERS);
    if account.is_none() && options.default_account.is_none() {
        let mut accepted = ACCOUNT_HEADERS.to_vec();
        accepted.push("(or --account-id ID)");
        return Err(missing("account", &accepted));
    }
    let user = find(USER_HEADERS);
    let email = find(EMAIL_HEADERS);
    if user.is_none() && email.is_none() {
        let mut accepted = USER_HEADERS.to_vec();
        accepted.extend(EMAIL_HEADERS);
        return Err(missing("user", &accepted));
    }
    let ours = [account, user, email];
    let carried = (0..headers.len())
        .filter(|index| !ours.contains(&Some(*index)))
        .collect();
    Ok(Columns {
        account,
        user,
        email,
        carried,
    })
}

/// The delimiter of a header line: the most frequent of `,` `;` and tab outside quotes.
pub fn detect_delimiter(header_line: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &byte in header_line {
        match byte {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let candidates = [b',', b';', b'\t'];
    let best = (0..3)
        .max_by_key(|&i| (counts[i], usize::from(i == 0)))
        .unwrap_or(0);
    candidates[best]
}

/// The delimiter an Excel `sep=X` line names, when `line` is one. Excel writes it as a CSV's
/// first line so that the file opens in columns in every locale (`sep=;` where `,` is the
/// decimal mark), and honours it on reading; it is not the header. Spreadsheets that quote
/// every cell write it as `"sep=;"`.
pub fn excel_separator(line: &[u8]) -> Option<u8> {
    // Only the line end is trimmed: the delimiter itself may be a tab.
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line
        .strip_prefix(b"\"")
        .and_then(|rest| rest.strip_suffix(b"\""))
        .unwrap_or(line);
    match line {
        [s, e, p, b'=', delimiter] if [*s, *e, *p].eq_ignore_ascii_case(b"sep") => {
            Some(*delimiter).filter(|d| d.is_ascii_punctuation() || *d == b'\t')
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excel_sep_line_names_its_delimiter() {
        assert_eq!(excel_separator(b"sep=;\r\n"), Some(b';'));
        assert_eq!(excel_separator(b"SEP=,\n"), Some(b','));
        assert_eq!(excel_separator(b"sep=\t\n"), Some(b'\t'));
        assert_eq!(excel_separator(b"\"sep=|\"\n"), Some(b'|'));
        assert_eq!(excel_separator(b"account_id;user_id\n"), None);
        assert_eq!(excel_separator(b"sep=ab\n"), None);
        assert_eq!(excel_separator(b"separator\n"), None);
    }

    #[test]
    fn headers_match_loosely() {
        for name in ["Account ID", "account-id", "AccountId", "ACCOUNT_ID"] {
            assert_eq!(
                normalize_header(name),
                normalize_header("account_id"),
                "{name}"
            );
        }
    }

    #[test]
    fn delimiter_is_detected_outside_quotes() {
        assert_eq!(detect_delimiter(b"a;b;c\r\n"), b';');
        assert_eq!(detect_delimiter(b"a\tb\n"), b'\t');
        assert_eq!(detect_delimiter(b"\"a;b\",c\n"), b',');
        assert_eq!(detect_delimiter(b"single\n"), b',');
    }
}
