//! Layer 2: where a frame sent out of a device ends up. Follows veth peers, bridges (FDB, flood,
//! port isolation), VXLAN (FDB -> VTEP, the underlay path, decapsulation where the VNI
//! listens), macvlan and 802.1Q children of a lower device. A frame is addressed either to a
//! MAC (the neighbour entry is known) or, like an ARP request, to whoever holds an IP.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use super::{ips, is_up, one_way, Disposition, Hop, RouteOracle};
use crate::observe::{Link, Namespace, Snapshot};

#[derive(Debug, Clone, PartialEq)]
pub enum Want {
    Mac(String),
    Ip(Ipv4Addr),
}

type Fail = (Disposition, String);
type Found = (String, String, Vec<Hop>);

struct Walk<'a> {
    snap: &'a Snapshot,
    routes: &'a dyn RouteOracle,
    ttl: u8,
    visited: HashSet<(String, String)>,
}

/// Send a frame for `want` out of `dev` in `ns`; returns the namespace and device that accept it.
pub fn deliver(
    snap: &Snapshot,
    routes: &dyn RouteOracle,
    ns: &str,
    dev: &str,
    want: &Want,
    ttl: u8,
    hops: &mut Vec<Hop>,
) -> Result<(String, String), Fail> {
    let mut w = Walk {
        snap,
        routes,
        ttl,
        visited: HashSet::new(),
    };
    let (n, d, h) = w.transmit(ns, dev, want, None)?;
    hops.extend(h);
    Ok((n, d))
}

fn hop(
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
    }
}

