//! trace: the hop-by-hop path of a packet from a namespace to an address, predicted from an
//! observed [`Snapshot`]: route lookup (asked of a [`RouteOracle`]: the kernel's RTM_GETROUTE
//! live, longest-prefix match on the snapshot in tests), neighbour, then the egress device by
//! kind: veth -> its peer; bridge -> FDB (flood when unknown, port isolation respected);
//! vxlan -> FDB -> remote VTEP over the underlay, decapsulated where that VNI lives; a router
//! -> forwarding, TTL - 1. The end is a disposition in the spirit of Batfish's.

pub mod capture;
pub(crate) mod l2;
pub mod netfilter;
pub mod probe;

use std::collections::HashSet;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::Serialize;

use crate::kernel::nft::{ChainKind, CtState, Hook, L4Proto};
use crate::observe::{Link, Namespace, Snapshot};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Disposition {
    Delivered,
    NoRoute,
    NeighborUnreachable,
    ForwardingDisabled,
    Isolated,
    LinkDown,
    Loop,
    /// The packet (DF set, `--size`) is larger than an MTU on its way.
    MtuExceeded,
    /// An nftables rule (or a chain's policy) drops it.
    Filtered,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Delivered => "DELIVERED",
            Disposition::NoRoute => "NO_ROUTE",
            Disposition::NeighborUnreachable => "NEIGHBOR_UNREACHABLE",
            Disposition::ForwardingDisabled => "FORWARDING_DISABLED",
            Disposition::Isolated => "ISOLATED",
            Disposition::LinkDown => "LINK_DOWN",
            Disposition::Loop => "LOOP",
            Disposition::MtuExceeded => "MTU_EXCEEDED",
            Disposition::Filtered => "FILTERED",
        }
    }
}

/// One step of the path, in one namespace.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Hop {
    pub namespace: String,
    pub in_dev: Option<String>,
    /// What happened here: "route 10.0.0.0/24 dev eth0", "fdb hit 02:42:.. -> veth0", "encap vni 256 -> 10.1.1.15:4789", ...
    pub action: String,
    pub out_dev: Option<String>,
    pub ttl: u8,
    /// Layer of the step: "l3" (routing, delivery), "l2" (switching), "underlay" (VXLAN transport).
    pub layer: &'static str,
    /// `--capture`: whether every device of this hop saw the packet (null: not captured, or
    /// an encrypted overlay's underlay, whose ESP cannot be told apart).
    pub observed: Option<bool>,
    /// `--capture`: what each device of this hop saw.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<capture::Sighting>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    pub from: String,
    pub to: IpAddr,
    pub hops: Vec<Hop>,
    /// The echo reply's way back (DELIVERED only).
    pub reply_hops: Vec<Hop>,
    pub disposition: Disposition,
    /// For a failure: the first failing hop and why, in one sentence.
    pub reason: Option<String>,
    /// TTL the echo request arrives with (DELIVERED).
    pub ttl: Option<u8>,
    /// TTL the reply arrives back with: what ping prints.
    pub reply_ttl: Option<u8>,
    /// The namespace that received it (DELIVERED).
    pub delivered_to: Option<String>,
    /// The echo request's IP length in bytes, when traced with a size (`--size`: DF set).
    pub size: Option<u32>,
    /// MTU_EXCEEDED: the MTU that stops it, as ping reports it ("mtu=1450" for a local error,
    /// "Frag needed and DF set (mtu = 1350)" for an ICMP error).
    pub mtu: Option<u32>,
    /// MTU_EXCEEDED: what the sender hears of it.
    pub mtu_answer: Option<MtuAnswer>,
    /// The hop (an index into `hops`) that routed the echo request to a neighbour that never
    /// answers its ARP: the request waits there, in the neighbour queue, and never leaves by
    /// that hop's device; the hops after it are the ARP request's way to where it is stopped
    /// (an isolated port, a link down, nobody holding the address).
    #[serde(skip)]
    pub held_at: Option<usize>,
    /// FILTERED: the namespace, table, chain and rule that dropped it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filtered: Option<netfilter::Filtered>,
    /// What is traced: "proto" icmp, or udp/tcp with its destination "port".
    #[serde(flatten)]
    pub flow: Flow,
    /// DELIVERED udp/tcp: whether a socket of the destination takes it (a TCP socket listens,
    /// a UDP socket is bound to the port), which decides the answer; null when not known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listening: Option<bool>,
    /// The source NAT the packet met on its way (a masquerade, an SNAT), in order: where the
    /// reply's destination is translated back, as conntrack does.
    #[serde(skip)]
    pub snat: Vec<Snat>,
}

