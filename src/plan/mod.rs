//! The plan: a checked [`Lab`] becomes an ordered list of kernel objects (namespaces, links,
//! addresses, routes, FDB and neighbour entries, sysctls). Pure: no syscalls. Each network's
//! driver (`crate::driver`) adds its objects; the engine applies them. `--dry-run` prints a plan as the equivalent iproute2
//! commands.

pub mod delta;
mod host;
pub mod names;
pub mod outside;
mod sandbox;
mod service;
mod underlay;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnetwork::{Ipv4Network, Ipv6Network};
use serde::{Deserialize, Serialize};

use crate::spec::{format_mac, IpvlanMode, Lab, MacvlanMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Underlay,
    Host,
    Container,
    OverlayNetwork,
    /// The lab's stand-in for the internet (`[outside]`).
    Outside,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Underlay => "underlay",
            Role::Host => "host",
            Role::Container => "container",
            Role::OverlayNetwork => "overlay network",
            Role::Outside => "outside",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Namespace {
    pub name: String,
    pub role: Role,
}

/// One kernel object to create, inside namespace `ns`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Object {
    Bridge {
        ns: String,
        name: String,
        /// The bridge's own MAC, set at creation (Docker gives its host bridges a random
        /// `02:42:` one); None: the kernel's (random, then the lowest port's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mac: Option<[u8; 6]>,
    },
    /// A veth pair: `name` in `ns` (optionally enslaved to `master`), `peer` in `peer_ns`.
    Veth {
        ns: String,
        name: String,
        master: Option<String>,
        mtu: u32,
        peer_ns: String,
        peer: String,
        peer_mac: Option<[u8; 6]>,
    },
    /// A VXLAN device created from `ns` (its UDP socket stays there) directly into `target_ns`.
    Vxlan {
        ns: String,
        target_ns: String,
        name: String,
        vni: u32,
        /// The host's underlay address, this VTEP's as its peers know it. Not set on the
        /// device: Docker gives vxlan0 no `local` (libnetwork's createVxlan), so the kernel
        /// picks the source address by routing, as it does here.
        #[serde(alias = "local")]
        vtep: Ipv4Addr,
        port: u16,
        mtu: u32,
        /// The one UDP source port its packets leave from (`srcport P P+1`), instead of a port
        /// per inner flow: an encrypted overlay's, which its IPsec policy selects.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        src_port: Option<u16>,
    },
    /// An 802.1Q sub-interface `name` of `link`, VLAN `id` (`ip link add link ens38 name
    /// ens38.10 type vlan id 10`).
    Vlan {
        ns: String,
        name: String,
        link: String,
        id: u16,
    },
    /// A macvlan of `parent` in `ns` (a host), created from there directly into `target_ns`
    /// (a container) as `name`: inside, `ip link` shows `name@ifN`, N the parent's index.
    Macvlan {
        ns: String,
        parent: String,
        mode: MacvlanMode,
        target_ns: String,
        name: String,
        mac: [u8; 6],
    },
    /// An ipvlan of `parent` in `ns` (a host), created from there directly into `target_ns`
    /// as `name`, as a macvlan is; it has its parent's MAC.
    Ipvlan {
        ns: String,
        parent: String,
        mode: IpvlanMode,
        target_ns: String,
        name: String,
    },
    /// A dummy device: an internal ipvlan network's parent on a host, as Docker makes it.
    Dummy {
        ns: String,
        name: String,
    },
    Master {
        ns: String,
        dev: String,
        master: String,
    },
    /// Promiscuous mode, as the articles set it on a macvlan parent.
    Promisc {
        ns: String,
        dev: String,
    },
    /// A sysctl of namespace `ns` (`net.ipv4.ip_forward`), written from inside it: per-namespace
    /// sysctls never touch the root namespace.
    Sysctl {
        ns: String,
        key: String,
        value: String,
    },
    /// A host's firewall: the nftables table `netlab` of its namespace, written in one batch
    /// (all of it or nothing) through nfnetlink, and deleted whole.
    Firewall {
        ns: String,
        table: crate::kernel::nft::Table,
    },
    /// An IPsec ESP security association of namespace `ns` (a host: where the VXLAN sockets
    /// live), through XFRM netlink.
    XfrmState {
        ns: String,
        sa: crate::kernel::xfrm::Sa,
    },
    /// An outbound IPsec policy of namespace `ns`: which UDP datagrams go through which SA.
    XfrmPolicy {
        ns: String,
        policy: crate::kernel::xfrm::Policy,
    },
    /// Bridge port isolation (Docker's enable_icc=false).
    Isolated {
        ns: String,
        dev: String,
    },
    Up {
        ns: String,
        dev: String,
    },
    Address {
        ns: String,
        dev: String,
        address: Ipv4Network,
    },
    /// A route out of `dev`, through `via`, or on-link without it (`default dev eth0`, an
    /// ipvlan L3 container's).
    Route {
        ns: String,
        dst: Option<Ipv4Network>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<Ipv4Addr>,
        dev: String,
    },
    /// An IPv6 address, added without duplicate address detection (`nodad`, as Docker adds
    /// a container's), so it is usable at once.
    Address6 {
        ns: String,
        dev: String,
        address: Ipv6Network,
    },
    /// An IPv6 route out of `dev`, through `via` or on-link.
    Route6 {
        ns: String,
        dst: Option<Ipv6Network>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<Ipv6Addr>,
        dev: String,
    },
    Fdb {
        ns: String,
        dev: String,
        mac: [u8; 6],
        dst: Ipv4Addr,
    },
    Neigh {
        ns: String,
        dev: String,
        ip: std::net::IpAddr,
        mac: [u8; 6],
    },
}

