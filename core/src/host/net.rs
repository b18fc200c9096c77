//! `/proc/net/dev` (per-interface counters) and `/proc/net/tcp{,6}` (TCP
//! connections by state).

use std::io::{BufRead, BufReader};
use std::path::Path;

/// Counters of one network interface since boot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetDev {
    /// Interface name (`eth0`).
    pub name: String,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Packets dropped on transmit.
    pub tx_dropped: u64,
}

/// Parses a `/proc/net/dev` text: one entry per interface line.
pub fn parse_dev(text: &str) -> Vec<NetDev> {
    text.lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let v: Vec<u64> = rest
                .split_ascii_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect();
            if v.len() < 16 {
                return None;
            }
            Some(NetDev {
                name: name.trim().to_owned(),
                rx_bytes: v[0],
                rx_packets: v[1],
                rx_errors: v[2],
                rx_dropped: v[3],
                tx_bytes: v[8],
                tx_packets: v[9],
                tx_errors: v[10],
                tx_dropped: v[11],
            })
        })
        .collect()
}

/// TCP states in kernel order (`/proc/net/tcp`'s `st` column, 1 to 11),
/// named as the semantic conventions' `network.connection.state`.
pub const TCP_STATES: [&str; 11] = [
    "established",
    "syn_sent",
    "syn_received",
    "fin_wait_1",
    "fin_wait_2",
    "time_wait",
    "close",
    "close_wait",
    "last_ack",
    "listen",
    "closing",
];

/// Most lines read from each `/proc/net/tcp*` file per sample: bounds the
/// cost on a host with very many connections (the counts then stop there).
pub const MAX_TCP_LINES: usize = 200_000;

/// Adds the connections of one `/proc/net/tcp`-format text to `counts`
/// (indexed like [`TCP_STATES`]).
pub fn count_tcp(reader: impl BufRead, counts: &mut [u64; 11]) {
    for line in reader.lines().skip(1).take(MAX_TCP_LINES) {
        let Ok(line) = line else { break };
        let Some(st) = line.split_ascii_whitespace().nth(3) else {
            continue;
        };
        if let Ok(code) = u8::from_str_radix(st, 16)
            && (1..=11).contains(&code)
        {
            counts[usize::from(code) - 1] += 1;
        }
    }
}

/// Connections by state over `<proc>/net/tcp` and `<proc>/net/tcp6`.
pub fn read_tcp(proc_dir: &Path) -> Option<[u64; 11]> {
    let mut counts = [0; 11];
    let mut any = false;
    for file in ["net/tcp", "net/tcp6"] {
        if let Ok(f) = std::fs::File::open(proc_dir.join(file)) {
            any = true;
            count_tcp(BufReader::with_capacity(64 << 10, f), &mut counts);
        }
    }
    any.then_some(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_lines_become_interfaces() {
        let text = "Inter-|   Receive  |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n\
            lo: 100 2 0 0 0 0 0 0 100 2 0 0 0 0 0 0\n  eth0: 5000 40 1 2 0 0 0 0 3000 30 3 4 0 0 0 0\n";
        let devs = parse_dev(text);
        assert_eq!(devs.len(), 2);
        assert_eq!(devs[1].name, "eth0");
        assert_eq!(
            (
                devs[1].rx_bytes,
                devs[1].rx_packets,
                devs[1].rx_errors,
                devs[1].rx_dropped
            ),
            (5000, 40, 1, 2)
        );
        assert_eq!(
            (
                devs[1].tx_bytes,
                devs[1].tx_packets,
                devs[1].tx_errors,
                devs[1].tx_dropped
            ),
            (3000, 30, 3, 4)
        );
    }

    #[test]
    fn tcp_states_are_counted() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue\n\
           0: 0100007F:4A38 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n\
           1: 0100007F:4A39 0100007F:9000 01 00000000:00000000 00:00000000 00000000 0 0 2 1\n\
           2: 0100007F:4A3A 0100007F:9001 01 00000000:00000000 00:00000000 00000000 0 0 3 1\n\
           3: 0100007F:4A3B 0100007F:9002 06 00000000:00000000 00:00000000 00000000 0 0 4 1\n";
        let mut counts = [0; 11];
        count_tcp(text.as_bytes(), &mut counts);
        assert_eq!(counts[0], 2, "established");
        assert_eq!(counts[5], 1, "time_wait");
        assert_eq!(counts[9], 1, "listen");
        assert_eq!(counts.iter().sum::<u64>(), 4);
    }
}
