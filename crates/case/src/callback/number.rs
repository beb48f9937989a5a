//! Which numbers the hotline calls back: the caller's number as the trunk gave it is
//! normalised and checked before a task is made, so that a forged or odd caller ID (an
//! international premium number, `anonymous`, 40 digits, the hotline's own number, an
//! emergency line) is never dialled through the carrier at the city's cost.
//!
//! The rule, in order: strip spaces, dashes and brackets; `+86` / `0086` / `86` before a
//! mobile number is the country code and is dropped; anything else starting with `+` or
//! `00` is international and refused; what is left must be digits only, at most 15
//! (E.164), not one of the hotline's own numbers, match no denied pattern, and match an
//! allowed pattern (by default: mainland mobile numbers and fixed lines with or without the
//! area code). Patterns are regular expressions over the normalised digits, anchored.

use regex::Regex;
use std::fmt;

/// Mainland mobile (11 digits from 13–19), a fixed line with its area code (0 + 2–3 digits
/// + 7–8 digits), a local fixed line without it (7–8 digits, not starting with 0, 1 or 9).
pub const DEFAULT_ALLOWED: &[&str] = &[r"1[3-9]\d{9}", r"0[1-9]\d{8,10}", r"[2-8]\d{6,7}"];

/// Emergency and short service numbers (110, 119, 120, 122, 12315…) and the 95xxx
/// service numbers of companies: nobody there left a message.
pub const DEFAULT_DENIED: &[&str] = &[r"1\d{2,4}", r"95\d{3,6}"];

/// Why a number is not called back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberProblem {
    /// Nothing, or no digits (`anonymous`, `unknown`, `restricted`).
    NotANumber,
    /// Starts with `+` or `00` for another country.
    International,
    /// More than 15 digits.
    TooLong,
    /// One of the hotline's own numbers.
    OurOwn,
    /// Matches a denied pattern (emergency, short service or premium numbers).
    Denied,
    /// Matches no allowed pattern.
    NotAllowed,
}

impl fmt::Display for NumberProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NumberProblem::NotANumber => "no callable number (anonymous or not digits)",
            NumberProblem::International => "an international number",
            NumberProblem::TooLong => "longer than 15 digits",
            NumberProblem::OurOwn => "the hotline's own number",
            NumberProblem::Denied => "an emergency, short service or premium number",
            NumberProblem::NotAllowed => "not a local or mobile number of the city",
        })
    }
}

/// A pattern that is not a valid regular expression (config error, names the pattern).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("number pattern `{pattern}`: {reason}")]
pub struct BadPattern {
    pub pattern: String,
    pub reason: String,
}

/// The numbers the hotline may call back.
#[derive(Debug, Clone)]
pub struct NumberPolicy {
    allowed: Vec<Regex>,
    denied: Vec<Regex>,
    own: Vec<String>,
}

fn anchored(patterns: &[impl AsRef<str>]) -> Result<Vec<Regex>, BadPattern> {
    patterns
        .iter()
        .map(|p| {
            let p = p.as_ref();
            Regex::new(&format!("^(?:{p})$")).map_err(|e| BadPattern {
                pattern: p.to_owned(),
                reason: e.to_string(),
            })
        })
        .collect()
}

impl Default for NumberPolicy {
    fn default() -> Self {
        NumberPolicy::new(DEFAULT_ALLOWED, DEFAULT_DENIED, &["12345"]).expect("valid defaults")
    }
}

impl NumberPolicy {
    /// A policy from allowed and denied patterns (regular expressions over the normalised
    /// digits, anchored at both ends) and the hotline's own numbers.
    pub fn new(
        allowed: &[impl AsRef<str>],
        denied: &[impl AsRef<str>],
        own: &[impl AsRef<str>],
    ) -> Result<NumberPolicy, BadPattern> {
        Ok(NumberPolicy {
            allowed: anchored(allowed)?,
            denied: anchored(denied)?,
            own: own.iter().map(|n| n.as_ref().to_owned()).collect(),
        })
    }

    /// The number to dial for `raw` (the caller ID as received), or why not.
    pub fn check(&self, raw: &str) -> Result<String, NumberProblem> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
            .collect();
        let national = if let Some(rest) = compact
            .strip_prefix("+86")
            .or_else(|| compact.strip_prefix("0086"))
        {
            rest.to_owned()
        } else if compact.starts_with('+') || compact.starts_with("00") {
            if compact[1..].bytes().any(|b| b.is_ascii_digit()) {
                return Err(NumberProblem::International);
            }
            return Err(NumberProblem::NotANumber);
        } else if compact.len() == 13 && compact.starts_with("861") {
            // 86 + a mobile number, as some carriers present it.
            compact[2..].to_owned()
        } else {
            compact
        };
        if national.is_empty() || !national.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NumberProblem::NotANumber);
        }
        if national.len() > 15 {
            return Err(NumberProblem::TooLong);
        }
        if self.own.contains(&national) {
            return Err(NumberProblem::OurOwn);
        }
        if self.denied.iter().any(|r| r.is_match(&national)) {
            return Err(NumberProblem::Denied);
        }
        if !self.allowed.iter().any(|r| r.is_match(&national)) {
            return Err(NumberProblem::NotAllowed);
        }
        Ok(national)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_findings_are_refused() {
        let p = NumberPolicy::default();
        assert_eq!(p.check("00882123456789"), Err(NumberProblem::International));
        assert_eq!(p.check("+882123456789"), Err(NumberProblem::International));
        assert_eq!(p.check("anonymous"), Err(NumberProblem::NotANumber));
        assert_eq!(p.check(""), Err(NumberProblem::NotANumber));
        assert_eq!(p.check(&"1".repeat(40)), Err(NumberProblem::TooLong));
        assert_eq!(p.check("12345"), Err(NumberProblem::OurOwn));
        for n in ["110", "119", "120", "122", "12315", "95555"] {
            assert_eq!(p.check(n), Err(NumberProblem::Denied), "{n}");
        }
        assert_eq!(p.check("0123"), Err(NumberProblem::NotAllowed));
    }

    #[test]
    fn city_numbers_are_normalised_and_allowed() {
        let p = NumberPolicy::default();
        for (raw, want) in [
            ("13800138000", "13800138000"),
            ("+86 138-0013-8000", "13800138000"),
            ("008613800138000", "13800138000"),
            ("8613800138000", "13800138000"),
            ("02087654321", "02087654321"),
            ("(010) 6512 3456", "01065123456"),
            ("87654321", "87654321"),
        ] {
            assert_eq!(p.check(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn patterns_come_from_config_and_bad_ones_are_named() {
        let p = NumberPolicy::new(&[r"1\d{10}"], &[r"170\d{8}"], &["12345", "88886666"]).unwrap();
        assert_eq!(p.check("17012345678"), Err(NumberProblem::Denied));
        assert_eq!(p.check("02087654321"), Err(NumberProblem::NotAllowed));
        let err = NumberPolicy::new(&["1[3-9"], &[] as &[&str], &[] as &[&str]).unwrap_err();
        assert_eq!(err.pattern, "1[3-9");
    }
}
