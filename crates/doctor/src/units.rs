//! Numbers as people read them: `1,000,000`, `7.4 GiB`.

/// `1000000` -> `1,000,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in binary units with one decimal: `7.4 GiB`, `512 B`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A value rounded up to three significant digits (`2_200_521` -> `2_210_000`), so a proposed sysctl reads
/// as chosen, not computed.
pub fn round_up(n: u64) -> u64 {
    let mut scale = 1;
    while n / scale >= 1000 {
        scale *= 10;
    }
    n.div_ceil(scale) * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3712 * 2_000_000), "6.9 GiB");
        assert_eq!(round_up(2_200_521), 2_210_000);
        assert_eq!(round_up(1_100_000), 1_100_000);
        assert_eq!(round_up(1_100_119), 1_110_000);
        assert_eq!(round_up(57), 57);
    }
}
