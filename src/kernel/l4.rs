//! TCP and UDP probes from inside a namespace (`trace --proto tcp|udp --probe`): a TCP
//! connection attempt (its SYN, answered by a SYN-ACK or a RST) or one UDP datagram (answered
//! by an ICMP port unreachable, a datagram, or nothing), from an ephemeral port of their own,
//! with the IP TTL given, as traceroute's `-T` and `-U` send them. The sockets are the
//! kernel's ordinary ones: what they report is what any client would get. A raw ICMP socket
//! in the same namespace hears the ICMP errors about the probe (time exceeded from a router,
//! host unreachable, fragmentation needed), matched by the source port and destination they
//! quote, which a TCP socket keeps to itself or turns into an errno.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::icmp::{icmp4_error, recv_packet, set_opt};
use super::netns;

/// The payload of a UDP probe: the capture tells the probe apart by it, as well as by its port.
pub const UDP_PAYLOAD: &[u8] = b"netlab trace probe\n";

/// The transport a probe uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Udp,
    Tcp,
}

/// What came back for a probe.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Answer {
    pub proto: Proto,
    /// The destination port the probe was sent to.
    pub port: u16,
    /// The ephemeral port it was sent from (what the capture and the ICMP errors match on).
    pub source_port: u16,
    /// "syn-ack", "rst", "datagram" (the destination's socket answered), "port-unreachable"
    /// (the destination's, for a UDP port nothing is bound to), "time-exceeded",
    /// "unreachable" (another ICMP error), or "none".
    pub kind: String,
    /// Who answered: the destination for syn-ack, rst and datagram, else the ICMP error's sender.
    pub from: Option<IpAddr>,
    /// An ICMP error in words, or why the probe never left (the kernel refused to send it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub what: Option<String>,
    /// Why the probe never left: no route, network down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// From the send to the answer, in milliseconds.
    pub rtt_ms: Option<f64>,
}

/// An ICMP error about a probe, as the raw socket heard it.
#[derive(Debug, Clone, PartialEq)]
struct Heard {
    from: Ipv4Addr,
    time_exceeded: bool,
    port_unreachable: bool,
    what: String,
}

/// Parse an IPv4 packet from a raw ICMP socket: an ICMP error (destination unreachable, time
/// exceeded) quoting a `proto` packet from `sport` to `dst`.
fn hear(pkt: &[u8], proto: Proto, sport: u16, dst: Ipv4Addr) -> Option<Heard> {
    let e = icmp4_error(pkt)?;
    let number = match proto {
        Proto::Tcp => 6,
        Proto::Udp => 17,
    };
    let port = u16::from_be_bytes([*e.quoted.first()?, *e.quoted.get(1)?]);
    if e.protocol != number || e.quoted_dst != dst || port != sport {
        return None;
    }
    Some(Heard {
        from: e.from,
        time_exceeded: e.time_exceeded,
        port_unreachable: e.port_unreachable,
        what: e.what,
    })
}

/// Wait until `fds` (with the events asked) are ready or `deadline` passes: which are ready.
fn ready(fds: &[(&Socket, libc::c_short)], deadline: Instant) -> io::Result<Vec<bool>> {
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .map(|(s, events)| libc::pollfd {
            fd: s.as_raw_fd(),
            events: *events,
            revents: 0,
        })
        .collect();
    let left = deadline.saturating_duration_since(Instant::now());
    let ms = libc::c_int::try_from(left.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
    // SAFETY: `polled` is a live array of as many pollfd as passed.
    let r = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(vec![false; fds.len()])
        } else {
            Err(e)
        };
    }
    Ok(polled.iter().map(|p| p.revents != 0).collect())
}

