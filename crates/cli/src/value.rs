//! Parsers for command-line values (counts, durations, rates, sizes) that give one-line errors naming the
//! bad input and the expected form. Use them as clap `value_parser`s.

use std::time::Duration;

/// A count such as `1000000`, `1_000_000`, `100k` or `2M` (k = 1,000, M = 1,000,000). Zero is refused.
pub fn count(s: &str) -> Result<u64, String> {
    let n = scaled(s).ok_or_else(|| {
        format!("invalid count '{s}': expected a positive whole number such as 5000, 100k or 1M")
    })?;
    if n == 0 {
        return Err(format!("invalid count '{s}': must be at least 1"));
    }
    if n > 100_000_000 {
        return Err(format!(
            "invalid count '{s}': more than 100M connections is not a plan for one machine"
        ));
    }
    Ok(n)
}

/// A rate in events per second: `20000`, `20k`, `20000/s` or `20k/s`. Zero is refused.
pub fn rate(s: &str) -> Result<u64, String> {
    let body = s.strip_suffix("/s").unwrap_or(s);
    let n = scaled(body).ok_or_else(|| {
        format!("invalid rate '{s}': expected a positive number per second such as 20000/s or 20k/s")
    })?;
    if n == 0 {
        return Err(format!("invalid rate '{s}': must be at least 1/s"));
    }
    Ok(n)
}

/// A duration with a unit: `500ms`, `10s`, `2m`, `1h`, or a combination such as `1m30s`. A bare number is
/// refused because `10` could mean seconds or milliseconds.
pub fn duration(s: &str) -> Result<Duration, String> {
    let err = || {
        format!(
            "invalid duration '{s}': expected a number with a unit (ms, s, m, h), such as 500ms, 30s or 2m"
        )
    };
    if s.is_empty() {
        return Err(err());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(err());
        }
        let (num, tail) = rest.split_at(digits);
        let value: f64 = num.parse().map_err(|_| err())?;
        let unit_len = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let secs = match unit {
            "ms" => value / 1000.0,
            "s" => value,
            "m" => value * 60.0,
            "h" => value * 3600.0,
            _ => return Err(err()),
        };
        total += Duration::from_secs_f64(secs);
        rest = next;
    }
    if total > Duration::from_secs(7 * 24 * 3600) {
        return Err(format!("invalid duration '{s}': longer than a week"));
    }
    Ok(total)
}

/// A duration as [`duration`] that must also be longer than zero (timeouts, run lengths).
pub fn nonzero_duration(s: &str) -> Result<Duration, String> {
    let d = duration(s)?;
    if d.is_zero() {
        return Err(format!("invalid duration '{s}': must be longer than zero"));
    }
    Ok(d)
}

/// A byte size: `64`, `4096`, `64KiB`, `1MiB`, `64k`, `1M` (powers of 1024).
pub fn bytes(s: &str) -> Result<u64, String> {
    let err = || {
        format!(
            "invalid size '{s}': expected a number of bytes with an optional K/KiB, M/MiB or G/GiB suffix"
        )
    };
    let lower = s.to_ascii_lowercase();
    let (num, mult) = [
        ("gib", 1u64 << 30),
        ("mib", 1 << 20),
        ("kib", 1 << 10),
        ("g", 1 << 30),
        ("m", 1 << 20),
        ("k", 1 << 10),
    ]
    .iter()
    .find_map(|(suffix, m)| lower.strip_suffix(suffix).map(|n| (n, *m)))
    .unwrap_or((lower.as_str(), 1));
    let n: u64 = num.replace('_', "").parse().map_err(|_| err())?;
    n.checked_mul(mult).ok_or_else(err)
}

fn scaled(s: &str) -> Option<u64> {
    let s = s.replace('_', "");
    let (num, mult) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1_000u64),
        b'M' | b'm' => (&s[..s.len() - 1], 1_000_000),
        _ => (s.as_str(), 1),
    };
    if num.contains('.') {
        let v: f64 = num.parse().ok()?;
        if !v.is_finite() || v < 0.0 {
            return None;
        }
        let n = v * mult as f64;
        return (n.fract() == 0.0 && n <= u64::MAX as f64).then_some(n as u64);
    }
    num.parse::<u64>().ok()?.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(count("1000000"), Ok(1_000_000));
        assert_eq!(count("1_000_000"), Ok(1_000_000));
        assert_eq!(count("100k"), Ok(100_000));
        assert_eq!(count("1.5M"), Ok(1_500_000));
        assert_eq!(count("2M"), Ok(2_000_000));
        for bad in ["", "-5", "0", "abc", "1e6", "5x", "1000000000"] {
            assert!(count(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn rates() {
        assert_eq!(rate("20000/s"), Ok(20_000));
        assert_eq!(rate("20k"), Ok(20_000));
        for bad in ["0", "0/s", "fast", "-1/s", "/s"] {
            assert!(rate(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        for bad in ["", "10", "s", "10x", "-5s", "1000h"] {
            assert!(duration(bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(duration("0s"), Ok(Duration::ZERO));
        assert!(nonzero_duration("0s").is_err());
        assert_eq!(nonzero_duration("2s"), Ok(Duration::from_secs(2)));
    }

    #[test]
    fn sizes() {
        assert_eq!(bytes("64KiB"), Ok(65536));
        assert_eq!(bytes("64k"), Ok(65536));
        assert_eq!(bytes("100"), Ok(100));
        for bad in ["", "-1", "64q", "KiB"] {
            assert!(bytes(bad).is_err(), "{bad} should be refused");
        }
    }
}
