//! Small pure rules that the tool and its simulator share: the shape of a Chime ID and of a
//! PIN, and the written form of a time. Nothing here knows about rows, requests or the command
//! line, so both sides may import it without pointing an arrow the wrong way.

use aws_smithy_types::date_time::{DateTime, Format};

/// `8-4-4-4-12` hexadecimal digits, as Chime account and user IDs are.
pub fn is_guid(id: &str) -> bool {
    let bytes = id.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Ten digits: the form of the PINs Chime returns (the simulator's, and the AWS CLI's example).
pub fn is_chime_pin(pin: &str) -> bool {
    pin.len() == 10 && pin.bytes().all(|byte| byte.is_ascii_digit())
}

/// A cell of what should be a header row, as a message may show it. A header never holds a
/// number, but a data row taken for a header (a results file split without its header, say)
/// does, and one of them may be a PIN: numbers are shown as `<number>`, never as themselves.
pub fn header_cell_for_message(cell: &str) -> String {
    let digits = cell.trim();
    if !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit()) {
        "<number>".to_string()
    } else {
        cell.to_string()
    }
}

/// `2026-11-28T12:00:00.123Z`: RFC 3339 in UTC with exactly three decimals, the form Chime
/// sends its timestamps in. Built on the SDK's own formatter, which drops trailing zeros.
pub fn rfc3339_millis(time: impl Into<DateTime>) -> String {
    let time = time.into();
    let seconds = DateTime::from_secs(time.secs())
        .fmt(Format::DateTime)
        .unwrap_or_default();
    let millis = time.subsec_nanos() / 1_000_000;
    match seconds.strip_suffix('Z') {
        Some(seconds) => format!("{seconds}.{millis:03}Z"),
        None => seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_checked() {
        assert!(is_guid("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"));
        assert!(is_guid("12345678-90ab-cdef-ABCD-1234567890ab"));
        assert!(!is_guid("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeee"));
        assert!(!is_guid("aaaaaaaa_bbbb-cccc-dddd-eeeeeeeeeeee"));
        assert!(!is_guid("g2345678-90ab-cdef-ABCD-1234567890ab"));
    }

    #[test]
    fn numbers_in_a_header_are_never_shown() {
        assert_eq!(header_cell_for_message("0950488236"), "<number>");
        assert_eq!(header_cell_for_message("account_id"), "account_id");
    }

    #[test]
    fn times_always_have_milliseconds() {
        assert_eq!(
            rfc3339_millis(DateTime::from_millis(0)),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339_millis(DateTime::from_millis(951_782_400_123)),
            "2000-02-29T00:00:00.123Z"
        );
        assert_eq!(
            rfc3339_millis(DateTime::from_millis(1_578_387_600_250)),
            "2020-01-07T09:00:00.250Z"
        );
    }
}
