//! Numbers in words for people: grouped by thousands and with the noun in the right number,
//! so that the plan, the summaries and `validate` all say `1 row` and `4,980 rows` alike.

/// `4980` as `4,980`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// `n` and its noun: `1 row`, `0 rows`, `4,980 rows`.
pub fn counted(n: u64, one: &str, many: &str) -> String {
    let noun = if n == 1 { one } else { many };
    format!("{} {noun}", thousands(n))
}

/// The rows of a workbook skipped because it hides them: `1 hidden row skipped`.
pub fn hidden_rows_skipped(n: u64) -> String {
    format!("{} skipped", counted(n, "hidden row", "hidden rows"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(4_980), "4,980");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(counted(1, "row", "rows"), "1 row");
        assert_eq!(counted(0, "row", "rows"), "0 rows");
        assert_eq!(counted(20_000, "retry", "retries"), "20,000 retries");
        assert_eq!(hidden_rows_skipped(1), "1 hidden row skipped");
        assert_eq!(hidden_rows_skipped(2), "2 hidden rows skipped");
    }
}
