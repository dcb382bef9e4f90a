//! Docker's ipvlan driver (seed 002, "Use IPvlan networks"): per host with a container on the
//! network, each local container's interface is an ipvlan of the parent (a NIC, or an 802.1Q
//! sub-interface the host plan creates, under the rules shared with macvlan in
//! [`super::parent`]). No bridge, no promiscuous mode: the children share the parent's MAC,
//! so the kernel tells them apart by IP.
//!
//! - **L2** (the default): the children and the parent's segment are one broadcast domain;
//!   ARP works; the default route goes through the network's gateway (a router host of the
//!   lab, as for macvlan).
//! - **L3**: the parent routes between its children by IP; no broadcast, no ARP (the children
//!   are NOARP); the default route is the device itself (`default dev eth0`), and children in
//!   different subnets on one parent reach each other. Beyond its own children the parent's
//!   namespace routes the packet, so other hosts need routes to the containers (Docker leaves
//!   that to the operator).
//!
//! In both modes a child never reaches its parent's own namespace: L2 broadcasts from a child
//! go out of the parent to the wire but not up its host's stack, L3 packets for the host are
//! dropped (seed 002: "the containers can NOT ping the underlying host interfaces").
//!
//! Without `parent` the host plan creates a dummy device (`di-` and the network id's first 12
//! hex digits, Docker's name) as the parent on each host with a container on it, so the
//! network's containers on one host reach only each other. That alone does not make the network
//! internal (libnetwork: `--internal` empties the parent, not the reverse): its containers keep
//! their default route, `default dev eth0` in L3 as seed 002's ipnet210 shows, unless
//! `internal = true` takes it away. A dummy needs CONFIG_DUMMY, ipvlan CONFIG_IPVLAN: `up`
//! checks the kernel for both before it creates anything.

use std::net::IpAddr;

use serde_json::{json, Map, Value};

use super::{parent, DefaultRoute, NetworkDriver, Options};
use crate::observe::{Link, Namespace, Snapshot};
use crate::plan::{endpoint_in_container, Object, Plan};
use crate::spec::change::Refused;
use crate::spec::{
    Container, Driver, Host, IpvlanMode, Lab, Name, NetDraft, RawNetwork, Reporter, Validator,
};
use crate::trace::l2::{hop, via, Fail, Found, Walk, Want};
use crate::trace::{is_up, Disposition, RouteResult};

pub(crate) struct Ipvlan;