/// Links are created before anything configures them: a veth's far end appears in another
/// namespace, so every link must exist before addresses and routes are added. Links stacked on
/// another link (a VLAN or macvlan on a host NIC, which is the far end of a switch port's veth)
/// come in a phase of their own, once every NIC exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Links,
    Stacked,
    Config,
}

impl Phase {
    /// In the order the engine applies them.
    pub const ALL: [Phase; 3] = [Phase::Links, Phase::Stacked, Phase::Config];
}

impl Object {
    /// The namespace whose netlink connection creates this object.
    pub fn ns(&self) -> &str {
        match self {
            Object::Bridge { ns, .. }
            | Object::Veth { ns, .. }
            | Object::Vxlan { ns, .. }
            | Object::Vlan { ns, .. }
            | Object::Macvlan { ns, .. }
            | Object::Ipvlan { ns, .. }
            | Object::Dummy { ns, .. }
            | Object::Promisc { ns, .. }
            | Object::Sysctl { ns, .. }
            | Object::Firewall { ns, .. }
            | Object::XfrmState { ns, .. }
            | Object::XfrmPolicy { ns, .. }
            | Object::Master { ns, .. }
            | Object::Isolated { ns, .. }
            | Object::Up { ns, .. }
            | Object::Address { ns, .. }
            | Object::Address6 { ns, .. }
            | Object::Route { ns, .. }
            | Object::Route6 { ns, .. }
            | Object::Fdb { ns, .. }
            | Object::Neigh { ns, .. } => ns,
        }
    }