/// A source address rewritten in namespace `ns`: the reply to `translated` arriving there is
/// sent on to `original` (conntrack's reverse translation, before routing).
#[derive(Debug, Clone, PartialEq)]
pub struct Snat {
    pub ns: String,
    pub original: IpAddr,
    pub translated: IpAddr,
}

/// What a sender hears when an MTU stops its packet (DF set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MtuAnswer {
    /// The send itself fails (EMSGSIZE): "local error: message too long, mtu=N".
    LocalError,
    /// An ICMP "fragmentation needed" carrying the MTU.
    FragNeeded,
    /// Nothing: a device dropped the frame.
    Silent,
}

/// IPv4 header and ICMP echo header: `ping -s N` sends an IP packet of N + 28 bytes.
pub const ICMP_ECHO_OVERHEAD: u32 = 28;

/// The IP length of an echo request beyond its payload (`ping -s N`): 28 bytes over IPv4, 48
/// over IPv6 (a 40-byte header).
pub fn echo_overhead(dst: IpAddr) -> u32 {
    match dst {
        IpAddr::V4(_) => ICMP_ECHO_OVERHEAD,
        IpAddr::V6(_) => 48,
    }
}

/// The result of a route lookup in one namespace.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteResult {
    /// The address is local to this namespace.
    Local,
    /// Send out `dev`, to `gateway` if any (else the destination is on-link).
    Via {
        dev: String,
        gateway: Option<IpAddr>,
        prefix: String,
        /// The path MTU the kernel has for this destination (a cached exception after an
        /// ICMP "fragmentation needed", or a route's `mtu`); else the device's MTU applies.
        mtu: Option<u32>,
    },
    /// No route (or an unreachable/prohibit route).
    None,
}

/// Where route lookups come from.
pub trait RouteOracle {
    fn lookup(&self, ns: &Namespace, dst: IpAddr) -> RouteResult;

    /// Whether a socket of `ns` takes a TCP SYN (one listens) or a UDP datagram (one is bound,
    /// unconnected) to `dst`:`port` arriving on `in_dev` (None: sent from `ns` itself); None
    /// when not known (a snapshot has no sockets), and the answer is then said both ways.
    fn listening(
        &self,
        _ns: &Namespace,
        _proto: L4Proto,
        _dst: IpAddr,
        _port: u16,
        _in_dev: Option<&str>,
    ) -> Option<bool> {
        None
    }
}

/// Longest-prefix match over the snapshot's main table (what the kernel does without rules).
pub struct SnapshotRoutes;

impl RouteOracle for SnapshotRoutes {
    fn lookup(&self, ns: &Namespace, dst: IpAddr) -> RouteResult {
        if ns
            .addresses
            .iter()
            .any(|a| a.address.split('/').next() == Some(&dst.to_string()))
            || dst.is_loopback()
        {
            return RouteResult::Local;
        }
        let mut best: Option<(u8, &crate::observe::Route)> = None;
        for r in ns
            .routes
            .iter()
            .filter(|r| r.table == 254 && r.kind == "unicast")
        {
            let net: IpNetwork = if r.dst == "default" {
                let any = match dst {
                    IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                    IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
                };
                IpNetwork::new(any, 0).unwrap()
            } else {
                match r.dst.parse() {
                    Ok(n) => n,
                    Err(_) => continue,
                }
            };
            let up = r.dev.as_deref().and_then(|d| ns.link(d)).is_some_and(is_up);
            if net.contains(dst) && up && best.is_none_or(|(p, _)| net.prefix() > p) {
                best = Some((net.prefix(), r));
            }
        }
        match best {
            Some((_, r)) => RouteResult::Via {
                dev: r.dev.clone().unwrap_or_default(),
                gateway: r.gateway.as_deref().and_then(|g| g.parse().ok()),
                prefix: r.dst.clone(),
                mtu: None,
            },
            None => RouteResult::None,
        }
    }
}

pub(crate) fn is_up(l: &Link) -> bool {
    l.flags.iter().any(|f| f == "UP")
}

pub(crate) fn ips(ns: &Namespace) -> impl Iterator<Item = IpAddr> + '_ {
    ns.addresses
        .iter()
        .filter_map(|a| a.address.split('/').next()?.parse().ok())
}

pub const MAX_HOPS: usize = 64;

/// What the firewall rules see of a packet besides its addresses: its connection state,
/// protocol and destination port.
type Seen = (CtState, L4Proto, Option<u16>);

