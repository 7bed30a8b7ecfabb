//! Source addresses: `--sources 127.0.0.0/24`, `--sources 127.0.0.1,127.0.0.2` or `--sources auto`, and the
//! arithmetic that keeps every (source, target) pair under half the ephemeral port range.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The most addresses a CIDR may expand to: 2^20 sources hold far more connections than one machine can.
const MAX_SOURCES: u64 = 1 << 20;

/// What `--sources` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// Let the kernel pick (no bind).
    Kernel,
    /// Exactly these addresses.
    List(Vec<IpAddr>),
    /// As many loopback addresses as the plan needs.
    Auto,
}

impl SourceSpec {
    /// Parse `auto`, a CIDR (`127.0.0.0/24`: its host addresses) or a comma-separated list of addresses.
    pub fn parse(s: &str) -> Result<SourceSpec, String> {
        let s = s.trim();
        if s == "auto" {
            return Ok(SourceSpec::Auto);
        }
        if let Some((net, bits)) = s.split_once('/') {
            return cidr_hosts(s, net, bits).map(SourceSpec::List);
        }
        let mut list = Vec::new();
        for item in s.split(',').map(str::trim) {
            let ip: IpAddr = item.parse().map_err(|_| {
                format!("invalid source '{item}': expected auto, a CIDR such as 127.0.0.0/24, or addresses such as 127.0.0.1,127.0.0.2")
            })?;
            list.push(ip);
        }
        Ok(SourceSpec::List(list))
    }
}

fn cidr_hosts(s: &str, net: &str, bits: &str) -> Result<Vec<IpAddr>, String> {
    let err = || format!("invalid source range '{s}': expected an IPv4 CIDR such as 127.0.0.0/24");
    let net: Ipv4Addr = net.parse().map_err(|_| err())?;
    let bits: u32 = bits.parse().map_err(|_| err())?;
    if bits > 32 {
        return Err(err());
    }
    let size = 1u64 << (32 - bits);
    if size > MAX_SOURCES {
        return Err(format!(
            "invalid source range '{s}': {size} addresses is too many; use a prefix of /12 or longer"
        ));
    }
    let base = u64::from(u32::from(net)) & !(size - 1);
    // Skip the network and broadcast addresses except for /31 and /32, which have none.
    let (first, last) = if size > 2 {
        (base + 1, base + size - 2)
    } else {
        (base, base + size - 1)
    };
    Ok((first..=last)
        .map(|a| IpAddr::V4(Ipv4Addr::from(a as u32)))
        .collect())
}

/// How many sources `connections` need so that no (source, target) pair holds more than half of `usable_ports`:
/// past half, `connect()` spends most of its time scanning taken ports.
pub fn sources_needed(connections: u64, targets: usize, usable_ports: u64) -> u64 {
    let per_pair = (usable_ports / 2).max(1);
    connections
        .div_ceil(per_pair)
        .div_ceil(targets.max(1) as u64)
        .max(1)
}

/// `n` loopback sources for `--sources auto`: 127.0.0.1, 127.0.0.2, ... (the whole 127/8 is local on Linux).
pub fn loopback_sources(targets: &[SocketAddr], n: u64) -> Result<Vec<IpAddr>, String> {
    if let Some(t) = targets.iter().find(|t| !t.ip().is_loopback() || t.is_ipv6()) {
        return Err(format!(
            "--sources auto picks 127.x.y.z addresses and needs IPv4 loopback targets, but {t} is not one; give --sources as a list or CIDR"
        ));
    }
    if n >= 1 << 24 {
        return Err(format!(
            "--sources auto would need {n} loopback addresses; 127/8 has fewer"
        ));
    }
    Ok((1..=n)
        .map(|k| IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 0)) + k as u32)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_lists_and_cidrs() {
        assert_eq!(SourceSpec::parse("auto"), Ok(SourceSpec::Auto));
        assert_eq!(
            SourceSpec::parse("127.0.0.1, 127.0.0.2"),
            Ok(SourceSpec::List(vec![ip("127.0.0.1"), ip("127.0.0.2")]))
        );
        let SourceSpec::List(hosts) = SourceSpec::parse("127.0.0.0/24").unwrap() else {
            panic!()
        };
        assert_eq!(hosts.len(), 254);
        assert_eq!((hosts[0], hosts[253]), (ip("127.0.0.1"), ip("127.0.0.254")));
        assert_eq!(
            SourceSpec::parse("10.1.2.3/32"),
            Ok(SourceSpec::List(vec![ip("10.1.2.3")]))
        );
        assert_eq!(
            SourceSpec::parse("10.1.2.7/31"),
            Ok(SourceSpec::List(vec![ip("10.1.2.6"), ip("10.1.2.7")]))
        );
        for bad in [
            "",
            "127.0.0.1,",
            "127.0.0.0/33",
            "127.0.0.0/x",
            "::1/64",
            "0.0.0.0/1",
            "localhost",
        ] {
            assert!(SourceSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn auto_sizing_keeps_pairs_under_half_the_range() {
        // Default range (28232 ports): 14116 per pair, so a million to one target needs 71 sources.
        assert_eq!(sources_needed(1_000_000, 1, 28232), 71);
        assert_eq!(sources_needed(1_000_000, 2, 28232), 36);
        assert_eq!(sources_needed(1000, 1, 28232), 1);
        assert_eq!(sources_needed(5, 1, 0), 5);
    }

    #[test]
    fn loopback_pool() {
        let t: Vec<SocketAddr> = vec!["127.0.0.1:13000".parse().unwrap()];
        let pool = loopback_sources(&t, 300).unwrap();
        assert_eq!(
            (pool[0], pool[255], pool[299]),
            (ip("127.0.0.1"), ip("127.0.1.0"), ip("127.0.1.44"))
        );
        assert!(loopback_sources(&["10.0.0.1:80".parse().unwrap()], 2).is_err());
        assert!(loopback_sources(&["[::1]:80".parse().unwrap()], 2).is_err());
    }
}
