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
/// Slower than [`diag_tcp`] (the kernel formats every line, and walks its
/// hash table once per page of text); used for fixture trees and when
/// netlink is refused.
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

/// Connections by state of this network namespace, IPv4 and IPv6, from
/// the kernel's `sock_diag` netlink interface (what `ss` uses): one dump
/// per family, no text. `None` when the socket cannot be opened or
/// answers with an error (then [`read_tcp`] is the fallback).
#[cfg(target_os = "linux")]
pub fn diag_tcp() -> Option<[u64; 11]> {
    let mut counts = [0; 11];
    for family in [libc::AF_INET, libc::AF_INET6] {
        diag::dump(family as u8, &mut counts)?;
    }
    Some(counts)
}

/// Not Linux: no netlink.
#[cfg(not(target_os = "linux"))]
pub fn diag_tcp() -> Option<[u64; 11]> {
    None
}

#[cfg(target_os = "linux")]
mod diag {
    //! One `SOCK_DIAG_BY_FAMILY` dump request and its answer.

    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    const NETLINK_SOCK_DIAG: libc::c_int = 4;
    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    const NLMSG_ERROR: u16 = 2;
    const NLMSG_DONE: u16 = 3;
    /// Most messages read per dump: bounds the cost with very many
    /// connections (the counts then stop there).
    const MAX_SOCKETS: usize = 1_000_000;

    #[repr(C)]
    struct NlMsgHdr {
        len: u32,
        ty: u16,
        flags: u16,
        seq: u32,
        pid: u32,
    }

    /// `struct inet_diag_req_v2` with its zeroed `inet_diag_sockid`.
    #[repr(C)]
    struct InetDiagReqV2 {
        family: u8,
        protocol: u8,
        ext: u8,
        pad: u8,
        states: u32,
        id: [u32; 12],
    }

    #[repr(C)]
    struct Request {
        header: NlMsgHdr,
        body: InetDiagReqV2,
    }

    pub(super) fn dump(family: u8, counts: &mut [u64; 11]) -> Option<()> {
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // Never wait on the kernel for more than a second.
        let timeout = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        // SAFETY: `timeout` is a valid timeval of the size given.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const timeout).cast(),
                size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        let request = Request {
            header: NlMsgHdr {
                len: size_of::<Request>() as u32,
                ty: SOCK_DIAG_BY_FAMILY,
                flags: (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16,
                seq: 1,
                pid: 0,
            },
            body: InetDiagReqV2 {
                family,
                protocol: libc::IPPROTO_TCP as u8,
                ext: 0,
                pad: 0,
                states: 0xfff,
                id: [0; 12],
            },
        };
        // SAFETY: `request` is plain data of the length given.
        let sent = unsafe {
            libc::send(
                fd.as_raw_fd(),
                (&raw const request).cast(),
                size_of::<Request>(),
                0,
            )
        };
        if sent != size_of::<Request>() as isize {
            return None;
        }
        let mut buf = vec![0u8; 64 << 10];
        let mut seen = 0;
        loop {
            // SAFETY: `buf` is writable for its length.
            let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n <= 0 {
                return None;
            }
            let mut at = 0;
            let n = n as usize;
            while at + 16 <= n {
                let len = u32::from_ne_bytes(buf[at..at + 4].try_into().ok()?) as usize;
                let ty = u16::from_ne_bytes(buf[at + 4..at + 6].try_into().ok()?);
                match ty {
                    NLMSG_DONE => return Some(()),
                    NLMSG_ERROR => return None,
                    _ => {}
                }
                // inet_diag_msg: family, then state.
                if let Some(&state) = buf.get(at + 17)
                    && (1..=11).contains(&state)
                {
                    counts[usize::from(state) - 1] += 1;
                }
                seen += 1;
                if len < 16 || seen >= MAX_SOCKETS {
                    return Some(());
                }
                at += (len + 3) & !3;
            }
        }
    }
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

    #[test]
    fn netlink_counts_agree_with_proc_net_tcp() {
        let listen = 9;
        let ours: Vec<_> = (0..20)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let diag = diag_tcp().expect("sock_diag answers");
        assert!(diag[listen] >= 20, "our 20 listeners: {diag:?}");
        // Other processes open and close sockets meanwhile: the two ways
        // agree on the listeners in one of a few tries.
        let agree = (0..5).any(|_| {
            let a = diag_tcp().unwrap()[listen];
            let b = read_tcp(Path::new("/proc")).unwrap()[listen];
            a == b
        });
        assert!(agree, "netlink and /proc/net/tcp never agreed");
        drop(ours);
    }
}