/// What is traced: an ICMP echo (ping's), or the first packet of a UDP or TCP exchange to a
/// port (`trace --proto udp|tcp --port N`), which the firewall rules and NAT see with its
/// protocol and destination port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "proto", content = "port")]
pub enum Flow {
    #[default]
    Icmp,
    Udp(u16),
    Tcp(u16),
}

impl Flow {
    fn l4(self) -> (L4Proto, Option<u16>) {
        match self {
            Flow::Icmp => (L4Proto::Icmp, None),
            Flow::Udp(p) => (L4Proto::Udp, Some(p)),
            Flow::Tcp(p) => (L4Proto::Tcp, Some(p)),
        }
    }

    /// "udp port 53", "tcp port 8080"; None for an echo.
    pub fn describe(self) -> Option<String> {
        match self {
            Flow::Icmp => None,
            Flow::Udp(p) => Some(format!("udp port {p}")),
            Flow::Tcp(p) => Some(format!("tcp port {p}")),
        }
    }

    /// What the destination's kernel sends back when a socket takes the request or none does
    /// (`listening`; None: not known), and the connection state conntrack gives it on its
    /// way: an echo reply and TCP's SYN-ACK (a socket listens) or RST (none does) are of the
    /// established connection; UDP's answer from a port no socket is bound to is an ICMP port
    /// unreachable, related to it, and a datagram a socket takes has no answer of the kernel
    /// (None). The answer goes to the request's source port, which no rule netlab writes
    /// matches on: it has no destination port here.
    fn answer(self, listening: Option<bool>) -> Option<(&'static str, Seen)> {
        let tcp = (CtState::Established, L4Proto::Tcp, None);
        let unreachable = (CtState::Related, L4Proto::Icmp, None);
        Some(match (self, listening) {
            (Flow::Icmp, _) => ("reply", (CtState::Established, L4Proto::Icmp, None)),
            (Flow::Tcp(_), Some(true)) => ("reply (SYN-ACK)", tcp),
            (Flow::Tcp(_), Some(false)) => ("reply (RST)", tcp),
            (Flow::Tcp(_), None) => ("reply (SYN-ACK, or RST)", tcp),
            (Flow::Udp(_), Some(true)) => return None,
            (Flow::Udp(_), Some(false)) => ("reply (ICMP port unreachable)", unreachable),
            (Flow::Udp(_), None) => (
                "reply (ICMP port unreachable, if nothing listens)",
                unreachable,
            ),
        })
    }

    /// The request as the rules see it: a new connection of this protocol, to this port.
    fn request(self) -> Seen {
        let (proto, dport) = self.l4();
        (CtState::New, proto, dport)
    }
}

/// Predict the path of an ICMP echo from namespace `from` to `dst`, and of its reply: a ping
/// succeeds only if both make it. The TTL reported is the reply's, as ping shows it.
pub fn trace(snap: &Snapshot, routes: &dyn RouteOracle, from: &str, dst: IpAddr) -> Trace {
    trace_sized(snap, routes, from, dst, None)
}

/// [`trace`] of an echo request of `size` bytes (its IP length) with DF set, as `ping -M do -s
/// N` sends it (size = N + 28): the source refuses it if it exceeds the egress MTU (or the path
/// MTU the kernel cached), a router answers "fragmentation needed", a veth or bridge port drops
/// a frame over its MTU, a VXLAN port whose encapsulated packet exceeds the underlay's MTU
/// answers "fragmentation needed" for the destination. Without a size, ping lets the kernel
/// fragment and no MTU stops it. The reply is not sized: the kernel sends echo replies without
/// DF, fragmented as needed.
pub fn trace_sized(
    snap: &Snapshot,
    routes: &dyn RouteOracle,
    from: &str,
    dst: IpAddr,
    size: Option<u32>,
) -> Trace {
    trace_flow(snap, routes, from, dst, size, Flow::Icmp)
}