impl NetworkDriver for Ipvlan {
    fn name(&self) -> &'static str {
        "ipvlan"
    }
    fn keys(&self) -> &'static [&'static str] {
        &["parent", "mode", "hosts"]
    }
    fn mode_values(&self) -> Vec<&'static str> {
        IpvlanMode::ALL.iter().map(|m| m.as_str()).collect()
    }
    /// An ipvlan network's `parent` (optional: without one its parent is a dummy) and `mode`.
    fn options(&self, r: &mut Reporter, _name: &Name, n: &RawNetwork) -> Options {
        let mode = parent::read_mode(
            r,
            "ipvlan",
            n.mode.as_ref(),
            IpvlanMode::L2,
            IpvlanMode::parse,
            "use \"l2\" (the default) or \"l3\", as Docker's -o ipvlan_mode= takes them",
        );
        parent::options(
            r,
            n.parent.as_ref(),
            mode.is_some(),
            |parent, dummy_parent| Driver::Ipvlan {
                parent,
                mode: mode.unwrap_or(IpvlanMode::L2),
                dummy_parent,
            },
        )
    }
    fn finish(&self, settings: &mut Driver, id: &str) {
        parent::name_dummy(settings, id);
    }
    fn place(
        &self,
        v: &mut Validator<'_, '_>,
        drafts: &[NetDraft],
        hosts: &mut [Host],
        containers: &[Container],
    ) {
        parent::place(self, v, drafts, hosts, containers);
    }
    fn connect(&self, lab: &mut Lab, ni: usize, ci: usize) -> Result<(), Refused> {
        parent::connect(lab, ni, ci)
    }
    /// L2 on a plain NIC is on that NIC's segment, as macvlan; L3 needs a subnet of its own
    /// (seed 002: "L3 mode needs to be on a separate subnet as the default namespace").
    fn may_share_underlay(&self, d: &NetDraft) -> bool {
        match &d.options.settings {
            Driver::Ipvlan { mode, .. } => *mode == IpvlanMode::L2 && parent::on_plain_nic(d),
            _ => false,
        }
    }
    fn spans_hosts(&self) -> bool {
        true
    }
    fn on_hosts_segment(&self) -> bool {
        true
    }
    /// An internal network (`internal = true`) gives none: Network::gives_default_route.
    fn default_route(&self, settings: &Driver) -> DefaultRoute {
        match settings {
            Driver::Ipvlan {
                mode: IpvlanMode::L3,
                ..
            } => DefaultRoute::Device,
            _ => DefaultRoute::Gateway,
        }
    }
    fn container_limit(&self) -> Option<usize> {
        None
    }
    fn plan(&self, lab: &Lab, ni: usize, p: &mut Plan) {
        let net = &lab.networks[ni];
        let Driver::Ipvlan {
            parent,
            mode,
            dummy_parent,
        } = &net.driver
        else {
            return;
        };
        for hi in lab.hosts_of(ni) {
            // Validation gave the network a parent on every host it is on.
            let Some(parent) = parent.on(&lab.hosts[hi].name) else {
                continue;
            };
            let hns = lab.host_ns(hi);
            if *dummy_parent {
                parent::plan_dummy(p, &hns, parent);
            }
            let local = lab.endpoints_on_host(ni, hi);
            for (ci, ei) in &local {
                p.add(Object::Ipvlan {
                    ns: hns.clone(),
                    parent: parent.to_string(),
                    mode: *mode,
                    target_ns: lab.container_ns(*ci),
                    name: lab.containers[*ci].endpoints[*ei].ifname.clone(),
                });
            }
            for (ci, ei) in &local {
                endpoint_in_container(lab, *ci, &lab.containers[*ci].endpoints[*ei], p);
            }
        }
    }
    fn link_kinds(&self) -> &'static [&'static str] {
        &["ipvlan"]
    }
    /// A packet leaves child `l`. L2: a frame for the shared MAC goes to the sibling holding
    /// the destination address, else up the parent's stack; a broadcast (ARP) to the sibling
    /// holding the address, else out of the parent to the wire (never up its stack); any other
    /// frame out of the parent. L3: to the sibling holding the destination, else routed by the
    /// parent's namespace out of the parent (its own addresses excepted: dropped).
    fn transmit(
        &self,
        w: &mut Walk<'_>,
        ns: &str,
        l: &Link,
        want: &Want,
        vlan: Option<u16>,
    ) -> Result<Found, Fail> {
        let dev = l.name.as_str();
        let p = l.peer.clone().ok_or((
            Disposition::NeighborUnreachable,
            format!("{ns}: {dev} has no lower device"),
        ))?;
        let lower = p.name.clone().unwrap_or_default();
        let (_, lower_link) = w.up_device(&p.namespace, &lower)?;
        let lower_mac = lower_link.mac.clone();
        let mode = l.ipvlan_mode.clone().unwrap_or_else(|| "l2".into());
        let sent = |what: String, w: &Walk<'_>| hop(ns, None, Some(dev), what, w.ttl, "l2");
        if mode == "l2" {
            let sibling = match want {
                Want::Ip(ip) => Some(*ip),
                Want::Mac(m) if Some(m) == lower_mac.as_ref() => Some(w.dst),
                Want::Mac(_) => None,
            };
            if let Some(ip) = sibling {
                if let Some(r) = child_holding(w, &p.namespace, &lower, Some((ns, dev)), ip, true) {
                    return Ok(r);
                }
            }
            if matches!(want, Want::Mac(m) if Some(m) == lower_mac.as_ref()) {
                // The shared MAC and no child's address: the parent's own stack takes it.
                let h = sent(
                    format!(
                        "ipvlan (l2) {dev}: the frame is for {}:{lower}'s MAC and no child holds {}: up its stack",
                        p.namespace, w.dst
                    ),
                    w,
                );
                return Ok((p.namespace.clone(), lower, vec![h]));
            }
            let h = sent(
                format!(
                    "ipvlan (l2) {dev} sends through its parent {}:{lower} (not up its stack)",
                    p.namespace
                ),
                w,
            );
            return via(h, w.transmit(&p.namespace, &lower, want, vlan));
        }
        // L3 (and l3s): by the packet's destination, whatever the frame.
        let dst = w.dst;
        if let Some(r) = child_holding(w, &p.namespace, &lower, Some((ns, dev)), dst, false) {
            return Ok(r);
        }
        let host = w.ns(&p.namespace)?;
        let nexthop = match w.routes.lookup(host, dst) {
            RouteResult::Local => {
                return Err(Fail::from((
                    Disposition::Isolated,
                    format!(
                        "{dst} is {}'s own address: an ipvlan child never reaches its parent's namespace",
                        p.namespace
                    ),
                )))
            }
            // The parent's namespace routes the packet, its output device bound to the parent:
            // a route through another device does not match, and without one the kernel takes
            // the destination as on-link.
            RouteResult::Via {
                dev: out,
                gateway: Some(g),
                ..
            } if out == lower => g,
            _ => dst,
        };
        let target = neighbour(host, &lower, nexthop);
        let h = sent(
            format!(
                "ipvlan (l3) {dev}: no child of {}:{lower} holds {dst}; routed by {} out of {lower} to {nexthop}",
                p.namespace, p.namespace
            ),
            w,
        );
        via(h, w.transmit(&p.namespace, &lower, &target, vlan))
    }
    /// A frame arrives on `ns:lower`: the child holding the address an ARP request asks for
    /// (L2 only: L3 children do not answer ARP), or, for the shared MAC, the child holding the
    /// packet's destination.
    fn uppers_take(
        &self,
        w: &mut Walk<'_>,
        ns: &str,
        lower: &str,
        except: Option<(&str, &str)>,
        want: &Want,
    ) -> Result<Found, Fail> {
        let none = || (Disposition::NeighborUnreachable, String::new());
        let lower_mac = w.ns(ns)?.link(lower).ok_or_else(none)?.mac.clone();
        let found = match want {
            Want::Ip(ip) => child_holding(w, ns, lower, except, *ip, true),
            Want::Mac(m) if Some(m) == lower_mac.as_ref() => {
                let dst = w.dst;
                child_holding(w, ns, lower, except, dst, false)
            }
            Want::Mac(_) => None,
        };
        found.ok_or_else(|| none().into())
    }
    /// `docker network inspect` of an ipvlan network: the -o options it was created with (no
    /// parent for a network without one, as Docker shows it).
    fn docker_options(
        &self,
        _snap: &Snapshot,
        lab: &Lab,
        ni: usize,
        hosts: &[usize],
    ) -> (Map<String, Value>, Map<String, Value>) {
        let mut options = Map::new();
        if let Driver::Ipvlan { mode, .. } = &lab.networks[ni].driver {
            parent::docker_option(lab, ni, hosts, &mut options);
            options.insert("ipvlan_mode".into(), json!(mode.as_str()));
        }
        (options, Map::new())
    }
}

