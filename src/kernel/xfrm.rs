//! IPsec through XFRM netlink, in-process (never by running `ip xfrm`): the ESP security
//! associations (SAs) and outbound policies of an encrypted overlay, and reading them back.
//! This module owns the typed model of one SA and one policy (what the plan carries), their
//! rendering as `ip xfrm` commands (for `--dry-run`), the encoding of `struct xfrm_usersa_info`
//! and friends (`linux/xfrm.h`), and the probe for ESP support. It must not decide *which* SAs
//! a lab gets (the overlay driver's job) nor know about labs.
//!
//! The messages are written here over a bare netlink-sys socket: the rust-netlink family's
//! netlink-packet-xfrm (0.3) is built on netlink-packet-core 0.7 while netlab is on 0.9, so its
//! types cannot be emitted through the core netlab uses, and the four fixed C layouts netlab needs
//! are short. Every SA is ESP in transport mode with AES-GCM as RFC 4106 (`rfc4106(gcm(aes))`:
//! a 128-bit key and a 32-bit salt, a 128-bit ICV).
//!
//! Each call sends one message and waits for its acknowledgement: an SA or a policy is one
//! kernel object, created whole or refused, so the engine's journal rolls back per object.

use std::fmt;
use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::netns;

/// The AEAD every SA uses, by its kernel crypto name.
pub const AEAD: &str = "rfc4106(gcm(aes))";
/// AES-128 key, then the 4-byte salt (RFC 4106 "keying material").
pub const KEY_BYTES: usize = 20;
pub const ICV_BITS: u32 = 128;
/// libnetwork's request id (and policy mark) for its overlay SAs, kept so that `ip xfrm state`
/// shows netlab's SAs the way it shows Docker's.
pub const REQID: u32 = 0xD0C4E3;

/// What netlab says when the kernel cannot do ESP with AES-GCM.
pub const NO_ESP: &str = "this kernel has no IPsec ESP (CONFIG_INET_ESP, with CONFIG_XFRM_USER and CONFIG_CRYPTO_GCM): encrypted overlay networks need it; try 'modprobe esp4', or set encrypted = false";

/// An ESP SA in transport mode from `src` to `dst`, found by the receiver by (`dst`, `spi`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sa {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub spi: u32,
    /// [`KEY_BYTES`] bytes in hex: the AES key, then the salt. The lab is a lab: its state
    /// and its dry run show keys (a real deployment would not).
    pub key: String,
}

/// An outbound policy: UDP from `src`:`sport` to `dst`:`dport` goes through the SA `spi`
/// (ESP, transport mode) to `dst`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Policy {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub spi: u32,
}

impl fmt::Display for Sa {
    /// `ip xfrm state add`'s arguments.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "src {} dst {} proto esp spi {:#010x} reqid {REQID} mode transport aead '{AEAD}' 0x{} {ICV_BITS}",
            self.src, self.dst, self.spi, self.key
        )
    }
}

impl Sa {
    /// `ip xfrm state del`'s arguments.
    pub fn id(&self) -> String {
        format!(
            "src {} dst {} proto esp spi {:#010x}",
            self.src, self.dst, self.spi
        )
    }
    fn key_bytes(&self) -> io::Result<Vec<u8>> {
        let k = &self.key;
        let bad = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the key of SA {} is not {KEY_BYTES} bytes of hex",
                    self.id()
                ),
            )
        };
        if k.len() != KEY_BYTES * 2 {
            return Err(bad());
        }
        (0..KEY_BYTES)
            .map(|i| u8::from_str_radix(&k[2 * i..2 * i + 2], 16).map_err(|_| bad()))
            .collect()
    }
}

impl Policy {
    /// The selector, as `ip xfrm policy` writes it (`del` names a policy by it and its dir).
    pub fn selector(&self) -> String {
        format!(
            "src {}/32 dst {}/32 proto udp sport {} dport {} dir out",
            self.src, self.dst, self.sport, self.dport
        )
    }
}

impl fmt::Display for Policy {
    /// `ip xfrm policy add`'s arguments.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} tmpl src {} dst {} proto esp spi {:#010x} reqid {REQID} mode transport",
            self.selector(),
            self.src,
            self.dst,
            self.spi
        )
    }
}

