//! China time: instants, login timestamps, SMPP, report and RecvTime forms.

use super::*;
use proptest::prelude::*;

// 2024-03-01 12:00:00 +08:00 = 04:00:00 UTC.
const NOON: i64 = 1_709_265_600;

#[test]
fn known_instants_in_utc_plus_8() {
    let c = Civil::from_unix(NOON);
    assert_eq!(
        c,
        Civil {
            year: 2024,
            month: 3,
            day: 1,
            hour: 12,
            minute: 0,
            second: 0
        }
    );
    assert_eq!(c.to_unix(), Some(NOON));
    // 2023-12-31 23:59:59 +08:00 is still 2023 in China, 15:59:59 UTC.
    assert_eq!(Civil::from_unix(1_704_038_399).year, 2023);
    assert_eq!(Civil::from_unix(1_704_038_400).year, 2024);
}

#[test]
fn invalid_dates_have_no_instant() {
    let base = Civil::from_unix(0);
    for (month, day) in [(2, 29), (4, 31), (13, 1), (0, 1), (1, 0)] {
        let c = Civil {
            year: 2023,
            month,
            day,
            ..base
        };
        assert_eq!(c.to_unix(), None, "{month}-{day}");
    }
    let leap = Civil {
        year: 2024,
        month: 2,
        day: 29,
        ..base
    };
    assert!(leap.to_unix().is_some());
}

#[test]
fn a_time_without_year_is_the_latest_before_tomorrow() {
    let noon = Civil::from_unix(NOON);
    let yearless = Civil { year: 0, ..noon };
    assert_eq!(yearless.latest_unix_by(NOON), Some(NOON));
    // Read a month later: still that day.
    assert_eq!(yearless.latest_unix_by(NOON + 30 * 86_400), Some(NOON));
    // A time a few hours ahead (a peer's clock) is that time, not last year's.
    assert_eq!(yearless.latest_unix_by(NOON - 3600), Some(NOON));
    // Across a new year: 12-31 23:59:59 read an hour into 2024 is 2023's.
    let eve = 1_704_038_399;
    let late = Civil {
        year: 0,
        ..Civil::from_unix(eve)
    };
    assert_eq!(late.latest_unix_by(eve + 3600), Some(eve));
    let nonsense = Civil {
        month: 13,
        ..yearless
    };
    assert_eq!(nonsense.latest_unix_by(NOON), None);
}

#[test]
fn login_timestamps_are_mmddhhmmss() {
    assert_eq!(timestamp_from_unix(NOON), 301_120_000);
    assert_eq!(timestamp_to_unix_near(301_120_000, NOON), Some(NOON));
    assert_eq!(timestamp_skew(301_120_005, NOON), Duration::from_secs(5));
    // SGIP 1.2 §3.4's example: 20:32:25 on 20 November is 1120203225.
    let at = Civil {
        year: 2024,
        month: 11,
        day: 20,
        hour: 20,
        minute: 32,
        second: 25,
    }
    .to_unix()
    .expect("a real time");
    assert_eq!(timestamp_from_unix(at), 1_120_203_225);
    assert_eq!(timestamp_to_unix_near(1_120_203_225, at + 60), Some(at));
}

#[test]
fn the_year_of_a_timestamp_is_the_nearest_one() {
    // Now: 2024-01-01 00:00:10 +08:00; the peer's clock says 12-31 23:59:50 (2023).
    let now = 1_704_038_410;
    assert_eq!(timestamp_skew(1_231_235_950, now), Duration::from_secs(20));
    assert_eq!(timestamp_to_unix_near(1_231_235_950, now), Some(now - 20));
    // And the reverse across the new year.
    let now = 1_704_038_390; // 2023-12-31 23:59:50 +08:00
    assert_eq!(timestamp_skew(101_000_010, now), Duration::from_secs(20));
}

#[test]
fn invalid_timestamps_are_infinitely_far() {
    for ts in [
        0,
        1_301_000_000,
        231_000_000,
        229_000_000 + 24 * 10_000,
        u32::MAX,
    ] {
        assert_eq!(timestamp_skew(ts, NOON), Duration::MAX, "{ts}");
        assert_eq!(timestamp_to_unix_near(ts, NOON), None, "{ts}");
    }
    // 02-29 exists in 2024.
    assert!(timestamp_to_unix_near(229_120_000, NOON).is_some());
}

#[test]
fn smpp_times_absolute_relative_and_bare() {
    assert_eq!(smpp_time_to_unix("", NOON), Ok(None));
    assert_eq!(smpp_time_to_unix("240301120000032+", NOON), Ok(Some(NOON)));
    assert_eq!(smpp_time_to_unix("240301040000000+", NOON), Ok(Some(NOON)));
    assert_eq!(smpp_time_to_unix("240301120000", NOON), Ok(Some(NOON)));
    assert_eq!(
        smpp_time_to_unix("000001000000000R", NOON),
        Ok(Some(NOON + 86_400))
    );
    for bad in [
        "24030112000003+",
        "240301120000049+",
        "241301120000032+",
        "2403011200000322",
        "tomorrow",
    ] {
        assert!(smpp_time_to_unix(bad, NOON).is_err(), "{bad}");
    }
    assert_eq!(unix_to_smpp_absolute(NOON), "240301120000032+");
}

#[test]
fn report_and_recv_times_are_utc_plus_8() {
    assert_eq!(report_time_to_unix("2403011200"), Some(NOON));
    assert_eq!(report_time_to_unix("240301120005"), Some(NOON + 5));
    assert_eq!(report_time_to_unix("2413011200"), None);
    assert_eq!(report_time_to_unix("24030112"), None);
    assert_eq!(unix_to_report_time(NOON + 59), "2403011200");
    assert_eq!(recv_time_to_unix("20240301120005"), Some(NOON + 5));
    assert_eq!(unix_to_recv_time(NOON + 5), "20240301120005");
    for bad in [
        "2024030112000",
        "20241301120000",
        "20240230120000",
        "2024030112000x",
        "",
    ] {
        assert_eq!(recv_time_to_unix(bad), None, "{bad}");
    }
}

proptest! {
    #[test]
    fn civil_round_trips(unix in -10_000_000_000i64..10_000_000_000) {
        prop_assert_eq!(Civil::from_unix(unix).to_unix(), Some(unix));
    }

    #[test]
    fn written_times_read_back(unix in 946_656_000i64..4_102_387_200) {
        // 2000-01-01 to 2099-12-31 in Beijing, the years YY can name.
        let text = unix_to_smpp_absolute(unix);
        prop_assert_eq!(text.len(), SMPP_TIME_LEN);
        prop_assert_eq!(smpp_time_to_unix(&text, 0), Ok(Some(unix)));
        prop_assert_eq!(recv_time_to_unix(&unix_to_recv_time(unix)), Some(unix));
        let minute = unix - unix.rem_euclid(60);
        prop_assert_eq!(report_time_to_unix(&unix_to_report_time(unix)), Some(minute));
        let timestamp = timestamp_from_unix(unix);
        prop_assert_eq!(timestamp_to_unix_near(timestamp, unix), Some(unix));
    }
}