impl<'a> Walk<'a> {
    fn ns(&self, name: &str) -> Result<&'a Namespace, Fail> {
        self.snap.namespace(name).ok_or((
            Disposition::NeighborUnreachable,
            format!("namespace {name} is not in the snapshot"),
        ))
    }

    /// Device `dev` of `ns`, which must exist and be up for a frame to pass.
    fn up_device(&self, ns: &str, dev: &str) -> Result<(&'a Namespace, &'a Link), Fail> {
        let n = self.ns(ns)?;
        let l = n.link(dev).ok_or((
            Disposition::NeighborUnreachable,
            format!("{ns} has no device {dev}"),
        ))?;
        if !is_up(l) {
            return Err((Disposition::LinkDown, format!("{ns}: {dev} is down")));
        }
        Ok((n, l))
    }

    /// The frame leaves `dev` of `ns`. `vlan` is the 802.1Q tag it carries on the wire.
    fn transmit(
        &mut self,
        ns: &str,
        dev: &str,
        want: &Want,
        vlan: Option<u16>,
    ) -> Result<Found, Fail> {
        if !self.visited.insert((ns.to_string(), dev.to_string())) {
            return Err((
                Disposition::NeighborUnreachable,
                format!("the frame loops back to {ns}:{dev}"),
            ));
        }
        let (_, l) = self.up_device(ns, dev)?;
        match l.kind.as_deref() {
            Some("bridge") => self.bridge(ns, dev, None, want, vlan),
            Some("vxlan") => self.vxlan_tx(ns, l, want),
            Some("vlan") => {
                // Push the tag and send on the lower device.
                let lower = l.peer.as_ref().and_then(|p| p.name.clone()).ok_or((
                    Disposition::NeighborUnreachable,
                    format!("{ns}: {dev} has no lower device"),
                ))?;
                let id = l.vlan_id.unwrap_or(0);
                let mut r = self.transmit(ns, &lower, want, Some(id))?;
                r.2.insert(
                    0,
                    hop(
                        ns,
                        None,
                        Some(&lower),
                        format!("802.1Q: {dev} pushes tag {id}, out {lower}"),
                        self.ttl,
                        "l2",
                    ),
                );
                Ok(r)
            }
            Some("macvlan") | Some("macvtap") => {
                let p = l.peer.clone().ok_or((
                    Disposition::NeighborUnreachable,
                    format!("{ns}: {dev} has no lower device"),
                ))?;
                let lower = p.name.clone().unwrap_or_default();
                let mode = l.macvlan_mode.clone().unwrap_or_else(|| "bridge".into());
                // Bridge mode switches between macvlans of the same lower device locally.
                if mode == "bridge" {
                    if let Ok(r) =
                        self.macvlan_siblings(&p.namespace, &lower, Some((ns, dev)), want)
                    {
                        return Ok(r);
                    }
                }
                let mut r = self.transmit(&p.namespace, &lower, want, vlan)?;
                r.2.insert(
                    0,
                    hop(
                        ns,
                        None,
                        Some(dev),
                        format!(
                            "macvlan ({mode}) {dev} sends through its lower device {}:{lower}",
                            p.namespace
                        ),
                        self.ttl,
                        "l2",
                    ),
                );
                Ok(r)
            }
            _ => {
                let Some(p) = l.peer.clone() else {
                    return Err((
                        Disposition::NeighborUnreachable,
                        format!("{ns}: {dev} has no link partner"),
                    ));
                };
                let pn = p.name.clone().unwrap_or_default();
                let mut r = self.receive(&p.namespace, &pn, want, vlan)?;
                r.2.insert(
                    0,
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
                );
                Ok(r)
            }
        }
    }

    /// The frame arrives on `dev` of `ns`.
    fn receive(
        &mut self,
        ns: &str,
        dev: &str,
        want: &Want,
        vlan: Option<u16>,
    ) -> Result<Found, Fail> {
        let (n, l) = self.up_device(ns, dev)?;
        if let Some(br) = l.master.clone() {
            if n.link(&br)
                .is_some_and(|b| b.kind.as_deref() == Some("bridge"))
            {
                return self.bridge(ns, &br, Some(dev), want, vlan);
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
                    let mut r = self.receive(ns, &name, want, None)?;
                    r.2.insert(
                        0,
                        hop(
                            ns,
                            Some(dev),
                            Some(&name),
                            format!("802.1Q: tag {tag} popped into {name}"),
                            self.ttl,
                            "l2",
                        ),
                    );
                    Ok(r)
                }
                Some(c) => Err((Disposition::LinkDown, format!("{ns}: {} is down", c.name))),
                None => Err((
                    Disposition::Isolated,
                    format!("{ns}:{dev} has no sub-interface for VLAN {tag}: the frame is dropped"),
                )),
            };
        }
        // macvlan children take frames for their MAC (or, for ARP, their namespace's IPs).
        if let Ok(r) = self.macvlan_siblings(ns, dev, None, want) {
            return Ok(r);
        }
        self.accept(ns, l, want)
    }

    /// Frames for a macvlan of lower device `ns:lower` (other than `except`).
    fn macvlan_siblings(
        &mut self,
        ns: &str,
        lower: &str,
        except: Option<(&str, &str)>,
        want: &Want,
    ) -> Result<Found, Fail> {
        let Some(lower_link) = self.ns(ns)?.link(lower) else {
            return Err((Disposition::NeighborUnreachable, String::new()));
        };
        let lower_index = lower_link.index;
        for n in &self.snap.namespaces {
            for c in &n.links {
                let is_child = matches!(c.kind.as_deref(), Some("macvlan") | Some("macvtap"))
                    && c.peer
                        .as_ref()
                        .is_some_and(|p| p.namespace == ns && p.index == Some(lower_index));
                if !is_child || except == Some((n.name.as_str(), c.name.as_str())) || !is_up(c) {
                    continue;
                }
                let takes = match want {
                    Want::Mac(m) => c.mac.as_deref() == Some(m.as_str()),
                    Want::Ip(ip) => ips(n).any(|x| x == *ip),
                };
                if takes {
                    let h = hop(
                        &n.name,
                        Some(&c.name),
                        None,
                        format!("macvlan {} on {ns}:{lower} takes the frame", c.name),
                        self.ttl,
                        "l2",
                    );
                    return Ok((n.name.clone(), c.name.clone(), vec![h]));
                }
            }
        }
        Err((
            Disposition::NeighborUnreachable,
            format!("no macvlan on {ns}:{lower} takes the frame"),
        ))
    }

    /// The namespace's stack takes the frame if it is for this device's MAC, or (ARP) for one
    /// of its addresses (Linux answers ARP for any local address, arp_ignore = 0).
    fn accept(&mut self, ns: &str, l: &Link, want: &Want) -> Result<Found, Fail> {
        let n = self.ns(ns)?;
        let ok = match want {
            Want::Mac(m) => l.mac.as_deref() == Some(m.as_str()),
            Want::Ip(ip) => ips(n).any(|x| x == *ip),
        };
        if ok {
            Ok((ns.to_string(), l.name.clone(), vec![]))
        } else {
            Err((
                Disposition::NeighborUnreachable,
                format!("{ns}:{} is not the destination", l.name),
            ))
        }
    }

    /// Bridge `br` of `ns` switches a frame that came in on `from` (None: sent by the host).
    fn bridge(
        &mut self,
        ns: &str,
        br: &str,
        from: Option<&str>,
        want: &Want,
        vlan: Option<u16>,
    ) -> Result<Found, Fail> {
        let n = self.ns(ns)?;
        let b = n.link(br).ok_or((
            Disposition::NeighborUnreachable,
            format!("{ns} has no bridge {br}"),
        ))?;
        let ttl = self.ttl;
        let isolated = |p: &str| {
            n.link(p)
                .and_then(|l| l.bridge_port.as_ref())
                .and_then(|bp| bp.isolated)
                .unwrap_or(false)
        };
        let from_isolated = from.is_some_and(isolated);
        let mut first_err: Option<Fail> = None;
        // The bridge device itself (the host's stack) takes frames for its MAC, or ARP for its addresses.
        if from.is_some() {
            if let Ok((a, d, _)) = self.accept(ns, b, want) {
                return Ok((
                    a,
                    d.clone(),
                    vec![hop(
                        ns,
                        from,
                        None,
                        format!("bridge {br}: for the bridge itself, up to {ns}'s stack"),
                        ttl,
                        "l2",
                    )],
                ));
            }
        }
        let ports: Vec<String> = n
            .links
            .iter()
            .filter(|p| p.master.as_deref() == Some(br) && Some(p.name.as_str()) != from)
            .map(|p| p.name.clone())
            .collect();
        let known = match want {
            Want::Mac(m) => n
                .fdb
                .iter()
                .find(|f| {
                    f.mac == *m && f.master.as_deref() == Some(br) && !f.is_self && f.dev != br
                })
                .map(|f| f.dev.clone()),
            Want::Ip(_) => None,
        };
        let (targets, how) = match &known {
            Some(p) => (
                vec![p.clone()],
                format!(
                    "fdb hit {} -> {p}",
                    if let Want::Mac(m) = want {
                        m.as_str()
                    } else {
                        ""
                    }
                ),
            ),
            None => (
                ports.clone(),
                if matches!(want, Want::Ip(_)) {
                    "ARP broadcast, flooded".to_string()
                } else {
                    "unknown MAC, flooded".to_string()
                },
            ),
        };
        for p in targets {
            if Some(p.as_str()) == from {
                continue;
            }
            if from_isolated && isolated(&p) {
                first_err.get_or_insert((
                    Disposition::Isolated,
                    format!("bridge {br} in {ns}: ports {} and {p} are both isolated (no traffic between them)", from.unwrap_or("")),
                ));
                continue;
            }
            match self.transmit(ns, &p, want, vlan) {
                Ok(mut r) => {
                    r.2.insert(
                        0,
                        hop(ns, from, Some(&p), format!("bridge {br}: {how}"), ttl, "l2"),
                    );
                    return Ok(r);
                }
                Err(e) => {
                    if first_err.as_ref().is_none_or(|f| {
                        f.0 == Disposition::NeighborUnreachable
                            && e.0 != Disposition::NeighborUnreachable
                    }) {
                        first_err = Some(e);
                    }
                }
            }
        }
        Err(first_err.unwrap_or((
            Disposition::NeighborUnreachable,
            format!("bridge {br} in {ns}: no port leads to the destination"),
        )))
    }

    /// A frame sent out of a VXLAN device: FDB -> VTEP, underlay, decapsulation.
    fn vxlan_tx(&mut self, ns: &str, l: &Link, want: &Want) -> Result<Found, Fail> {
        let n = self.ns(ns)?;
        let v = l.vxlan.clone().unwrap_or_default();
        let vni = v.id.unwrap_or(0);
        let mut pre = Vec::new();
        let mac = match want {
            Want::Mac(m) => m.clone(),
            Want::Ip(ip) => {
                let entry = n
                    .neighbours
                    .iter()
                    .find(|x| x.dev == l.name && x.ip == ip.to_string() && x.mac.is_some());
                match (v.proxy, entry) {
                    (Some(true), Some(e)) => {
                        let m = e.mac.clone().unwrap();
                        pre.push(hop(
                            ns,
                            None,
                            Some(&l.name),
                            format!("{}: proxy answers ARP for {ip}: {m}", l.name),
                            self.ttl,
                            "l2",
                        ));
                        m
                    }
                    _ => {
                        return Err((
                            Disposition::NeighborUnreachable,
                            format!(
                                "{ns}:{} has no neighbour entry for {ip}{}",
                                l.name,
                                if v.l3miss == Some(true) {
                                    " (l3miss)"
                                } else {
                                    ""
                                }
                            ),
                        ))
                    }
                }
            }
        };
        let entry = n
            .fdb
            .iter()
            .find(|f| f.dev == l.name && f.is_self && f.mac == mac && f.dst.is_some());
        let entry = entry.or_else(|| {
            n.fdb.iter().find(|f| {
                f.dev == l.name && f.is_self && f.mac == "00:00:00:00:00:00" && f.dst.is_some()
            })
        });
        let Some(entry) = entry else {
            return Err((
                Disposition::Isolated,
                format!(
                    "{ns}:{} has no FDB entry for {mac}: no VTEP to send it to (l2miss)",
                    l.name
                ),
            ));
        };
        let vtep: Ipv4Addr = entry.dst.as_deref().unwrap_or("").parse().map_err(|_| {
            (
                Disposition::NeighborUnreachable,
                "bad VTEP address".to_string(),
            )
        })?;
        let port = v.port.unwrap_or(4789);
        let sock_ns = l
            .peer
            .as_ref()
            .map(|p| p.namespace.clone())
            .unwrap_or_else(|| ns.to_string());
        pre.push(hop(
            ns,
            None,
            Some(&l.name),
            format!(
                "{}: fdb {mac} -> VTEP {vtep}; encap VNI {vni}, UDP {}:{port} from {}",
                l.name,
                vtep,
                v.local.as_deref().unwrap_or("?")
            ),
            self.ttl,
            "l2",
        ));
        // The outer packet crosses the underlay like any packet from the socket's namespace.
        let under = one_way(self.snap, self.routes, &sock_ns, vtep);
        if under.disposition != Disposition::Delivered {
            return Err((
                under.disposition,
                format!(
                    "underlay to VTEP {vtep}: {}",
                    under.reason.unwrap_or_default()
                ),
            ));
        }
        for mut h in under.hops {
            h.layer = "underlay";
            pre.push(h);
        }
        let remote = under.delivered_to.unwrap_or_default();
        // Decapsulation: the VXLAN device with this VNI whose socket lives in the remote namespace.
        for rn in &self.snap.namespaces {
            for rl in &rn.links {
                let Some(rv) = &rl.vxlan else { continue };
                let rsock = rl
                    .peer
                    .as_ref()
                    .map(|p| p.namespace.as_str())
                    .unwrap_or(rn.name.as_str());
                if rsock == remote && rv.id == Some(vni) && rv.port.unwrap_or(4789) == port {
                    pre.push(hop(
                        &rn.name,
                        Some(&rl.name),
                        None,
                        format!("{}: decap VNI {vni} (socket in {remote})", rl.name),
                        self.ttl,
                        "l2",
                    ));
                    let (rname, lname) = (rn.name.clone(), rl.name.clone());
                    let mut r = self.receive(&rname, &lname, &Want::Mac(mac.clone()), None)?;
                    pre.append(&mut r.2);
                    return Ok((r.0, r.1, pre));
                }
            }
        }
        Err((
            Disposition::Isolated,
            format!("no VXLAN with VNI {vni} listens on UDP {port} in {remote}"),
        ))
    }
}