/// An SA as the kernel has it (`ip xfrm state`), without its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedSa {
    pub src: String,
    pub dst: String,
    pub spi: u32,
    /// esp, ah, comp, or the protocol number.
    pub proto: String,
    /// transport, tunnel, beet, ...
    pub mode: String,
    pub reqid: u32,
    /// The AEAD's name (`rfc4106(gcm(aes))`), or the cipher's when it is not an AEAD.
    pub algorithm: Option<String>,
    pub icv_bits: Option<u32>,
}

/// A policy as the kernel has it (`ip xfrm policy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedPolicy {
    pub src: String,
    pub src_prefix: u8,
    pub dst: String,
    pub dst_prefix: u8,
    /// The selector's layer-4 protocol number (0: any).
    pub proto: u8,
    /// (port, mask) of the selector; mask 0: any port.
    pub sport: (u16, u16),
    pub dport: (u16, u16),
    /// in, out or fwd.
    pub dir: String,
    /// The SAs it sends through: (proto, spi, destination).
    pub tmpl: Vec<(String, u32, String)>,
}

impl ObservedPolicy {
    /// Does an IPv4 UDP datagram from `src`:`sport` to `dst`:`dport` match the selector?
    pub fn matches_udp(&self, src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> bool {
        let within = |a: &str, plen: u8, ip: Ipv4Addr| {
            let Ok(a) = a.parse::<Ipv4Addr>() else {
                return false;
            };
            let mask = if plen == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(plen.min(32)))
            };
            (u32::from(a) ^ u32::from(ip)) & mask == 0
        };
        let port = |(p, m): (u16, u16), x: u16| (p ^ x) & m == 0;
        self.dir == "out"
            && (self.proto == 0 || self.proto == libc::IPPROTO_UDP as u8)
            && within(&self.src, self.src_prefix, src)
            && within(&self.dst, self.dst_prefix, dst)
            && port(self.sport, sport)
            && port(self.dport, dport)
    }
}

/// A namespace's XFRM state: its SAs and policies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    pub states: Vec<ObservedSa>,
    pub policies: Vec<ObservedPolicy>,
}

/// `n` bytes from the kernel's random number generator (getrandom(2), which blocks only until
/// it is seeded at boot), in hex: a lab's IPsec secret.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    let mut got = 0;
    while got < n {
        // SAFETY: writes at most n - got bytes into b[got..], which is that long.
        let r = unsafe { libc::getrandom(b[got..].as_mut_ptr().cast(), n - got, 0) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // Linux has had getrandom(2) since 3.17; there is nothing weaker to fall back on.
            panic!("getrandom(2) failed: {e}");
        }
        got += r as usize;
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// Writing to the kernel

/// Add `sa` in the namespace `ns` is a handle on.
pub fn add_sa_in(ns: &File, sa: &Sa) -> io::Result<()> {
    let msg = wire::new_sa(sa)?;
    match request_in(ns, &msg)? {
        0 => Ok(()),
        errno => Err(refusal(&format!("adding SA {}", sa.id()), errno)),
    }
}

/// Delete `sa` from the namespace `ns` is a handle on. An SA that is not there is not an error.
pub fn delete_sa_in(ns: &File, sa: &Sa) -> io::Result<()> {
    match request_in(ns, &wire::del_sa(sa))? {
        0 => Ok(()),
        e if e == libc::ESRCH || e == libc::ENOENT => Ok(()),
        errno => Err(refusal(&format!("deleting SA {}", sa.id()), errno)),
    }
}

/// Add the outbound policy `p` in the namespace `ns` is a handle on.
pub fn add_policy_in(ns: &File, p: &Policy) -> io::Result<()> {
    match request_in(ns, &wire::new_policy(p))? {
        0 => Ok(()),
        errno => Err(refusal(&format!("adding policy {}", p.selector()), errno)),
    }
}

/// Delete the outbound policy `p`. A policy that is not there is not an error.
pub fn delete_policy_in(ns: &File, p: &Policy) -> io::Result<()> {
    match request_in(ns, &wire::del_policy(p))? {
        0 => Ok(()),
        libc::ENOENT => Ok(()),
        errno => Err(refusal(&format!("deleting policy {}", p.selector()), errno)),
    }
}

/// The kernel's refusal, said with what it was and what to do.
fn refusal(what: &str, errno: i32) -> io::Error {
    let os = io::Error::from_raw_os_error(errno);
    let hint = match errno {
        libc::EPERM => "netlab needs CAP_NET_ADMIN (run it as root)",
        // No ESP type registered (xfrm_get_type), or the AEAD is unknown to the crypto API.
        libc::EPROTONOSUPPORT | libc::ENOSYS | libc::ENOENT => NO_ESP,
        libc::EEXIST => "an SA or policy with that identity is already there",
        _ => "",
    };
    let sep = if hint.is_empty() { "" } else { ": " };
    io::Error::new(os.kind(), format!("{what}: {os}{sep}{hint}"))
}

const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// An XFRM netlink socket opened in the calling thread's namespace.
fn socket_here() -> io::Result<netlink_sys::Socket> {
    let sock = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_XFRM).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "opening an XFRM netlink socket: {e}{}",
                if e.raw_os_error() == Some(libc::EPROTONOSUPPORT) {
                    " (the kernel lacks XFRM netlink: CONFIG_XFRM_USER)"
                } else {
                    ""
                }
            ),
        )
    })?;
    use nix::sys::socket::{setsockopt, sockopt};
    use nix::sys::time::TimeVal;
    setsockopt(
        &sock,
        sockopt::ReceiveTimeout,
        &TimeVal::new(ANSWER_TIMEOUT.as_secs() as i64, 0),
    )?;
    let _ = sock.set_cap_ack(true);
    Ok(sock)
}

