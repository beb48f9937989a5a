//! Staffed hours: when a person can take the call.
//!
//! A day's hours are written as text so `config/ivr.toml` stays readable:
//! `"08:00-22:00"`, several spans `"08:00-12:00,13:30-17:30"`, `"24h"` or `"closed"`.
//! Spans include their start and exclude their end (`08:00-22:00` is staffed at 08:00:00
//! and closed at 22:00:00); `24:00` may end a span. A span may not cross midnight: write
//! `"00:00-06:00,22:00-24:00"` instead.
//!
//! Which hours apply to a local date: a holiday uses `holiday_hours` (closed by default);
//! a swapped workday (调休: a weekend date worked to make up for a holiday) uses
//! `workday_swap_hours` (Monday's hours by default); any other date uses its weekday's hours.

use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveTime, Timelike, Weekday};
use serde::{Deserialize, Serialize};

/// The staffed spans of one day, as minutes since local midnight, sorted, not overlapping.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DayHours {
    spans: Vec<(u16, u16)>,
}

/// Why a day's hours could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad hours {text:?}: {reason} (write e.g. \"08:00-22:00\", \"08:00-12:00,13:30-17:30\", \"24h\" or \"closed\")")]
pub struct HoursError {
    text: String,
    reason: &'static str,
}

const DAY: u16 = 24 * 60;

impl DayHours {
    /// Never staffed.
    pub fn closed() -> DayHours {
        DayHours { spans: Vec::new() }
    }

    /// Staffed around the clock.
    pub fn all_day() -> DayHours {
        DayHours {
            spans: vec![(0, DAY)],
        }
    }

    /// Reads `"HH:MM-HH:MM[,HH:MM-HH:MM…]"`, `"24h"` or `"closed"`.
    pub fn parse(text: &str) -> Result<DayHours, HoursError> {
        let err = |reason| HoursError {
            text: text.to_owned(),
            reason,
        };
        let trimmed = text.trim();
        if trimmed.eq_ignore_ascii_case("closed") {
            return Ok(DayHours::closed());
        }
        if trimmed.eq_ignore_ascii_case("24h") {
            return Ok(DayHours::all_day());
        }
        let mut spans: Vec<(u16, u16)> = Vec::new();
        for part in trimmed.split(',') {
            let (start, end) = part
                .split_once('-')
                .ok_or_else(|| err("a span needs a '-'"))?;
            let start = parse_hhmm(start).ok_or_else(|| err("a time is not HH:MM"))?;
            let end = parse_hhmm(end).ok_or_else(|| err("a time is not HH:MM"))?;
            if start >= DAY {
                return Err(err("a span cannot start at 24:00"));
            }
            if end <= start {
                return Err(err(
                    "a span must end after it starts (split spans at midnight)",
                ));
            }
            if spans.last().is_some_and(|&(_, prev_end)| start < prev_end) {
                return Err(err("spans must be in order and not overlap"));
            }
            spans.push((start, end));
        }
        Ok(DayHours { spans })
    }

    /// Whether `time` (local) falls in one of the spans.
    pub fn contains(&self, time: NaiveTime) -> bool {
        // Minutes are enough: spans are whole minutes, and start is inclusive, end exclusive.
        let minute = (time.hour() * 60 + time.minute()) as u16;
        self.spans.iter().any(|&(s, e)| s <= minute && minute < e)
    }

    /// True when no span is staffed.
    pub fn is_closed(&self) -> bool {
        self.spans.is_empty()
    }
}

/// `"8:00"`, `"08:00"`, up to `"24:00"`; minutes since midnight.
fn parse_hhmm(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

impl fmt::Display for DayHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.spans.as_slice() {
            [] => f.write_str("closed"),
            [(0, DAY)] => f.write_str("24h"),
            spans => {
                for (i, (s, e)) in spans.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{:02}:{:02}-{:02}:{:02}", s / 60, s % 60, e / 60, e % 60)?;
                }
                Ok(())
            }
        }
    }
}