    pub fn phase(&self) -> Phase {
        match self {
            Object::Bridge { .. }
            | Object::Veth { .. }
            | Object::Vxlan { .. }
            | Object::Dummy { .. } => Phase::Links,
            // Before any VXLAN device exists, so that no datagram of an encrypted overlay ever
            // leaves in the clear (nor with a route cached from before its policy).
            Object::XfrmState { .. } | Object::XfrmPolicy { .. } => Phase::Links,
            Object::Vlan { .. } | Object::Macvlan { .. } | Object::Ipvlan { .. } => Phase::Stacked,
            _ => Phase::Config,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub lab: String,
    pub namespaces: Vec<Namespace>,
    pub objects: Vec<Object>,
}

impl Plan {
    pub(crate) fn ns(&mut self, name: String, role: Role) {
        self.namespaces.push(Namespace { name, role });
    }
    pub(crate) fn add(&mut self, o: Object) {
        self.objects.push(o);
    }
    pub fn len(&self) -> usize {
        self.namespaces.len() + self.objects.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The nftables tables the lab's plan writes, by namespace: what trace evaluates.
pub fn firewalls(lab: &Lab) -> std::collections::BTreeMap<String, Vec<crate::kernel::nft::Table>> {
    let mut out: std::collections::BTreeMap<String, Vec<_>> = Default::default();
    for o in plan(lab).objects {
        if let Object::Firewall { ns, table } = o {
            out.entry(ns).or_default().push(table);
        }
    }
    out
}

/// Build the whole plan for a lab. Order within a namespace is the order of creation.
pub fn plan(lab: &Lab) -> Plan {
    let mut p = Plan {
        lab: lab.name.clone(),
        namespaces: Vec::new(),
        objects: Vec::new(),
    };
    underlay::plan(lab, &mut p);
    host::plan(lab, &mut p);
    outside::plan(lab, &mut p);
    for (ni, net) in lab.networks.iter().enumerate() {
        net.driver().plan(lab, ni, &mut p);
    }
    sandbox::plan(lab, &mut p);
    service::plan(lab, &mut p);
    p
}

/// The container end of an endpoint: set up, with its address (every driver does the same).
pub(crate) fn endpoint_in_container(lab: &Lab, ci: usize, e: &crate::spec::Endpoint, p: &mut Plan) {
    let cns = lab.container_ns(ci);
    p.add(Object::Up {
        ns: cns.clone(),
        dev: e.ifname.clone(),
    });
    p.add(Object::Address {
        ns: cns.clone(),
        dev: e.ifname.clone(),
        address: e.address,
    });
    for a in &e.secondary {
        p.add(Object::Address {
            ns: cns.clone(),
            dev: e.ifname.clone(),
            address: *a,
        });
    }
    if let Some(address) = e.address6 {
        p.add(Object::Address6 {
            ns: cns,
            dev: e.ifname.clone(),
            address,
        });
    }
}

/// A network's gateway on the device that holds it (a bridge, an overlay's br0): its IPv4
/// gateway, and its IPv6 one on a dual-stack network.
pub(crate) fn gateway_on(net: &crate::spec::Network, ns: &str, dev: &str, p: &mut Plan) {
    p.add(Object::Address {
        ns: ns.to_string(),
        dev: dev.to_string(),
        address: Ipv4Network::new(net.gateway, net.subnet.prefix()).unwrap(),
    });
    if let Some(v6) = &net.ipv6 {
        p.add(Object::Address6 {
            ns: ns.to_string(),
            dev: dev.to_string(),
            address: Ipv6Network::new(v6.gateway, v6.subnet.prefix()).unwrap(),
        });
    }
}

/// Short, stable host-side veth name like Docker's `veth1a2b3c4`, but longer.
pub(crate) fn host_veth_name(lab: &str, container: &str, ifname: &str) -> String {
    let id = crate::spec::network_id(lab, &format!("{container}/{ifname}"));
    // 11 hex digits fill IFNAMSIZ: 7 (Docker's) collide in a few percent of 4000-container labs.
    format!("veth{}", &id[..11])
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ip netns add {}", self.name)
    }
}

/// The flags of a VXLAN device, each as its rtnetlink builder method is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VxlanFlags {
    pub learning: bool,
    pub proxy: bool,
    pub l2miss: bool,
    pub l3miss: bool,
    pub udp_csum: bool,
}

/// Every overlay's vxlan0, as libnetwork's createVxlan sets it and `kernel::netlink` creates
/// it (seed 000's `ip -d link show vxlan0`: `proxy l2miss l3miss ageing 300 noudpcsum`): FDB
/// and neighbours are programmed and the device learns too (Learning: true; an entry learned
/// from a packet ages out after 300 s, a programmed one stays), answers ARP from its
/// neighbour table (proxy) and reports misses (l2miss, l3miss), UDP checksums are off.
pub const OVERLAY_VXLAN: VxlanFlags = VxlanFlags {
    learning: true,
    proxy: true,
    l2miss: true,
    l3miss: true,
    udp_csum: false,
};

/// In iproute2's words (`learning proxy l2miss l3miss noudpcsum`).
impl fmt::Display for VxlanFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = [
            if self.learning {
                "learning"
            } else {
                "nolearning"
            },
            if self.proxy { "proxy" } else { "noproxy" },
            if self.l2miss { "l2miss" } else { "nol2miss" },
            if self.l3miss { "l3miss" } else { "nol3miss" },
            if self.udp_csum {
                "udpcsum"
            } else {
                "noudpcsum"
            },
        ];
        f.write_str(&words.join(" "))
    }
}

