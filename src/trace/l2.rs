//! Layer 2: where a frame sent out of a device ends up. Follows veth peers and 802.1Q children
//! of a lower device here, and asks the driver whose link kind a device is for the rest
//! (`driver::bridge`: FDB, flood, port isolation; `driver::overlay`: VXLAN FDB -> VTEP, the
//! underlay path, decapsulation where the VNI listens; `driver::macvlan`, `driver::ipvlan`:
//! children of a lower device). A frame is addressed either to a
//! MAC (the neighbour entry is known) or, like an ARP request, to whoever holds an IP.

use std::collections::HashSet;
use std::net::IpAddr;

use super::{ips, is_up, Disposition, Hop, MtuAnswer, RouteOracle};
use crate::driver;
use crate::observe::{Link, Namespace, Snapshot};

#[derive(Debug, Clone, PartialEq)]
pub enum Want {
    Mac(String),
    Ip(IpAddr),
}

/// Why a frame gets nowhere: the disposition, the reason, and the hops it took before (the
/// way it went; empty where that way is a guess, as a flood's).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fail(pub Disposition, pub String, pub Vec<Hop>);

impl From<(Disposition, String)> for Fail {
    fn from((d, why): (Disposition, String)) -> Fail {
        Fail(d, why, Vec::new())
    }
}

/// `r` with `h` as its first hop, whether the frame got somewhere or not (a failure keeps
/// the way it went, so a trace shows where it stopped).
pub(crate) fn via(h: Hop, r: Result<Found, Fail>) -> Result<Found, Fail> {
    match r {
        Ok(mut f) => {
            f.2.insert(0, h);
            Ok(f)
        }
        Err(mut e) => {
            e.2.insert(0, h);
            Err(e)
        }
    }
}
/// The namespace and device that accept a frame, and the hops on its way there.
pub(crate) type Found = (String, String, Vec<Hop>);

/// A frame's walk through the snapshot. Devices generic to every lab (veth, 802.1Q) are
/// followed here; a device of a driver's link kinds (bridge, vxlan, macvlan) by its driver.
pub(crate) struct Walk<'a> {
    pub snap: &'a Snapshot,
    pub routes: &'a dyn RouteOracle,
    pub ttl: u8,
    /// The packet's destination address: what ipvlan dispatches by, its children sharing one
    /// MAC.
    pub dst: IpAddr,
    /// The packet's IP length when it is traced with a size (DF set); None: ping lets the
    /// kernel fragment, and no MTU stops it.
    pub size: Option<u32>,
    /// The MTU that stopped the frame (MTU_EXCEEDED), as ping would report it, and what the
    /// sender hears of it.
    pub mtu_hit: Option<(u32, MtuAnswer)>,
    visited: HashSet<(String, String)>,
}

/// Why `deliver` gets nowhere: the disposition, the reason and, for MTU_EXCEEDED, the MTU.
pub(crate) type Refused = (Disposition, String, Option<(u32, MtuAnswer)>);

/// Send a frame for `want`, carrying a packet for `dst` with `ttl` (and `size` bytes long,
/// when sized), out of `dev` in `ns`; returns the namespace and device that accept it.
pub fn deliver(
    snap: &Snapshot,
    routes: &dyn RouteOracle,
    ns: &str,
    dev: &str,
    want: &Want,
    (dst, ttl, size): (IpAddr, u8, Option<u32>),
    hops: &mut Vec<Hop>,
) -> Result<(String, String), Refused> {
    let mut w = Walk {
        snap,
        routes,
        ttl,
        dst,
        size,
        mtu_hit: None,
        visited: HashSet::new(),
    };
    match w.transmit(ns, dev, want, None) {
        Ok((n, d, h)) => {
            hops.extend(h);
            Ok((n, d))
        }
        Err(Fail(d, why, h)) => {
            hops.extend(h);
            Err((d, why, w.mtu_hit.filter(|_| d == Disposition::MtuExceeded)))
        }
    }
}

pub(crate) fn hop(
    ns: &str,
    in_dev: Option<&str>,
    out_dev: Option<&str>,
    action: String,
    ttl: u8,
    layer: &'static str,
) -> Hop {
    Hop {
        namespace: ns.to_string(),
        in_dev: in_dev.map(String::from),
        action,
        out_dev: out_dev.map(String::from),
        ttl,
        layer,
        ..Default::default()
    }
}

