//! Opening hours of a station, in the station's own time zone (IANA name,
//! default Asia/Shanghai), and the "open now" test behind C1's filter.
//!
//! # JSON
//!
//! Exactly one of two shapes, chosen so that a person reading an API response
//! or a stored row understands it without documentation:
//!
//! ```json
//! {"always_open": true}
//! ```
//!
//! ```json
//! {"weekly": [
//!   {"days": ["mon", "tue", "wed", "thu", "fri"], "open": "06:00", "close": "22:00"},
//!   {"days": ["fri", "sat"], "open": "22:00", "close": "02:00"},
//!   {"days": ["sun"], "open": "00:00", "close": "24:00"}
//! ]}
//! ```
//!
//! - Times are wall-clock `HH:MM` in the station's time zone, from `00:00` to
//!   `24:00`; `24:00` is only meaningful as a `close` (end of that day).
//! - A span whose `close` is earlier than its `open` runs past midnight: the
//!   Friday 22:00–02:00 span above is open on Saturday at 01:00. Sunday's
//!   overnight span spills into Monday.
//! - Spans may overlap; the station is open when any span says so.
//! - Days are `mon tue wed thu fri sat sun`.
//!
//! Deserialising checks the shape and the syntax of each time; [`OpeningHours::validate`]
//! checks the rest (no spans, no days, `open` == `close`, `open` at 24:00) and must be
//! called on input from clients before storing it.
//!
//! Wall-clock semantics across daylight-saving changes: "06:00–22:00" means
//! whatever the local clocks say, so the UTC instants move with the switch.
//! Local times skipped by a spring-forward never occur; local times repeated
//! by a fall-back are open (or closed) both times.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Stations without a configured zone are in mainland China.
pub const DEFAULT_TIME_ZONE: Tz = chrono_tz::Asia::Shanghai;

/// What is wrong with opening hours or a time zone. Index `span` is the
/// position in the `weekly` array (from 0), as [`HoursError::field_path`] says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    #[error("invalid time {value:?}: expected HH:MM from 00:00 to 24:00")]
    BadTime { value: String },
    #[error("weekly[{span}].open is 24:00; a span opening at midnight opens at 00:00 of the next day")]
    OpenAt2400 { span: usize },
    #[error("weekly has no spans: give at least one, or use {{\"always_open\": true}}")]
    NoSpans,
    #[error("weekly[{span}].days is empty: name at least one of mon, tue, wed, thu, fri, sat, sun")]
    EmptyDays { span: usize },
    #[error("weekly[{span}] opens and closes at {time}: for a whole day use open 00:00 and close 24:00")]
    OpenEqualsClose { span: usize, time: TimeOfDay },
    #[error("unknown time zone {name:?}: expected an IANA name such as Asia/Shanghai")]
    UnknownTimeZone { name: String },
    /// The JSON was neither `{"always_open": true}` nor `{"weekly": [...]}`.
    #[error("opening hours: {0}")]
    BadShape(&'static str),
}

impl HoursError {
    /// Where the error is, relative to the opening-hours object (`""` for the
    /// object itself or a time zone), for pointing at a field in an API error.
    pub fn field_path(&self) -> String {
        match self {
            HoursError::OpenAt2400 { span } => format!("weekly[{span}].open"),
            HoursError::EmptyDays { span } => format!("weekly[{span}].days"),
            HoursError::OpenEqualsClose { span, .. } => format!("weekly[{span}].close"),
            HoursError::NoSpans => "weekly".to_owned(),
            HoursError::BadTime { .. } | HoursError::UnknownTimeZone { .. } | HoursError::BadShape(_) => String::new(),
        }
    }

