//! Keys for the inbound limits: one IP, one /24 (IPv4) or /64 (IPv6).

use std::net::IpAddr;

/// The address as 16 bytes, IPv4 (and IPv4-mapped IPv6) as `::ffff:a.b.c.d`,
/// so both spellings of one IPv4 host count together.
pub(super) fn ip_key(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The address's /24 (IPv4, IPv4-mapped included) or /64 (IPv6).
pub(super) fn subnet_key(ip: IpAddr) -> [u8; 16] {
    let mut key = ip_key(ip);
    let mapped = matches!(ip, IpAddr::V4(_))
        || matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some());
    let keep = if mapped { 15 } else { 8 };
    for b in key.iter_mut().skip(keep) {
        *b = 0;
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let a: IpAddr = "192.0.2.1".parse().unwrap_or(IpAddr::from([0; 4]));
        let b: IpAddr = "::ffff:192.0.2.200".parse().unwrap_or(IpAddr::from([0; 4]));
        let c: IpAddr = "192.0.3.1".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(subnet_key(a), subnet_key(b));
        assert_ne!(subnet_key(a), subnet_key(c));
        assert_eq!(ip_key("::ffff:192.0.2.1".parse().unwrap_or(a)), ip_key(a));
        let d: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap_or(a);
        let e: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap_or(a);
        let f: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(a);
        assert_eq!(subnet_key(d), subnet_key(e));
        assert_ne!(subnet_key(d), subnet_key(f));
    }
}