/// The frame a namespace sends to `ip` out of `dev`: to its neighbour entry's MAC if it has
/// one, else an ARP request.
fn neighbour(n: &Namespace, dev: &str, ip: IpAddr) -> Want {
    n.neighbours
        .iter()
        .find(|x| x.dev == dev && x.ip == ip.to_string() && x.mac.is_some() && x.state != "FAILED")
        .map(|x| Want::Mac(x.mac.clone().unwrap()))
        .unwrap_or(Want::Ip(ip))
}

/// The ipvlan child of `ns:lower` (other than `except`) that holds `ip` on its device, up;
/// `arp`: the frame is an ARP request, which only L2 children answer.
fn child_holding(
    w: &Walk<'_>,
    ns: &str,
    lower: &str,
    except: Option<(&str, &str)>,
    ip: IpAddr,
    arp: bool,
) -> Option<Found> {
    let lower_index = w.snap.namespace(ns)?.link(lower)?.index;
    for n in &w.snap.namespaces {
        for c in &n.links {
            let is_child = c.kind.as_deref() == Some("ipvlan")
                && c.peer
                    .as_ref()
                    .is_some_and(|p| p.namespace == ns && p.index == Some(lower_index));
            if !is_child || except == Some((n.name.as_str(), c.name.as_str())) || !is_up(c) {
                continue;
            }
            if arp && c.ipvlan_mode.as_deref().is_some_and(|m| m != "l2") {
                continue;
            }
            let holds = n.addresses.iter().any(|a| {
                a.index == c.index && a.address.split('/').next() == Some(&ip.to_string())
            });
            if holds {
                let h = hop(
                    &n.name,
                    Some(&c.name),
                    None,
                    format!(
                        "ipvlan {} on {ns}:{lower} holds {ip}: it takes the frame",
                        c.name
                    ),
                    w.ttl,
                    "l2",
                );
                return Some((n.name.clone(), c.name.clone(), vec![h]));
            }
        }
    }
    None
}
