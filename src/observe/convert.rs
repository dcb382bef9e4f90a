//! netlink messages -> observe types (one function per message kind, like nispor's modules).

use std::collections::BTreeMap;

use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoBridge, InfoBridgePort, InfoData, InfoIpVlan, InfoMacVlan, InfoPortData, InfoVlan,
    InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, MacVlanMode,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::AddressFamily;

use super::{Address, BridgePort, Fdb, Link, Neighbour, Route, Vxlan};
use crate::spec::format_mac;

const FLAG_NAMES: &[(LinkFlags, &str)] = &[
    (LinkFlags::Loopback, "LOOPBACK"),
    (LinkFlags::Broadcast, "BROADCAST"),
    (LinkFlags::Pointopoint, "POINTOPOINT"),
    (LinkFlags::Multicast, "MULTICAST"),
    (LinkFlags::Noarp, "NOARP"),
    (LinkFlags::Allmulti, "ALLMULTI"),
    (LinkFlags::Promisc, "PROMISC"),
    (LinkFlags::Up, "UP"),
    (LinkFlags::LowerUp, "LOWER_UP"),
];

pub fn link(m: &LinkMessage) -> Link {
    let mut l = Link {
        index: m.header.index,
        ..Default::default()
    };
    for (f, name) in FLAG_NAMES {
        if m.header.flags.contains(*f) {
            l.flags.push(name.to_string());
        }
    }
    if m.header.flags.contains(LinkFlags::Up) && !m.header.flags.contains(LinkFlags::LowerUp) {
        l.flags.insert(0, "NO-CARRIER".into());
    }
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name = n.clone(),
            LinkAttribute::Mtu(v) => l.mtu = Some(*v),
            LinkAttribute::Address(mac) => l.mac = Some(format_mac(mac)),
            LinkAttribute::Controller(i) => l.master = Some(i.to_string()),
            LinkAttribute::Link(i) => l.link = Some(*i),
            LinkAttribute::LinkNetNsId(i) => l.link_netnsid = Some(*i),
            LinkAttribute::OperState(s) => l.operstate = s.to_string().to_uppercase(),
            LinkAttribute::Qdisc(q) => l.qdisc = Some(q.clone()),
            LinkAttribute::Promiscuity(p) => l.promiscuity = Some(*p),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    match i {
                        LinkInfo::Kind(k) => l.kind = Some(k.to_string()),
                        LinkInfo::Data(InfoData::Vxlan(v)) => l.vxlan = Some(vxlan(v)),
                        LinkInfo::Data(InfoData::MacVlan(v)) => {
                            l.macvlan_mode = v.iter().find_map(|x| match x {
                                InfoMacVlan::Mode(m) => Some(mode(m)),
                                _ => None,
                            })
                        }
                        LinkInfo::Data(InfoData::IpVlan(v)) => {
                            l.ipvlan_mode = v.iter().find_map(|x| match x {
                                InfoIpVlan::Mode(m) => Some(m.to_string()),
                                _ => None,
                            })
                        }
                        LinkInfo::Data(InfoData::Vlan(v)) => {
                            l.vlan_id = v.iter().find_map(|x| match x {
                                InfoVlan::Id(id) => Some(*id),
                                _ => None,
                            })
                        }
                        LinkInfo::Data(InfoData::Bridge(b)) => {
                            l.nf_call_iptables = b.iter().find_map(|x| match x {
                                InfoBridge::NfCallIpTables(v) => Some(*v),
                                _ => None,
                            })
                        }
                        LinkInfo::PortData(InfoPortData::BridgePort(p)) => {
                            l.bridge_port = Some(bridge_port(p))
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    l
}

fn mode(m: &MacVlanMode) -> String {
    match m {
        MacVlanMode::Private => "private".into(),
        MacVlanMode::Vepa => "vepa".into(),
        MacVlanMode::Bridge => "bridge".into(),
        MacVlanMode::Passthrough => "passthru".into(),
        MacVlanMode::Source => "source".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn vxlan(v: &[InfoVxlan]) -> Vxlan {
    let mut x = Vxlan::default();
    for a in v {
        match a {
            InfoVxlan::Id(i) => x.id = Some(*i),
            InfoVxlan::Local(ip) => x.local = Some(ip.to_string()),
            InfoVxlan::Local6(ip) => x.local = Some(ip.to_string()),
            InfoVxlan::Group(ip) if ip.is_multicast() => x.group = Some(ip.to_string()),
            InfoVxlan::Group(ip) if !ip.is_unspecified() => x.remote = Some(ip.to_string()),
            InfoVxlan::Group6(ip) if !ip.is_unspecified() => x.group = Some(ip.to_string()),
            InfoVxlan::Port(p) => x.port = Some(*p),
            InfoVxlan::PortRange(r) => x.port_range = Some(*r),
            InfoVxlan::Learning(b) => x.learning = Some(*b),
            InfoVxlan::Proxy(b) => x.proxy = Some(*b),
            InfoVxlan::Rsc(b) => x.rsc = Some(*b),
            InfoVxlan::L2Miss(b) => x.l2miss = Some(*b),
            InfoVxlan::L3Miss(b) => x.l3miss = Some(*b),
            InfoVxlan::Ageing(s) => x.ageing = Some(*s),
            InfoVxlan::Ttl(t) => x.ttl = Some(*t),
            InfoVxlan::Tos(t) => x.tos = Some(*t),
            InfoVxlan::UDPCsum(b) => x.udp_csum = Some(*b),
            InfoVxlan::UDPZeroCsumTX(b) => x.udp6_zero_csum_tx = Some(*b),
            InfoVxlan::UDPZeroCsumRX(b) => x.udp6_zero_csum_rx = Some(*b),
            InfoVxlan::Link(i) if *i != 0 => x.underlay = Some(*i),
            _ => {}
        }
    }
    x
}

fn bridge_port(p: &[InfoBridgePort]) -> BridgePort {
    let mut b = BridgePort::default();
    for a in p {
        match a {
            InfoBridgePort::State(s) => b.state = Some(s.to_string()),
            InfoBridgePort::Learning(v) => b.learning = Some(*v),
            InfoBridgePort::Isolated(v) => b.isolated = Some(*v),
            InfoBridgePort::HairpinMode(v) => b.hairpin = Some(*v),
            _ => {}
        }
    }
    b
}

pub fn address(m: &AddressMessage, names: &BTreeMap<u32, String>) -> Option<Address> {
    let ip = m.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    let ip = ip.or_else(|| {
        m.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        })
    })?;
    Some(Address {
        dev: names
            .get(&m.header.index)
            .cloned()
            .unwrap_or_else(|| format!("if{}", m.header.index)),
        index: m.header.index,
        address: format!("{ip}/{}", m.header.prefix_len),
    })
}

fn route_addr(a: &RouteAddress) -> Option<String> {
    match a {
        RouteAddress::Inet(ip) => Some(ip.to_string()),
        RouteAddress::Inet6(ip) => Some(ip.to_string()),
        _ => None,
    }
}

pub fn route(m: &RouteMessage, names: &BTreeMap<u32, String>) -> Option<Route> {
    if !matches!(
        m.header.address_family,
        AddressFamily::Inet | AddressFamily::Inet6
    ) {
        return None;
    }
    let mut r = Route {
        dst: "default".into(),
        gateway: None,
        dev: None,
        table: u32::from(m.header.table),
        protocol: m.header.protocol.to_string(),
        scope: m.header.scope.to_string(),
        kind: format!("{:?}", m.header.kind).to_lowercase(),
        prefsrc: None,
    };
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(d) => {
                if let Some(d) = route_addr(d) {
                    r.dst = format!("{d}/{}", m.header.destination_prefix_length);
                }
            }
            RouteAttribute::Gateway(g) => r.gateway = route_addr(g),
            RouteAttribute::PrefSource(s) => r.prefsrc = route_addr(s),
            RouteAttribute::Oif(i) => {
                r.dev = Some(names.get(i).cloned().unwrap_or_else(|| format!("if{i}")))
            }
            RouteAttribute::Table(t) => r.table = *t,
            _ => {}
        }
    }
    if r.dst != "default" && m.header.destination_prefix_length == 32 && !r.dst.contains('/') {
        r.dst = format!("{}/32", r.dst);
    }
    Some(r)
}