/// [`trace_sized`] of `flow`: an echo, or a UDP datagram or TCP SYN to a port, whose answer
/// (SYN-ACK or RST, or ICMP port unreachable) is the way back.
pub fn trace_flow(
    snap: &Snapshot,
    routes: &dyn RouteOracle,
    from: &str,
    dst: IpAddr,
    size: Option<u32>,
    flow: Flow,
) -> Trace {
    let mut t = walk(snap, routes, from, dst, size, Some(flow.request()), &[]);
    t.flow = flow;
    if t.disposition != Disposition::Delivered {
        return t;
    }
    let (Some(peer), Some(src)) = (
        t.delivered_to.clone(),
        source_address(snap, routes, from, dst),
    ) else {
        return t;
    };
    let Some((said, answer)) = flow.answer(t.listening) else {
        // A socket takes the datagram: what answers, if anything, is the application's.
        return t;
    };
    // The reply goes to the source the destination saw (the last source NAT's), and each
    // NAT on the way translates it back.
    let seen_src = t.snat.last().map_or(src, |n| n.translated);
    let back = walk(snap, routes, &peer, seen_src, None, Some(answer), &t.snat);
    let mut reply: Vec<Hop> = back
        .hops
        .into_iter()
        .map(|mut h| {
            h.action = format!("{said}: {}", h.action);
            h
        })
        .collect();
    t.reply_hops.append(&mut reply);
    if back.disposition == Disposition::Delivered && back.delivered_to.as_deref() == Some(from) {
        t.reply_ttl = back.ttl;
        return t;
    }
    t.filtered = back.filtered.clone();
    // A reply delivered somewhere else (another holder of the source address) is lost too.
    t.disposition = if back.disposition == Disposition::Delivered {
        Disposition::NoRoute
    } else {
        back.disposition
    };
    t.reason = Some(format!(
        "the {} reaches {peer}, but the reply to {} does not come back: {}",
        if flow == Flow::Icmp { "echo" } else { "packet" },
        if seen_src == src {
            src.to_string()
        } else {
            format!("{seen_src} (the source NAT's, for {src})")
        },
        back.reason.unwrap_or_else(|| format!(
            "{peer} routes it to {}, which also has {src}",
            back.delivered_to.unwrap_or_default()
        ))
    ));
    t
}

/// The source address the kernel would pick: the first IPv4 address of the egress device.
pub(crate) fn source_address(
    snap: &Snapshot,
    routes: &dyn RouteOracle,
    from: &str,
    dst: IpAddr,
) -> Option<IpAddr> {
    let ns = snap.namespace(from)?;
    match routes.lookup(ns, dst) {
        RouteResult::Via { dev, .. } => device_address(ns, &dev, dst),
        RouteResult::Local => Some(dst),
        RouteResult::None => None,
    }
}

/// The first address of `dev` in `ns` of the family of `dst` (for IPv6 a global one, unless
/// `dst` is link-local): the source the kernel picks, what masquerade rewrites to, where a
/// router's ICMP error comes from.
pub(crate) fn device_address(ns: &Namespace, dev: &str, dst: IpAddr) -> Option<IpAddr> {
    let index = ns.link(dev)?.index;
    ns.addresses
        .iter()
        .filter(|a| a.index == index)
        .filter_map(|a| a.address.split('/').next()?.parse::<IpAddr>().ok())
        .find(|a| match (a, dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => true,
            (IpAddr::V6(a), IpAddr::V6(d)) => {
                a.is_unicast_link_local() == d.is_unicast_link_local()
            }
            _ => false,
        })
}

