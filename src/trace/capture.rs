//! `trace --capture`, judged: what the packet sockets on the predicted devices saw of one
//! probe (an echo request with its own identifier, or a TCP SYN or UDP datagram from its own
//! source port; its reply; an ICMP error quoting it), hop by hop against the prediction. Pure: the frames come from `kernel::capture`.
//!
//! A hop is observed where its devices are: the device it came in on (a frame the device
//! received) and the one it leaves by (a frame the device sent). A frame on an underlay NIC
//! is VXLAN: the probe is found inside, and the outer addresses, port and VNI are what was
//! seen there.

use std::net::Ipv4Addr;

use etherparse::{
    Icmpv4Type, IpNumber, LaxLinkExtSlice, LaxNetSlice, LaxSlicedPacket, TransportSlice,
};
use serde::Serialize;

use super::{is_forwarding, Hop, Trace};

/// What tells the probe's packets apart from every other: an echo's identifier, or the
/// source port of a TCP SYN or a UDP datagram (its answer goes to that port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Echo(u16),
    Udp(u16),
    Tcp(u16),
}

impl Mark {
    /// "echo id 7", "tcp source port 40000".
    pub fn describe(self) -> String {
        match self {
            Mark::Echo(id) => format!("echo id {id}"),
            Mark::Udp(p) => format!("udp source port {p}"),
            Mark::Tcp(p) => format!("tcp source port {p}"),
        }
    }
}

/// What a frame carried of the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Request,
    Reply,
    /// An ICMP error about the request (time exceeded, unreachable, fragmentation needed).
    Error,
}

/// The VXLAN around the probe, as seen on an underlay device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vxlan {
    pub vni: u32,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub port: u16,
    pub ttl: u8,
}

/// One frame's view of the probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Packet {
    pub kind: Kind,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    /// The 802.1Q tag of the frame (in the frame, or taken out of it by the device).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vxlan: Option<Vxlan>,
    /// An ICMP error's type and code, in words ("fragmentation needed, mtu 1350").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A TCP probe's flags: "SYN", "SYN-ACK" or "RST".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<&'static str>,
    /// The IP length of the packet.
    pub len: u16,
}

/// Where a probe packet was seen (or was to be seen): a device of a hop, and the direction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sighting {
    pub device: String,
    /// "in": the device received it; "out": the device sent it.
    pub direction: &'static str,
    /// The TTL the prediction gives it there.
    pub expected_ttl: u8,
    /// What was seen there (None: nothing).
    pub packet: Option<Packet>,
    /// An address not as the device before it saw it: NAT ("source 172.16.10.11 ->
    /// 172.16.20.254").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewritten: Option<String>,
}

/// An address rewritten on the way (NAT: masquerade, DNAT, or conntrack undoing either on
/// the reply), where the capture first saw the new one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rewrite {
    /// The request or the reply.
    pub kind: Kind,
    /// The hop's number, as `trace --detailed` numbers them.
    pub hop: usize,
    pub namespace: String,
    pub device: String,
    pub direction: &'static str,
    /// "source" or "destination".
    pub field: &'static str,
    pub from: Ipv4Addr,
    pub to: Ipv4Addr,
}

/// One frame a tap saw, in the terms of the prediction.
#[derive(Debug, Clone)]
pub struct Seen {
    pub namespace: String,
    pub device: String,
    pub outgoing: bool,
    pub at_ns: u128,
    pub packet: Packet,
}

/// Where the capture lost the packet the prediction passes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lost {
    /// The request, or the reply on its way back.
    pub kind: Kind,
    /// The hop's number, as `trace --detailed` numbers them (the reply's after the request's).
    pub hop: usize,
    pub namespace: String,
    pub device: String,
    pub direction: &'static str,
}