impl TryFrom<String> for DayHours {
    type Error = HoursError;
    fn try_from(text: String) -> Result<DayHours, HoursError> {
        DayHours::parse(&text)
    }
}

impl From<DayHours> for String {
    fn from(hours: DayHours) -> String {
        hours.to_string()
    }
}

/// The `[hours]` table: staffed hours per weekday and the calendar exceptions. A key left
/// out keeps its [`Hours::default`] value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hours {
    pub mon: DayHours,
    pub tue: DayHours,
    pub wed: DayHours,
    pub thu: DayHours,
    pub fri: DayHours,
    pub sat: DayHours,
    pub sun: DayHours,
    /// Public holidays: these dates use `holiday_hours` whatever their weekday.
    #[serde(with = "dates")]
    pub holidays: Vec<NaiveDate>,
    /// Hours on a holiday; closed unless set.
    pub holiday_hours: DayHours,
    /// Swapped workdays (调休): weekend dates that are worked; they use `workday_swap_hours`.
    #[serde(with = "dates")]
    pub workday_swaps: Vec<NaiveDate>,
    /// Hours on a swapped workday; Monday's hours unless set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workday_swap_hours: Option<DayHours>,
}

impl Default for Hours {
    /// Every day 08:00–22:00, no calendar exceptions.
    fn default() -> Hours {
        let day = DayHours {
            spans: vec![(8 * 60, 22 * 60)],
        };
        Hours {
            mon: day.clone(),
            tue: day.clone(),
            wed: day.clone(),
            thu: day.clone(),
            fri: day.clone(),
            sat: day.clone(),
            sun: day,
            holidays: Vec::new(),
            holiday_hours: DayHours::closed(),
            workday_swaps: Vec::new(),
            workday_swap_hours: None,
        }
    }
}

impl Hours {
    /// The hours that apply on a local date.
    pub fn for_date(&self, date: NaiveDate) -> &DayHours {
        if self.holidays.contains(&date) {
            return &self.holiday_hours;
        }
        if self.workday_swaps.contains(&date) {
            return self.workday_swap_hours.as_ref().unwrap_or(&self.mon);
        }
        self.for_weekday(date.weekday())
    }

    /// The regular hours of a weekday.
    pub fn for_weekday(&self, day: Weekday) -> &DayHours {
        match day {
            Weekday::Mon => &self.mon,
            Weekday::Tue => &self.tue,
            Weekday::Wed => &self.wed,
            Weekday::Thu => &self.thu,
            Weekday::Fri => &self.fri,
            Weekday::Sat => &self.sat,
            Weekday::Sun => &self.sun,
        }
    }

    /// Whether a person is on duty at this local date and time.
    pub fn is_staffed(&self, date: NaiveDate, time: NaiveTime) -> bool {
        self.for_date(date).contains(time)
    }
}

/// Every prompt [`Hours::spoken`] may use besides the number prompts
/// ([`NUMBER_PROMPTS`](crate::NUMBER_PROMPTS)): 每天, 周一 … 周日, 至, 点, 分, 和,
/// 休息 (a closed day), 24小时 (a day staffed around the clock).
pub const HOURS_PROMPTS: &[&str] = &[
    "every_day",
    "weekday_1",
    "weekday_2",
    "weekday_3",
    "weekday_4",
    "weekday_5",
    "weekday_6",
    "weekday_7",
    "hours_to",
    "hour",
    "minute",
    "hours_and",
    "day_off",
    "all_day",
];