    /// As a field error for the HTTP layer, `prefix` being where the hours sit
    /// in the request (e.g. `"opening_hours"`, or `"time_zone"` for a zone).
    pub fn to_field_error(&self, prefix: &str) -> crate::field::FieldError {
        use crate::field::{FieldError, FieldErrorKind as K};
        let path = self.field_path();
        let field = if path.is_empty() { prefix.to_owned() } else { format!("{prefix}.{path}") };
        let kind = match self {
            HoursError::BadTime { .. } => {
                K::InvalidFormat { expected: "HH:MM 格式的时间（00:00–24:00）".into() }
            }
            HoursError::OpenAt2400 { .. } => K::OutOfRange { min: "00:00".to_owned(), max: "23:59".to_owned() },
            HoursError::NoSpans | HoursError::EmptyDays { .. } => K::Required,
            HoursError::OpenEqualsClose { .. } => {
                K::Conflict { reason: "开门与关门时间相同；全天营业请用 00:00 至 24:00".into() }
            }
            HoursError::UnknownTimeZone { .. } => {
                K::InvalidFormat { expected: "IANA 时区名，如 Asia/Shanghai".into() }
            }
            HoursError::BadShape(_) => {
                K::InvalidFormat { expected: "{\"always_open\": true} 或 {\"weekly\": [...]}".into() }
            }
        };
        FieldError::new(field, kind)
    }
}

/// Resolve an IANA time-zone name (`Asia/Shanghai`, `Europe/Berlin`, `UTC`).
/// Case-insensitive and trimmed, because names typed into a back-office form
/// arrive as `asia/shanghai` as often as not; the returned zone carries the
/// canonical spelling (`tz.name()`), which is what should be stored.
pub fn parse_time_zone(s: &str) -> Result<Tz, HoursError> {
    let name = s.trim();
    if let Ok(tz) = name.parse::<Tz>() {
        return Ok(tz);
    }
    chrono_tz::TZ_VARIANTS
        .iter()
        .copied()
        .find(|tz| tz.name().eq_ignore_ascii_case(name))
        .filter(|_| !name.is_empty())
        .ok_or_else(|| HoursError::UnknownTimeZone { name: s.to_owned() })
}

/// A day of the week, written `mon` … `sun` in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    pub const ALL: [Day; 7] = [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri, Day::Sat, Day::Sun];

    pub fn as_str(self) -> &'static str {
        match self {
            Day::Mon => "mon",
            Day::Tue => "tue",
            Day::Wed => "wed",
            Day::Thu => "thu",
            Day::Fri => "fri",
            Day::Sat => "sat",
            Day::Sun => "sun",
        }
    }

    /// The day before (Sunday's is Saturday, Monday's is Sunday).
    pub fn pred(self) -> Day {
        Weekday::from(self).pred().into()
    }
}

impl From<Weekday> for Day {
    fn from(w: Weekday) -> Day {
        match w {
            Weekday::Mon => Day::Mon,
            Weekday::Tue => Day::Tue,
            Weekday::Wed => Day::Wed,
            Weekday::Thu => Day::Thu,
            Weekday::Fri => Day::Fri,
            Weekday::Sat => Day::Sat,
            Weekday::Sun => Day::Sun,
        }
    }
}

impl From<Day> for Weekday {
    fn from(d: Day) -> Weekday {
        match d {
            Day::Mon => Weekday::Mon,
            Day::Tue => Weekday::Tue,
            Day::Wed => Weekday::Wed,
            Day::Thu => Weekday::Thu,
            Day::Fri => Weekday::Fri,
            Day::Sat => Weekday::Sat,
            Day::Sun => Weekday::Sun,
        }
    }
}

/// A wall-clock time from 00:00 to 24:00 inclusive, to the minute; `"HH:MM"`
/// in JSON. 24:00 exists so that "until midnight" needs no special case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeOfDay {
    /// Minutes since local midnight, 0..=1440.
    minutes: u16,
}

impl TimeOfDay {
    pub const MIDNIGHT: TimeOfDay = TimeOfDay { minutes: 0 };
    pub const END_OF_DAY: TimeOfDay = TimeOfDay { minutes: 24 * 60 };

    /// `hour` 0–23 with `minute` 0–59, or 24:00.
    pub fn new(hour: u8, minute: u8) -> Option<TimeOfDay> {
        match (hour, minute) {
            (0..=23, 0..=59) | (24, 0) => Some(TimeOfDay { minutes: u16::from(hour) * 60 + u16::from(minute) }),
            _ => None,
        }
    }

    /// Minutes since midnight, 0 to 1440.
    pub fn minutes(self) -> u16 {
        self.minutes
    }

    fn seconds(self) -> u32 {
        u32::from(self.minutes) * 60
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.minutes / 60, self.minutes % 60)
    }
}

impl FromStr for TimeOfDay {
    type Err = HoursError;