/// Send one request from a socket opened in `ns`: 0, or the errno the kernel refused it with.
fn request_in(ns: &File, msg: &[u8]) -> io::Result<i32> {
    let msg = msg.to_vec();
    netns::run_in_handle(ns, move || {
        let sock = socket_here()?;
        request(&sock, &msg)
    })
}

fn request(sock: &netlink_sys::Socket, msg: &[u8]) -> io::Result<i32> {
    sock.send(msg, 0)?;
    loop {
        let (buf, _) = sock.recv_from_full().map_err(timed_out)?;
        for m in crate::kernel::nl_messages(&buf) {
            if m.kind == wire::NLMSG_ERROR && m.body.len() >= 4 {
                let code = i32::from_ne_bytes(m.body[..4].try_into().unwrap());
                return Ok(-code);
            }
        }
    }
}

fn timed_out(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("XFRM netlink did not answer within {ANSWER_TIMEOUT:?}"),
        )
    } else {
        e
    }
}

/// The SAs and policies of the calling thread's namespace (XFRM_MSG_GETSA and GETPOLICY dumps).
/// A kernel without XFRM netlink has none to show.
pub fn dump_here() -> io::Result<Observed> {
    let sock = match socket_here() {
        Ok(s) => s,
        Err(e) if e.raw_os_error() == Some(libc::EPROTONOSUPPORT) => return Ok(Observed::default()),
        Err(e) => return Err(e),
    };
    let mut out = Observed::default();
    for kind in [wire::XFRM_MSG_GETSA, wire::XFRM_MSG_GETPOLICY] {
        sock.send(&wire::dump(kind), 0)?;
        'recv: loop {
            let (buf, _) = sock.recv_from_full().map_err(timed_out)?;
            for m in crate::kernel::nl_messages(&buf) {
                match m.kind {
                    wire::NLMSG_DONE => break 'recv,
                    wire::NLMSG_ERROR => {
                        let code = m
                            .body
                            .get(..4)
                            .map(|b| i32::from_ne_bytes(b.try_into().unwrap()))
                            .unwrap_or(0);
                        if code != 0 {
                            return Err(io::Error::from_raw_os_error(-code));
                        }
                        break 'recv;
                    }
                    wire::XFRM_MSG_NEWSA => out.states.extend(wire::parse_sa(m.body)),
                    wire::XFRM_MSG_NEWPOLICY => out.policies.extend(wire::parse_policy(m.body)),
                    _ => {}
                }
            }
        }
    }
    Ok(out)
}