/// One probe from the namespace at `ns_path` to `dst`:`port` over `proto`, with IP TTL `ttl`
/// (None: the namespace's default), waiting up to `timeout` for the answer. A UDP datagram is
/// sent again every `resend` while nothing comes back (None: once); a TCP SYN is resent as the
/// kernel does (one second later, then two).
pub fn probe(
    ns_path: &Path,
    proto: Proto,
    dst: Ipv4Addr,
    port: u16,
    ttl: Option<u8>,
    timeout: Duration,
    resend: Option<Duration>,
) -> io::Result<Answer> {
    let (ty, protocol) = match proto {
        Proto::Tcp => (Type::STREAM, Protocol::TCP),
        Proto::Udp => (Type::DGRAM, Protocol::UDP),
    };
    let (sock, icmp) = netns::run_in_path(ns_path, move || {
        let sock = Socket::new(Domain::IPV4, ty, Some(protocol))?;
        let icmp = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))?;
        Ok((sock, icmp))
    })?;
    // Only errors reach the raw socket (ICMP_FILTER, <linux/icmp.h>: a set bit filters that
    // type out): destination unreachable and time exceeded.
    const ICMP_FILTER: libc::c_int = 1;
    let keep: u32 = (1 << 3) | (1 << 11);
    set_opt(&icmp, libc::SOL_RAW, ICMP_FILTER, &!keep)?;
    icmp.set_nonblocking(true)?;
    // The source port first: the capture and the ICMP errors are matched by it.
    sock.bind(&SockAddr::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)))?;
    let source_port = sock
        .local_addr()?
        .as_socket()
        .map(|a| a.port())
        .ok_or_else(|| io::Error::other("no local port"))?;
    if let Some(t) = ttl {
        sock.set_ttl_v4(u32::from(t))?;
    }
    sock.set_nonblocking(true)?;
    let mut answer = Answer {
        proto,
        port,
        source_port,
        kind: "none".into(),
        from: None,
        what: None,
        error: None,
        rtt_ms: None,
    };
    let to = SockAddr::from(SocketAddr::new(dst.into(), port));
    let sent_at = Instant::now();
    let refused = |e: &io::Error| {
        // No route, network down: the kernel answers at once, as a client hears it.
        Answer {
            kind: "unreachable".into(),
            error: Some(e.to_string()),
            ..answer.clone()
        }
    };
    match proto {
        Proto::Tcp => match sock.connect(&to) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Ok(refused(&e)),
        },
        Proto::Udp => {
            if let Err(e) = sock.connect(&to).and_then(|_| sock.send(UDP_PAYLOAD)) {
                return Ok(refused(&e));
            }
        }
    }
    let deadline = sent_at + timeout;
    let mut next_send = resend.map(|r| sent_at + r);
    let settle = |answer: &mut Answer, kind: &str, from: Option<IpAddr>| {
        answer.kind = kind.into();
        answer.from = from;
        answer.rtt_ms = Some(sent_at.elapsed().as_secs_f64() * 1000.0);
    };
    let icmp_heard = |answer: &mut Answer| -> bool {
        while let Ok(pkt) = recv_packet(&icmp) {
            if let Some(h) = hear(&pkt, proto, source_port, dst) {
                let ported = h.port_unreachable && h.from == dst;
                let kind = match (h.time_exceeded, ported) {
                    (true, _) => "time-exceeded",
                    (false, true) => "port-unreachable",
                    (false, false) => "unreachable",
                };
                settle(answer, kind, Some(h.from.into()));
                answer.what = (!ported).then_some(h.what);
                return true;
            }
        }
        false
    };
    let event = match proto {
        Proto::Tcp => libc::POLLOUT,
        Proto::Udp => libc::POLLIN,
    };
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(answer);
        }
        let wake = next_send.map_or(deadline, |n| n.min(deadline));
        let r = ready(&[(&sock, event), (&icmp, libc::POLLIN)], wake)?;
        // The raw socket first: an ICMP error reaches it before the protocol's error handler
        // turns it into the socket's errno (ECONNREFUSED for a port unreachable).
        if r[1] && icmp_heard(&mut answer) {
            return Ok(answer);
        }
        if r[0] {
            match proto {
                Proto::Tcp => match sock.take_error()? {
                    None => {
                        settle(&mut answer, "syn-ack", Some(dst.into()));
                        return Ok(answer);
                    }
                    Some(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                        if !icmp_heard(&mut answer) {
                            settle(&mut answer, "rst", Some(dst.into()));
                        }
                        return Ok(answer);
                    }
                    Some(e) => {
                        if !icmp_heard(&mut answer) {
                            settle(&mut answer, "unreachable", None);
                            answer.what = Some(e.to_string());
                        }
                        return Ok(answer);
                    }
                },
                Proto::Udp => {
                    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1500];
                    match sock.recv(&mut buf) {
                        Ok(_) => {
                            settle(&mut answer, "datagram", Some(dst.into()));
                            return Ok(answer);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => {
                            if !icmp_heard(&mut answer) {
                                if e.raw_os_error() == Some(libc::ECONNREFUSED) {
                                    settle(&mut answer, "port-unreachable", Some(dst.into()));
                                } else {
                                    settle(&mut answer, "unreachable", None);
                                    answer.what = Some(e.to_string());
                                }
                            }
                            return Ok(answer);
                        }
                    }
                }
            }
        }
        if let (Some(at), Some(every)) = (next_send, resend) {
            if Instant::now() >= at {
                let _ = sock.send(UDP_PAYLOAD);
                next_send = Some(at + every);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ICMP error of `typ`/`code` from `from`, quoting a packet of protocol `number` from
    /// port `sport` to `dst`.
    fn error(typ: u8, code: u8, from: [u8; 4], number: u8, sport: u16, dst: [u8; 4]) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 56, 0, 0, 0, 0, 64, 1, 0, 0];
        p.extend_from_slice(&from);
        p.extend_from_slice(&[10, 0, 0, 2]);
        p.extend_from_slice(&[typ, code, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&[0x45, 0, 0, 40, 0, 0, 0, 0, 1, number, 0, 0, 10, 0, 0, 2]);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&[0x1f, 0x90, 0, 0, 0, 0]);
        p
    }

    #[test]
    fn errors_are_ours_by_protocol_source_port_and_destination() {
        let dst = Ipv4Addr::new(10, 1, 1, 21);
        let te = error(11, 0, [10, 0, 0, 1], 6, 40000, [10, 1, 1, 21]);
        let h = hear(&te, Proto::Tcp, 40000, dst).unwrap();
        assert!(h.time_exceeded && !h.port_unreachable);
        assert_eq!(h.from, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(
            h.what,
            "time to live exceeded (ICMP from 10.0.0.1)".to_string()
        );
        assert_eq!(hear(&te, Proto::Udp, 40000, dst), None, "another protocol");
        assert_eq!(hear(&te, Proto::Tcp, 40001, dst), None, "another port");
        let other = Ipv4Addr::new(10, 1, 1, 22);
        assert_eq!(hear(&te, Proto::Tcp, 40000, other), None, "elsewhere");
        let pu = error(3, 3, [10, 1, 1, 21], 17, 50000, [10, 1, 1, 21]);
        let h = hear(&pu, Proto::Udp, 50000, dst).unwrap();
        assert!(h.port_unreachable && !h.time_exceeded);
        let mut echo = error(3, 1, [10, 0, 0, 1], 1, 50000, [10, 1, 1, 21]);
        assert_eq!(hear(&echo, Proto::Udp, 50000, dst), None, "an echo's");
        echo[20] = 0;
        assert_eq!(hear(&echo, Proto::Udp, 50000, dst), None, "not an error");
    }
}