/// The object as the iproute2 command that would create it: the same object, with the same
/// attributes, as `kernel::netlink` creates (`up` after a dry run builds what the script does).
impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // rtnetlink's bridge builder creates it up.
            Object::Bridge { ns, name, mac: None } => {
                write!(f, "ip -n {ns} link add {name} up type bridge")
            }
            Object::Bridge { ns, name, mac: Some(mac) } => write!(
                f,
                "ip -n {ns} link add {name} up address {} type bridge",
                format_mac(mac)
            ),
            Object::Veth { ns, name, master, mtu, peer_ns, peer, peer_mac } => {
                write!(f, "ip -n {ns} link add {name} mtu {mtu}")?;
                if let Some(m) = master {
                    write!(f, " master {m}")?;
                }
                write!(f, " type veth peer name {peer} netns {peer_ns} mtu {mtu}")?;
                if let Some(mac) = peer_mac {
                    write!(f, " address {}", format_mac(mac))?;
                }
                Ok(())
            }
            Object::Vxlan { ns, target_ns, name, vni, port, mtu, src_port, .. } => {
                write!(
                    f,
                    "ip -n {ns} link add {name} netns {target_ns} mtu {mtu} type vxlan id {vni} dstport {port}"
                )?;
                if let Some(p) = src_port {
                    // The high end is exclusive: [p, p + 1) is the one port p.
                    write!(f, " srcport {p} {}", p + 1)?;
                }
                write!(f, " {OVERLAY_VXLAN}")
            }
            Object::Vlan { ns, name, link, id } => {
                write!(f, "ip -n {ns} link add link {link} name {name} type vlan id {id}")
            }
            Object::Macvlan { ns, parent, mode, target_ns, name, mac } => write!(
                f,
                "ip -n {ns} link add link {parent} name {name} netns {target_ns} address {} type macvlan mode {}",
                format_mac(mac),
                mode.as_str()
            ),
            Object::Ipvlan { ns, parent, mode, target_ns, name } => write!(
                f,
                "ip -n {ns} link add link {parent} name {name} netns {target_ns} type ipvlan mode {}",
                mode.as_str()
            ),
            Object::Dummy { ns, name } => write!(f, "ip -n {ns} link add {name} type dummy"),
            Object::Promisc { ns, dev } => write!(f, "ip -n {ns} link set {dev} promisc on"),
            Object::Sysctl { ns, key, value } => write!(f, "ip netns exec {ns} sysctl -w {key}={value}"),
            // One object, one line, one transaction.
            Object::Firewall { ns, table } => write!(f, "ip netns exec {ns} {}", table.script()),
            Object::XfrmState { ns, sa } => write!(f, "ip -n {ns} xfrm state add {sa}"),
            Object::XfrmPolicy { ns, policy } => write!(f, "ip -n {ns} xfrm policy add {policy}"),
            Object::Master { ns, dev, master } => write!(f, "ip -n {ns} link set {dev} master {master}"),
            Object::Isolated { ns, dev } => write!(f, "ip -n {ns} link set {dev} type bridge_slave isolated on"),
            Object::Up { ns, dev } => write!(f, "ip -n {ns} link set {dev} up"),
            // rtnetlink sets the broadcast address below /31, as `brd +` does.
            Object::Address { ns, dev, address } if address.prefix() < 31 => {
                write!(f, "ip -n {ns} addr add {address} brd + dev {dev}")
            }
            Object::Address { ns, dev, address } if address.prefix() == 32 => {
                write!(f, "ip -n {ns} addr add {address} brd {} dev {dev}", address.ip())
            }
            Object::Address { ns, dev, address } => write!(f, "ip -n {ns} addr add {address} dev {dev}"),
            Object::Route { ns, dst, via, dev } => {
                match dst {
                    Some(d) => write!(f, "ip -n {ns} route add {d}")?,
                    None => write!(f, "ip -n {ns} route add default")?,
                }
                if let Some(via) = via {
                    write!(f, " via {via}")?;
                }
                write!(f, " dev {dev}")
            }
            Object::Address6 { ns, dev, address } => {
                write!(f, "ip -n {ns} -6 addr add {address} dev {dev} nodad")
            }
            Object::Route6 { ns, dst, via, dev } => {
                match dst {
                    Some(d) => write!(f, "ip -n {ns} -6 route add {d}")?,
                    None => write!(f, "ip -n {ns} -6 route add default")?,
                }
                if let Some(via) = via {
                    write!(f, " via {via}")?;
                }
                write!(f, " dev {dev}")
            }
            Object::Fdb { ns, dev, mac, dst } => {
                write!(f, "bridge -n {ns} fdb add {} dev {dev} dst {dst} self permanent", format_mac(mac))
            }
            Object::Neigh { ns, dev, ip, mac } => {
                write!(f, "ip -n {ns} neigh add {ip} lladdr {} dev {dev} nud permanent", format_mac(mac))
            }
        }
    }
}

#[cfg(test)]
mod tests;