/// Can this kernel do ESP with AES-GCM through XFRM netlink? Tried for real, in a temporary
/// namespace that dies with the probe: an SA like the ones netlab adds, which the kernel
/// refuses when it lacks the ESP type (CONFIG_INET_ESP, module esp4, loaded on demand) or the
/// AEAD (CONFIG_CRYPTO_GCM). Nothing is left: the SA goes with the namespace.
pub fn esp_supported() -> io::Result<bool> {
    netns::run_in_temporary(|| {
        let sock = match socket_here() {
            Ok(s) => s,
            Err(e) if e.raw_os_error() == Some(libc::EPROTONOSUPPORT) => return Ok(false),
            Err(e) => return Err(e),
        };
        let probe = Sa {
            src: Ipv4Addr::new(192, 0, 2, 1),
            dst: Ipv4Addr::new(192, 0, 2, 2),
            spi: 0x100,
            key: "00".repeat(KEY_BYTES),
        };
        match request(&sock, &wire::new_sa(&probe)?)? {
            0 => Ok(true),
            libc::EPROTONOSUPPORT | libc::ENOSYS | libc::ENOENT => Ok(false),
            errno => Err(refusal("probing for IPsec ESP support", errno)),
        }
    })
}

/// `linux/xfrm.h`'s layouts, as x86_64 and every other Linux ABI netlab runs on lay them out
/// (u64 members aligned to 8).
mod wire {
    use super::*;

    pub const NLMSG_ERROR: u16 = 2;
    pub const NLMSG_DONE: u16 = 3;
    pub const XFRM_MSG_NEWSA: u16 = 0x10;
    pub const XFRM_MSG_DELSA: u16 = 0x11;
    pub const XFRM_MSG_GETSA: u16 = 0x12;
    pub const XFRM_MSG_NEWPOLICY: u16 = 0x13;
    pub const XFRM_MSG_DELPOLICY: u16 = 0x14;
    pub const XFRM_MSG_GETPOLICY: u16 = 0x15;
    const XFRMA_ALG_CRYPT: u16 = 2;
    const XFRMA_TMPL: u16 = 5;
    const XFRMA_ALG_AEAD: u16 = 18;
    const NLM_F_REQUEST: u16 = 1;
    const NLM_F_ACK: u16 = 4;
    const NLM_F_DUMP: u16 = 0x300;
    const NLM_F_EXCL: u16 = 0x200;
    const NLM_F_CREATE: u16 = 0x400;
    const AF_INET: u16 = libc::AF_INET as u16;
    const IPPROTO_ESP: u8 = 50;
    const IPPROTO_UDP: u8 = 17;
    const XFRM_MODE_TRANSPORT: u8 = 0;
    const XFRM_POLICY_OUT: u8 = 1;
    const XFRM_INF: u64 = u64::MAX;

    /// sizeof(struct xfrm_selector), xfrm_usersa_info, xfrm_usersa_id, xfrm_userpolicy_info,
    /// xfrm_userpolicy_id, xfrm_user_tmpl.
    const SELECTOR: usize = 56;
    pub const USERSA_INFO: usize = 224;
    const USERSA_ID: usize = 24;
    pub const USERPOLICY_INFO: usize = 168;
    const USERPOLICY_ID: usize = 64;
    const USER_TMPL: usize = 64;

    fn message(kind: u16, flags: u16, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::with_capacity(16 + body.len());
        m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        m.extend_from_slice(&1u32.to_ne_bytes()); // seq
        m.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        m.extend_from_slice(body);
        m
    }

    fn attr(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
        out.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(data);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }

    fn put(b: &mut [u8], at: usize, v: &[u8]) {
        b[at..at + v.len()].copy_from_slice(v);
    }

