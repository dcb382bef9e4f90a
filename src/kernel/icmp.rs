//! Native ICMP echo ("ping") from inside a namespace, over IPv4 (ICMP) or IPv6 (ICMPv6), with a
//! raw socket. Raw sockets work in any fresh namespace as root, whereas unprivileged ping
//! sockets need ping_group_range, which is "1 0" (off) in a new namespace. A raw socket sees
//! every ICMP packet of its namespace (of its family), so replies are matched by identifier,
//! sequence and source, and errors by the echo request they quote.
//!
//! The two families differ only in how a packet is sent and read (see [`EchoSocket`]); what
//! comes back is one [`Heard`] either way, so [`ping_in`] and [`probe_ttl`] run the same loop
//! for both.

use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::netns;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PingResult {
    pub sent: u32,
    pub received: u32,
    /// TTL (IPv4) or hop limit (IPv6) of the first reply, as the receiver saw it.
    pub ttl: Option<u8>,
    /// Fastest round trip, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Why nothing came back, when the kernel or an ICMP error said so.
    pub error: Option<String>,
    /// The MTU that stopped a request sent with DF set ([`PingOptions::size`]): the local
    /// one the send failed with (EMSGSIZE), or the one an ICMP "fragmentation needed" gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

/// How [`ping_in`] sends and waits; the same for IPv4 and IPv6.
#[derive(Debug, Clone, Copy)]
pub struct PingOptions {
    pub count: u32,
    pub interval: Duration,
    /// How long to wait for replies after the last request.
    pub timeout: Duration,
    /// When every request went unanswered and nothing said why (no ICMP error, no refusal),
    /// keep sending one more per interval until this long after the first: a loaded machine
    /// or an emulated VM can hold a reply past `timeout`. Zero: give up after `timeout`.
    pub patience: Duration,
    /// ICMP payload bytes with DF set, as `ping -M do -s N` sends (IPv4 only); None: 56
    /// bytes, and the kernel may fragment.
    pub size: Option<u16>,
    /// The echo identifier to send with ([`fresh_id`]); None: a fresh one.
    pub id: Option<u16>,
}

impl Default for PingOptions {
    fn default() -> Self {
        PingOptions {
            count: 2,
            interval: Duration::from_millis(200),
            timeout: Duration::from_millis(1000),
            patience: Duration::ZERO,
            size: None,
            id: None,
        }
    }
}

impl PingOptions {
    /// What a lab check or scenario step sends: `count` requests 200 ms apart, a second for
    /// the replies, and, when a reply is expected, up to `EXPECTED_REPLY_PATIENCE` of retries
    /// before calling the target unreachable.
    pub fn for_check(count: u32, expect_reply: bool) -> Self {
        PingOptions {
            count,
            patience: if expect_reply {
                EXPECTED_REPLY_PATIENCE
            } else {
                Duration::ZERO
            },
            ..Default::default()
        }
    }
}

/// How long a probe that expects a reply keeps trying when all is silent.
pub const EXPECTED_REPLY_PATIENCE: Duration = Duration::from_secs(4);

static NEXT_ID: AtomicU16 = AtomicU16::new(0);

/// An echo identifier no other probe of this process uses (`trace --capture` filters by it).
pub fn fresh_id() -> u16 {
    next_id()
}

fn next_id() -> u16 {
    let base = std::process::id() as u16;
    base.wrapping_mul(257)
        .wrapping_add(NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

/// Ping `dst` (IPv4 or IPv6) from inside the namespace mounted at `ns_path`.
///
/// An IPv6 link-local destination (fe80::/10) needs the interface it is on, which an
/// [`IpAddr`] does not carry: the kernel refuses the request (EINVAL), and that is the result.
pub fn ping_in(ns_path: &Path, dst: IpAddr, opts: PingOptions) -> io::Result<PingResult> {
    let mut sock = EchoSocket::open(ns_path, dst)?;
    if let Some(n) = opts.size {
        sock.sized(n)?;
    }
    ping(&sock, dst, opts)
}

/// The path MTU the kernel has for `dst` in the namespace at `ns_path` (a learnt exception or
/// the route's device): IP_MTU of a UDP socket connected there, which sends nothing.
fn path_mtu(ns_path: &Path, dst: IpAddr) -> io::Result<u32> {
    netns::run_in_path(ns_path, move || {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
        s.connect(&SockAddr::from(SocketAddr::new(dst, 9)))?;
        let mut mtu: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: IP_MTU writes one int into `mtu`, whose size `len` gives.
        let r = unsafe {
            libc::getsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&s),
                libc::IPPROTO_IP,
                libc::IP_MTU,
                (&mut mtu as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(mtu as u32)
    })
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

const PAYLOAD: &[u8] = b"netlab-probe-payload-56-bytes-of-data-for-a-classic-pin";

/// An ICMP echo request (type 8), checksummed, with `payload` bytes of data (PAYLOAD repeated).
fn echo_request(id: u16, seq: u16, payload: usize) -> Vec<u8> {
    let mut p = vec![8u8, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend(PAYLOAD.iter().cycle().take(payload));
    let c = checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// An ICMPv6 echo request (type 128). The checksum stays zero: it covers a pseudo-header with
/// the source address, which only the kernel knows once it has routed the packet, and the
/// kernel fills it in on every raw ICMPv6 socket (IPV6_CHECKSUM at offset 2 is implicit and
/// cannot be turned off, RFC 3542 3.1).
fn echo_request6(id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![128u8, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(PAYLOAD);
    p
}

enum Reply {
    Echo {
        seq: u16,
        ttl: Option<u8>,
    },
    Error {
        from: IpAddr,
        time_exceeded: bool,
        what: String,
        /// "Fragmentation needed" (ICMPv6 "packet too big"): the next hop's MTU.
        mtu: Option<u32>,
    },
}

/// What one ICMP or ICMPv6 packet on a raw socket says about an echo request of ours, whoever
/// sent it.
#[derive(Debug, PartialEq)]
enum Heard {
    /// An echo reply from `src` to the request (`id`, `seq`), arriving with TTL or hop limit
    /// `ttl` (always known for IPv4; for IPv6 it comes as ancillary data, which a socket
    /// without IPV6_RECVHOPLIMIT does not get).
    Reply {
        src: IpAddr,
        id: u16,
        seq: u16,
        ttl: Option<u8>,
    },
    /// An ICMP error from `src` about the echo request (`id`, `seq`) that was sent to `dst`.
    /// `local`: the sender's own kernel sent it (from the request's source address), which is
    /// how it says it could not resolve the next hop's neighbour (after three ARP requests or
    /// neighbour solicitations).
    Error {
        src: IpAddr,
        dst: IpAddr,
        id: u16,
        seq: u16,
        time_exceeded: bool,
        local: bool,
        what: String,
        mtu: Option<u32>,
    },
}

/// Identifier and sequence number of an echo request or reply (either family: same layout).
fn id_seq(b: &[u8]) -> Option<(u16, u16)> {
    Some((
        u16::from_be_bytes([*b.get(4)?, *b.get(5)?]),
        u16::from_be_bytes([*b.get(6)?, *b.get(7)?]),
    ))
}

/// Parse an IPv4 packet from a raw ICMP socket: echo replies, and errors quoting an echo request.
fn hear(pkt: &[u8]) -> Option<Heard> {
    let ihl = usize::from(pkt.first()? & 0x0f) * 4;
    let ttl = *pkt.get(8)?;
    let src = Ipv4Addr::new(*pkt.get(12)?, *pkt.get(13)?, *pkt.get(14)?, *pkt.get(15)?);
    let icmp = pkt.get(ihl..)?;
    let typ = *icmp.first()?;
    match typ {
        0 => {
            let (id, seq) = id_seq(icmp)?;
            Some(Heard::Reply {
                src: src.into(),
                id,
                seq,
                ttl: Some(ttl),
            })
        }
        _ => {
            let e = icmp4_error(pkt)?;
            if e.protocol != 1 || *e.quoted.first()? != 8 {
                return None;
            }
            let (id, seq) = id_seq(e.quoted)?;
            Some(Heard::Error {
                src: e.from.into(),
                dst: e.quoted_dst.into(),
                id,
                seq,
                time_exceeded: e.time_exceeded,
                local: e.from == e.quoted_src,
                what: e.what,
                mtu: e.mtu,
            })
        }
    }
}

/// An ICMP error (destination unreachable, time exceeded) as a raw ICMP socket reads it, with
/// what it quotes of the packet it is about.
pub(crate) struct Icmp4Error<'a> {
    /// Who sent it.
    pub from: Ipv4Addr,
    pub time_exceeded: bool,
    /// Destination unreachable, code 3.
    pub port_unreachable: bool,
    /// "fragmentation needed": the next hop's MTU.
    pub mtu: Option<u32>,
    /// In ping's words, with its sender: "time to live exceeded (ICMP from 10.0.0.1)".
    pub what: String,
    /// The quoted packet's source, destination and protocol.
    pub quoted_src: Ipv4Addr,
    pub quoted_dst: Ipv4Addr,
    pub protocol: u8,
    /// The quoted packet past its IP header: at least its first 8 bytes (RFC 792).
    pub quoted: &'a [u8],
}

/// Parse an IPv4 packet from a raw ICMP socket as an ICMP error, if it is one.
pub(crate) fn icmp4_error(pkt: &[u8]) -> Option<Icmp4Error<'_>> {
    let addr = |b: &[u8], at: usize| -> Option<Ipv4Addr> {
        let a: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(Ipv4Addr::from(a))
    };
    let ihl = usize::from(pkt.first()? & 0x0f) * 4;
    let from = addr(pkt, 12)?;
    let icmp = pkt.get(ihl..)?;
    let (typ, code) = (*icmp.first()?, *icmp.get(1)?);
    if typ != 3 && typ != 11 {
        return None;
    }
    let inner = icmp.get(8..)?;
    let inner_ihl = usize::from(inner.first()? & 0x0f) * 4;
    // RFC 1191: "fragmentation needed" carries the next hop's MTU in bytes 6-7.
    let mtu = ((typ, code) == (3, 4)).then(|| u32::from(u16::from_be_bytes([icmp[6], icmp[7]])));
    Some(Icmp4Error {
        from,
        time_exceeded: typ == 11,
        port_unreachable: (typ, code) == (3, 3),
        mtu,
        what: format!("{} (ICMP from {from})", icmp4_words(typ, code, mtu)),
        quoted_src: addr(inner, 12)?,
        quoted_dst: addr(inner, 16)?,
        protocol: *inner.get(9)?,
        quoted: inner.get(inner_ihl..)?,
    })
}

/// An ICMP error (type 3 or 11, and its code) in ping's words; `mtu`: what a "fragmentation
/// needed" carries.
fn icmp4_words(typ: u8, code: u8, mtu: Option<u32>) -> String {
    match (typ, code) {
        (11, _) => "time to live exceeded".to_string(),
        (3, 0) => "network unreachable".into(),
        (3, 1) => "host unreachable".into(),
        (3, 3) => "port unreachable".into(),
        (3, 4) => format!("fragmentation needed (mtu = {})", mtu.unwrap_or(0)),
        (3, 13) => "communication administratively prohibited".into(),
        _ => "destination unreachable".into(),
    }
}

/// ICMPv6 types an echo socket listens to: destination unreachable, packet too big, time
/// exceeded, echo reply. Everything else (neighbour discovery, router advertisements, MLD,
/// other people's echo requests) is dropped by the kernel's ICMP6_FILTER.
const ICMP6_HEARD: [u8; 4] = [1, 2, 3, 129];

/// Parse an ICMPv6 message (from `src`, with `hop_limit`) from a raw ICMPv6 socket, which
/// delivers it without its IPv6 header: echo replies, and errors quoting an echo request.
fn hear6(src: Ipv6Addr, hop_limit: Option<u8>, icmp: &[u8]) -> Option<Heard> {
    let (typ, code) = (*icmp.first()?, *icmp.get(1)?);
    match typ {
        129 => {
            let (id, seq) = id_seq(icmp)?;
            Some(Heard::Reply {
                src: src.into(),
                id,
                seq,
                ttl: hop_limit,
            })
        }
        1..=3 => {
            // After the 8-byte error header, as much of the offending packet as fits in the
            // minimum MTU: its IPv6 header (40 bytes), then our echo request. The request
            // carries no extension header (we send none and a router adds none), so the
            // next header must be ICMPv6 itself.
            let inner = icmp.get(8..)?;
            if *inner.get(6)? != 58 {
                return None;
            }
            let addr_at = |at: usize| -> Option<Ipv6Addr> {
                let b: [u8; 16] = inner.get(at..at + 16)?.try_into().ok()?;
                Some(Ipv6Addr::from(b))
            };
            let (inner_src, dst) = (addr_at(8)?, addr_at(24)?);
            let orig = inner.get(40..)?;
            if *orig.first()? != 128 {
                return None;
            }
            let (id, seq) = id_seq(orig)?;
            // RFC 4443 section 3; the wording parallels the IPv4 messages in `hear`.
            let what = match (typ, code) {
                (3, _) => "hop limit exceeded",
                (2, _) => "packet too big",
                (1, 0) => "no route to destination",
                (1, 1) => "communication administratively prohibited",
                (1, 2) => "beyond scope of source address",
                (1, 3) => "address unreachable",
                (1, 4) => "port unreachable",
                (1, 5) => "source address failed ingress/egress policy",
                (1, 6) => "reject route to destination",
                _ => "destination unreachable",
            };
            Some(Heard::Error {
                src: src.into(),
                dst: dst.into(),
                id,
                seq,
                time_exceeded: typ == 3,
                local: src == inner_src,
                what: format!("{what} (ICMPv6 from {src})"),
                // RFC 4443 3.2: "packet too big" carries the next hop's MTU in bytes 4-7.
                mtu: (typ == 2).then(|| u32::from_be_bytes([icmp[4], icmp[5], icmp[6], icmp[7]])),
            })
        }
        _ => None,
    }
}

/// What `heard` says about our requests (identifier `id`, sent to `dst`), if anything.
fn ours(heard: Heard, id: u16, dst: IpAddr) -> Option<Reply> {
    match heard {
        Heard::Reply {
            src,
            id: i,
            seq,
            ttl,
        } if src == dst && i == id => Some(Reply::Echo { seq, ttl }),
        Heard::Error {
            src,
            dst: d,
            id: i,
            time_exceeded,
            what,
            mtu,
            ..
        } if d == dst && i == id => Some(Reply::Error {
            from: src,
            time_exceeded,
            what,
            mtu,
        }),
        _ => None,
    }
}

/// A raw socket for echo requests of one family, opened inside a namespace.
struct EchoSocket {
    sock: Socket,
    v6: bool,
    /// ICMP payload bytes of each request.
    payload: usize,
    /// DF set ([`EchoSocket::sized`]).
    df: bool,
    /// The namespace's mount, to ask for the path MTU a send with DF failed for.
    ns_path: std::path::PathBuf,
}

impl EchoSocket {
    /// A raw ICMP socket for an IPv4 `dst`, a raw ICMPv6 one for an IPv6 `dst`.
    fn open(ns_path: &Path, dst: IpAddr) -> io::Result<EchoSocket> {
        let v6 = dst.is_ipv6();
        let (domain, protocol) = if v6 {
            (Domain::IPV6, Protocol::ICMPV6)
        } else {
            (Domain::IPV4, Protocol::ICMPV4)
        };
        let sock = netns::run_in_path(ns_path, move || {
            Socket::new(domain, Type::RAW, Some(protocol))
        })?;
        if v6 {
            // A raw ICMPv6 socket gets neither the IPv6 header nor, unless asked, the hop
            // limit the reply arrived with: ask for it as ancillary data (IPV6_HOPLIMIT).
            set_opt(
                &sock,
                libc::IPPROTO_IPV6,
                libc::IPV6_RECVHOPLIMIT,
                &(1 as libc::c_int),
            )?;
            // ICMP6_FILTER (<linux/icmpv6.h>, level SOL_ICMPV6): a set bit filters that type out.
            const ICMP6_FILTER: libc::c_int = 1;
            let mut block = [u32::MAX; 8];
            for t in ICMP6_HEARD {
                block[usize::from(t >> 5)] &= !(1u32 << (t & 31));
            }
            set_opt(&sock, libc::IPPROTO_ICMPV6, ICMP6_FILTER, &block)?;
        }
        Ok(EchoSocket {
            sock,
            v6,
            payload: PAYLOAD.len(),
            df: false,
            ns_path: ns_path.to_path_buf(),
        })
    }

    /// Requests of `payload` bytes with DF set (IP_PMTUDISC_DO: the kernel neither fragments
    /// them nor sends one larger than the path MTU), as `ping -M do -s N`.
    fn sized(&mut self, payload: u16) -> io::Result<()> {
        if self.v6 {
            return Err(io::Error::other("sized probes are IPv4 only"));
        }
        set_opt(
            &self.sock,
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            &libc::IP_PMTUDISC_DO,
        )?;
        self.payload = usize::from(payload);
        self.df = true;
        Ok(())
    }

    /// IP TTL (IPv4) or unicast hop limit (IPv6) of the requests sent from now on.
    fn set_hop_limit(&self, hops: u8) -> io::Result<()> {
        if self.v6 {
            self.sock.set_unicast_hops_v6(u32::from(hops))
        } else {
            self.sock.set_ttl_v4(u32::from(hops))
        }
    }

    /// Send the echo request (`id`, `seq`) to `dst`.
    fn send_request(&self, dst: IpAddr, id: u16, seq: u16) -> io::Result<usize> {
        let packet = if self.v6 {
            echo_request6(id, seq)
        } else {
            echo_request(id, seq, self.payload)
        };
        self.sock
            .send_to(&packet, &SockAddr::from(SocketAddr::new(dst, 0)))
    }

    /// What the next packet on the socket says, or None when `deadline` passes first, a
    /// signal interrupts the wait, or the packet is neither an echo reply nor an error about
    /// an echo request (the caller's loop checks its deadlines again and calls again).
    fn hear_until(&self, deadline: Instant) -> io::Result<Option<Heard>> {
        if self.v6 {
            hear6_until(&self.sock, deadline)
        } else {
            Ok(recv_until(&self.sock, deadline)?.and_then(|pkt| hear(&pkt)))
        }
    }
}

/// Whether a failed receive only means "nothing yet" (a timeout, or a signal).
fn is_wait(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// One packet from the raw socket, or None when `deadline` passes first (or a signal
/// interrupts the wait: the caller's loop checks its deadlines again).
fn recv_until(sock: &Socket, deadline: Instant) -> io::Result<Option<Vec<u8>>> {
    let now = Instant::now();
    if now >= deadline {
        return Ok(None);
    }
    sock.set_read_timeout(Some(deadline - now))?;
    match recv_packet(sock) {
        Ok(p) => Ok(Some(p)),
        Err(e) if is_wait(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// One packet from `sock`, waiting as its timeout (or non-blocking mode) lets it.
pub(crate) fn recv_packet(sock: &Socket) -> io::Result<Vec<u8>> {
    let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
    let n = sock.recv(&mut buf)?;
    // SAFETY: recv initialised the first n bytes.
    Ok(buf[..n]
        .iter()
        .map(|b| unsafe { b.assume_init() })
        .collect())
}

/// The next ICMPv6 message on a raw ICMPv6 socket, read with its sender and, when the socket
/// asked for it (IPV6_RECVHOPLIMIT), the hop limit it arrived with, as [`hear6`] understands
/// it; or None when `deadline` passes first (or a signal interrupts the wait).
fn hear6_until(sock: &Socket, deadline: Instant) -> io::Result<Option<Heard>> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrIn6};
    use std::os::fd::AsRawFd;
    let now = Instant::now();
    if now >= deadline {
        return Ok(None);
    }
    sock.set_read_timeout(Some(deadline - now))?;
    let mut buf = [0u8; 1500];
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!(libc::c_int);
    let msg = match recvmsg::<SockaddrIn6>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    ) {
        Ok(m) => m,
        Err(e) => {
            let e = io::Error::from(e);
            return if is_wait(&e) { Ok(None) } else { Err(e) };
        }
    };
    let Some(src) = msg.address.map(|a| a.ip()) else {
        return Ok(None);
    };
    let hops = msg.cmsgs().ok().and_then(|mut c| {
        c.find_map(|m| match m {
            ControlMessageOwned::Ipv6HopLimit(h) => u8::try_from(h).ok(),
            _ => None,
        })
    });
    let n = msg.bytes;
    Ok(hear6(src, hops, &buf[..n]))
}

fn ping(sock: &EchoSocket, dst: IpAddr, opts: PingOptions) -> io::Result<PingResult> {
    let id = opts.id.unwrap_or_else(next_id);
    let mut res = PingResult {
        sent: 0,
        received: 0,
        ttl: None,
        rtt_ms: None,
        error: None,
        mtu: None,
    };
    let mut sent_at: Vec<Instant> = Vec::new();
    let mut count = opts.count;
    let mut got = vec![false; count as usize];
    let start = Instant::now();
    loop {
        let now = Instant::now();
        let n_sent = sent_at.len() as u32;
        if n_sent < count && now >= start + opts.interval * n_sent {
            let seq = n_sent as u16;
            // The clock starts before the send: on a veth path the kernel delivers the request,
            // and queues the reply on this socket, inside send_to itself (as iputils does, which
            // takes its timestamp before sending too).
            let t0 = Instant::now();
            match sock.send_request(dst, id, seq) {
                Ok(_) => {}
                Err(e) => {
                    // No route, network down: the kernel answers at once. With DF, a request
                    // over the path MTU is refused here too, as ping says "local error:
                    // message too long, mtu=1450".
                    if sock.df && e.raw_os_error() == Some(libc::EMSGSIZE) {
                        let mtu = path_mtu(&sock.ns_path, dst).ok();
                        res.mtu = res.mtu.or(mtu);
                        res.error.get_or_insert_with(|| match mtu {
                            Some(m) => format!("local error: message too long, mtu={m}"),
                            None => "local error: message too long".into(),
                        });
                    } else {
                        res.error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            sent_at.push(t0);
            res.sent += 1;
            continue;
        }
        let done_sending = sent_at.len() as u32 == count;
        if done_sending && (res.received == count || (res.received == 0 && res.error.is_some())) {
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
                if res.received == 0 && res.error.is_none() && now < start + opts.patience {
                    // Silence so far: one more request, and the old ones may still answer.
                    count += 1;
                    got.push(false);
                    continue;
                }
                break;
            }
            continue;
        }
        let Some(heard) = sock.hear_until(deadline)? else {
            continue;
        };
        match ours(heard, id, dst) {
            Some(Reply::Echo { seq, ttl }) => {
                let i = seq as usize;
                if i < got.len() && !got[i] {
                    got[i] = true;
                    res.received += 1;
                    if let Some(ttl) = ttl {
                        res.ttl.get_or_insert(ttl);
                    }
                    let rtt = sent_at[i].elapsed().as_secs_f64() * 1000.0;
                    res.rtt_ms = Some(res.rtt_ms.map_or(rtt, |r| r.min(rtt)));
                }
            }
            Some(Reply::Error { what, mtu, .. }) => {
                res.mtu = res.mtu.or(mtu);
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

/// What came back for one echo request sent with a given TTL (IPv4) or hop limit (IPv6).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TtlProbe {
    pub ttl: u8,
    /// "echo-reply", "time-exceeded", "unreachable" or "none".
    pub kind: String,
    /// Who answered, serialised as the bare address string for either family.
    pub from: Option<IpAddr>,
    /// Why the request never left (no route, network down): the kernel refused to send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One echo request with IP TTL (IPv4) or hop limit (IPv6) `ttl` from the namespace at
/// `ns_path`: who answers (the destination, or the router where the TTL ran out), like one
/// line of traceroute. An ICMPv6 "packet too big" counts as "unreachable".
pub fn probe_ttl(ns_path: &Path, dst: IpAddr, ttl: u8, timeout: Duration) -> io::Result<TtlProbe> {
    let sock = EchoSocket::open(ns_path, dst)?;
    sock.set_hop_limit(ttl)?;
    let id = next_id();
    let probe = |kind: &str, from: Option<IpAddr>| TtlProbe {
        ttl,
        kind: kind.into(),
        from,
        error: None,
    };
    if let Err(e) = sock.send_request(dst, id, 0) {
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
        let Some(heard) = sock.hear_until(deadline)? else {
            continue;
        };
        match ours(heard, id, dst) {
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

/// How a sweep sends and waits: in rounds, each to every destination that has not answered yet.
#[derive(Debug, Clone, Copy)]
pub struct SweepOptions {
    /// Echo requests per destination at most (one per round): 2 is one retry.
    pub rounds: u32,
    /// How long a round waits for the replies still missing.
    pub timeout: Duration,
}

/// One source of a sweep: the namespace the requests leave from, and where they go.
#[derive(Debug, Clone)]
pub struct SweepSource {
    pub ns_path: PathBuf,
    pub targets: Vec<Ipv4Addr>,
    /// The target each round starts with, going round from there. A full mesh starts each
    /// source just after itself, so the two directions of most pairs go at different times and
    /// the second finds the neighbour entry the first one's ARP request left at its end,
    /// instead of every source broadcasting for the same destinations at once.
    pub first: usize,
}

/// Ping every target of every source at once: one raw socket per source namespace, its
/// requests sent a few at a time between reads (`send_burst`; each round with its own
/// identifier, the target's index as the sequence number), the replies collected as they come,
/// until every target has answered or the round's timeout (from its last request) passes. The sockets are spread over a few threads that each wait on
/// all of theirs with poll(2), so a lab of unreachable pairs costs `rounds * timeout` in all,
/// not per pair. One result per source, in order: a [`PingResult`] per target, or why the
/// source could not send at all (its namespace is gone).
///
/// IPv4 only (`pingall` pings the labs' IPv4 addresses): an IPv6 sweep would need its own
/// ICMPv6 socket per source, read as [`EchoSocket`] reads one.
pub fn sweep(sources: &[SweepSource], opts: SweepOptions) -> Vec<io::Result<Vec<PingResult>>> {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8)
        .min(sources.len().max(1));
    let mut out: Vec<Option<io::Result<Vec<PingResult>>>> =
        (0..sources.len()).map(|_| None).collect();
    let done: Vec<Vec<(usize, io::Result<Vec<PingResult>>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                s.spawn(move || {
                    let mine: Vec<usize> = (w..sources.len()).step_by(workers).collect();
                    sweep_some(sources, &mine, opts)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("sweep thread panicked"))
            .collect()
    });
    for (i, r) in done.into_iter().flatten() {
        out[i] = Some(r);
    }
    out.into_iter()
        .map(|r| r.expect("every source swept"))
        .collect()
}

/// Where one target of a sweep stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    Waiting,
    /// An echo reply, an ICMP error from elsewhere, or a send the kernel refused: no retry.
    Final,
}

/// The sweep of one source namespace.
struct Sweep<'a> {
    sock: Socket,
    targets: &'a [Ipv4Addr],
    results: Vec<PingResult>,
    answers: Vec<Answer>,
    waiting: usize,
    /// Identifier of each round sent so far; a reply names its round by it.
    ids: Vec<u16>,
    /// When each round's request to each target left, if it did.
    sent_at: Vec<Vec<Option<Instant>>>,
    /// How many targets of the current round have been considered, while it is still sending.
    cursor: Option<usize>,
    /// Where each round starts in `targets` (it goes round from there).
    first: usize,
    /// When the current round stops waiting (set once it has sent its last request).
    deadline: Instant,
    failed: Option<io::Error>,
}

/// The raw socket of a sweep, opened inside the namespace.
fn sweep_socket(ns_path: &Path, targets: usize) -> io::Result<Socket> {
    let sock = netns::run_in_path(ns_path, || {
        Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
    })?;
    // The socket sees every ICMP packet of the namespace, and in a pingall every other source
    // pings this one too: let the kernel drop all but echo replies and errors (ICMP_FILTER,
    // <linux/icmp.h>: a set bit filters that type out).
    const ICMP_FILTER: libc::c_int = 1;
    let keep: u32 = (1 << 0) | (1 << 3) | (1 << 11);
    set_opt(&sock, libc::SOL_RAW, ICMP_FILTER, &!keep)?;
    // Every reply may arrive before the thread reads any: room for all of them. rmem_max caps
    // SO_RCVBUF; root may go past it (SO_RCVBUFFORCE, CAP_NET_ADMIN), else take what is allowed.
    const SO_RCVBUFFORCE: libc::c_int = 33;
    let want = (targets * 4096).clamp(256 * 1024, 16 << 20);
    if set_opt(&sock, libc::SOL_SOCKET, SO_RCVBUFFORCE, &(want as u32)).is_err() {
        sock.set_recv_buffer_size(want)?;
    }
    // A send only blocks when the send buffer is full: never for long, and never forever.
    sock.set_write_timeout(Some(Duration::from_millis(500)))?;
    Ok(sock)
}

/// setsockopt(2) with a plain value (an integer, or an array of them as ICMP6_FILTER takes).
pub(crate) fn set_opt<T: Copy>(
    sock: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `value` is a live T for the duration of the call and its size is passed along.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl<'a> Sweep<'a> {
    fn new(sock: Socket, targets: &'a [Ipv4Addr]) -> Sweep<'a> {
        let empty = PingResult {
            sent: 0,
            received: 0,
            ttl: None,
            rtt_ms: None,
            error: None,
            mtu: None,
        };
        Sweep {
            sock,
            targets,
            results: vec![empty; targets.len()],
            answers: vec![Answer::Waiting; targets.len()],
            waiting: targets.len(),
            ids: Vec::new(),
            sent_at: Vec::new(),
            cursor: None,
            first: 0,
            deadline: Instant::now(),
            failed: None,
        }
    }

    fn finished(&self, rounds: u32) -> bool {
        self.failed.is_some()
            || self.waiting == 0
            || (self.cursor.is_none()
                && self.ids.len() as u32 >= rounds
                && Instant::now() >= self.deadline)
    }

    /// Start a round: one echo request to every target still waiting, under a fresh
    /// identifier, sent a few at a time by [`Sweep::send_some`].
    fn start_round(&mut self) {
        self.ids.push(next_id());
        self.sent_at.push(vec![None; self.targets.len()]);
        self.cursor = Some(0);
    }

    /// Send up to `budget` requests of the current round; how many went out. The round's
    /// wait starts with its last request.
    fn send_some(&mut self, budget: usize, timeout: Duration) -> usize {
        let (Some(mut k), Some(&id)) = (self.cursor, self.ids.last()) else {
            return 0;
        };
        let round = self.ids.len() - 1;
        let n = self.targets.len();
        let mut used = 0;
        while k < n && used < budget {
            let i = (self.first + k) % n;
            k += 1;
            if self.answers[i] != Answer::Waiting {
                continue;
            }
            let packet = echo_request(id, i as u16, PAYLOAD.len());
            let to = SockAddr::from(SocketAddrV4::new(self.targets[i], 0));
            let t0 = Instant::now();
            let sent = loop {
                match self.sock.send_to(&packet, &to) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => break r,
                }
            };
            used += 1;
            match sent {
                Ok(_) => {
                    self.sent_at[round][i] = Some(t0);
                    self.results[i].sent += 1;
                }
                // A full send buffer or queue: the next round tries again.
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.raw_os_error() == Some(libc::ENOBUFS) => {}
                // No route, network down: the kernel answers at once, and will again.
                Err(e) => {
                    self.results[i].sent += 1;
                    self.results[i].error.get_or_insert_with(|| e.to_string());
                    self.settle(i);
                }
            }
        }
        if k >= n {
            self.cursor = None;
            self.deadline = Instant::now() + timeout;
        } else {
            self.cursor = Some(k);
        }
        used
    }

    fn settle(&mut self, i: usize) {
        if self.answers[i] == Answer::Waiting {
            self.answers[i] = Answer::Final;
            self.waiting -= 1;
        }
    }

    /// Which target and round a packet is about: ours by identifier, the target by sequence
    /// number, and it must concern that target's address.
    fn whose(&self, id: u16, seq: u16, addr: IpAddr) -> Option<(usize, usize)> {
        let round = self.ids.iter().position(|&x| x == id)?;
        let i = usize::from(seq);
        (self.targets.get(i).map(|&t| IpAddr::V4(t)) == Some(addr)).then_some((i, round))
    }

    /// Read every packet queued on the socket, without waiting.
    fn drain(&mut self, buf: &mut [MaybeUninit<u8>]) {
        loop {
            let n = match self.sock.recv_with_flags(buf, libc::MSG_DONTWAIT) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    self.failed = Some(e);
                    return;
                }
            };
            // SAFETY: recv initialised the first n bytes of buf.
            let pkt = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
            match hear(pkt) {
                Some(Heard::Reply { src, id, seq, ttl }) => {
                    let Some((i, round)) = self.whose(id, seq, src) else {
                        continue;
                    };
                    let r = &mut self.results[i];
                    r.received += 1;
                    if let Some(ttl) = ttl {
                        r.ttl.get_or_insert(ttl);
                    }
                    r.error = None;
                    if let Some(t0) = self.sent_at[round][i] {
                        let rtt = t0.elapsed().as_secs_f64() * 1000.0;
                        r.rtt_ms = Some(r.rtt_ms.map_or(rtt, |x| x.min(rtt)));
                    }
                    self.settle(i);
                }
                Some(Heard::Error {
                    dst,
                    id,
                    seq,
                    local,
                    what,
                    ..
                }) => {
                    let Some((i, _)) = self.whose(id, seq, dst) else {
                        continue;
                    };
                    if self.results[i].received == 0 {
                        self.results[i].error.get_or_insert(what);
                    }
                    // The source's own kernel gave up on the neighbour: a new request starts
                    // a new resolution, so the next round (if any) asks again.
                    if !local {
                        self.settle(i);
                    }
                }
                None => {}
            }
        }
    }
}

/// The sweeps of `mine` (indexes into `sources`), all at once on this thread.
fn sweep_some(
    sources: &[SweepSource],
    mine: &[usize],
    opts: SweepOptions,
) -> Vec<(usize, io::Result<Vec<PingResult>>)> {
    let mut out = Vec::new();
    let mut sweeps: Vec<(usize, Sweep)> = Vec::new();
    for &i in mine {
        let src = &sources[i];
        if src.targets.len() > usize::from(u16::MAX) + 1 {
            out.push((
                i,
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "more than 65536 destinations from one namespace",
                )),
            ));
            continue;
        }
        match sweep_socket(&src.ns_path, src.targets.len()) {
            Ok(sock) => {
                let mut s = Sweep::new(sock, &src.targets);
                s.first = src.first % src.targets.len().max(1);
                sweeps.push((i, s));
            }
            Err(e) => out.push((i, Err(e))),
        }
    }
    for (_, s) in sweeps.iter_mut() {
        s.start_round();
    }
    let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
    let mut turn = 0;
    let fanout = sweeps
        .iter()
        .map(|(_, s)| s.targets.len())
        .max()
        .unwrap_or(0);
    let burst = send_burst(fanout);
    loop {
        // Close the sweeps that are done; start the next round of those whose round is over.
        let mut k = 0;
        while k < sweeps.len() {
            let s = &mut sweeps[k].1;
            if s.finished(opts.rounds) {
                let (i, s) = sweeps.swap_remove(k);
                out.push((i, s.failed.map_or(Ok(s.results), Err)));
                continue;
            }
            if s.cursor.is_none() && Instant::now() >= s.deadline {
                s.start_round();
            }
            k += 1;
        }
        if sweeps.is_empty() {
            return out;
        }
        // A few requests at a time, taking turns, between reads.
        let mut budget = burst;
        let count = sweeps.len();
        for n in 0..count {
            if budget == 0 {
                break;
            }
            let s = &mut sweeps[(turn + n) % count].1;
            if s.cursor.is_some() {
                budget -= s.send_some(budget.min(SEND_TURN), opts.timeout);
            }
        }
        turn = turn.wrapping_add(1);
        let sending = sweeps.iter().any(|(_, s)| s.cursor.is_some());
        let wait = if sending {
            // Replies ready: read them and go on at once. None yet: let the kernel catch up.
            SEND_PAUSE
        } else {
            let next = sweeps.iter().map(|(_, s)| s.deadline).min().unwrap();
            next.saturating_duration_since(Instant::now())
        };
        let ready = match readable(&sweeps, wait) {
            Ok(r) => r,
            Err(e) => {
                for (i, _) in sweeps.drain(..) {
                    out.push((i, Err(io::Error::new(e.kind(), e.to_string()))));
                }
                return out;
            }
        };
        for (k, (_, s)) in sweeps.iter_mut().enumerate() {
            if ready[k] {
                s.drain(&mut buf);
            }
        }
    }
}

/// Requests a sweep sends from one source before the next source's turn.
const SEND_TURN: usize = 16;
/// How long a sending thread waits for replies before its next burst, when none are ready.
const SEND_PAUSE: Duration = Duration::from_millis(1);

/// Requests a sweep thread sends between two reads, for sources that each ping up to `fanout`
/// destinations (on one bridge, a bridge of about that many ports). Each request crosses a
/// CPU's input backlog (net.core.netdev_max_backlog, 1000 by default) a few times, and before
/// the neighbours are resolved it is also an ARP broadcast the bridge floods to every port: a
/// burst of cold requests to a 100-port bridge is 100 times its size in the backlog. A machine
/// that handles those later than they arrive (busy, or slow) drops the excess without a word,
/// and each lost request, ARP packet or reply costs a retry round at best, or sets off the
/// kernel's own ARP retries, which come all at once and overflow it again. So a burst is at
/// most half a backlog's worth of floods, and the next waits for replies to the last.
fn send_burst(fanout: usize) -> usize {
    (500 / fanout.max(1)).clamp(1, 64)
}

/// Which sockets have something to read, waiting up to `timeout` for one (poll(2)).
fn readable(sweeps: &[(usize, Sweep)], timeout: Duration) -> io::Result<Vec<bool>> {
    use std::os::fd::AsRawFd;
    let mut fds: Vec<libc::pollfd> = sweeps
        .iter()
        .map(|(_, s)| libc::pollfd {
            fd: s.sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // Rounded up, so a wait never ends just short of a deadline and spins.
    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
    // SAFETY: fds is a live array of fds.len() pollfd structs for the duration of the call.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(e);
    }
    Ok(fds.iter().map(|f| f.revents != 0).collect())
}

/// The kernel's IPv4 neighbour (ARP) table, which all namespaces share: its size limit is one
/// sysctl of the root namespace (`net.ipv4.neigh.default.gc_thresh3`, 1024 by default), and
/// entries younger than 5 s are never reclaimed, so a burst of pings that needs more entries
/// than that gets no reply past the limit (the request is dropped before it leaves, and
/// `sendto` still succeeds). Read only, from this process's own /proc.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NeighbourTable {
    /// gc_thresh3, when this process can see it (it exists in the root namespace only).
    pub limit: Option<u64>,
    /// Entries in all namespaces together, permanent ones included.
    pub entries: u64,
    /// How often the table refused a new entry since boot.
    pub table_fulls: u64,
}

pub fn neighbour_table() -> Option<NeighbourTable> {
    let stat = std::fs::read_to_string("/proc/net/stat/arp_cache").ok()?;
    let limit = std::fs::read_to_string("/proc/sys/net/ipv4/neigh/default/gc_thresh3")
        .ok()
        .and_then(|s| s.trim().parse().ok());
    parse_neighbour_stat(&stat, limit)
}

/// The IPv4 neighbour entries (any state) of the namespace at `ns_path`: addresses it has
/// already resolved, or tried to, which a ping reuses instead of adding one.
pub fn neighbours_in(ns_path: &Path) -> io::Result<Vec<Ipv4Addr>> {
    use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute};
    use netlink_packet_route::AddressFamily;
    let msgs = netns::run_in_path(ns_path, || {
        super::dump::Dumper::here()?.neighbours(AddressFamily::Inet)
    })?;
    Ok(msgs
        .iter()
        .filter_map(|m| {
            m.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(*ip),
                _ => None,
            })
        })
        .collect())
}

/// /proc/net/stat/arp_cache: a header, then one line of hex counters per CPU; `entries` is
/// the table's (the same on every line), the others are per CPU.
fn parse_neighbour_stat(stat: &str, limit: Option<u64>) -> Option<NeighbourTable> {
    let mut lines = stat.lines();
    let header: Vec<&str> = lines.next()?.split_whitespace().collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (entries_at, fulls_at) = (col("entries")?, col("table_fulls")?);
    let mut t = NeighbourTable {
        limit,
        entries: 0,
        table_fulls: 0,
    };
    for line in lines {
        let v: Vec<u64> = line
            .split_whitespace()
            .map(|x| u64::from_str_radix(x, 16))
            .collect::<Result<_, _>>()
            .ok()?;
        t.entries = *v.get(entries_at)?;
        t.table_fulls += *v.get(fulls_at)?;
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 packet as `ping` reads it: what it says about our `id` to `dst`.
    fn parse(pkt: &[u8], id: u16, dst: Ipv4Addr) -> Option<Reply> {
        ours(hear(pkt)?, id, dst.into())
    }

    #[test]
    fn checksum_of_echo_request_verifies_to_zero() {
        let p = echo_request(0x1234, 7, PAYLOAD.len());
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
            Some(Reply::Echo {
                seq: 1,
                ttl: Some(63)
            })
        ));
        assert!(parse(&pkt, 0x9999, dst).is_none());
        assert!(parse(&pkt, 0x1234, Ipv4Addr::new(10, 0, 0, 9)).is_none());
    }

    #[test]
    fn parses_errors_about_our_echo_requests() {
        // host unreachable from 10.0.0.1 about an echo request (id 0x1234, seq 5) to 10.0.0.9
        let mut pkt = vec![
            0x45, 0, 0, 56, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 3,
        ];
        pkt.extend_from_slice(&[3, 1, 0, 0, 0, 0, 0, 0]);
        pkt.extend_from_slice(&[
            0x45, 0, 0, 84, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 3, 10, 0, 0, 9,
        ]);
        pkt.extend_from_slice(&[8, 0, 0, 0, 0x12, 0x34, 0, 5]);
        let dst = Ipv4Addr::new(10, 0, 0, 9);
        assert_eq!(
            hear(&pkt),
            Some(Heard::Error {
                src: Ipv4Addr::new(10, 0, 0, 1).into(),
                dst: dst.into(),
                id: 0x1234,
                seq: 5,
                time_exceeded: false,
                local: false,
                what: "host unreachable (ICMP from 10.0.0.1)".into(),
                mtu: None,
            })
        );
        assert!(matches!(
            parse(&pkt, 0x1234, dst),
            Some(Reply::Error {
                time_exceeded: false,
                ..
            })
        ));
        assert!(parse(&pkt, 0x1234, Ipv4Addr::new(10, 0, 0, 2)).is_none());
        // From the sender's own address: its kernel could not resolve the neighbour.
        let mut own = pkt.clone();
        own[12..16].copy_from_slice(&[10, 0, 0, 3]);
        assert!(matches!(hear(&own), Some(Heard::Error { local: true, .. })));
        // An error about someone's echo *reply* is not about a request of ours.
        let n = pkt.len();
        pkt[n - 8] = 0;
        assert_eq!(hear(&pkt), None);
    }

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// An ICMPv6 error of `typ`/`code` quoting an echo request (`id`, `seq`) from `src` to
    /// `dst`: the 8-byte error header, the request's IPv6 header, then the request.
    fn icmp6_error(typ: u8, code: u8, src: Ipv6Addr, dst: Ipv6Addr, id: u16, seq: u16) -> Vec<u8> {
        let mut p = vec![typ, code, 0, 0, 0, 0, 0, 0];
        // version 6, payload length 64, next header ICMPv6 (58), hop limit 1
        p.extend_from_slice(&[0x60, 0, 0, 0, 0, 64, 58, 1]);
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        p.extend_from_slice(&echo_request6(id, seq));
        p
    }

    #[test]
    fn echo_request6_is_type_128_with_the_v4_layout() {
        let p = echo_request6(0x1234, 7);
        assert_eq!(&p[..8], &[128, 0, 0, 0, 0x12, 0x34, 0, 7]);
        // Same payload as the v4 request: the same probe, the other family.
        assert_eq!(&p[8..], &echo_request(0x1234, 7, PAYLOAD.len())[8..]);
    }

    #[test]
    fn parses_echo6_reply_for_our_id_and_destination_only() {
        let src = v6("2001:db8::2");
        let reply = [129, 0, 0xab, 0xcd, 0x12, 0x34, 0, 1];
        let h = hear6(src, Some(63), &reply).unwrap();
        assert_eq!(
            h,
            Heard::Reply {
                src: src.into(),
                id: 0x1234,
                seq: 1,
                ttl: Some(63)
            }
        );
        assert!(matches!(
            ours(h, 0x1234, src.into()),
            Some(Reply::Echo {
                seq: 1,
                ttl: Some(63)
            })
        ));
        let h = || hear6(src, Some(63), &reply).unwrap();
        assert!(ours(h(), 0x9999, src.into()).is_none());
        assert!(ours(h(), 0x1234, v6("2001:db8::9").into()).is_none());
        // The same address as IPv4-mapped is another destination.
        assert!(ours(h(), 0x1234, Ipv4Addr::new(10, 0, 0, 2).into()).is_none());
        // Requests (ours, looped back to a local destination) are not replies.
        assert_eq!(hear6(src, Some(64), &echo_request6(0x1234, 1)), None);
    }

    #[test]
    fn parses_icmp6_errors_about_our_echo_requests() {
        let (me, dst, router) = (v6("2001:db8::3"), v6("2001:db8:9::9"), v6("2001:db8::1"));
        let cases = [
            (1, 0, "no route to destination", false),
            (1, 1, "communication administratively prohibited", false),
            (1, 3, "address unreachable", false),
            (1, 4, "port unreachable", false),
            (1, 42, "destination unreachable", false),
            (2, 0, "packet too big", false),
            (3, 0, "hop limit exceeded", true),
        ];
        for (typ, code, what, time_exceeded) in cases {
            let pkt = icmp6_error(typ, code, me, dst, 0x1234, 5);
            assert_eq!(
                hear6(router, None, &pkt),
                Some(Heard::Error {
                    src: router.into(),
                    dst: dst.into(),
                    id: 0x1234,
                    seq: 5,
                    time_exceeded,
                    local: false,
                    what: format!("{what} (ICMPv6 from 2001:db8::1)"),
                    mtu: (typ == 2).then_some(0),
                }),
                "type {typ} code {code}"
            );
        }
        let pkt = icmp6_error(1, 3, me, dst, 0x1234, 5);
        assert!(matches!(
            ours(hear6(router, None, &pkt).unwrap(), 0x1234, dst.into()),
            Some(Reply::Error {
                time_exceeded: false,
                ..
            })
        ));
        assert!(ours(hear6(router, None, &pkt).unwrap(), 0x1234, me.into()).is_none());
        // From the sender's own address: its kernel could not resolve the neighbour.
        assert!(matches!(
            hear6(me, None, &pkt),
            Some(Heard::Error { local: true, .. })
        ));
        // An error about someone's echo *reply*, or about a packet that is not ICMPv6 (a UDP
        // datagram, next header 17), is not about a request of ours.
        let mut about_reply = pkt.clone();
        about_reply[48] = 129;
        assert_eq!(hear6(router, None, &about_reply), None);
        let mut about_udp = pkt.clone();
        about_udp[8 + 6] = 17;
        assert_eq!(hear6(router, None, &about_udp), None);
        // Cut short before the quoted request's identifier: nothing to match.
        assert_eq!(hear6(router, None, &pkt[..8 + 40 + 4]), None);
        // Other ICMPv6 (a neighbour solicitation, 135) says nothing about echo.
        assert_eq!(hear6(router, None, &[135, 0, 0, 0, 0, 0, 0, 0]), None);
    }

    #[test]
    fn reads_the_neighbour_table_counters() {
        let stat = "entries  allocs   destroys hash_grows lookups  hits     res_failed rcv_probes_mcast rcv_probes_ucast periodic_gc_runs forced_gc_runs unresolved_discards table_fulls\n\
00000379 00001012 00000c7e 00000006   00013c0a 00008afc 00000020   00000000         00000000         000000df         0000cb65       00000000            0000cb60\n\
00000379 00000cc6 00000ce1 00000002   00008923 00002ba1 00000018   00000000         00000000         00000000         00004c9d       00000000            00004c9b\n";
        assert_eq!(
            parse_neighbour_stat(stat, Some(1024)),
            Some(NeighbourTable {
                limit: Some(1024),
                entries: 0x379,
                table_fulls: 0xcb60 + 0x4c9b,
            })
        );
        assert_eq!(parse_neighbour_stat("garbage", None), None);
    }
}