impl Hours {
    /// The weekly staffed hours read out, as prompt names: the same hours every day are
    /// 每天 8点 至 22点 (`every_day num_8 hour hours_to num_2 num_10 num_2 hour`); days that
    /// differ are read per run of consecutive weekdays with the same hours, Monday first:
    /// 周一 至 周五 8点30分 至 12点 和 13点30分 至 17点30分, 周六 9点 至 12点, 周日 休息
    /// (two days in a run are named both, three or more as first 至 last). Hours and minutes
    /// are Chinese numbers ([`chinese_number_prompts`](crate::chinese_number_prompts)),
    /// minutes below ten with 零 (8点05分). Holidays and swapped workdays are not read.
    /// Empty when no day is ever staffed (nothing to announce).
    pub fn spoken(&self) -> Vec<String> {
        let days = [
            &self.mon, &self.tue, &self.wed, &self.thu, &self.fri, &self.sat, &self.sun,
        ];
        let mut out = Vec::new();
        if days.iter().all(|d| d.is_closed()) {
            return out;
        }
        let mut first = 0;
        while first < days.len() {
            let mut last = first;
            while last + 1 < days.len() && days[last + 1] == days[first] {
                last += 1;
            }
            if first == 0 && last == days.len() - 1 {
                out.push("every_day".to_owned());
            } else {
                let name = |i: usize| format!("weekday_{}", i + 1);
                out.push(name(first));
                match last - first {
                    0 => {}
                    1 => out.push(name(last)),
                    _ => {
                        out.push("hours_to".to_owned());
                        out.push(name(last));
                    }
                }
            }
            days[first].spoken_into(&mut out);
            first = last + 1;
        }
        out
    }
}

impl DayHours {
    /// 休息, 24小时, or each span as start 至 end, joined by 和.
    fn spoken_into(&self, out: &mut Vec<String>) {
        match self.spans.as_slice() {
            [] => out.push("day_off".to_owned()),
            [(0, DAY)] => out.push("all_day".to_owned()),
            spans => {
                for (i, &(start, end)) in spans.iter().enumerate() {
                    if i > 0 {
                        out.push("hours_and".to_owned());
                    }
                    spoken_time(start, out);
                    out.push("hours_to".to_owned());
                    spoken_time(end, out);
                }
            }
        }
    }
}

/// Minutes since midnight as 8点, 13点30分, 8点05分, 零点, 24点.
fn spoken_time(minutes: u16, out: &mut Vec<String>) {
    let (h, m) = (usize::from(minutes / 60), usize::from(minutes % 60));
    out.extend(crate::number::chinese_number_prompts(h));
    out.push("hour".to_owned());
    if m > 0 {
        if m < 10 {
            out.push("num_0".to_owned());
        }
        out.extend(crate::number::chinese_number_prompts(m));
        out.push("minute".to_owned());
    }
}

