//! The clock of inbound routes: days, hours and holidays, read in the site's time zone. The
//! driver turns the system time into a [`Clock`]; routing only compares.

use crate::site::InboundRoute;

/// Local civil time at the site, as inbound routes see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// 0 = Monday ... 6 = Sunday.
    pub weekday: u8,
    /// Minutes since local midnight.
    pub minute: u16,
    /// Year, month, day.
    pub date: (i16, u8, u8),
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `mon` ... `sun` (any case) as 0 ... 6.
pub fn weekday(s: &str) -> Option<u8> {
    let s = s.trim().to_ascii_lowercase();
    DAYS.iter().position(|d| *d == s).and_then(|i| u8::try_from(i).ok())
}

/// `08:00-18:00` as minutes since midnight (start, end); `24:00` is allowed as an end.
pub fn hours(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-')?;
    let (start, end) = (minute_of(a)?, minute_of(b)?);
    (start < 24 * 60 && start != end).then_some((start, end))
}

fn minute_of(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || h == 24 && m == 0)).then_some(h * 60 + m)
}

/// `2026-12-25` as (year, month, day); the day is checked against the month (29 February
/// only in leap years).
pub fn date(s: &str) -> Option<(i16, u8, u8)> {
    let mut parts = s.trim().splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i16, u8, u8) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (1..=days).contains(&d).then_some((y, m, d))
}

/// Whether a timed route is open now. An untimed route always is; a timed one never on a
/// holiday, nor when the box does not know the time.
pub fn open(route: &InboundRoute, clock: Option<Clock>, holidays: &[String]) -> bool {
    if !route.timed() {
        return true;
    }
    let Some(now) = clock else { return false };
    if holidays.iter().any(|h| date(h) == Some(now.date)) {
        return false;
    }
    if !route.days.is_empty() && !route.days.iter().any(|d| weekday(d) == Some(now.weekday)) {
        return false;
    }
    match route.hours.as_deref().map(hours) {
        None => true,
        Some(None) => false,
        Some(Some((start, end))) if start < end => (start..end).contains(&now.minute),
        // Spans midnight: 22:00-06:00.
        Some(Some((start, end))) => now.minute >= start || now.minute < end,
    }
}

impl Clock {
    /// The clock at `unix` seconds in the zone `tz` (an IANA name; unknown names read as UTC,
    /// which validation of `site.time_zone` is there to prevent).
    pub fn at(unix: i64, tz: &jiff::tz::TimeZone) -> Option<Clock> {
        let zoned = jiff::Timestamp::from_second(unix).ok()?.to_zoned(tz.clone());
        let weekday = u8::try_from(zoned.weekday().to_monday_zero_offset()).ok()?;
        let minute = u16::try_from(i32::from(zoned.hour()) * 60 + i32::from(zoned.minute())).ok()?;
        let date = (zoned.year(), u8::try_from(zoned.month()).ok()?, u8::try_from(zoned.day()).ok()?);
        Some(Clock { weekday, minute, date })
    }
}
