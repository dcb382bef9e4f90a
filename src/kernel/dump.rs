//! Read-side netlink: synchronous dumps (links, addresses, routes, neighbours, FDB, nsids) on a
//! socket opened in the calling thread's namespace. Synchronous on purpose: the observer walks
//! many namespaces from a few worker threads, each entering one namespace after another, and a
//! blocking request/response loop is the cheapest way to do one dump per namespace.

use std::io;
use std::os::fd::RawFd;

use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::neighbour::NeighbourMessage;
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

pub struct Dumper {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

const RTM_NEWLINK: u16 = 16;
const IFLA_IFNAME: u16 = 3;

/// `a\xffb` for the bytes `a 0xff b`: valid UTF-8 kept, every other byte as `\xNN`.
pub fn escape_name(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Parse an RTM_NEWLINK message whose IFLA_IFNAME is not UTF-8: the name bytes are replaced
/// by `?` in a copy (same length, so the layout holds), and the parsed name is then set to
/// the escaped original.
fn deserialize_escaped(buf: &[u8]) -> Option<NetlinkMessage<RouteNetlinkMessage>> {
    const HDR: usize = 16; // nlmsghdr
    const IFINFO: usize = 16; // ifinfomsg
    if buf.len() < HDR + IFINFO {
        return None;
    }
    let len = u32::from_ne_bytes(buf[0..4].try_into().ok()?) as usize;
    let kind = u16::from_ne_bytes(buf[4..6].try_into().ok()?);
    if kind != RTM_NEWLINK || len > buf.len() {
        return None;
    }
    let mut copy = buf[..len].to_vec();
    let mut escaped = None;
    let mut at = HDR + IFINFO;
    while at + 4 <= len {
        let alen = u16::from_ne_bytes(copy[at..at + 2].try_into().ok()?) as usize;
        let atype = u16::from_ne_bytes(copy[at + 2..at + 4].try_into().ok()?) & 0x3fff;
        if alen < 4 || at + alen > len {
            return None;
        }
        if atype == IFLA_IFNAME {
            let data = &mut copy[at + 4..at + alen];
            let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
            if std::str::from_utf8(&data[..end]).is_err() {
                escaped = Some(escape_name(&data[..end]));
                for b in &mut data[..end] {
                    *b = b'?';
                }
            }
        }
        at += (alen + 3) & !3;
    }
    let name = escaped?;
    let mut m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&copy).ok()?;
    if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) = &mut m.payload {
        for a in &mut l.attributes {
            if let netlink_packet_route::link::LinkAttribute::IfName(n) = a {
                *n = name.clone();
            }
        }
    }
    Some(m)
}