impl<'a> Walk<'a> {
    pub(crate) fn ns(&self, name: &str) -> Result<&'a Namespace, Fail> {
        self.snap.namespace(name).ok_or_else(|| {
            Fail::from((
                Disposition::NeighborUnreachable,
                format!("namespace {name} is not in the snapshot"),
            ))
        })
    }

    /// Device `dev` of `ns`, which must exist and be up for a frame to pass.
    pub(crate) fn up_device(&self, ns: &str, dev: &str) -> Result<(&'a Namespace, &'a Link), Fail> {
        let n = self.ns(ns)?;
        let l = n.link(dev).ok_or((
            Disposition::NeighborUnreachable,
            format!("{ns} has no device {dev}"),
        ))?;
        if !is_up(l) {
            return Err(Fail::from((
                Disposition::LinkDown,
                format!("{ns}: {dev} is down"),
            )));
        }
        Ok((n, l))
    }

    /// A device passes a frame on (a veth peer receiving it, a bridge sending it out of a
    /// port) only if it fits: the kernel's `is_skb_forwardable` allows the MTU plus the
    /// Ethernet header and one VLAN tag, so an IP packet of up to MTU + 4 bytes, and drops a
    /// larger one without a word. `netfilter`: a bridge forwarding IPv4 through br_netfilter
    /// (see [`bridged_ipv4_through_netfilter`]), whose `br_nf_dev_queue_xmit` refragments
    /// what exceeds the port's MTU itself and, DF set, drops it, silently too.
    pub(crate) fn fits(
        &mut self,
        ns: &str,
        l: &Link,
        what: &str,
        netfilter: bool,
    ) -> Result<(), Fail> {
        let slack = if netfilter { 0 } else { 4 };
        match (self.size, l.mtu) {
            (Some(len), Some(mtu)) if len > mtu + slack => {
                self.mtu_hit = Some((mtu, MtuAnswer::Silent));
                let why = if netfilter {
                    "larger than its MTU: br_netfilter (bridge-nf-call-iptables) refragments bridged IPv4 to it, and DF forbids that"
                } else {
                    "larger than its MTU (plus 4 for a VLAN tag)"
                };
                Err(Fail::from((
                    Disposition::MtuExceeded,
                    format!(
                        "{ns}:{} (mtu {mtu}) {what} drops the {len}-byte packet without a word: {why}",
                        l.name
                    ),
                )))
            }
            _ => Ok(()),
        }
    }

    /// `go` on, through device `l` that must let the frame pass ([`Walk::fits`]). `early`: the
    /// frame's way is known (a MAC the neighbour table or FDB has), so the device is judged
    /// before what lies beyond it. Otherwise the way is what an ARP request or a flood finds,
    /// small frames a big packet does not take until then: the device is judged only on the
    /// way that leads somewhere (a flood's copy out of another port may be dropped, unseen).
    pub(crate) fn through(
        &mut self,
        ns: &str,
        l: Option<&Link>,
        what: &str,
        early: bool,
        netfilter: bool,
        go: impl FnOnce(&mut Self) -> Result<Found, Fail>,
    ) -> Result<Found, Fail> {
        if let (true, Some(l)) = (early, l) {
            self.fits(ns, l, what, netfilter)?;
        }
        let r = go(self)?;
        if let (false, Some(l)) = (early, l) {
            self.fits(ns, l, what, netfilter)?;
        }
        Ok(r)
    }

    /// The frame leaves `dev` of `ns`. `vlan` is the 802.1Q tag it carries on the wire.
    pub(crate) fn transmit(
        &mut self,
        ns: &str,
        dev: &str,
        want: &Want,
        vlan: Option<u16>,
    ) -> Result<Found, Fail> {
        if !self.visited.insert((ns.to_string(), dev.to_string())) {
            return Err(Fail::from((
                Disposition::NeighborUnreachable,
                format!("the frame loops back to {ns}:{dev}"),
            )));
        }
        let (_, l) = self.up_device(ns, dev)?;
        match l.kind.as_deref() {
            Some(kind) if driver::of_link_kind(kind).is_some() => driver::of_link_kind(kind)
                .unwrap()
                .transmit(self, ns, l, want, vlan),
            // A dummy device frees what it is given (a macvlan's or ipvlan's dummy parent).
            Some("dummy") => Err(Fail::from((
                Disposition::NeighborUnreachable,
                format!("{ns}: {dev} is a dummy device: a frame sent out of it goes nowhere"),
            ))),
            Some("vlan") => {
                // Push the tag and send on the lower device.
                let lower = l.peer.as_ref().and_then(|p| p.name.clone()).ok_or((
                    Disposition::NeighborUnreachable,
                    format!("{ns}: {dev} has no lower device"),
                ))?;
                let id = l.vlan_id.unwrap_or(0);
                let r = self.transmit(ns, &lower, want, Some(id));
                via(
                    hop(
                        ns,
                        None,
                        Some(&lower),
                        format!("802.1Q: {dev} pushes tag {id}, out {lower}"),
                        self.ttl,
                        "l2",
                    ),
                    r,
                )
            }
            _ => {
                let Some(p) = l.peer.clone() else {
                    return Err(Fail::from((
                        Disposition::NeighborUnreachable,
                        format!("{ns}: {dev} has no link partner"),
                    )));
                };
                let pn = p.name.clone().unwrap_or_default();
                let snap = self.snap;
                let pl = snap.namespace(&p.namespace).and_then(|n| n.link(&pn));
                // Point to point: the data frame takes the way the ARP request found.
                let early = matches!(want, Want::Mac(_));
                let r = self.through(&p.namespace, pl, "receiving it", early, false, |w| {
                    w.receive(&p.namespace, &pn, want, vlan)
                });
                via(
                    hop(
                        ns,
                        None,
                        Some(dev),
                        format!(
                            "{} {dev} -> {}:{pn}",
                            l.kind.as_deref().unwrap_or("link"),
                            p.namespace
                        ),
                        self.ttl,
                        "l2",
                    ),
                    r,
                )
            }
        }
    }

    /// The frame arrives on `dev` of `ns`.
    pub(crate) fn receive(
        &mut self,
        ns: &str,
        dev: &str,
        want: &Want,
        vlan: Option<u16>,
    ) -> Result<Found, Fail> {
        let (n, l) = self.up_device(ns, dev)?;
        if let Some(master) = l.master.as_deref().and_then(|m| n.link(m)) {
            if let Some(d) = master.kind.as_deref().and_then(driver::of_link_kind) {
                return d.switch(self, ns, master, dev, want, vlan);
            }
        }
        // 802.1Q: a tagged frame goes to the sub-interface with that id, or nowhere.
        if let Some(tag) = vlan {
            let child = n.links.iter().find(|c| {
                c.kind.as_deref() == Some("vlan")
                    && c.link == Some(l.index)
                    && c.vlan_id == Some(tag)
                    && c.link_netnsid.is_none()
            });
            return match child {
                Some(c) if is_up(c) => {
                    let name = c.name.clone();
                    let r = self.receive(ns, &name, want, None);
                    via(
                        hop(
                            ns,
                            Some(dev),
                            Some(&name),
                            format!("802.1Q: tag {tag} popped into {name}"),
                            self.ttl,
                            "l2",
                        ),
                        r,
                    )
                }
                Some(c) => Err(Fail::from((
                    Disposition::LinkDown,
                    format!("{ns}: {} is down", c.name),
                ))),
                None => Err(Fail::from((
                    Disposition::Isolated,
                    format!("{ns}:{dev} has no sub-interface for VLAN {tag}: the frame is dropped"),
                ))),
            };
        }
        // An upper device of this one may take the frame (a macvlan child, for its MAC).
        for d in driver::ALL {
            if let Ok(r) = d.uppers_take(self, ns, dev, None, want) {
                return Ok(r);
            }
        }
        self.accept(ns, l, want)
    }

    /// The namespace's stack takes the frame if it is for this device's MAC, or (ARP) for one
    /// of its addresses (Linux answers ARP for any local address, arp_ignore = 0).
    pub(crate) fn accept(&mut self, ns: &str, l: &Link, want: &Want) -> Result<Found, Fail> {
        let n = self.ns(ns)?;
        let ok = match want {
            Want::Mac(m) => l.mac.as_deref() == Some(m.as_str()),
            Want::Ip(ip) => ips(n).any(|x| x == *ip),
        };
        if ok {
            Ok((ns.to_string(), l.name.clone(), vec![]))
        } else {
            Err(Fail::from((
                Disposition::NeighborUnreachable,
                format!("{ns}:{} is not the destination", l.name),
            )))
        }
    }
}

/// Whether bridge `br` of namespace `n` hands the IPv4 frames it forwards between ports to
/// netfilter: br_netfilter loaded, and its sysctl on in the namespace or the bridge's own
/// `nf_call_iptables` on (the kernel's `br_nf_pre_routing`). A tagged frame is not IPv4 to
/// it (bridge-nf-filter-vlan-tagged is off by default), nor is one the bridge sends itself.
pub(crate) fn bridged_ipv4_through_netfilter(n: &Namespace, br: &str) -> bool {
    n.bridge_nf_call_iptables.is_some()
        && (n.bridge_nf_call_iptables == Some(true)
            || n.link(br).and_then(|b| b.nf_call_iptables) == Some(true))
}
