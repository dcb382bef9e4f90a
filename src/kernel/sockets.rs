//! The sockets of a namespace that take a TCP SYN or a UDP datagram: an inet_diag dump over
//! NETLINK_SOCK_DIAG (what `ss -ltun` reads), asked from a thread inside the namespace, so the
//! kernel answers with that namespace's sockets only. Messages are typed by
//! netlink-packet-sock-diag, of the rust-netlink family the rest of netlab's netlink comes from.

use std::io;
use std::net::IpAddr;
use std::path::Path;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::{
    constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP},
    inet::{nlas::Nla, ExtensionFlags, InetRequest, SocketId, StateFlags},
    SockDiagMessage,
};
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr};

use super::netns;
use super::nft::L4Proto;

/// A socket that receives new TCP connections (LISTEN) or UDP datagrams from anyone (bound,
/// not connected), with what it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// The local address: unspecified (0.0.0.0 or ::) for any.
    pub addr: IpAddr,
    pub port: u16,
    /// An IPv6 socket that does not take IPv4 (IPV6_V6ONLY).
    pub v6only: bool,
    /// SO_BINDTODEVICE's interface, 0 for none.
    pub ifindex: u32,
}

impl Listener {
    /// Whether the kernel hands this socket a packet to `addr`:`port` arriving on interface
    /// `ifindex`: the port, an address it is bound to (an IPv6 socket takes IPv4 when it is
    /// dual-stack, on :: or on `::ffff:addr`; an IPv4 socket never takes IPv6), and the device
    /// it is bound to, if any.
    pub fn takes(&self, addr: IpAddr, port: u16, ifindex: u32) -> bool {
        let addr_ok = match (self.addr, addr) {
            (IpAddr::V4(a), IpAddr::V4(addr)) => a.is_unspecified() || a == addr,
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
            (IpAddr::V6(a), IpAddr::V4(addr)) => {
                !self.v6only && (a.is_unspecified() || a.to_ipv4_mapped() == Some(addr))
            }
            (IpAddr::V6(a), IpAddr::V6(addr)) => a.is_unspecified() || a == addr,
        };
        self.port == port && addr_ok && (self.ifindex == 0 || self.ifindex == ifindex)
    }
}

fn request(family: u8, protocol: u8, states: StateFlags) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut msg = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol,
            extensions: ExtensionFlags::empty(),
            states,
            socket_id: if family == AF_INET {
                SocketId::new_v4()
            } else {
                SocketId::new_v6()
            },
        })
        .into(),
    );
    msg.finalize();
    let mut buf = vec![0; msg.buffer_len()];
    msg.serialize(&mut buf);
    buf
}

/// Every socket of `family` and `protocol` in `states`, in the calling thread's namespace.
fn dump(family: u8, protocol: u8, states: StateFlags) -> io::Result<Vec<Listener>> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    socket.send(&request(family, protocol, states), 0)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = socket.recv(&mut &mut buf[..], 0)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "sock_diag: the dump ended without NLMSG_DONE",
            ));
        }
        let mut at = 0;
        while at < n {
            let msg = NetlinkMessage::<SockDiagMessage>::deserialize(&buf[at..n]).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("sock_diag: {e}"))
            })?;
            let len = msg.header.length as usize;
            match msg.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                    let id = &r.header.socket_id;
                    // UDP: bound, not connected to one peer (which takes only its peer's).
                    if protocol == IPPROTO_TCP || id.destination_port == 0 {
                        out.push(Listener {
                            addr: id.source_address,
                            port: id.source_port,
                            v6only: r.nlas.iter().any(|a| matches!(a, Nla::SkV6Only(true))),
                            ifindex: id.interface_id,
                        });
                    }
                }
                NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::Error(e) => {
                    return Err(e.to_io());
                }
                _ => {}
            }
            if len == 0 {
                break;
            }
            at += len;
        }
    }
}