/// The capture's verdict over the whole path.
#[derive(Debug, Clone, Serialize)]
pub struct Observed {
    #[serde(skip)]
    pub mark: Mark,
    /// The echo's ICMP identifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u16>,
    /// A TCP or UDP probe's source port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_port: Option<u16>,
    /// How many devices were listened on.
    pub devices: usize,
    /// The first place on the way where the prediction says the packet passes and nothing
    /// was seen.
    pub lost_at: Option<Lost>,
    /// The hop where the prediction stops the packet (a trace not delivered): its devices
    /// are shown, not judged, nor those of the ARP request's way after it. 0: the request
    /// never leaves the source (nobody answers its ARP: it waits in the neighbour queue, and
    /// no device is expected to see it).
    pub stops_at: Option<usize>,
    /// Seen in the order predicted (by the kernel's timestamps).
    pub in_order: bool,
    /// Every device the prediction passes the packet through saw it, with the TTL predicted.
    pub agrees: bool,
    /// ICMP errors about the probe, where they were seen.
    pub errors: Vec<String>,
    /// Addresses rewritten on the way (NAT), in the order seen.
    pub rewrites: Vec<Rewrite>,
    /// Where the kernel dropped the probe, and why (its `SKB_DROP_REASON_*`).
    pub drop: Option<Drop>,
    /// Why the kernel could not be asked (no BTF, no BPF, no tracepoint), if it could not:
    /// the capture is given all the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop_watch: Option<String>,
}

/// The kernel's account of the probe's drop (the `skb:kfree_skb` tracepoint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drop {
    /// The request, its reply, or an ICMP error about it.
    pub kind: Kind,
    pub namespace: String,
    /// The skb's device when it was freed, if it had one.
    pub device: Option<String>,
    /// `SKB_DROP_REASON_*` without the prefix: "NEIGH_FAILED", "NETFILTER_DROP", ...
    pub reason: String,
    /// The kernel function that freed it ("neigh_invalidate+0x9f").
    pub location: String,
}

/// What the first bytes at a dropped skb's data (`data`: an Ethernet or an IP header, as the
/// drop point has it) say about the probe `mark`, if anything.
pub fn parse_dropped(data: &[u8], mark: Mark) -> Option<Packet> {
    parse(data, None, mark).or_else(|| {
        let p = LaxSlicedPacket::from_ip(data).ok()?;
        parse_ip(&p, mark)
    })
}

/// What the frame `data` (from its Ethernet header; `vlan` a tag the device took out of it)
/// says about the probe `mark`, if anything.
pub fn parse(data: &[u8], vlan: Option<u16>, mark: Mark) -> Option<Packet> {
    let p = LaxSlicedPacket::from_ethernet(data).ok()?;
    let tag = vlan.or_else(|| {
        p.link_exts.iter().find_map(|e| match e {
            LaxLinkExtSlice::Vlan(v) => Some(v.vlan_identifier().value()),
            _ => None,
        })
    });
    let mut packet = parse_ip(&p, mark)?;
    packet.vlan = packet.vlan.or(tag);
    Some(packet)
}

/// The probe a packet quoted by an ICMP error (its IP header and first 8 bytes) was: an echo
/// request's identifier, or a TCP or UDP source port.
fn quoted(payload: &[u8]) -> Option<Mark> {
    let q = LaxSlicedPacket::from_ip(payload).ok()?;
    let Some(LaxNetSlice::Ipv4(ip)) = &q.net else {
        return None;
    };
    let b = ip.payload().payload;
    let two = |at: usize| Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]));
    match ip.payload_ip_number() {
        IpNumber::ICMP if b.first() == Some(&8) => Some(Mark::Echo(two(4)?)),
        IpNumber::UDP => Some(Mark::Udp(two(0)?)),
        IpNumber::TCP => Some(Mark::Tcp(two(0)?)),
        _ => None,
    }
}