    /// Exactly `HH:MM` with two digits each: one accepted spelling per time
    /// keeps stored JSON comparable and catches `6:0`-style typos early.
    fn from_str(s: &str) -> Result<Self, HoursError> {
        let bad = || HoursError::BadTime { value: s.to_owned() };
        let b = s.as_bytes();
        if b.len() != 5 || b[2] != b':' || ![b[0], b[1], b[3], b[4]].iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let hour = (b[0] - b'0') * 10 + (b[1] - b'0');
        let minute = (b[3] - b'0') * 10 + (b[4] - b'0');
        TimeOfDay::new(hour, minute).ok_or_else(bad)
    }
}

impl TryFrom<String> for TimeOfDay {
    type Error = HoursError;
    fn try_from(s: String) -> Result<Self, HoursError> {
        s.parse()
    }
}

impl From<TimeOfDay> for String {
    fn from(t: TimeOfDay) -> String {
        t.to_string()
    }
}

/// One rule: on each of `days`, open from `open` to `close` (past midnight
/// into the next day when `close` < `open`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaySpan {
    pub days: Vec<Day>,
    pub open: TimeOfDay,
    pub close: TimeOfDay,
}

impl DaySpan {
    /// Whether this span covers local `day` at `secs` seconds after local midnight.
    fn covers(&self, day: Day, secs: u32) -> bool {
        let (open, close) = (self.open.seconds(), self.close.seconds());
        if open < close {
            self.days.contains(&day) && open <= secs && secs < close
        } else if close < open {
            // The evening part belongs to the listed day, the early-morning
            // part to the day after it.
            (self.days.contains(&day) && secs >= open) || (self.days.contains(&day.pred()) && secs < close)
        } else {
            false // open == close is rejected by validate(); never open
        }
    }
}

/// When a station is open. See the module docs for the JSON form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "HoursRepr", into = "HoursRepr")]
pub enum OpeningHours {
    /// Open 24/7.
    AlwaysOpen,
    /// Open during any of these spans, in local wall-clock time.
    Weekly(Vec<DaySpan>),
}

/// The wire form: an object with exactly one of the two keys. A plain
/// externally tagged enum would write AlwaysOpen as the bare string
/// `"always_open"`, which reads worse next to the object form.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HoursRepr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    always_open: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weekly: Option<Vec<DaySpan>>,
}

impl TryFrom<HoursRepr> for OpeningHours {
    type Error = HoursError;
    fn try_from(r: HoursRepr) -> Result<Self, HoursError> {
        match (r.always_open, r.weekly) {
            (Some(true), None) => Ok(OpeningHours::AlwaysOpen),
            (None, Some(spans)) => Ok(OpeningHours::Weekly(spans)),
            (Some(false), None) => {
                Err(HoursError::BadShape("always_open can only be true; to give hours use {\"weekly\": [...]}"))
            }
            (Some(_), Some(_)) => Err(HoursError::BadShape("give always_open or weekly, not both")),
            (None, None) => Err(HoursError::BadShape(
                "expected {\"always_open\": true} or {\"weekly\": [{\"days\": [...], \"open\": \"HH:MM\", \"close\": \"HH:MM\"}]}",
            )),
        }
    }
}

impl From<OpeningHours> for HoursRepr {
    fn from(h: OpeningHours) -> HoursRepr {
        match h {
            OpeningHours::AlwaysOpen => HoursRepr { always_open: Some(true), weekly: None },
            OpeningHours::Weekly(spans) => HoursRepr { always_open: None, weekly: Some(spans) },
        }
    }
}

impl OpeningHours {
    /// The rules deserialisation cannot express: at least one span, each with
    /// at least one day, `open` ≠ `close`, and `open` before 24:00. The first
    /// problem found is returned. Overlapping spans are allowed.
    pub fn validate(&self) -> Result<(), HoursError> {
        let spans = match self {
            OpeningHours::AlwaysOpen => return Ok(()),
            OpeningHours::Weekly(spans) => spans,
        };
        if spans.is_empty() {
            return Err(HoursError::NoSpans);
        }
        for (span, s) in spans.iter().enumerate() {
            if s.days.is_empty() {
                return Err(HoursError::EmptyDays { span });
            }
            if s.open == TimeOfDay::END_OF_DAY {
                return Err(HoursError::OpenAt2400 { span });
            }
            if s.open == s.close {
                return Err(HoursError::OpenEqualsClose { span, time: s.open });
            }
        }
        Ok(())
    }