    /// A `struct xfrm_selector` for IPv4 (prefix lengths 0 when no address is given).
    fn selector(
        b: &mut [u8],
        src: Option<Ipv4Addr>,
        dst: Option<Ipv4Addr>,
        udp: Option<(u16, u16)>,
    ) {
        if let Some(d) = dst {
            put(b, 0, &d.octets());
            b[42] = 32;
        }
        if let Some(s) = src {
            put(b, 16, &s.octets());
            b[43] = 32;
        }
        if let Some((sport, dport)) = udp {
            put(b, 32, &dport.to_be_bytes());
            put(b, 34, &u16::MAX.to_be_bytes());
            put(b, 36, &sport.to_be_bytes());
            put(b, 38, &u16::MAX.to_be_bytes());
            b[44] = IPPROTO_UDP;
        }
        put(b, 40, &AF_INET.to_ne_bytes());
    }

    /// `struct xfrm_lifetime_cfg` with no limits (XFRM_INF bytes and packets, no timers).
    fn no_limits(b: &mut [u8], at: usize) {
        for i in 0..4 {
            put(b, at + 8 * i, &XFRM_INF.to_ne_bytes());
        }
    }

    pub fn new_sa(sa: &Sa) -> io::Result<Vec<u8>> {
        let key = sa.key_bytes()?;
        let mut b = vec![0u8; USERSA_INFO];
        // sel (0..56): any traffic between the two addresses, as `ip xfrm state add` leaves it.
        put(&mut b, 40, &AF_INET.to_ne_bytes());
        // id (56..80): daddr, spi, proto.
        put(&mut b, 56, &sa.dst.octets());
        put(&mut b, 72, &sa.spi.to_be_bytes());
        b[76] = IPPROTO_ESP;
        put(&mut b, 80, &sa.src.octets());
        no_limits(&mut b, 96);
        put(&mut b, 208, &REQID.to_ne_bytes());
        put(&mut b, 212, &AF_INET.to_ne_bytes());
        b[214] = XFRM_MODE_TRANSPORT;
        // struct xfrm_algo_aead: name[64], key length and ICV length in bits, key.
        let mut aead = vec![0u8; 72];
        put(&mut aead, 0, AEAD.as_bytes());
        put(&mut aead, 64, &((KEY_BYTES * 8) as u32).to_ne_bytes());
        put(&mut aead, 68, &ICV_BITS.to_ne_bytes());
        aead.extend_from_slice(&key);
        attr(&mut b, XFRMA_ALG_AEAD, &aead);
        Ok(message(
            XFRM_MSG_NEWSA,
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &b,
        ))
    }

    pub fn del_sa(sa: &Sa) -> Vec<u8> {
        let mut b = vec![0u8; USERSA_ID];
        put(&mut b, 0, &sa.dst.octets());
        put(&mut b, 16, &sa.spi.to_be_bytes());
        put(&mut b, 20, &AF_INET.to_ne_bytes());
        b[22] = IPPROTO_ESP;
        message(XFRM_MSG_DELSA, NLM_F_ACK, &b)
    }

    pub fn new_policy(p: &Policy) -> Vec<u8> {
        let mut b = vec![0u8; USERPOLICY_INFO];
        selector(
            &mut b[..SELECTOR],
            Some(p.src),
            Some(p.dst),
            Some((p.sport, p.dport)),
        );
        no_limits(&mut b, 56);
        b[160] = XFRM_POLICY_OUT;
        // struct xfrm_user_tmpl: id (daddr, spi, proto), family, saddr, reqid, mode.
        let mut t = vec![0u8; USER_TMPL];
        put(&mut t, 0, &p.dst.octets());
        put(&mut t, 16, &p.spi.to_be_bytes());
        t[20] = IPPROTO_ESP;
        put(&mut t, 24, &AF_INET.to_ne_bytes());
        put(&mut t, 28, &p.src.octets());
        put(&mut t, 44, &REQID.to_ne_bytes());
        t[48] = XFRM_MODE_TRANSPORT;
        // Any algorithm (aalgos, ealgos, calgos all ones), as iproute2 sends.
        put(&mut t, 52, &u32::MAX.to_ne_bytes());
        put(&mut t, 56, &u32::MAX.to_ne_bytes());
        put(&mut t, 60, &u32::MAX.to_ne_bytes());
        attr(&mut b, XFRMA_TMPL, &t);
        message(
            XFRM_MSG_NEWPOLICY,
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &b,
        )
    }