fn parse_ip(p: &LaxSlicedPacket, mark: Mark) -> Option<Packet> {
    let Some(LaxNetSlice::Ipv4(ip)) = &p.net else {
        return None;
    };
    let h = ip.header();
    let packet = |kind, error| Packet {
        kind,
        src: h.source_addr(),
        dst: h.destination_addr(),
        ttl: h.ttl(),
        vlan: None,
        vxlan: None,
        error,
        tcp: None,
        len: h.total_len(),
    };
    match p.transport.as_ref()? {
        TransportSlice::Icmpv4(icmp) => match icmp.icmp_type() {
            Icmpv4Type::EchoRequest(e) if mark == Mark::Echo(e.id) => {
                Some(packet(Kind::Request, None))
            }
            Icmpv4Type::EchoReply(e) if mark == Mark::Echo(e.id) => Some(packet(Kind::Reply, None)),
            t @ (Icmpv4Type::DestinationUnreachable(_) | Icmpv4Type::TimeExceeded(_))
                if quoted(icmp.payload()) == Some(mark) =>
            {
                use etherparse::icmpv4::DestUnreachableHeader as D;
                // A UDP datagram's answer from a port nothing is bound to: the reply.
                let kind = match (mark, &t) {
                    (Mark::Udp(_), Icmpv4Type::DestinationUnreachable(D::Port)) => Kind::Reply,
                    _ => Kind::Error,
                };
                Some(packet(kind, Some(icmp_error(&t))))
            }
            _ => None,
        },
        TransportSlice::Tcp(tcp) => {
            let flags = (tcp.syn(), tcp.ack(), tcp.rst());
            match flags {
                (true, false, false) if mark == Mark::Tcp(tcp.source_port()) => Some(Packet {
                    tcp: Some("SYN"),
                    ..packet(Kind::Request, None)
                }),
                (true, true, false) | (_, _, true) if mark == Mark::Tcp(tcp.destination_port()) => {
                    Some(Packet {
                        tcp: Some(if tcp.rst() { "RST" } else { "SYN-ACK" }),
                        ..packet(Kind::Reply, None)
                    })
                }
                _ => None,
            }
        }
        TransportSlice::Udp(udp) => {
            let v = udp.payload();
            // The probe (its port and its payload: a VXLAN packet's outer source port may be
            // the same number), or a datagram answering it.
            if mark == Mark::Udp(udp.source_port()) && v.starts_with(crate::kernel::l4::UDP_PAYLOAD)
            {
                return Some(packet(Kind::Request, None));
            }
            if mark == Mark::Udp(udp.destination_port()) {
                return Some(packet(Kind::Reply, None));
            }
            // VXLAN (RFC 7348): flags with I set, 24-bit VNI, then the inner Ethernet frame.
            if v.len() < 8 || v[0] & 0x08 == 0 {
                return None;
            }
            let mut inner = parse(&v[8..], None, mark)?;
            inner.vxlan = Some(Vxlan {
                vni: u32::from_be_bytes([0, v[4], v[5], v[6]]),
                src: h.source_addr(),
                dst: h.destination_addr(),
                port: udp.destination_port(),
                ttl: h.ttl(),
            });
            Some(inner)
        }
        _ => None,
    }
}

fn icmp_error(t: &Icmpv4Type) -> String {
    use etherparse::icmpv4::DestUnreachableHeader as D;
    match t {
        Icmpv4Type::TimeExceeded(_) => "time exceeded".into(),
        Icmpv4Type::DestinationUnreachable(D::FragmentationNeeded { next_hop_mtu }) => {
            format!("fragmentation needed, mtu {next_hop_mtu}")
        }
        Icmpv4Type::DestinationUnreachable(D::Host) => "host unreachable".into(),
        Icmpv4Type::DestinationUnreachable(D::Network) => "network unreachable".into(),
        Icmpv4Type::DestinationUnreachable(D::Port) => "port unreachable".into(),
        Icmpv4Type::DestinationUnreachable(d) => format!("destination unreachable ({d:?})"),
        _ => "ICMP error".into(),
    }
}

/// The devices where a hop is observed: the one it came in on, then the one it leaves by (or,
/// for an 802.1Q tag popped, the VLAN device it goes into), with the TTL the packet has at
/// each (a router's incoming packet has not yet lost one).
pub fn points(h: &Hop) -> Vec<(String, &'static str, u8)> {
    let mut out = Vec::new();
    if let Some(d) = &h.in_dev {
        let ttl = if is_forwarding(h) {
            h.ttl.saturating_add(1)
        } else {
            h.ttl
        };
        out.push((d.clone(), "in", ttl));
    }
    if let Some(d) = &h.out_dev {
        // A tag popped: the frame goes *into* the VLAN device, which receives it.
        let into = h
            .action
            .trim_start_matches("reply: ")
            .starts_with("802.1Q: tag ");
        out.push((d.clone(), if into { "in" } else { "out" }, h.ttl));
    }
    out
}

