//! RFC 3339 UTC timestamps, formatted and parsed without a time crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::JournalError;

/// Microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    to_micros(SystemTime::now())
}

/// Converts a `SystemTime` to microseconds since the epoch (negative before 1970).
pub fn to_micros(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_micros() as i64,
        Err(e) => -(e.duration().as_micros() as i64),
    }
}

/// Formats microseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.uuuuuuZ`.
pub fn format_micros(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Formats timestamps, reusing the date-and-seconds part while the second does not change.
#[derive(Debug, Default)]
pub struct TimeCache {
    sec: Option<i64>,
    /// `YYYY-MM-DDTHH:MM:SS.`
    prefix: String,
}

impl TimeCache {
    /// Same output as [`format_micros`].
    pub fn format(&mut self, us: i64) -> String {
        let sec = us.div_euclid(1_000_000);
        if self.sec != Some(sec) {
            let full = format_micros(us);
            self.prefix = full[..20].to_string();
            self.sec = Some(sec);
        }
        let mut frac = us.rem_euclid(1_000_000) as u32;
        let mut digits = [b'0'; 6];
        for d in digits.iter_mut().rev() {
            *d = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        let mut out = String::with_capacity(27);
        out.push_str(&self.prefix);
        out.push_str(std::str::from_utf8(&digits).unwrap_or("000000"));
        out.push('Z');
        out
    }
}

/// Parses an RFC 3339 time (`Z` or `+hh:mm` offset, optional fraction), a bare date
/// (`2026-01-31`, midnight UTC) or a relative duration ago (`90s`, `15m`, `2h`, `7d`).
pub fn parse_time(s: &str) -> Result<i64, JournalError> {
    let bad = || JournalError::BadTime(s.to_string());
    let t = s.trim();
    if let Some(d) = parse_duration(t) {
        return Ok(now_micros() - d.as_micros() as i64);
    }
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<i64, JournalError> {
        let part = t.get(r).ok_or_else(bad)?;
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let mut us = days_from_civil(y, mo, d) * 86_400_000_000;
    if b.len() == 10 {
        return Ok(us);
    }
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || se > 60 {
        return Err(bad());
    }
    us += (h * 3600 + mi * 60 + se) * 1_000_000;
    let mut i = 19;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &t[start..i];
        if digits.is_empty() {
            return Err(bad());
        }
        let mut frac: i64 = 0;
        for (n, c) in digits.bytes().take(6).enumerate() {
            frac += i64::from(c - b'0') * 10i64.pow(5 - n as u32);
        }
        us += frac;
    }
    match &t[i..] {
        "Z" | "z" => Ok(us),
        off if off.len() == 6 && (off.starts_with('+') || off.starts_with('-')) => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let sign = if off.starts_with('+') { 1 } else { -1 };
            Ok(us - sign * (oh * 3600 + om * 60) * 1_000_000)
        }
        _ => Err(bad()),
    }
}

/// Parses `90s`, `15m`, `2h`, `7d`, `1w`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = n.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        "w" => n * 7 * 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

// Howard Hinnant's civil calendar algorithms.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_micros(951_782_400_000_001),
            "2000-02-29T00:00:00.000001Z"
        );
        assert_eq!(
            format_micros(1_798_761_599_500_000),
            "2026-12-31T23:59:59.500000Z"
        );
    }

    #[test]
    fn cache_matches_plain_formatting() {
        let mut c = TimeCache::default();
        for us in [
            0i64,
            1,
            999_999,
            1_000_000,
            1_798_761_599_500_000,
            1_798_761_599_500_001,
            1_798_761_600_000_000,
        ] {
            assert_eq!(c.format(us), format_micros(us));
        }
    }

    #[test]
    fn parse_round_trips_and_accepts_offsets() {
        for us in [
            0i64,
            951_782_400_000_001,
            1_798_761_599_500_000,
            4_102_444_800_123_456,
        ] {
            assert_eq!(parse_time(&format_micros(us)).unwrap(), us);
        }
        assert_eq!(
            parse_time("2026-01-31T13:00:00+01:00").unwrap(),
            parse_time("2026-01-31T12:00:00Z").unwrap()
        );
        assert_eq!(
            parse_time("2026-01-31").unwrap(),
            parse_time("2026-01-31T00:00:00Z").unwrap()
        );
        assert!(parse_time("2026-13-01").is_err());
        assert!(parse_time("yesterday").is_err());
        let ago = parse_time("2h").unwrap();
        assert!((now_micros() - ago - 7_200_000_000).abs() < 5_000_000);
    }
}
