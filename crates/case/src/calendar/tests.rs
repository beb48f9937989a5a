use chrono::{NaiveDateTime, Timelike};
use chrono_tz::America::{New_York, Santiago};
use chrono_tz::Asia::Shanghai;

use super::*;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// An instant given as local time in `tz` (must exist and be unambiguous).
fn local(tz: Tz, s: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
    tz.from_local_datetime(&naive)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn utc(s: &str) -> DateTime<Utc> {
    local(chrono_tz::UTC, s)
}

/// 2025 National Day (国庆节 + 中秋节): off 10-01..=10-08, worked Sun 09-28 and Sat 10-11.
fn china_2025() -> WorkCalendar {
    let holidays = date("2025-10-01")
        .iter_days()
        .take_while(|d| *d <= date("2025-10-08"));
    WorkCalendar::from_config(Shanghai, holidays, [date("2025-09-28"), date("2025-10-11")]).unwrap()
}

#[test]
fn working_days_follow_weekdays_holidays_and_swaps() {
    let cal = china_2025();
    let working = |s: &str| cal.is_working_day(date(s));
    assert!(working("2025-09-26")); // Fri
    assert!(!working("2025-09-27")); // Sat
    assert!(working("2025-09-28")); // Sun, worked (调休)
    assert!(working("2025-09-30")); // Tue
    for d in 1..=8 {
        assert!(!working(&format!("2025-10-0{d}")), "10-0{d}");
    }
    assert!(working("2025-10-09")); // Thu
    assert!(working("2025-10-11")); // Sat, worked
    assert!(!working("2025-10-12")); // Sun
    assert!(working("2025-10-13")); // Mon
}

#[test]
fn national_day_three_working_days_from_the_eve() {
    // Day of dispatch 09-30 does not count; 10-01..08 are off; then
    // 10-09 (1), 10-10 (2), 10-11 Sat worked (3): due at the end of Saturday 10-11.
    let cal = china_2025();
    let due = cal.add_working_days(local(Shanghai, "2025-09-30 10:00:00"), 3);
    assert_eq!(due, local(Shanghai, "2025-10-11 23:59:59"));
    assert_eq!(due, utc("2025-10-11 15:59:59"));
    // Phone dispatch through the policy gives the same.
    let policy = DeadlinePolicy::default();
    let at = local(Shanghai, "2025-09-30 10:00:00");
    assert_eq!(policy.deadline(&cal, at, DispatchMode::Phone, None), due);
    // Written (7): 10-09, 10, 11, 13, 14, 15, 16.
    assert_eq!(
        policy.deadline(&cal, at, DispatchMode::Written, None),
        local(Shanghai, "2025-10-16 23:59:59")
    );
}

#[test]
fn friday_evening_plus_three_is_the_end_of_wednesday() {
    let cal = china_2025();
    let due = cal.add_working_days(local(Shanghai, "2025-11-07 19:45:00"), 3);
    assert_eq!(due, local(Shanghai, "2025-11-12 23:59:59"));
    assert_eq!(date("2025-11-12").weekday(), Weekday::Wed);
    // Friday morning gives the same: the day of dispatch never counts.
    let due_morning = cal.add_working_days(local(Shanghai, "2025-11-07 08:00:00"), 3);
    assert_eq!(due_morning, due);
}

#[test]
fn a_swapped_sunday_counts() {
    // Fri 09-26 + 3: Sat no, Sun 09-28 worked (1), Mon 09-29 (2), Tue 09-30 (3).
    let cal = china_2025();
    let due = cal.add_working_days(local(Shanghai, "2025-09-26 16:00:00"), 3);
    assert_eq!(due, local(Shanghai, "2025-09-30 23:59:59"));
    // Without the swap it is Wednesday 10-01 … which is a holiday: Thursday 10-09.
    let no_swap = WorkCalendar::from_config(Shanghai, cal.holidays().clone(), []).unwrap();
    let due = no_swap.add_working_days(local(Shanghai, "2025-09-26 16:00:00"), 3);
    assert_eq!(due, local(Shanghai, "2025-10-09 23:59:59"));
}

#[test]
fn urgent_is_the_same_working_day() {
    let cal = china_2025();
    let policy = DeadlinePolicy::default();
    let urgent = |at| policy.deadline(&cal, at, DispatchMode::Urgent, Some("water"));
    // A working day: its own end.
    assert_eq!(
        urgent(local(Shanghai, "2025-11-10 09:00:00")),
        local(Shanghai, "2025-11-10 23:59:59")
    );
    // A swapped Sunday is a working day.
    assert_eq!(
        urgent(local(Shanghai, "2025-09-28 22:00:00")),
        local(Shanghai, "2025-09-28 23:59:59")
    );
    // A plain Saturday: the end of Monday.
    assert_eq!(
        urgent(local(Shanghai, "2025-11-08 11:00:00")),
        local(Shanghai, "2025-11-10 23:59:59")
    );
    // A holiday: the end of the first working day after it.
    assert_eq!(
        urgent(local(Shanghai, "2025-10-03 11:00:00")),
        local(Shanghai, "2025-10-09 23:59:59")
    );
}

#[test]
fn the_local_date_decides_not_the_utc_date() {
    let cal = china_2025();
    // Mon 23:30 local (15:30 UTC Mon) + 1 → end of Tuesday.
    let late = local(Shanghai, "2025-11-10 23:30:00");
    assert_eq!(
        cal.add_working_days(late, 1),
        local(Shanghai, "2025-11-11 23:59:59")
    );
    // Tue 00:30 local is still Monday 16:30 in UTC, but it is Tuesday here → Wednesday.
    let early = local(Shanghai, "2025-11-11 00:30:00");
    assert_eq!(early, utc("2025-11-10 16:30:00"));
    assert_eq!(
        cal.add_working_days(early, 1),
        local(Shanghai, "2025-11-12 23:59:59")
    );
    assert_eq!(cal.local_date(early), date("2025-11-11"));
}

#[test]
fn working_days_between_inverts_add_and_counts_lateness() {
    let cal = china_2025();
    let starts = [
        "2025-09-26 16:00:00",
        "2025-09-28 09:00:00",
        "2025-09-30 10:00:00",
        "2025-10-04 12:00:00",
        "2025-11-07 23:59:59",
        "2025-11-11 00:00:00",
    ];
    for s in starts {
        let t = local(Shanghai, s);
        for n in 1..=20 {
            let due = cal.add_working_days(t, n);
            assert_eq!(cal.working_days_between(t, due), i64::from(n), "{s} + {n}");
            assert_eq!(cal.working_days_between(due, t), -i64::from(n), "{s} + {n}");
        }
        assert_eq!(cal.working_days_between(t, t), 0);
    }
    // Due end of 10-11 (Sat, worked); on Tue 10-14 it is two working days late.
    let due = local(Shanghai, "2025-10-11 23:59:59");
    let now = local(Shanghai, "2025-10-14 09:00:00");
    assert_eq!(cal.working_days_between(due, now), 2);
    // Over the whole holiday: 09-30 → 10-09 is one working day.
    assert_eq!(
        cal.working_days_between(
            local(Shanghai, "2025-09-30 08:00:00"),
            local(Shanghai, "2025-10-09 08:00:00")
        ),
        1
    );
}

#[test]
fn overdue_is_strictly_after_the_deadline() {
    let cal = china_2025();
    let due = local(Shanghai, "2025-10-11 23:59:59");
    assert!(!cal.is_overdue(due, due - Duration::hours(5)));
    assert!(!cal.is_overdue(due, due));
    assert!(cal.is_overdue(due, due + Duration::seconds(1)));
}

#[test]
fn a_zone_with_daylight_saving_does_not_panic_and_ends_days_locally() {
    let cal = WorkCalendar::weekdays(New_York);
    // Spring forward: Sun 2025-03-09 02:00 → 03:00. Fri 03-07 + 1 → end of Mon 03-10 (EDT).
    let due = cal.add_working_days(local(New_York, "2025-03-07 18:00:00"), 1);
    assert_eq!(due, utc("2025-03-11 03:59:59"));
    // Fall back: Sun 2025-11-02 02:00 → 01:00. Fri 10-31 + 1 → end of Mon 11-03 (EST).
    let due = cal.add_working_days(local(New_York, "2025-10-31 18:00:00"), 1);
    assert_eq!(due, utc("2025-11-04 04:59:59"));
    // Every hour of both switch weekends, any number of days: no panic, always 23:59:59
    // local, never before the start.
    for start in [utc("2025-03-07 00:00:00"), utc("2025-10-31 00:00:00")] {
        for h in 0..96 {
            let at = start + Duration::hours(h);
            for n in 0..4 {
                let due = cal.add_working_days(at, n);
                assert!(due > at);
                let l = due.with_timezone(&New_York);
                assert_eq!((l.hour(), l.minute(), l.second()), (23, 59, 59));
            }
        }
    }
    for d in date("2025-03-01").iter_days().take(300) {
        let _ = cal.end_of_day(d);
    }
}

#[test]
fn a_repeated_midnight_hour_ends_the_day_at_the_later_instant() {
    // Chile leaves DST at 24:00 on Sat 2025-04-05: 23:00..24:00 happens twice
    // (first at -03, then at -04). The day ends at the later 23:59:59.
    let cal = WorkCalendar::weekdays(Santiago);
    assert_eq!(
        cal.end_of_day(date("2025-04-05")),
        utc("2025-04-06 03:59:59")
    );
    // It enters DST at 24:00 on Sat 2025-09-06 (00:00..01:00 Sunday does not exist);
    // every day around it still ends at 23:59:59 local.
    for d in date("2025-09-01").iter_days().take(14) {
        let l = cal.end_of_day(d).with_timezone(&Santiago);
        assert_eq!((l.date_naive(), l.hour(), l.minute()), (d, 23, 59));
    }
    let due = cal.add_working_days(utc("2025-09-05 23:00:00"), 1);
    assert_eq!(
        due.with_timezone(&Santiago).date_naive(),
        date("2025-09-08")
    );
}

#[test]
fn huge_day_counts_are_clamped_not_looped_forever() {
    let cal = china_2025();
    let at = local(Shanghai, "2025-09-30 10:00:00");
    assert_eq!(
        cal.add_working_days(at, u32::MAX),
        cal.add_working_days(at, MAX_WORKING_DAYS)
    );
}

#[test]
fn config_mistakes_are_refused() {
    assert_eq!(
        WorkCalendar::from_config(Shanghai, [date("2025-10-11")], [date("2025-10-11")]),
        Err(CalendarError::HolidayAndSwap(date("2025-10-11")))
    );
    let err = WorkCalendar::from_config(Shanghai, [], [date("2025-10-10")]).unwrap_err();
    assert_eq!(
        err,
        CalendarError::SwapNotWeekend(date("2025-10-10"), Weekday::Fri)
    );
    assert_eq!(
        err.to_string(),
        "workday swap 2025-10-10 is a Fri, not a Saturday or Sunday"
    );
}

#[test]
fn the_policy_picks_days_by_mode_and_category() {
    let mut policy = DeadlinePolicy::default();
    assert_eq!(policy.days_for(DispatchMode::Phone, None), 3);
    assert_eq!(policy.days_for(DispatchMode::Written, Some("noise")), 7);
    assert_eq!(policy.days_for(DispatchMode::Urgent, None), 0);
    policy.per_category.insert("planning".into(), 15);
    assert_eq!(policy.days_for(DispatchMode::Phone, Some("planning")), 15);
    assert_eq!(policy.days_for(DispatchMode::Written, Some("planning")), 15);
    assert_eq!(policy.days_for(DispatchMode::Urgent, Some("planning")), 0);
    assert_eq!(policy.days_for(DispatchMode::Phone, Some("noise")), 3);
}

#[test]
fn the_policy_reads_from_config_with_defaults() {
    let p: DeadlinePolicy = serde_json::from_str(r#"{"written_days": 10}"#).unwrap();
    assert_eq!((p.phone_days, p.written_days, p.urgent_days), (3, 10, 0));
    let p: DeadlinePolicy = serde_json::from_str(r#"{"per_category": {"planning": 15}}"#).unwrap();
    assert_eq!(p.per_category.get("planning"), Some(&15));
    assert!(serde_json::from_str::<DeadlinePolicy>(r#"{"phone": 3}"#).is_err());
}