/// Every (namespace, device) on the trace's way there and back, each once, in order.
pub fn devices(t: &Trace) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for h in t.hops.iter().chain(&t.reply_hops) {
        for (d, _, _) in points(h) {
            let key = (h.namespace.clone(), d);
            if !out.contains(&key) {
                out.push(key);
            }
        }
    }
    out
}

/// Mark each hop of `t` with what was seen there, and judge the whole.
///
/// A failing trace's last hop is where the prediction stops the packet: that hop's devices are
/// reported, but not expected to have seen it.
pub fn judge(t: &mut Trace, seen: &[Seen], mark: Mark, devices: usize) -> Observed {
    let delivered = t.disposition == super::Disposition::Delivered;
    // Nobody answers ARP: the hops after `held_at` are the ARP request's way, and the echo
    // request itself waits in the neighbour queue of the hop that routed it (the source's,
    // or a router's) until the neighbour fails; no device after that sees it.
    let held_at = t.held_at;
    // An encrypted overlay's underlay carries ESP: what is inside cannot be told apart.
    let encrypted = t.hops.iter().any(|h| h.action.contains("; ESP (spi "));
    let mut lost_at = None;
    let mut agrees = true;
    let mut stamps: Vec<u128> = Vec::new();
    let n_req = t.hops.len();
    let legs: [(&mut Vec<Hop>, Kind, usize); 2] = [
        (&mut t.hops, Kind::Request, 0),
        (&mut t.reply_hops, Kind::Reply, n_req),
    ];
    for (hops, kind, base) in legs {
        let last = hops.len().saturating_sub(1);
        for (i, h) in hops.iter_mut().enumerate() {
            let opaque = encrypted && h.layer == "underlay";
            let stops_here = (!delivered && i == last) || opaque;
            h.seen = points(h)
                .into_iter()
                .map(|(device, direction, expected_ttl)| {
                    let held = kind == Kind::Request
                        && held_at.is_some_and(|k| i > k || (i == k && direction == "out"));
                    let found = seen
                        .iter()
                        .filter(|s| {
                            s.namespace == h.namespace
                                && s.device == device
                                && s.outgoing == (direction == "out")
                                && s.packet.kind == kind
                        })
                        .min_by_key(|s| s.at_ns);
                    if held && found.is_some() {
                        // Answered after all: the prediction was wrong.
                        agrees = false;
                    }
                    if !stops_here && !held {
                        match found {
                            Some(s) => {
                                stamps.push(s.at_ns);
                                if s.packet.ttl != expected_ttl {
                                    agrees = false;
                                }
                            }
                            None => {
                                agrees = false;
                                if lost_at.is_none() {
                                    lost_at = Some(Lost {
                                        kind,
                                        hop: base + i + 1,
                                        namespace: h.namespace.clone(),
                                        device: device.clone(),
                                        direction,
                                    });
                                }
                            }
                        }
                    }
                    Sighting {
                        device,
                        direction,
                        expected_ttl,
                        packet: found.map(|s| s.packet.clone()),
                        rewritten: None,
                    }
                })
                .collect();
            h.observed = (!opaque).then(|| h.seen.iter().all(|s| s.packet.is_some()));
        }
    }
    let in_order = stamps.iter().all(|&s| s == 0) || stamps.windows(2).all(|w| w[0] <= w[1]);
    let rewrites = rewrites(t, n_req);
    let errors = seen
        .iter()
        .filter(|s| s.packet.kind == Kind::Error)
        .map(|s| {
            format!(
                "{} from {} seen {} {} {}",
                s.packet.error.as_deref().unwrap_or("ICMP error"),
                s.packet.src,
                if s.outgoing { "leaving" } else { "entering" },
                s.namespace,
                s.device
            )
        })
        .collect();
    let (id, source_port) = match mark {
        Mark::Echo(id) => (Some(id), None),
        Mark::Udp(p) | Mark::Tcp(p) => (None, Some(p)),
    };
    Observed {
        mark,
        id,
        source_port,
        devices,
        lost_at,
        stops_at: match held_at {
            // Held by the source itself: it never leaves.
            Some(k) if t.hops[k].in_dev.is_none() => Some(0),
            Some(k) => Some(k + 1),
            None => (!delivered && n_req > 0).then_some(n_req),
        },
        in_order,
        agrees: agrees && in_order,
        errors,
        rewrites,
        drop: None,
        drop_watch: None,
    }
}

