//! Native ICMP echo ("ping") from inside a namespace, with a raw socket. Raw sockets work in
//! any fresh namespace as root, whereas unprivileged ping sockets need ping_group_range,
//! which is "1 0" (off) in a new namespace. The raw socket sees every ICMP packet of its
//! namespace, so replies are matched by identifier, sequence and source.

use std::io;
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::netns;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PingResult {
    pub sent: u32,
    pub received: u32,
    /// TTL of the first reply, as the receiver saw it.
    pub ttl: Option<u8>,
    /// Fastest round trip, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Why nothing came back, when the kernel or an ICMP error said so.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct PingOptions {
    pub count: u32,
    pub interval: Duration,
    /// How long to wait for replies after the last request.
    pub timeout: Duration,
}

impl Default for PingOptions {
    fn default() -> Self {
        PingOptions {
            count: 2,
            interval: Duration::from_millis(200),
            timeout: Duration::from_millis(1000),
        }
    }
}

static NEXT_ID: AtomicU16 = AtomicU16::new(0);

fn next_id() -> u16 {
    let base = std::process::id() as u16;
    base.wrapping_mul(257)
        .wrapping_add(NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

/// Ping `dst` from inside the namespace mounted at `ns_path`.
pub fn ping_in(ns_path: &Path, dst: Ipv4Addr, opts: PingOptions) -> io::Result<PingResult> {
    let sock = netns::run_in_path(ns_path, || {
        Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
    })?;
    ping(&sock, dst, opts)
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn echo_request(id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![8u8, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(b"netlab-probe-payload-56-bytes-of-data-for-a-classic-pin");
    let c = checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

enum Reply {
    Echo {
        seq: u16,
        ttl: u8,
    },
    Error {
        from: Ipv4Addr,
        time_exceeded: bool,
        what: String,
    },
}

/// Parse an IPv4 packet from a raw ICMP socket; only packets about our `id` are returned.
fn parse(pkt: &[u8], id: u16, dst: Ipv4Addr) -> Option<Reply> {
    let ihl = usize::from(pkt.first()? & 0x0f) * 4;
    let ttl = *pkt.get(8)?;
    let src = Ipv4Addr::new(*pkt.get(12)?, *pkt.get(13)?, *pkt.get(14)?, *pkt.get(15)?);
    let icmp = pkt.get(ihl..)?;
    let (typ, code) = (*icmp.first()?, *icmp.get(1)?);
    match typ {
        0 if src == dst && u16::from_be_bytes([*icmp.get(4)?, *icmp.get(5)?]) == id => {
            Some(Reply::Echo {
                seq: u16::from_be_bytes([*icmp.get(6)?, *icmp.get(7)?]),
                ttl,
            })
        }
        3 | 11 => {
            let inner = icmp.get(8..)?;
            let inner_ihl = usize::from(inner.first()? & 0x0f) * 4;
            let inner_dst = Ipv4Addr::new(
                *inner.get(16)?,
                *inner.get(17)?,
                *inner.get(18)?,
                *inner.get(19)?,
            );
            let orig = inner.get(inner_ihl..)?;
            if inner_dst != dst
                || *orig.first()? != 8
                || u16::from_be_bytes([*orig.get(4)?, *orig.get(5)?]) != id
            {
                return None;
            }
            let what = match (typ, code) {
                (11, _) => "time to live exceeded",
                (3, 0) => "network unreachable",
                (3, 1) => "host unreachable",
                (3, 3) => "port unreachable",
                (3, 4) => "fragmentation needed",
                (3, 13) => "communication administratively prohibited",
                _ => "destination unreachable",
            };
            Some(Reply::Error {
                from: src,
                time_exceeded: typ == 11,
                what: format!("{what} (ICMP from {src})"),
            })
        }
        _ => None,
    }
}

/// One packet from the raw socket, or None when `deadline` passes first (or a signal
/// interrupts the wait: the caller's loop checks its deadlines again).
fn recv_until(sock: &Socket, deadline: Instant) -> io::Result<Option<Vec<u8>>> {
    let now = Instant::now();
    if now >= deadline {
        return Ok(None);
    }
    sock.set_read_timeout(Some(deadline - now))?;
    let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
    match sock.recv(&mut buf) {
        // SAFETY: recv initialised the first n bytes.
        Ok(n) => Ok(Some(
            buf[..n]
                .iter()
                .map(|b| unsafe { b.assume_init() })
                .collect(),
        )),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn ping(sock: &Socket, dst: Ipv4Addr, opts: PingOptions) -> io::Result<PingResult> {
    let id = next_id();
    let to = SockAddr::from(SocketAddrV4::new(dst, 0));
    let mut res = PingResult {
        sent: 0,
        received: 0,
        ttl: None,
        rtt_ms: None,
        error: None,
    };
    let mut sent_at: Vec<Instant> = Vec::new();
    let mut got = vec![false; opts.count as usize];
    let start = Instant::now();
    loop {
        let now = Instant::now();
        let n_sent = sent_at.len() as u32;
        if n_sent < opts.count && now >= start + opts.interval * n_sent {
            let seq = n_sent as u16;
            let packet = echo_request(id, seq);
            // The clock starts before the send: on a veth path the kernel delivers the request,
            // and queues the reply on this socket, inside send_to itself (as iputils does, which
            // takes its timestamp before sending too).
            let t0 = Instant::now();
            match sock.send_to(&packet, &to) {
                Ok(_) => {}
                Err(e) => {
                    // No route, network down: the kernel answers at once.
                    res.error.get_or_insert_with(|| e.to_string());
                }
            }
            sent_at.push(t0);
            res.sent += 1;
            continue;
        }
        let done_sending = sent_at.len() as u32 == opts.count;
        if done_sending
            && (res.received == opts.count || (res.received == 0 && res.error.is_some()))
        {
            break;
        }
        let deadline = if done_sending {
            *sent_at.last().unwrap() + opts.timeout
        } else {
            start + opts.interval * sent_at.len() as u32
        };
        let now = Instant::now();
        if now >= deadline {
            if done_sending {
                break;
            }
            continue;
        }
        let Some(pkt) = recv_until(sock, deadline)? else {
            continue;
        };
        match parse(&pkt, id, dst) {
            Some(Reply::Echo { seq, ttl }) => {
                let i = seq as usize;
                if i < got.len() && !got[i] {
                    got[i] = true;
                    res.received += 1;
                    res.ttl.get_or_insert(ttl);
                    let rtt = sent_at[i].elapsed().as_secs_f64() * 1000.0;
                    res.rtt_ms = Some(res.rtt_ms.map_or(rtt, |r| r.min(rtt)));
                }
            }
            Some(Reply::Error { what, .. }) => {
                res.error.get_or_insert(what);
            }
            None => {}
        }
    }
    if res.received > 0 {
        res.error = None;
    }
    Ok(res)
}

/// What came back for one echo request sent with a given TTL.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TtlProbe {
    pub ttl: u8,
    /// "echo-reply", "time-exceeded", "unreachable" or "none".
    pub kind: String,
    pub from: Option<Ipv4Addr>,
    /// Why the request never left (no route, network down): the kernel refused to send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One echo request with IP TTL `ttl` from the namespace at `ns_path`: who answers (the
/// destination, or the router where the TTL ran out), like one line of traceroute.
pub fn probe_ttl(
    ns_path: &Path,
    dst: Ipv4Addr,
    ttl: u8,
    timeout: Duration,
) -> io::Result<TtlProbe> {
    let sock = netns::run_in_path(ns_path, || {
        Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
    })?;
    sock.set_ttl_v4(u32::from(ttl))?;
    let id = next_id();
    let probe = |kind: &str, from: Option<Ipv4Addr>| TtlProbe {
        ttl,
        kind: kind.into(),
        from,
        error: None,
    };
    if let Err(e) = sock.send_to(
        &echo_request(id, 0),
        &SockAddr::from(SocketAddrV4::new(dst, 0)),
    ) {
        // No route, network down: the kernel answers at once, as ping says "connect: Network
        // is unreachable". That is an answer, not a failure of the probe.
        return Ok(TtlProbe {
            error: Some(e.to_string()),
            ..probe("unreachable", None)
        });
    }
    let deadline = Instant::now() + timeout;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(probe("none", None));
        }
        let Some(pkt) = recv_until(&sock, deadline)? else {
            continue;
        };
        match parse(&pkt, id, dst) {
            Some(Reply::Echo { .. }) => return Ok(probe("echo-reply", Some(dst))),
            Some(Reply::Error {
                from,
                time_exceeded,
                ..
            }) => {
                let kind = if time_exceeded {
                    "time-exceeded"
                } else {
                    "unreachable"
                };
                return Ok(probe(kind, Some(from)));
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_echo_request_verifies_to_zero() {
        let p = echo_request(0x1234, 7);
        assert_eq!(checksum(&p), 0);
    }

    #[test]
    fn parses_echo_reply_for_our_id_only() {
        let mut pkt = vec![
            0x45, 0, 0, 84, 0, 0, 0, 0, 63, 1, 0, 0, 10, 0, 0, 2, 10, 0, 0, 3,
        ];
        pkt.extend_from_slice(&[0, 0, 0, 0, 0x12, 0x34, 0, 1]);
        let dst = Ipv4Addr::new(10, 0, 0, 2);
        assert!(matches!(
            parse(&pkt, 0x1234, dst),
            Some(Reply::Echo { seq: 1, ttl: 63 })
        ));
        assert!(parse(&pkt, 0x9999, dst).is_none());
        assert!(parse(&pkt, 0x1234, Ipv4Addr::new(10, 0, 0, 9)).is_none());
    }
}