impl Dumper {
    /// A netlink socket in the current thread's network namespace.
    pub fn here() -> io::Result<Dumper> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(Dumper {
            sock,
            seq: 0,
            buf: vec![0; 1 << 16],
        })
    }

    fn request(
        &mut self,
        payload: RouteNetlinkMessage,
        dump: bool,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq += 1;
        let mut msg = NetlinkMessage::from(payload);
        msg.header.flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { 0 };
        msg.header.sequence_number = self.seq;
        msg.finalize();
        let mut out = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut out);
        self.sock.send(&out, 0)?;
        let mut replies = Vec::new();
        loop {
            let n = self.sock.recv(&mut &mut self.buf[..], 0)?;
            let mut off = 0;
            while off < n {
                let m = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[off..n])
                {
                    Ok(m) => m,
                    // A link whose name is not UTF-8 (the kernel allows any byte but '/' and
                    // whitespace) fails to parse: parse it with the name escaped instead of
                    // losing the link, or the whole namespace, from the view.
                    Err(e) => deserialize_escaped(&self.buf[off..n]).ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("bad netlink reply: {e}"),
                        )
                    })?,
                };
                let len = m.header.length as usize;
                if m.header.sequence_number == self.seq {
                    match m.payload {
                        NetlinkPayload::Done(_) => return Ok(replies),
                        NetlinkPayload::Error(e) => {
                            if e.code.is_none() {
                                return Ok(replies);
                            }
                            return Err(e.to_io());
                        }
                        NetlinkPayload::InnerMessage(inner) => {
                            replies.push(inner);
                            if !dump {
                                return Ok(replies);
                            }
                        }
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                off += (len + 3) & !3;
            }
        }
    }

    pub fn links(&mut self) -> io::Result<Vec<LinkMessage>> {
        let r = self.request(RouteNetlinkMessage::GetLink(LinkMessage::default()), true)?;
        Ok(r.into_iter()
            .filter_map(|m| {
                if let RouteNetlinkMessage::NewLink(l) = m {
                    Some(l)
                } else {
                    None
                }
            })
            .collect())
    }

    pub fn addresses(&mut self) -> io::Result<Vec<AddressMessage>> {
        let r = self.request(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            true,
        )?;
        Ok(r.into_iter()
            .filter_map(|m| {
                if let RouteNetlinkMessage::NewAddress(a) = m {
                    Some(a)
                } else {
                    None
                }
            })
            .collect())
    }

    /// IPv4 routes of every table.
    pub fn routes(&mut self) -> io::Result<Vec<RouteMessage>> {
        let mut q = RouteMessage::default();
        q.header.address_family = AddressFamily::Inet;
        let r = self.request(RouteNetlinkMessage::GetRoute(q), true)?;
        Ok(r.into_iter()
            .filter_map(|m| {
                if let RouteNetlinkMessage::NewRoute(x) = m {
                    Some(x)
                } else {
                    None
                }
            })
            .collect())
    }

    /// IPv4 neighbours (`family` Inet) or bridge FDB entries (`family` Bridge).
    pub fn neighbours(&mut self, family: AddressFamily) -> io::Result<Vec<NeighbourMessage>> {
        let mut q = NeighbourMessage::default();
        q.header.family = family;
        let r = self.request(RouteNetlinkMessage::GetNeighbour(q), true)?;
        Ok(r.into_iter()
            .filter_map(|m| {
                if let RouteNetlinkMessage::NewNeighbour(x) = m {
                    Some(x)
                } else {
                    None
                }
            })
            .collect())
    }

    /// Ask the kernel's FIB for `dst` (`ip route get fibmatch`): the matching route itself, or
    /// None when there is no route (ENETUNREACH / EHOSTUNREACH).
    pub fn route_get(&mut self, dst: std::net::IpAddr) -> io::Result<Option<RouteMessage>> {
        self.route_lookup(dst, true)
    }

    /// The MTU the kernel's route to `dst` carries (RTA_METRICS, RTAX_MTU): a path MTU it
    /// learnt from an ICMP "fragmentation needed" (a cached exception, which only a lookup
    /// without fibmatch shows), or a route's own `mtu`. None when the device's MTU applies,
    /// and when the lookup fails (the route itself is [`Dumper::route_get`]'s to report).
    pub fn path_mtu(&mut self, dst: std::net::IpAddr) -> io::Result<Option<u32>> {
        use netlink_packet_route::route::{RouteAttribute, RouteMetric};
        let Ok(Some(m)) = self.route_lookup(dst, false) else {
            return Ok(None);
        };
        Ok(m.attributes.into_iter().find_map(|a| match a {
            RouteAttribute::Metrics(ms) => ms.into_iter().find_map(|m| match m {
                RouteMetric::Mtu(v) => Some(v),
                _ => None,
            }),
            _ => None,
        }))
    }

    /// RTM_GETROUTE for `dst`: the FIB entry (`fibmatch`) or the route the kernel would use
    /// (with its cached exceptions); None when there is none.
    fn route_lookup(
        &mut self,
        dst: std::net::IpAddr,
        fibmatch: bool,
    ) -> io::Result<Option<RouteMessage>> {
        use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteFlags};
        let mut q = RouteMessage::default();
        let (family, len, addr) = match dst {
            std::net::IpAddr::V4(a) => (AddressFamily::Inet, 32, RouteAddress::Inet(a)),
            std::net::IpAddr::V6(a) => (AddressFamily::Inet6, 128, RouteAddress::Inet6(a)),
        };
        q.header.address_family = family;
        q.header.destination_prefix_length = len;
        if fibmatch {
            q.header.flags = RouteFlags::FibMatch;
        }
        q.attributes.push(RouteAttribute::Destination(addr));
        match self.request(RouteNetlinkMessage::GetRoute(q), false) {
            Ok(r) => Ok(r.into_iter().find_map(|m| {
                if let RouteNetlinkMessage::NewRoute(x) = m {
                    Some(x)
                } else {
                    None
                }
            })),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENETUNREACH)
                        | Some(libc::EHOSTUNREACH)
                        | Some(libc::EACCES)
                        | Some(libc::EINVAL)
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Link `index` of the namespace this one knows as `nsid` (IFLA_TARGET_NETNSID).
    pub fn link_in(&mut self, nsid: i32, index: u32) -> io::Result<Option<LinkMessage>> {
        let mut q = LinkMessage::default();
        q.header.index = index;
        q.attributes
            .push(netlink_packet_route::link::LinkAttribute::IfNetnsId(nsid));
        match self.request(RouteNetlinkMessage::GetLink(q), false) {
            Ok(r) => Ok(r.into_iter().find_map(|m| {
                if let RouteNetlinkMessage::NewLink(l) = m {
                    Some(l)
                } else {
                    None
                }
            })),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The id this namespace uses for the namespace open at `fd` (`ip netns list-id`), if any.
    pub fn nsid_of(&mut self, fd: RawFd) -> io::Result<Option<i32>> {
        let mut q = NsidMessage::default();
        q.attributes.push(NsidAttribute::Fd(fd as u32));
        let r = self.request(RouteNetlinkMessage::GetNsId(q), false)?;
        for m in r {
            if let RouteNetlinkMessage::NewNsId(n) = m {
                for a in n.attributes {
                    if let NsidAttribute::Id(id) = a {
                        return Ok((id >= 0).then_some(id));
                    }
                }
            }
        }
        Ok(None)
    }
}