/// Mark where each leg's addresses changed from one sighting to the next (the packet as the
/// device before saw it), and list those places.
fn rewrites(t: &mut Trace, n_req: usize) -> Vec<Rewrite> {
    let mut out = Vec::new();
    let legs: [(&mut Vec<Hop>, Kind, usize); 2] = [
        (&mut t.hops, Kind::Request, 0),
        (&mut t.reply_hops, Kind::Reply, n_req),
    ];
    for (hops, kind, base) in legs {
        let mut before: Option<(Ipv4Addr, Ipv4Addr)> = None;
        for (i, h) in hops.iter_mut().enumerate() {
            for s in &mut h.seen {
                let Some(p) = &s.packet else { continue };
                let mut said = Vec::new();
                if let Some((src, dst)) = before {
                    for (field, from, to) in [("source", src, p.src), ("destination", dst, p.dst)] {
                        if from != to {
                            said.push(format!("{field} {from} -> {to}"));
                            out.push(Rewrite {
                                kind,
                                hop: base + i + 1,
                                namespace: h.namespace.clone(),
                                device: s.device.clone(),
                                direction: s.direction,
                                field,
                                from,
                                to,
                            });
                        }
                    }
                }
                s.rewritten = (!said.is_empty()).then(|| said.join(", "));
                before = Some((p.src, p.dst));
            }
        }
    }
    out
}