fn neigh_addr(a: &NeighbourAddress) -> Option<String> {
    match a {
        NeighbourAddress::Inet(ip) => Some(ip.to_string()),
        NeighbourAddress::Inet6(ip) => Some(ip.to_string()),
        // AF_BRIDGE entries carry the VTEP address raw.
        NeighbourAddress::Other(b) if b.len() == 4 => {
            Some(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string())
        }
        NeighbourAddress::Other(b) if b.len() == 16 => {
            Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b.as_slice()).ok()?).to_string())
        }
        _ => None,
    }
}

pub fn neighbour(m: &NeighbourMessage, names: &BTreeMap<u32, String>) -> Option<Neighbour> {
    let ip = m.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(d) => neigh_addr(d),
        _ => None,
    })?;
    let mac = m.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLayerAddress(l) => Some(format_mac(l)),
        _ => None,
    });
    Some(Neighbour {
        dev: names
            .get(&m.header.ifindex)
            .cloned()
            .unwrap_or_else(|| format!("if{}", m.header.ifindex)),
        ip,
        mac,
        state: m.header.state.to_string().to_uppercase(),
    })
}

pub fn fdb(m: &NeighbourMessage, names: &BTreeMap<u32, String>) -> Option<Fdb> {
    let mac = m.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLayerAddress(l) => Some(format_mac(l)),
        _ => None,
    })?;
    let mut f = Fdb {
        dev: names
            .get(&m.header.ifindex)
            .cloned()
            .unwrap_or_else(|| format!("if{}", m.header.ifindex)),
        mac,
        dst: None,
        vlan: None,
        master: None,
        is_self: m.header.flags.contains(NeighbourFlags::Own),
        state: m.header.state.to_string().to_lowercase(),
    };
    for a in &m.attributes {
        match a {
            NeighbourAttribute::Destination(d) => f.dst = neigh_addr(d),
            NeighbourAttribute::Vlan(v) => f.vlan = Some(*v),
            NeighbourAttribute::Controller(i) => f.master = names.get(i).cloned(),
            _ => {}
        }
    }
    Some(f)
}
