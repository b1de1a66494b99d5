//! The process's own figures from Linux's /proc, for the examples that
//! measure (0 elsewhere): memory, CPU time, UDP datagrams dropped.

/// The process's resident memory, in KiB.
pub(crate) fn rss_kib() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU seconds the process used (user and system).
pub(crate) fn cpu_seconds() -> f64 {
    let (user, system) = cpu_split();
    user + system
}

/// CPU seconds the process used: in user space, and in the kernel.
pub(crate) fn cpu_split() -> (f64, f64) {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = after.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime / 100.0, stime / 100.0))
        })
        .unwrap_or((0.0, 0.0))
}

/// Datagrams the kernel dropped on the IPv4 UDP sockets bound to local
/// `port` (all of them, e.g. a `SO_REUSEPORT` group), mostly for a full
/// receive buffer: the last column of /proc/net/udp.
pub(crate) fn udp_drops(port: u16) -> u64 {
    let want = format!(":{port:04X}");
    std::fs::read_to_string("/proc/net/udp")
        .map(|table| {
            table
                .lines()
                .skip(1)
                .filter(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .is_some_and(|a| a.ends_with(&want))
                })
                .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0)
}