/// The listening TCP sockets, or the bound UDP sockets, of the calling thread's namespace
/// (IPv4 and IPv6: a dual-stack IPv6 socket takes IPv4 too).
pub fn listeners_here(proto: L4Proto) -> io::Result<Vec<Listener>> {
    let (protocol, states) = match proto {
        L4Proto::Tcp => (IPPROTO_TCP, StateFlags::LISTEN),
        L4Proto::Udp => (IPPROTO_UDP, StateFlags::all()),
        L4Proto::Icmp => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ICMP has no ports to listen on",
            ))
        }
    };
    let mut all = dump(AF_INET, protocol, states.clone())?;
    all.extend(dump(AF_INET6, protocol, states)?);
    Ok(all)
}

/// [`listeners_here`] of the namespace at `path`.
pub fn listeners_in(path: &Path, proto: L4Proto) -> io::Result<Vec<Listener>> {
    netns::run_in_path(path, move || listeners_here(proto))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn l(addr: IpAddr, v6only: bool, ifindex: u32) -> Listener {
        Listener {
            addr,
            port: 80,
            v6only,
            ifindex,
        }
    }

    #[test]
    fn a_listener_takes_its_port_on_the_addresses_and_device_it_is_bound_to() {
        let a4: Ipv4Addr = "10.0.0.2".parse().unwrap();
        let (a, other): (IpAddr, IpAddr) = (a4.into(), "10.0.0.3".parse().unwrap());
        let any4 = l(Ipv4Addr::UNSPECIFIED.into(), false, 0);
        assert!(any4.takes(a, 80, 5));
        assert!(!any4.takes(a, 81, 5), "another port");
        let bound = l(a, false, 0);
        assert!(bound.takes(a, 80, 5) && !bound.takes(other, 80, 5));
        let dual = l(Ipv6Addr::UNSPECIFIED.into(), false, 0);
        assert!(dual.takes(a, 80, 5), ":: without V6ONLY takes IPv4");
        let v6only = l(Ipv6Addr::UNSPECIFIED.into(), true, 0);
        assert!(!v6only.takes(a, 80, 5), "V6ONLY takes no IPv4");
        let mapped = l(a4.to_ipv6_mapped().into(), false, 0);
        assert!(mapped.takes(a, 80, 5) && !mapped.takes(other, 80, 5));
        let on_dev = l(Ipv4Addr::UNSPECIFIED.into(), false, 7);
        assert!(
            on_dev.takes(a, 80, 7) && !on_dev.takes(a, 80, 5),
            "SO_BINDTODEVICE"
        );
        // IPv6 packets: an IPv6 socket on :: or on the address, never an IPv4 socket.
        let (b, b2): (IpAddr, IpAddr) = ("fd00::2".parse().unwrap(), "fd00::3".parse().unwrap());
        assert!(dual.takes(b, 80, 5) && v6only.takes(b, 80, 5));
        assert!(!any4.takes(b, 80, 5), "an IPv4 socket takes no IPv6");
        let bound6 = l(b, false, 0);
        assert!(bound6.takes(b, 80, 5) && !bound6.takes(b2, 80, 5));
        assert!(!bound6.takes(a, 80, 5), "bound to an IPv6 address: no IPv4");
    }

    /// The dump finds a real listening socket and a real bound UDP socket of this process, and
    /// not a connected UDP socket (the kernel's own answer, no mock).
    #[test]
    fn the_dump_finds_this_process_sockets() {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tport = tcp.local_addr().unwrap().port();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let uport = udp.local_addr().unwrap().port();
        let connected = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        connected.connect(("127.0.0.1", uport)).unwrap();
        let cport = connected.local_addr().unwrap().port();
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let t = listeners_here(L4Proto::Tcp).unwrap();
        assert!(t.iter().any(|x| x.takes(lo, tport, 1)), "{t:?}");
        let u = listeners_here(L4Proto::Udp).unwrap();
        assert!(u.iter().any(|x| x.takes(lo, uport, 1)), "{u:?}");
        assert!(!u.iter().any(|x| x.port == cport), "connected: {u:?}");
        drop((tcp, udp, connected));
    }
}