    pub fn del_policy(p: &Policy) -> Vec<u8> {
        let mut b = vec![0u8; USERPOLICY_ID];
        selector(
            &mut b[..SELECTOR],
            Some(p.src),
            Some(p.dst),
            Some((p.sport, p.dport)),
        );
        b[60] = XFRM_POLICY_OUT;
        message(XFRM_MSG_DELPOLICY, NLM_F_ACK, &b)
    }

    /// A dump request has no header of its own (the kernel starts a dump before it checks
    /// one), as `ip xfrm state list` sends it.
    pub fn dump(kind: u16) -> Vec<u8> {
        message(kind, NLM_F_DUMP, &[])
    }

    fn ipv4(b: &[u8], family: u16) -> String {
        if family == AF_INET {
            Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()
        } else {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[..16]);
            std::net::Ipv6Addr::from(a).to_string()
        }
    }

    fn proto_name(p: u8) -> String {
        match p {
            50 => "esp".into(),
            51 => "ah".into(),
            108 => "comp".into(),
            n => n.to_string(),
        }
    }

    fn mode_name(m: u8) -> String {
        match m {
            0 => "transport".into(),
            1 => "tunnel".into(),
            2 => "ro".into(),
            3 => "in_trigger".into(),
            4 => "beet".into(),
            n => n.to_string(),
        }
    }

    fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
        let mut out = Vec::new();
        while b.len() >= 4 {
            let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
            let kind = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
            if len < 4 || len > b.len() {
                break;
            }
            out.push((kind, &b[4..len]));
            b = &b[((len + 3) & !3).min(b.len())..];
        }
        out
    }

    fn c_string(b: &[u8]) -> String {
        let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
        String::from_utf8_lossy(&b[..end]).into_owned()
    }

    pub fn parse_sa(b: &[u8]) -> Option<ObservedSa> {
        if b.len() < USERSA_INFO {
            return None;
        }
        let family = u16::from_ne_bytes([b[212], b[213]]);
        let mut sa = ObservedSa {
            src: ipv4(&b[80..96], family),
            dst: ipv4(&b[56..72], family),
            spi: u32::from_be_bytes(b[72..76].try_into().unwrap()),
            proto: proto_name(b[76]),
            mode: mode_name(b[214]),
            reqid: u32::from_ne_bytes(b[208..212].try_into().unwrap()),
            algorithm: None,
            icv_bits: None,
        };
        for (kind, data) in attrs(&b[USERSA_INFO..]) {
            match kind {
                XFRMA_ALG_AEAD if data.len() >= 72 => {
                    sa.algorithm = Some(c_string(&data[..64]));
                    sa.icv_bits = Some(u32::from_ne_bytes(data[68..72].try_into().unwrap()));
                }
                XFRMA_ALG_CRYPT if data.len() >= 64 && sa.algorithm.is_none() => {
                    sa.algorithm = Some(c_string(&data[..64]));
                }
                _ => {}
            }
        }
        Some(sa)
    }

    pub fn parse_policy(b: &[u8]) -> Option<ObservedPolicy> {
        if b.len() < USERPOLICY_INFO {
            return None;
        }
        let family = u16::from_ne_bytes([b[40], b[41]]);
        let be16 = |at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
        let mut p = ObservedPolicy {
            dst: ipv4(&b[0..16], family),
            src: ipv4(&b[16..32], family),
            dport: (be16(32), be16(34)),
            sport: (be16(36), be16(38)),
            dst_prefix: b[42],
            src_prefix: b[43],
            proto: b[44],
            dir: match b[160] {
                0 => "in".into(),
                1 => "out".into(),
                2 => "fwd".into(),
                n => n.to_string(),
            },
            tmpl: Vec::new(),
        };
        for (kind, data) in attrs(&b[USERPOLICY_INFO..]) {
            if kind != XFRMA_TMPL {
                continue;
            }
            for t in data.chunks_exact(USER_TMPL) {
                let fam = u16::from_ne_bytes([t[24], t[25]]);
                p.tmpl.push((
                    proto_name(t[20]),
                    u32::from_be_bytes(t[16..20].try_into().unwrap()),
                    ipv4(&t[0..16], fam),
                ));
            }
        }
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa() -> Sa {
        Sa {
            src: "10.1.1.11".parse().unwrap(),
            dst: "10.1.1.12".parse().unwrap(),
            spi: 0x1234_5678,
            key: "000102030405060708090a0b0c0d0e0f10111213".into(),
        }
    }

    fn policy() -> Policy {
        Policy {
            src: "10.1.1.11".parse().unwrap(),
            dst: "10.1.1.12".parse().unwrap(),
            sport: 16640,
            dport: 4789,
            spi: 0x1234_5678,
        }
    }

    #[test]
    fn renders_as_ip_xfrm_arguments() {
        assert_eq!(
            sa().to_string(),
            "src 10.1.1.11 dst 10.1.1.12 proto esp spi 0x12345678 reqid 13681891 mode transport aead 'rfc4106(gcm(aes))' 0x000102030405060708090a0b0c0d0e0f10111213 128"
        );
        assert_eq!(
            sa().id(),
            "src 10.1.1.11 dst 10.1.1.12 proto esp spi 0x12345678"
        );
        assert_eq!(
            policy().to_string(),
            "src 10.1.1.11/32 dst 10.1.1.12/32 proto udp sport 16640 dport 4789 dir out tmpl src 10.1.1.11 dst 10.1.1.12 proto esp spi 0x12345678 reqid 13681891 mode transport"
        );
    }

    /// The SA message reads back as the kernel would answer it (the same layout both ways),
    /// with the AEAD and its ICV, and the policy's selector and template likewise.
    #[test]
    fn messages_round_trip_through_the_parser() {
        let m = wire::new_sa(&sa()).unwrap();
        let msgs = crate::kernel::nl_messages(&m);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].kind, wire::XFRM_MSG_NEWSA);
        // header + usersa_info + one attribute of 4 + 72 + 20 bytes
        assert_eq!(m.len(), 16 + wire::USERSA_INFO + 96);
        let back = wire::parse_sa(msgs[0].body).unwrap();
        assert_eq!(back.src, "10.1.1.11");
        assert_eq!(back.dst, "10.1.1.12");
        assert_eq!(back.spi, 0x1234_5678);
        assert_eq!(back.proto, "esp");
        assert_eq!(back.mode, "transport");
        assert_eq!(back.reqid, REQID);
        assert_eq!(back.algorithm.as_deref(), Some(AEAD));
        assert_eq!(back.icv_bits, Some(128));

        let m = wire::new_policy(&policy());
        let msgs = crate::kernel::nl_messages(&m);
        let p = wire::parse_policy(msgs[0].body).unwrap();
        assert_eq!((p.src.as_str(), p.src_prefix), ("10.1.1.11", 32));
        assert_eq!((p.dst.as_str(), p.dst_prefix), ("10.1.1.12", 32));
        assert_eq!(
            (p.proto, p.sport, p.dport),
            (17, (16640, 0xffff), (4789, 0xffff))
        );
        assert_eq!(p.dir, "out");
        assert_eq!(
            p.tmpl,
            [("esp".to_string(), 0x1234_5678, "10.1.1.12".to_string())]
        );
        let (a, b) = ("10.1.1.11".parse().unwrap(), "10.1.1.12".parse().unwrap());
        assert!(p.matches_udp(a, 16640, b, 4789));
        assert!(
            !p.matches_udp(a, 40000, b, 4789),
            "another network's source port"
        );
        assert!(!p.matches_udp(b, 16640, a, 4789));
    }

    #[test]
    fn refuses_a_key_that_is_not_twenty_bytes() {
        let mut bad = sa();
        bad.key.pop();
        assert!(wire::new_sa(&bad).is_err());
        bad.key = "zz".repeat(KEY_BYTES);
        assert!(wire::new_sa(&bad).is_err());
    }

    #[test]
    fn refusals_name_the_kernel_option() {
        let e = refusal("adding SA x", libc::ENOSYS).to_string();
        assert!(
            e.contains("CONFIG_INET_ESP") && e.contains("CONFIG_CRYPTO_GCM"),
            "{e}"
        );
        let e = refusal("adding SA x", libc::EPROTONOSUPPORT).to_string();
        assert!(e.contains("CONFIG_INET_ESP"), "{e}");
    }
}
