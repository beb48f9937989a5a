//! Ticket numbers: the public, digits-only id of a case.
//!
//! A ticket is the local day as `YYYYMMDD` followed by that day's sequence number,
//! zero-padded to five digits: `2026112100001` is the first case of 21 November 2026.
//! A caller must be able to key it in on a phone keypad, so it is digits only. Past
//! 99 999 cases in a day the sequence simply grows a digit (`20261121100000`).

use chrono::{Datelike, NaiveDate};

/// Digits of the day part (`YYYYMMDD`).
const DAY_DIGITS: usize = 8;
/// Minimum digits of the sequence part (zero-padded).
const SEQ_DIGITS: usize = 5;

/// Formats the ticket for `day` (the hotline's local date) and daily sequence `seq` (from 1).
///
/// Days are expected in years 1000–9999, where the day part is exactly eight digits.
pub fn format(day: NaiveDate, seq: u32) -> String {
    format!(
        "{:04}{:02}{:02}{:0width$}",
        day.year(),
        day.month(),
        day.day(),
        seq,
        width = SEQ_DIGITS
    )
}

/// The `YYYYMMDD` key of `day`, as stored in `ticket_sequences.day`.
pub fn day_key(day: NaiveDate) -> String {
    day.format("%Y%m%d").to_string()
}

/// Parses a ticket back into its day and sequence.
///
/// Returns `None` for anything [`format()`] would not produce: non-digits, a short string,
/// an impossible date, sequence 0, or a sequence with extra leading zeros.
pub fn parse(s: &str) -> Option<(NaiveDate, u32)> {
    if s.len() < DAY_DIGITS + SEQ_DIGITS || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = s[0..4].parse().ok()?;
    let month: u32 = s[4..6].parse().ok()?;
    let dom: u32 = s[6..8].parse().ok()?;
    let day = NaiveDate::from_ymd_opt(year, month, dom)?;
    let seq_text = &s[DAY_DIGITS..];
    let seq: u32 = seq_text.parse().ok()?;
    // Canonical form only: exactly five digits, or more only when the number needs them.
    if seq == 0 || (seq_text.len() > SEQ_DIGITS && seq_text.starts_with('0')) {
        return None;
    }
    Some((day, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, dd: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, dd).unwrap()
    }

    #[test]
    fn formats_day_and_padded_sequence() {
        assert_eq!(format(d(2026, 11, 21), 1), "2026112100001");
        assert_eq!(format(d(2026, 1, 2), 12345), "2026010212345");
        assert_eq!(format(d(2026, 1, 2), 99_999), "2026010299999");
    }

    #[test]
    fn widens_past_99999() {
        assert_eq!(format(d(2026, 11, 21), 100_000), "20261121100000");
        assert_eq!(parse("20261121100000"), Some((d(2026, 11, 21), 100_000)));
    }

    #[test]
    fn parse_round_trips() {
        for seq in [1, 42, 99_999, 100_000, 1_234_567, u32::MAX] {
            let t = format(d(2027, 2, 28), seq);
            assert_eq!(parse(&t), Some((d(2027, 2, 28), seq)), "{t}");
        }
    }

    #[test]
    fn day_key_is_eight_digits() {
        assert_eq!(day_key(d(2026, 3, 4)), "20260304");
    }

    #[test]
    fn parse_rejects_non_tickets() {
        for bad in [
            "",
            "abc",
            "2026112100001x",
            "20261121-0001",
            " 2026112100001",
            "+026112100001",
            "202611210001",               // too short
            "2026113100001",              // 31 November
            "2026130100001",              // month 13
            "2026112100000",              // sequence 0
            "20261121000001",             // extra leading zero
            "2026112199999999999",        // sequence overflows u32
            "２０２６１１２１００００１", // full-width digits
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