/// " -- seen (ttl 64, VXLAN VNI 256 10.1.1.14 -> 10.1.1.15:4789)" for a hop's line.
pub fn annotate(h: &Hop) -> String {
    if h.observed.is_none() {
        return if h.layer == "underlay" && !h.seen.is_empty() {
            "  -- ESP on the wire: not told apart".to_string()
        } else {
            String::new()
        };
    }
    let parts: Vec<String> = h
        .seen
        .iter()
        .map(|s| match &s.packet {
            None => format!("NOT SEEN {} {}", s.direction, s.device),
            Some(p) => {
                let mut what = format!("ttl {}", p.ttl);
                if let Some(f) = p.tcp {
                    what.push_str(&format!(", {f}"));
                }
                if p.ttl != s.expected_ttl {
                    what.push_str(&format!(" (predicted {})", s.expected_ttl));
                }
                if let Some(v) = p.vlan {
                    what.push_str(&format!(", tag {v}"));
                }
                if let Some(x) = &p.vxlan {
                    what.push_str(&format!(
                        ", VXLAN VNI {} {} -> {}:{}",
                        x.vni, x.src, x.dst, x.port
                    ));
                }
                if let Some(r) = &s.rewritten {
                    what.push_str(&format!(", NAT: {r}"));
                }
                format!("seen {} {} ({what})", s.direction, s.device)
            }
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("  -- {}", parts.join("; "))
    }
}

/// The capture's summary line.
pub fn render(o: &Observed) -> String {
    let mut out = match (&o.lost_at, o.agrees) {
        (Some(l), _) => format!(
            "capture ({}, {} devices): the {} is NOT SEEN at hop {} ({} {} {}), where the prediction passes it",
            o.mark.describe(),
            o.devices,
            if l.kind == Kind::Request { "request" } else { "reply" },
            l.hop,
            l.namespace,
            l.direction,
            l.device
        ),
        (None, true) => match o.stops_at {
            Some(0) => format!(
                "capture ({}, {} devices): the request never left the source, as predicted: it waited for an ARP answer that never came",
                o.mark.describe(),
                o.devices
            ),
            Some(n) => format!(
                "capture ({}, {} devices): seen on every device predicted before hop {n}, in order, with the TTL predicted; hop {n} is where the prediction stops it",
                o.mark.describe(),
                o.devices
            ),
            None => format!(
                "capture ({}, {} devices): seen on every device predicted, in order, with the TTL predicted",
                o.mark.describe(),
                o.devices
            ),
        },
        (None, false) => format!(
            "capture ({}, {} devices): seen everywhere predicted, but {}",
            o.mark.describe(),
            o.devices,
            if o.in_order {
                "with another TTL than predicted"
            } else {
                "not in the order predicted"
            }
        ),
    };
    for e in &o.errors {
        out.push_str(&format!("\ncapture: {e}"));
    }
    for r in &o.rewrites {
        out.push_str(&format!(
            "\ncapture: the {}'s {} rewritten {} -> {} at hop {} ({} {} {}): NAT",
            if r.kind == Kind::Request {
                "request"
            } else {
                "reply"
            },
            r.field,
            r.from,
            r.to,
            r.hop,
            r.namespace,
            r.direction,
            r.device
        ));
    }
    match (&o.drop, &o.drop_watch) {
        (Some(d), _) => out.push_str(&format!(
            "\ndropped at {}:{}: {} ({}, the {})",
            d.namespace,
            d.device.as_deref().unwrap_or("-"),
            d.reason,
            d.location,
            match d.kind {
                Kind::Request => "request",
                Kind::Reply => "reply",
                Kind::Error => "ICMP error",
            }
        )),
        (None, Some(why)) => {
            out.push_str(&format!("\ndrop reason: not asked of this kernel ({why})"))
        }
        (None, None) => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn echo(id: u16, ttl: u8, vlan: Option<u16>) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([2, 0x42, 10, 0, 0, 2], [2, 0x42, 10, 0, 0, 3]);
        let b = match vlan {
            Some(v) => b.single_vlan(v.try_into().unwrap()),
            None => b.single_vlan(0.try_into().unwrap()),
        };
        let b = b
            .ipv4([10, 0, 0, 2], [10, 0, 0, 3], ttl)
            .icmpv4_echo_request(id, 1);
        let mut out = Vec::new();
        b.write(&mut out, &[0u8; 56]).unwrap();
        if vlan.is_none() {
            // No tag: take the 802.1Q header back out (bytes 12..16).
            out.drain(12..16);
        }
        out
    }

    #[test]
    fn an_echo_of_ours_is_found_and_others_are_not() {
        let f = echo(0x1234, 63, None);
        let p = parse(&f, None, Mark::Echo(0x1234)).unwrap();
        assert_eq!(
            (p.kind, p.ttl, p.len, p.vlan),
            (Kind::Request, 63, 84, None)
        );
        assert_eq!(parse(&f, None, Mark::Echo(0x1235)), None);
        assert_eq!(
            parse(&f, Some(10), Mark::Echo(0x1234)).unwrap().vlan,
            Some(10)
        );
        assert_eq!(
            parse(&echo(7, 64, Some(20)), None, Mark::Echo(7))
                .unwrap()
                .vlan,
            Some(20)
        );
    }

    #[test]
    fn a_dropped_packet_is_ours_from_its_ethernet_or_its_ip_header() {
        let f = echo(0x4242, 64, None);
        // skb->data at the MAC header (a device's transmit), or at the IP header (a queued
        // neighbour, a netfilter hook), cut to the bytes the kernel hands over.
        assert_eq!(
            parse_dropped(&f[..96.min(f.len())], Mark::Echo(0x4242))
                .unwrap()
                .kind,
            Kind::Request
        );
        assert_eq!(
            parse_dropped(&f[14..14 + 40], Mark::Echo(0x4242))
                .unwrap()
                .ttl,
            64
        );
        assert_eq!(parse_dropped(&f[14..], Mark::Echo(0x4243)), None);
        assert_eq!(parse_dropped(&[0u8; 96], Mark::Echo(0x4242)), None);
    }

    #[test]
    fn a_vxlan_frame_shows_the_probe_inside_and_the_tunnel_outside() {
        let inner = echo(9, 64, None);
        let mut vx = vec![0x08, 0, 0, 0, 0, 1, 0, 0];
        vx.extend_from_slice(&inner);
        let mut f = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 1, 1, 14], [10, 1, 1, 15], 64)
            .udp(40000, 4789)
            .write(&mut f, &vx)
            .unwrap();
        let p = parse(&f, None, Mark::Echo(9)).unwrap();
        assert_eq!(p.src, Ipv4Addr::new(10, 0, 0, 2));
        let x = p.vxlan.unwrap();
        assert_eq!((x.vni, x.port), (256, 4789));
        assert_eq!(x.dst, Ipv4Addr::new(10, 1, 1, 15));
    }

    #[test]
    fn an_icmp_error_quoting_our_request_is_an_error_of_ours() {
        let req = echo(5, 64, None);
        let quoted = &req[14..14 + 28];
        let mut f = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 3], [10, 0, 0, 2], 64)
            .icmpv4(Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded {
                    next_hop_mtu: 1350,
                },
            ))
            .write(&mut f, quoted)
            .unwrap();
        let p = parse(&f, None, Mark::Echo(5)).unwrap();
        assert_eq!(p.kind, Kind::Error);
        assert_eq!(p.error.as_deref(), Some("fragmentation needed, mtu 1350"));
        assert_eq!(parse(&f, None, Mark::Echo(6)), None);
    }

    #[test]
    fn a_tcp_probe_is_its_syn_and_the_syn_ack_or_rst_to_its_port() {
        let tcp = |sport: u16, dport: u16, syn: bool, ack: bool, rst: bool| {
            let b = PacketBuilder::ethernet2([1; 6], [2; 6])
                .ipv4([10, 0, 0, 2], [10, 1, 1, 21], 64)
                .tcp(sport, dport, 1, 64240);
            let b = if syn { b.syn() } else { b };
            let b = if ack { b.ack(1) } else { b };
            let b = if rst { b.rst() } else { b };
            let mut f = Vec::new();
            b.write(&mut f, &[]).unwrap();
            f
        };
        let m = Mark::Tcp(40000);
        let syn = parse(&tcp(40000, 8080, true, false, false), None, m).unwrap();
        assert_eq!((syn.kind, syn.tcp), (Kind::Request, Some("SYN")));
        let back = parse(&tcp(80, 40000, true, true, false), None, m).unwrap();
        assert_eq!((back.kind, back.tcp), (Kind::Reply, Some("SYN-ACK")));
        let rst = parse(&tcp(80, 40000, false, true, true), None, m).unwrap();
        assert_eq!((rst.kind, rst.tcp), (Kind::Reply, Some("RST")));
        assert_eq!(
            parse(&tcp(40000, 8080, false, true, false), None, m),
            None,
            "its ACK"
        );
        assert_eq!(parse(&tcp(40001, 8080, true, false, false), None, m), None);
        assert_eq!(
            parse(
                &tcp(40000, 8080, true, false, false),
                None,
                Mark::Udp(40000)
            ),
            None
        );
    }

    /// The UDP probe from `sport`, as a frame.
    fn udp_probe(sport: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 2], [10, 1, 1, 21], 64)
            .udp(sport, 53)
            .write(&mut f, payload)
            .unwrap();
        f
    }

    /// An ICMP error of type `typ` from `from`, quoting the frame `req` (IP header and 8 bytes).
    fn quoting(req: &[u8], typ: Icmpv4Type, from: [u8; 4]) -> Vec<u8> {
        let mut f = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4(from, [10, 0, 0, 2], 64)
            .icmpv4(typ)
            .write(&mut f, &req[14..14 + 28])
            .unwrap();
        f
    }

    #[test]
    fn a_udp_probe_is_its_datagram_and_the_port_unreachable_quoting_it() {
        use etherparse::icmpv4::{DestUnreachableHeader, TimeExceededCode};
        let req = udp_probe(50000, crate::kernel::l4::UDP_PAYLOAD);
        let m = Mark::Udp(50000);
        assert_eq!(parse(&req, None, m).unwrap().kind, Kind::Request);
        // The same source port with another payload: a VXLAN packet's outer header, say.
        assert_eq!(parse(&udp_probe(50000, &[0; 8]), None, m), None);
        let port = Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::Port);
        let pu = parse(&quoting(&req, port, [10, 1, 1, 21]), None, m).unwrap();
        assert_eq!(
            (pu.kind, pu.error.as_deref()),
            (Kind::Reply, Some("port unreachable"))
        );
        let ttl = Icmpv4Type::TimeExceeded(TimeExceededCode::TtlExceededInTransit);
        let te = parse(&quoting(&req, ttl.clone(), [10, 0, 0, 1]), None, m).unwrap();
        assert_eq!(te.kind, Kind::Error);
        // A time exceeded quoting a UDP datagram from another port.
        let other = udp_probe(50001, crate::kernel::l4::UDP_PAYLOAD);
        assert_eq!(parse(&quoting(&other, ttl, [10, 0, 0, 1]), None, m), None);
    }
}