    /// Whether the station is open at instant `at`, reading the spans as wall
    /// clock in zone `tz`. Invalid spans (see [`validate`](Self::validate))
    /// never count as open.
    pub fn is_open_at(&self, tz: Tz, at: DateTime<Utc>) -> bool {
        match self {
            OpeningHours::AlwaysOpen => true,
            OpeningHours::Weekly(spans) => {
                let local = at.with_timezone(&tz);
                let day = Day::from(local.weekday());
                let secs = local.num_seconds_from_midnight();
                spans.iter().any(|s| s.covers(day, secs))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: &str) -> TimeOfDay {
        s.parse().unwrap()
    }

    fn span(days: &[Day], open: &str, close: &str) -> DaySpan {
        DaySpan { days: days.to_vec(), open: t(open), close: t(close) }
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).single().unwrap()
    }

    /// A local wall-clock instant in `tz`, which must be unambiguous.
    fn local(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        tz.with_ymd_and_hms(y, mo, d, h, mi, 0).single().unwrap().with_timezone(&Utc)
    }

    const SH: Tz = chrono_tz::Asia::Shanghai;
    const BERLIN: Tz = chrono_tz::Europe::Berlin;
    const WEEKDAYS: [Day; 5] = [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri];

    #[test]
    fn time_of_day_parsing() {
        assert_eq!(t("00:00").minutes(), 0);
        assert_eq!(t("06:30").minutes(), 390);
        assert_eq!(t("23:59").minutes(), 1439);
        assert_eq!(t("24:00"), TimeOfDay::END_OF_DAY);
        for bad in
            ["24:01", "25:00", "12:60", "6:00", "06:0", "0600", "06-00", "", "ab:cd", "06:00 ", "+6:00", "０６:００"]
        {
            let err = bad.parse::<TimeOfDay>().unwrap_err();
            assert_eq!(err, HoursError::BadTime { value: bad.to_owned() }, "{bad}");
        }
        assert_eq!(t("07:05").to_string(), "07:05");
        assert_eq!(TimeOfDay::new(24, 0), Some(TimeOfDay::END_OF_DAY));
        assert_eq!(TimeOfDay::new(24, 1), None);
    }

    #[test]
    fn json_shapes() {
        let always: OpeningHours = serde_json::from_str(r#"{"always_open": true}"#).unwrap();
        assert_eq!(always, OpeningHours::AlwaysOpen);
        assert_eq!(serde_json::to_string(&always).unwrap(), r#"{"always_open":true}"#);

        let json = r#"{"weekly":[{"days":["mon","tue","wed","thu","fri"],"open":"06:00","close":"22:00"},{"days":["sat"],"open":"22:00","close":"02:00"}]}"#;
        let weekly: OpeningHours = serde_json::from_str(json).unwrap();
        assert_eq!(
            weekly,
            OpeningHours::Weekly(vec![span(&WEEKDAYS, "06:00", "22:00"), span(&[Day::Sat], "22:00", "02:00")])
        );
        assert_eq!(serde_json::to_string(&weekly).unwrap(), json);
        assert!(weekly.validate().is_ok());
    }

    #[test]
    fn json_errors_are_clear() {
        let cases = [
            (r#"{}"#, "expected {\"always_open\": true}"),
            (r#"{"always_open": false}"#, "always_open can only be true"),
            (r#"{"always_open": true, "weekly": []}"#, "not both"),
            (r#"{"weekly": [{"days": ["mon"], "open": "25:00", "close": "22:00"}]}"#, "invalid time \"25:00\""),
            (r#"{"weekly": [{"days": ["monday"], "open": "06:00", "close": "22:00"}]}"#, "unknown variant `monday`"),
            (r#"{"weekly": [{"days": ["mon"], "open": "06:00"}]}"#, "missing field `close`"),
            (
                r#"{"weekly": [{"days": ["mon"], "open": "06:00", "close": "22:00", "opens": "x"}]}"#,
                "unknown field `opens`",
            ),
            (r#"{"hours": "24/7"}"#, "unknown field `hours`"),
        ];
        for (json, expected) in cases {
            let err = serde_json::from_str::<OpeningHours>(json).unwrap_err().to_string();
            assert!(err.contains(expected), "{json}: {err}");
        }
    }

    #[test]
    fn validation() {
        assert_eq!(OpeningHours::AlwaysOpen.validate(), Ok(()));
        assert_eq!(OpeningHours::Weekly(vec![]).validate(), Err(HoursError::NoSpans));
        let ok = span(&[Day::Mon], "06:00", "22:00");
        let cases = [
            (span(&[], "06:00", "22:00"), HoursError::EmptyDays { span: 1 }, "weekly[1].days"),
            (
                span(&[Day::Tue], "08:00", "08:00"),
                HoursError::OpenEqualsClose { span: 1, time: t("08:00") },
                "weekly[1].close",
            ),
            (
                span(&[Day::Tue], "00:00", "00:00"),
                HoursError::OpenEqualsClose { span: 1, time: t("00:00") },
                "weekly[1].close",
            ),
            (span(&[Day::Tue], "24:00", "06:00"), HoursError::OpenAt2400 { span: 1 }, "weekly[1].open"),
            (span(&[Day::Tue], "24:00", "24:00"), HoursError::OpenAt2400 { span: 1 }, "weekly[1].open"),
        ];
        for (bad, err, path) in cases {
            let h = OpeningHours::Weekly(vec![ok.clone(), bad]);
            assert_eq!(h.validate(), Err(err.clone()));
            assert_eq!(err.field_path(), path);
            assert_eq!(err.to_field_error("opening_hours").field, format!("opening_hours.{path}"));
            assert!(err.to_string().contains(&path[..9]), "{err}");
        }
        // Overlaps, duplicates and whole days are fine.
        let h = OpeningHours::Weekly(vec![
            ok.clone(),
            span(&[Day::Mon, Day::Mon], "05:00", "23:00"),
            span(&[Day::Sun], "00:00", "24:00"),
        ]);
        assert_eq!(h.validate(), Ok(()));
        assert!(HoursError::OpenEqualsClose { span: 0, time: t("08:00") }.to_string().contains("08:00"));
    }

    #[test]
    fn always_open_is_open() {
        for at in [utc(2024, 1, 1, 0, 0), utc(2024, 3, 31, 1, 30), utc(2030, 12, 31, 23, 59)] {
            assert!(OpeningHours::AlwaysOpen.is_open_at(SH, at));
            assert!(OpeningHours::AlwaysOpen.is_open_at(BERLIN, at));
        }
    }

    #[test]
    fn shanghai_is_utc_plus_8_all_year() {
        let h = OpeningHours::Weekly(vec![span(&WEEKDAYS, "06:00", "22:00")]);
        // 2024-06-03 is a Monday. 06:00 Monday in Shanghai is Sunday 22:00 UTC,
        // so a UTC weekday check would get this wrong.
        assert!(h.is_open_at(SH, utc(2024, 6, 2, 22, 0)));
        assert!(!h.is_open_at(SH, utc(2024, 6, 2, 21, 59)));
        assert!(h.is_open_at(SH, utc(2024, 6, 3, 13, 59))); // 21:59 local
        assert!(!h.is_open_at(SH, utc(2024, 6, 3, 14, 0))); // 22:00 local: closed
        // Same offset in January: China has no DST.
        assert!(h.is_open_at(SH, utc(2024, 1, 7, 22, 0))); // Mon 2024-01-08 06:00
        assert!(!h.is_open_at(SH, utc(2024, 1, 8, 14, 0)));
        // Saturday is not listed.
        assert!(!h.is_open_at(SH, local(SH, 2024, 6, 8, 12, 0)));
    }

    #[test]
    fn overnight_span_runs_into_next_day() {
        // Friday 22:00 – 02:00.
        let h = OpeningHours::Weekly(vec![span(&[Day::Fri], "22:00", "02:00")]);
        // 2024-06-07 is a Friday.
        assert!(!h.is_open_at(SH, local(SH, 2024, 6, 7, 21, 59)));
        assert!(h.is_open_at(SH, local(SH, 2024, 6, 7, 22, 0)));
        assert!(h.is_open_at(SH, local(SH, 2024, 6, 7, 23, 59)));
        assert!(h.is_open_at(SH, local(SH, 2024, 6, 8, 0, 0)));
        assert!(h.is_open_at(SH, local(SH, 2024, 6, 8, 1, 0))); // Saturday 01:00
        assert!(h.is_open_at(SH, local(SH, 2024, 6, 8, 1, 59)));
        assert!(!h.is_open_at(SH, local(SH, 2024, 6, 8, 2, 0)));
        assert!(!h.is_open_at(SH, local(SH, 2024, 6, 8, 22, 30))); // Saturday evening
        assert!(!h.is_open_at(SH, local(SH, 2024, 6, 7, 1, 0))); // Friday early: Thursday not listed
    }

    #[test]
    fn sunday_night_wraps_into_monday() {
        let h = OpeningHours::Weekly(vec![span(&[Day::Sun], "20:00", "03:00")]);
        // 2024-06-09 is a Sunday, 2024-06-10 a Monday.
        assert!(h.is_open_at(SH, local(SH, 2024, 6, 9, 23, 0)));
        assert!(h.is_open_at(SH, local(SH, 2024, 6, 10, 2, 59)));
        assert!(!h.is_open_at(SH, local(SH, 2024, 6, 10, 3, 0)));
        assert!(!h.is_open_at(SH, local(SH, 2024, 6, 11, 1, 0))); // Tuesday
        assert!(!h.is_open_at(SH, local(SH, 2024, 6, 9, 1, 0))); // Sunday early: Saturday not listed
        assert_eq!(Day::Mon.pred(), Day::Sun);
        assert_eq!(Day::Sun.pred(), Day::Sat);
    }

    #[test]
    fn close_at_2400_means_end_of_day() {
        let h = OpeningHours::Weekly(vec![span(&[Day::Mon], "18:00", "24:00")]);
        assert!(h.is_open_at(SH, local(SH, 2024, 6, 10, 23, 59)));
        assert!(h.is_open_at(SH, SH.with_ymd_and_hms(2024, 6, 10, 23, 59, 59).unwrap().with_timezone(&Utc)));
        assert!(!h.is_open_at(SH, local(SH, 2024, 6, 11, 0, 0))); // Tuesday 00:00
        assert!(!h.is_open_at(SH, local(SH, 2024, 6, 10, 17, 59)));
        // A whole day, and whole days chained across midnight.
        let h = OpeningHours::Weekly(vec![span(&[Day::Sat, Day::Sun], "00:00", "24:00")]);
        assert!(h.is_open_at(SH, local(SH, 2024, 6, 8, 0, 0)));
        assert!(h.is_open_at(SH, local(SH, 2024, 6, 9, 23, 59)));
        assert!(!h.is_open_at(SH, local(SH, 2024, 6, 10, 0, 0)));
    }

    #[test]
    fn berlin_across_spring_forward() {
        // 2024-03-31 (Sunday) 02:00 CET became 03:00 CEST, at 01:00 UTC.
        let h = OpeningHours::Weekly(vec![span(&Day::ALL, "06:00", "22:00")]);
        // Saturday, CET (UTC+1): 06:00 local = 05:00 UTC.
        assert!(!h.is_open_at(BERLIN, utc(2024, 3, 30, 4, 59)));
        assert!(h.is_open_at(BERLIN, utc(2024, 3, 30, 5, 0)));
        assert!(!h.is_open_at(BERLIN, utc(2024, 3, 30, 21, 0)));
        // Sunday, CEST (UTC+2): 06:00 local = 04:00 UTC; a fixed +1 would say 05:30.
        assert!(h.is_open_at(BERLIN, utc(2024, 3, 31, 4, 30)));
        assert!(!h.is_open_at(BERLIN, utc(2024, 3, 31, 3, 59)));
        // 22:00 CEST = 20:00 UTC: closed at 20:30 UTC although that is 21:30 in winter time.
        assert!(h.is_open_at(BERLIN, utc(2024, 3, 31, 19, 59)));
        assert!(!h.is_open_at(BERLIN, utc(2024, 3, 31, 20, 30)));

        // A span inside the skipped hour never matches on that night, and the
        // overnight span around it behaves by wall clock.
        let h = OpeningHours::Weekly(vec![span(&[Day::Sat], "23:00", "03:00")]);
        assert!(h.is_open_at(BERLIN, utc(2024, 3, 30, 22, 30))); // Sat 23:30 CET
        assert!(h.is_open_at(BERLIN, utc(2024, 3, 31, 0, 59))); // Sun 01:59 CET
        assert!(!h.is_open_at(BERLIN, utc(2024, 3, 31, 1, 0))); // Sun 03:00 CEST
    }

    #[test]
    fn berlin_across_fall_back() {
        // 2024-10-27 (Sunday) 03:00 CEST became 02:00 CET, at 01:00 UTC: the
        // local hour 02:00–03:00 happens twice, and is open both times.
        let h = OpeningHours::Weekly(vec![span(&[Day::Sun], "02:00", "03:00")]);
        assert!(!h.is_open_at(BERLIN, utc(2024, 10, 26, 23, 59))); // 01:59 CEST
        assert!(h.is_open_at(BERLIN, utc(2024, 10, 27, 0, 30))); // 02:30 CEST
        assert!(h.is_open_at(BERLIN, utc(2024, 10, 27, 1, 30))); // 02:30 CET
        assert!(!h.is_open_at(BERLIN, utc(2024, 10, 27, 2, 0))); // 03:00 CET
    }

    #[test]
    fn invalid_span_is_never_open() {
        let h = OpeningHours::Weekly(vec![span(&Day::ALL, "08:00", "08:00")]);
        assert!(!h.is_open_at(SH, local(SH, 2024, 6, 10, 8, 0)));
        assert!(!h.is_open_at(SH, local(SH, 2024, 6, 10, 12, 0)));
    }

    #[test]
    fn time_zone_names() {
        assert_eq!(parse_time_zone("Asia/Shanghai"), Ok(SH));
        assert_eq!(parse_time_zone("asia/shanghai"), Ok(SH));
        assert_eq!(parse_time_zone(" Europe/Berlin "), Ok(BERLIN));
        assert_eq!(parse_time_zone("UTC"), Ok(chrono_tz::UTC));
        assert_eq!(parse_time_zone("asia/shanghai").map(|tz| tz.name()), Ok("Asia/Shanghai"));
        for bad in ["", "  ", "Asia/Beijing", "CST", "UTC+8", "Mars/Olympus"] {
            let err = parse_time_zone(bad).unwrap_err();
            assert_eq!(err, HoursError::UnknownTimeZone { name: bad.to_owned() }, "{bad}");
            assert!(err.to_string().contains("IANA"));
            assert_eq!(err.to_field_error("time_zone").code(), "field_invalid_format");
        }
        assert_eq!(DEFAULT_TIME_ZONE.name(), "Asia/Shanghai");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Every day 00:00–24:00 is the same as always open, in any zone.
            #[test]
            fn all_day_every_day_equals_always_open(secs in 0i64..4_102_444_800, zone in 0usize..chrono_tz::TZ_VARIANTS.len()) {
                let tz = chrono_tz::TZ_VARIANTS[zone];
                let at = DateTime::from_timestamp(secs, 0).unwrap();
                let h = OpeningHours::Weekly(vec![span(&Day::ALL, "00:00", "24:00")]);
                prop_assert!(h.is_open_at(tz, at));
            }

            /// An overnight span equals the two same-day spans it stands for.
            #[test]
            fn overnight_equals_split(open in 1u16..1440, close in 0u16..1439, d in 0usize..7, secs in 0i64..2_000_000_000) {
                prop_assume!(close < open);
                let day = Day::ALL[d];
                let next = Day::ALL[(d + 1) % 7];
                let o = TimeOfDay { minutes: open };
                let c = TimeOfDay { minutes: close };
                let overnight = OpeningHours::Weekly(vec![DaySpan { days: vec![day], open: o, close: c }]);
                let mut split = vec![DaySpan { days: vec![day], open: o, close: TimeOfDay::END_OF_DAY }];
                if close > 0 {
                    split.push(DaySpan { days: vec![next], open: TimeOfDay::MIDNIGHT, close: c });
                }
                let split = OpeningHours::Weekly(split);
                let at = DateTime::from_timestamp(secs, 0).unwrap();
                prop_assert_eq!(overnight.is_open_at(SH, at), split.is_open_at(SH, at));
                prop_assert_eq!(overnight.is_open_at(BERLIN, at), split.is_open_at(BERLIN, at));
            }
        }
    }
}