/// Dates as `"2025-10-01"` strings or TOML's bare `2025-10-01` local dates.
mod dates {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Text(String),
        Toml(toml::value::Datetime),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<NaiveDate>, D::Error> {
        use serde::de::Error;
        Vec::<Repr>::deserialize(de)?
            .into_iter()
            .map(|repr| {
                let text = match repr {
                    Repr::Text(text) => text,
                    Repr::Toml(dt) if dt.date.is_some() && dt.time.is_none() => dt.to_string(),
                    Repr::Toml(dt) => {
                        return Err(D::Error::custom(format!(
                            "{dt} is not a plain date (YYYY-MM-DD)"
                        )))
                    }
                };
                NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|e| {
                    D::Error::custom(format!("bad date {text:?} (want YYYY-MM-DD): {e}"))
                })
            })
            .collect()
    }

    pub fn serialize<S: Serializer>(dates: &[NaiveDate], ser: S) -> Result<S::Ok, S::Error> {
        let texts: Vec<String> = dates
            .iter()
            .map(|d| d.format("%Y-%m-%d").to_string())
            .collect();
        texts.serialize(ser)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32, s: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, s).unwrap()
    }

    #[test]
    fn parses_and_prints() {
        for (text, printed) in [
            ("08:00-22:00", "08:00-22:00"),
            ("8:00-12:00, 13:30-17:30", "08:00-12:00,13:30-17:30"),
            ("00:00-24:00", "24h"),
            ("24h", "24h"),
            ("Closed", "closed"),
            ("22:00-24:00", "22:00-24:00"),
        ] {
            assert_eq!(
                DayHours::parse(text).unwrap().to_string(),
                printed,
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_bad_hours() {
        for text in [
            "",
            "8-22",
            "08:00",
            "22:00-06:00",
            "08:00-08:00",
            "08:60-09:00",
            "25:00-26:00",
            "24:00-24:00",
            "10:00-12:00,11:00-13:00",
            "12:00-13:00,08:00-09:00",
            "08:00-22:00,",
            "open",
        ] {
            assert!(
                DayHours::parse(text).is_err(),
                "{text:?} should be rejected"
            );
        }
    }

    #[test]
    fn span_start_inclusive_end_exclusive() {
        let h = DayHours::parse("08:00-22:00").unwrap();
        assert!(!h.contains(t(7, 59, 59)));
        assert!(h.contains(t(8, 0, 0)));
        assert!(h.contains(t(21, 59, 59)));
        assert!(!h.contains(t(22, 0, 0)));
        let all = DayHours::all_day();
        assert!(all.contains(t(0, 0, 0)) && all.contains(t(23, 59, 59)));
        assert!(!DayHours::closed().contains(t(12, 0, 0)));
        let split = DayHours::parse("08:00-12:00,13:30-17:30").unwrap();
        assert!(split.contains(t(11, 59, 0)));
        assert!(!split.contains(t(12, 30, 0)));
        assert!(split.contains(t(13, 30, 0)));
    }

    #[test]
    fn calendar_exceptions() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let mut hours = Hours {
            sat: DayHours::closed(),
            sun: DayHours::closed(),
            holidays: vec![d("2025-10-01")],
            workday_swaps: vec![d("2025-10-11")],
            ..Hours::default()
        };
        // 2025-10-01 is a Wednesday holiday; 2025-10-11 a Saturday worked (调休).
        assert!(!hours.is_staffed(d("2025-10-01"), t(10, 0, 0)));
        assert!(hours.is_staffed(d("2025-10-02"), t(10, 0, 0)));
        assert!(hours.is_staffed(d("2025-10-11"), t(10, 0, 0)));
        assert!(!hours.is_staffed(d("2025-10-18"), t(10, 0, 0)));
        hours.workday_swap_hours = Some(DayHours::parse("09:00-17:00").unwrap());
        assert!(!hours.is_staffed(d("2025-10-11"), t(8, 30, 0)));
        hours.holiday_hours = DayHours::parse("09:00-12:00").unwrap();
        assert!(hours.is_staffed(d("2025-10-01"), t(10, 0, 0)));
    }

    /// The hours of `[hours]` written as TOML lines, read out as one string of characters.
    fn spoken(toml_lines: &str) -> String {
        let hours: Hours = toml::from_str(toml_lines).unwrap();
        hours
            .spoken()
            .iter()
            .map(|p| match p.as_str() {
                "every_day" => "每天 ",
                "weekday_1" => "周一 ",
                "weekday_2" => "周二 ",
                "weekday_3" => "周三 ",
                "weekday_4" => "周四 ",
                "weekday_5" => "周五 ",
                "weekday_6" => "周六 ",
                "weekday_7" => "周日 ",
                "hours_to" => "至 ",
                "hour" => "点 ",
                "minute" => "分 ",
                "hours_and" => "和 ",
                "day_off" => "休息 ",
                "all_day" => "24小时 ",
                "num_0" => "零",
                "num_1" => "一",
                "num_2" => "二",
                "num_3" => "三",
                "num_4" => "四",
                "num_5" => "五",
                "num_6" => "六",
                "num_7" => "七",
                "num_8" => "八",
                "num_9" => "九",
                "num_10" => "十",
                other => panic!("unexpected prompt {other}"),
            })
            .collect::<String>()
            .trim_end()
            .to_owned()
    }

    #[test]
    fn the_same_hours_every_day_are_read_once() {
        assert_eq!(spoken(""), "每天 八点 至 二十二点");
        assert_eq!(
            Hours::default().spoken(),
            [
                "every_day",
                "num_8",
                "hour",
                "hours_to",
                "num_2",
                "num_10",
                "num_2",
                "hour"
            ]
        );
        let all = "mon='24h'\ntue='24h'\nwed='24h'\nthu='24h'\nfri='24h'\nsat='24h'\nsun='24h'";
        assert_eq!(spoken(all), "每天 24小时");
        let split = "mon='08:00-12:00,13:30-17:30'\ntue='08:00-12:00,13:30-17:30'\n\
                     wed='08:00-12:00,13:30-17:30'\nthu='08:00-12:00,13:30-17:30'\n\
                     fri='08:00-12:00,13:30-17:30'\nsat='08:00-12:00,13:30-17:30'\n\
                     sun='08:00-12:00,13:30-17:30'";
        assert_eq!(
            spoken(split),
            "每天 八点 至 十二点 和 十三点 三十分 至 十七点 三十分"
        );
    }

    #[test]
    fn differing_days_are_read_per_run_of_weekdays() {
        assert_eq!(
            spoken("sat = 'closed'\nsun = 'closed'"),
            "周一 至 周五 八点 至 二十二点 周六 周日 休息"
        );
        assert_eq!(
            spoken(
                "mon='08:30-12:00,13:30-17:30'\ntue='08:30-12:00,13:30-17:30'\n\
                 wed='08:30-12:00,13:30-17:30'\nthu='08:30-12:00,13:30-17:30'\n\
                 fri='08:30-12:00,13:30-17:30'\nsat='09:05-12:00'\nsun='closed'"
            ),
            "周一 至 周五 八点 三十分 至 十二点 和 十三点 三十分 至 十七点 三十分 \
             周六 九点 零五分 至 十二点 周日 休息"
        );
        // A day in the middle that differs splits the week; the first and last runs are
        // not joined (Sunday to Monday is not a run).
        assert_eq!(
            spoken("wed = '00:00-06:00,22:00-24:00'\nsun = '24h'"),
            "周一 周二 八点 至 二十二点 周三 零点 至 六点 和 二十二点 至 二十四点 \
             周四 至 周六 八点 至 二十二点 周日 24小时"
        );
        let closed = "mon='closed'\ntue='closed'\nwed='closed'\nthu='closed'\nfri='closed'\nsat='closed'\nsun='closed'";
        assert_eq!(spoken(closed), "", "never staffed: nothing to announce");
        // Holidays do not change the weekly reading.
        assert_eq!(spoken("holidays = ['2025-10-01']"), "每天 八点 至 二十二点");
    }

    #[test]
    fn every_prompt_spoken_is_listed() {
        let hours: Hours = toml::from_str(
            "mon='00:00-00:59,01:01-23:10'\ntue='closed'\nwed='24h'\nthu='09:00-24:00'",
        )
        .unwrap();
        for p in hours.spoken() {
            assert!(
                HOURS_PROMPTS.contains(&p.as_str()) || crate::NUMBER_PROMPTS.contains(&p.as_str()),
                "{p}"
            );
        }
    }

    #[test]
    fn dates_as_strings_or_toml_dates() {
        #[derive(Deserialize)]
        struct W {
            #[serde(with = "dates")]
            d: Vec<NaiveDate>,
        }
        let w: W = toml::from_str("d = [\"2025-10-01\", 2025-10-02]").unwrap();
        assert_eq!(w.d.len(), 2);
        assert_eq!(w.d[1].to_string(), "2025-10-02");
        assert!(toml::from_str::<W>("d = [2025-10-01T08:00:00]").is_err());
        assert!(toml::from_str::<W>("d = [\"2025-13-01\"]").is_err());
    }
}