/// The IPv4 address of `a`, if it is one (the underlay, VTEPs and probes are IPv4).
pub(crate) fn v4(a: Option<IpAddr>) -> Option<std::net::Ipv4Addr> {
    match a? {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

/// How a neighbour's MAC is asked for: ARP over IPv4, a neighbour solicitation over IPv6.
pub(crate) fn resolution(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "ARP",
        IpAddr::V6(_) => "neighbour solicitation",
    }
}

/// One direction only (also the underlay of a VXLAN hop), firewalls not evaluated.
pub fn one_way(snap: &Snapshot, routes: &dyn RouteOracle, from: &str, dst: IpAddr) -> Trace {
    one_way_sized(snap, routes, from, dst, None)
}

/// [`one_way`] for a packet of `size` bytes with DF set (see [`trace_sized`]).
pub fn one_way_sized(
    snap: &Snapshot,
    routes: &dyn RouteOracle,
    from: &str,
    dst: IpAddr,
    size: Option<u32>,
) -> Trace {
    walk(snap, routes, from, dst, size, None, &[])
}

/// Hook `hook` of `ns`'s firewall tables over the packet, if it is evaluated (`pkt`).
fn hook(
    snap: &Snapshot,
    ns: &Namespace,
    pkt: &mut Option<netfilter::Packet>,
    hook: Hook,
    iif: Option<&str>,
    oif: Option<&str>,
) -> netfilter::Outcome {
    hook_kind(snap, ns, pkt, hook, None, iif, oif)
}

/// [`hook`] of one kind of chain only (`None`: all).
fn hook_kind(
    snap: &Snapshot,
    ns: &Namespace,
    pkt: &mut Option<netfilter::Packet>,
    hook: Hook,
    kind: Option<ChainKind>,
    iif: Option<&str>,
    oif: Option<&str>,
) -> netfilter::Outcome {
    match (pkt.as_mut(), snap.firewalls.get(&ns.name)) {
        (Some(p), Some(tables)) => netfilter::run_kind(ns, tables, hook, kind, p, iif, oif),
        _ => netfilter::Outcome::default(),
    }
}

/// The packet's way from `from` to `dst`; with `ct` (the connection state the packet has,
/// new for the request, established or related for the answer, with its protocol and
/// destination port), through the firewalls netlab wrote too. `unnat`: for a reply, the
/// request's source NAT, which conntrack reverses where it was made.
fn walk(
    snap: &Snapshot,
    routes: &dyn RouteOracle,
    from: &str,
    dst: IpAddr,
    size: Option<u32>,
    ct: Option<Seen>,
    unnat: &[Snat],
) -> Trace {
    let mut pkt = ct.map(|(ct, proto, dport)| netfilter::Packet {
        saddr: source_address(snap, routes, from, dst),
        daddr: dst,
        proto,
        dport,
        ct,
    });
    let mut dst = dst;
    let mut t = Trace {
        from: from.to_string(),
        to: dst,
        hops: vec![],
        reply_hops: vec![],
        disposition: Disposition::Loop,
        reason: None,
        ttl: None,
        reply_ttl: None,
        delivered_to: None,
        size,
        mtu: None,
        mtu_answer: None,
        held_at: None,
        filtered: None,
        flow: Flow::Icmp,
        listening: None,
        snat: Vec::new(),
    };
    let mut ns_name = from.to_string();
    let mut in_dev: Option<String> = None;
    let mut ttl: u8 = 64;
    let mut seen: HashSet<(String, Option<String>)> = HashSet::new();
    for _ in 0..MAX_HOPS {
        if !seen.insert((ns_name.clone(), in_dev.clone())) {
            return finish(
                t,
                Disposition::Loop,
                format!("the packet comes back to {ns_name}: a forwarding loop"),
            );
        }
        let Some(ns) = snap.namespace(&ns_name) else {
            return finish(
                t,
                Disposition::NoRoute,
                format!("namespace {ns_name} is not in the snapshot"),
            );
        };
        let forwarded = in_dev.is_some();
        // Prerouting (from another namespace): DNAT may change where it goes.
        let mut notes = Vec::new();
        // A reply to an address this namespace's source NAT gave the request: conntrack
        // translates it back before routing (the NAT chains never see it).
        if let Some(n) = unnat
            .iter()
            .find(|n| forwarded && n.ns == ns_name && n.translated == dst)
        {
            notes.push(format!(
                "conntrack: destination {} -> {} (the reply of its source NAT)",
                n.translated, n.original
            ));
            dst = n.original;
            if let Some(p) = pkt.as_mut() {
                p.daddr = dst;
            }
        }
        if forwarded {
            let o = hook(
                snap,
                ns,
                &mut pkt,
                Hook::Prerouting,
                in_dev.as_deref(),
                None,
            );
            if let Some(f) = o.dropped {
                return filtered(t, f, &ns_name, in_dev.as_deref(), ttl);
            }
            notes.extend(o.rewrites);
            if let Some(p) = &pkt {
                dst = p.daddr;
            }
        }
        // The source's own packet: routed, then the output hook's NAT chains, whose DNAT
        // reroutes it (a service's virtual IP to a task, maybe the source itself).
        if !forwarded {
            let oif = match routes.lookup(ns, dst) {
                RouteResult::Via { dev, .. } => Some(dev),
                RouteResult::Local => Some("lo".to_string()),
                _ => None,
            };
            let o = hook_kind(
                snap,
                ns,
                &mut pkt,
                Hook::Output,
                Some(ChainKind::Nat),
                None,
                oif.as_deref(),
            );
            if let Some(f) = o.dropped {
                return filtered(t, f, &ns_name, None, ttl);
            }
            notes.extend(o.rewrites);
            if let Some(p) = &pkt {
                dst = p.daddr;
            }
        }
        let lookup = routes.lookup(ns, dst);
        if lookup == RouteResult::Local {
            if forwarded {
                let o = hook(snap, ns, &mut pkt, Hook::Input, in_dev.as_deref(), None);
                if let Some(f) = o.dropped {
                    return filtered(t, f, &ns_name, in_dev.as_deref(), ttl);
                }
            }
            // The port the last DNAT gave it, and whether a socket takes it there.
            let port = pkt.as_ref().and_then(|p| Some((p.proto, p.dport?)));
            if let Some((proto, port)) = port {
                t.listening = routes.listening(ns, proto, dst, port, in_dev.as_deref());
            }
            t.hops.push(Hop {
                namespace: ns_name.clone(),
                in_dev: in_dev.clone(),
                action: with_notes(
                    match port {
                        Some((proto, port)) => format!(
                            "{dst} is local: delivered to {} port {port}{}",
                            proto.as_str(),
                            match t.listening {
                                Some(true) => " (a socket listens)",
                                Some(false) => " (no socket listens)",
                                None => "",
                            }
                        ),
                        None => format!("{dst} is local: delivered"),
                    },
                    &notes,
                ),
                out_dev: None,
                ttl,
                layer: "l3",
                ..Default::default()
            });
            t.ttl = Some(ttl);
            t.delivered_to = Some(ns_name.clone());
            t.disposition = Disposition::Delivered;
            return t;
        }
        if forwarded {
            let (forwards, off, sysctl) = match dst {
                IpAddr::V4(_) => (ns.forwarding, "ip_forward", "net.ipv4.ip_forward"),
                IpAddr::V6(_) => (
                    ns.forwarding6,
                    "IPv6 forwarding",
                    "net.ipv6.conf.all.forwarding",
                ),
            };
            if forwards != Some(true) {
                t.hops.push(Hop {
                    namespace: ns_name.clone(),
                    in_dev: in_dev.clone(),
                    action: format!("not local, and {off} is off: dropped"),
                    out_dev: None,
                    ttl,
                    layer: "l3",
                    ..Default::default()
                });
                return finish(
                    t,
                    Disposition::ForwardingDisabled,
                    format!(
                        "{ns_name} received the packet on {} but does not forward ({sysctl} = 0)",
                        in_dev.unwrap_or_default()
                    ),
                );
            }
            if ttl <= 1 {
                return finish(t, Disposition::Loop, format!("TTL expired in {ns_name}"));
            }
            ttl -= 1;
        }
        let (dev, gateway, prefix, path_mtu) = match lookup {
            RouteResult::Via {
                dev,
                gateway,
                prefix,
                mtu,
            } => (dev, gateway, prefix, mtu),
            _ => {
                t.hops.push(Hop {
                    namespace: ns_name.clone(),
                    in_dev: in_dev.clone(),
                    action: format!("no route to {dst}"),
                    out_dev: None,
                    ttl,
                    layer: "l3",
                    ..Default::default()
                });
                return finish(
                    t,
                    Disposition::NoRoute,
                    format!("{ns_name} has no route to {dst}; add one, or a default route"),
                );
            }
        };
        let nexthop = gateway.unwrap_or(dst);
        let action = match gateway {
            Some(g) => format!(
                "route {prefix} via {g} dev {dev}{}",
                if forwarded {
                    " (forwarded, TTL - 1)"
                } else {
                    ""
                }
            ),
            None => format!(
                "route {prefix} dev {dev}{}",
                if forwarded {
                    " (forwarded, TTL - 1)"
                } else {
                    ""
                }
            ),
        };
        t.hops.push(Hop {
            namespace: ns_name.clone(),
            in_dev: in_dev.clone(),
            action,
            out_dev: Some(dev.clone()),
            ttl,
            layer: "l3",
            ..Default::default()
        });
        let Some(out) = ns.link(&dev) else {
            return finish(
                t,
                Disposition::NoRoute,
                format!("{ns_name}: route points at {dev}, which does not exist"),
            );
        };
        if !is_up(out) {
            return finish(
                t,
                Disposition::LinkDown,
                format!("{ns_name}: {dev} is down (`ip link set {dev} up`)"),
            );
        }
        if let Some(len) = size {
            if let Some((mtu, answer, action, why)) =
                ip_mtu_check(&ns_name, &dev, out.mtu, path_mtu, dst, len, forwarded)
            {
                (t.mtu, t.mtu_answer) = (Some(mtu), Some(answer));
                t.hops.push(l2::hop(
                    &ns_name,
                    in_dev.as_deref(),
                    Some(&dev),
                    action,
                    ttl,
                    "l3",
                ));
                return finish(t, Disposition::MtuExceeded, why);
            }
        }
        // The filter (forward for a routed packet, output for the source's own), then source
        // NAT, after the MTU checks, as ip_forward and ip_append_data make them first.
        let filter = if forwarded {
            Hook::Forward
        } else {
            Hook::Output
        };
        for h in [filter, Hook::Postrouting] {
            let before = pkt.as_ref().and_then(|p| p.saddr);
            // The output hook's NAT chains ran before the route (above).
            let kind = (h == Hook::Output).then_some(ChainKind::Filter);
            let o = hook_kind(snap, ns, &mut pkt, h, kind, in_dev.as_deref(), Some(&dev));
            let after = pkt.as_ref().and_then(|p| p.saddr);
            if let (Some(original), Some(translated)) = (before, after) {
                if original != translated {
                    t.snat.push(Snat {
                        ns: ns_name.clone(),
                        original,
                        translated,
                    });
                }
            }
            notes.extend(o.rewrites);
            if let Some(f) = o.dropped {
                let last = t.hops.last_mut().expect("the route hop");
                last.out_dev = None;
                last.action = with_notes(
                    format!("{}; dropped by {}", last.action, f.describe()),
                    &notes,
                );
                return stop_filtered(t, f);
            }
        }
        if !notes.is_empty() {
            let last = t.hops.last_mut().expect("the route hop");
            last.action = with_notes(std::mem::take(&mut last.action), &notes);
        }
        let neigh = ns.neighbours.iter().find(|n| {
            n.dev == dev && n.ip == nexthop.to_string() && n.mac.is_some() && n.state != "FAILED"
        });
        let target = match neigh {
            Some(n) => l2::Want::Mac(n.mac.clone().unwrap()),
            None => l2::Want::Ip(nexthop),
        };
        let route_hop = t.hops.len() - 1;
        let sent = l2::deliver(
            snap,
            routes,
            &ns_name,
            &dev,
            &target,
            (dst, ttl, size),
            &mut t.hops,
        );
        match sent {
            Ok((next_ns, next_dev)) => {
                ns_name = next_ns;
                in_dev = Some(next_dev);
            }
            Err((d, why, mtu)) => {
                if let Some((m, a)) = mtu {
                    (t.mtu, t.mtu_answer) = (Some(m), Some(a));
                }
                // The frame was an ARP request (no neighbour entry): stopped on its way, it
                // is never answered, and the echo request waits for it where it was routed.
                // (A packet too big is stopped after the ARP exchange, which small frames
                // pass.)
                if matches!(target, l2::Want::Ip(_)) && d != Disposition::MtuExceeded {
                    t.held_at = Some(route_hop);
                }
                let why = if d == Disposition::NeighborUnreachable {
                    let asked = resolution(nexthop);
                    format!("{ns_name}: nobody answers {asked} for {nexthop} out of {dev}: {why}")
                } else {
                    why
                };
                return finish(t, d, why);
            }
        }
    }
    finish(t, Disposition::Loop, format!("more than {MAX_HOPS} hops"))
}

/// IP output (the source) and forwarding (a router) check a DF packet of `len` bytes strictly
/// against the route's MTU: the device's (`dev_mtu`), or a path MTU the kernel learnt. Over
/// it: the MTU, what the sender hears, the hop's action and the reason.
fn ip_mtu_check(
    ns: &str,
    dev: &str,
    dev_mtu: Option<u32>,
    path_mtu: Option<u32>,
    dst: IpAddr,
    len: u32,
    forwarded: bool,
) -> Option<(u32, MtuAnswer, String, String)> {
    let mtu = path_mtu.or(dev_mtu)?;
    if len <= mtu {
        return None;
    }
    Some(if forwarded {
        (
            mtu,
            MtuAnswer::FragNeeded,
            format!("{len} bytes > mtu {mtu} of {dev}, DF set: dropped, ICMP fragmentation needed (mtu {mtu}) to the source"),
            format!("{ns} cannot forward the {len}-byte packet out of {dev} (mtu {mtu}) with DF set: it answers ICMP \"fragmentation needed\" (mtu = {mtu}) and drops it"),
        )
    } else {
        let whose = if path_mtu.is_some_and(|p| dev_mtu.is_none_or(|m| p < m)) {
            format!("the path MTU {mtu} the kernel learnt for {dst}")
        } else {
            format!("the MTU {mtu} of {dev}")
        };
        (
            mtu,
            MtuAnswer::LocalError,
            format!("{len} bytes > mtu {mtu}, DF set: the send fails (EMSGSIZE)"),
            format!("{ns}: the {len}-byte packet exceeds {whose} and DF is set: the send fails (ping: \"local error: message too long, mtu={mtu}\")"),
        )
    })
}

/// "ACTION; masquerade, source a -> b": the NAT rewrites made at a hop, after its action.
fn with_notes(action: String, notes: &[String]) -> String {
    std::iter::once(action)
        .chain(notes.iter().cloned())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Dropped at prerouting or input, on the way in: the hop that received it is the last.
fn filtered(
    mut t: Trace,
    f: netfilter::Filtered,
    ns: &str,
    in_dev: Option<&str>,
    ttl: u8,
) -> Trace {
    t.hops.push(l2::hop(
        ns,
        in_dev,
        None,
        format!("dropped by {}", f.describe()),
        ttl,
        "l3",
    ));
    stop_filtered(t, f)
}

fn stop_filtered(mut t: Trace, f: netfilter::Filtered) -> Trace {
    let why = format!("{} drops it: {}", f.namespace, f.describe());
    t.filtered = Some(f);
    finish(t, Disposition::Filtered, why)
}

fn finish(mut t: Trace, d: Disposition, reason: String) -> Trace {
    t.disposition = d;
    t.reason = Some(reason);
    t
}

/// Does the packet get routed on to another device here (TTL - 1)?
pub(crate) fn is_forwarding(h: &Hop) -> bool {
    h.action.contains("(forwarded, TTL - 1)")
}

/// The namespaces where the echo request is forwarded (routers), in order: a real probe with
/// TTL k gets "time exceeded" from the k-th of them, and the echo reply once past the last.
pub fn routers(t: &Trace) -> Vec<String> {
    probe::router_hops(t)
        .into_iter()
        .map(|h| h.namespace.clone())
        .collect()
}

/// One line per namespace crossed (ovn-trace's minimal mode), and one more where a router
/// forwards the packet on (TTL - 1): a router is crossed twice, in on one device, out on another.
pub fn render_minimal(t: &Trace) -> String {
    let mut out = Vec::new();
    let mut last: Option<&str> = None;
    for h in &t.hops {
        let forwarding = is_forwarding(h);
        if last != Some(h.namespace.as_str()) || forwarding {
            let via = match (&h.in_dev, &h.out_dev) {
                (Some(i), Some(o)) => format!(" ({i} -> {o})"),
                (Some(i), None) => format!(" ({i})"),
                (None, Some(o)) => format!(" (-> {o})"),
                _ => String::new(),
            };
            out.push(format!(
                "{}{via} ttl {}{}",
                h.namespace,
                h.ttl,
                if forwarding { ", forwarded" } else { "" }
            ));
            last = Some(&h.namespace);
        }
    }
    out.push(match &t.reason {
        None if taken_by_socket(t) => format!("{} (taken by a socket)", t.disposition.as_str()),
        None => format!(
            "{} (reply ttl {})",
            t.disposition.as_str(),
            t.reply_ttl.unwrap_or(0)
        ),
        Some(r) => format!("{}: {r}", t.disposition.as_str()),
    });
    out.join("\n")
}

/// A UDP datagram delivered to a socket: the kernel sends nothing back.
fn taken_by_socket(t: &Trace) -> bool {
    t.disposition == Disposition::Delivered && t.listening == Some(true) && t.reply_hops.is_empty()
}

fn hop_line(n: usize, h: &Hop) -> String {
    let inn = h
        .in_dev
        .as_deref()
        .map(|d| format!(" in {d}"))
        .unwrap_or_default();
    let out = h
        .out_dev
        .as_deref()
        .map(|d| format!(" out {d}"))
        .unwrap_or_default();
    format!(
        "{n:>3}. [{}] {}{inn}{out} ttl {}: {}{}\n",
        h.layer,
        h.namespace,
        h.ttl,
        h.action,
        capture::annotate(h)
    )
}

/// Every hop with what happened there (with `detailed`, the reply's way back too).
pub fn render(t: &Trace, detailed: bool) -> String {
    let mut out = match (t.size, t.flow.describe()) {
        (Some(n), _) => format!("trace {} -> {}, {n} bytes with DF\n", t.from, t.to),
        (None, Some(f)) => format!("trace {} -> {}, {f}\n", t.from, t.to),
        (None, None) => format!("trace {} -> {}\n", t.from, t.to),
    };
    let reply: &[Hop] = if detailed { &t.reply_hops } else { &[] };
    for (i, h) in t.hops.iter().chain(reply).enumerate() {
        out.push_str(&hop_line(i + 1, h));
    }
    out.push_str(&match &t.reason {
        None if taken_by_socket(t) => format!(
            "{}: reached {} with ttl {}, where a socket takes it: nothing is predicted to \
             answer (the application may)",
            t.disposition.as_str(),
            t.delivered_to.as_deref().unwrap_or("?"),
            t.ttl.unwrap_or(0),
        ),
        None => format!(
            "{}: reached {} with ttl {}; the reply comes back with ttl {}",
            t.disposition.as_str(),
            t.delivered_to.as_deref().unwrap_or("?"),
            t.ttl.unwrap_or(0),
            t.reply_ttl.unwrap_or(0)
        ),
        Some(r) => format!("{}: {r}", t.disposition.as_str()),
    });
    out
}

#[cfg(test)]
mod tests;
