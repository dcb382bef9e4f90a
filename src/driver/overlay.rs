//! Docker's overlay driver: per host, a namespace `1-<netid>` holding `br0` (the gateway),
//! `vxlan0` (created from the host namespace so its UDP socket stays there) and one veth per
//! local container. Remote endpoints are programmed statically, as libnetwork does from its
//! k-v store: an FDB entry (MAC -> remote VTEP) and a permanent neighbour entry each.
//! Containers on overlays only get docker_gwbridge for their way out.

use std::collections::HashMap;

use ipnetwork::Ipv4Network;
use serde_json::{json, Map, Value};

use std::net::Ipv4Addr;

use super::{AddressPool, NetworkDriver, Options};
use crate::observe::{Link, Snapshot};
use crate::plan::{endpoint_in_container, hosts_on, Object, Plan, Role};
use crate::spec::{span, Driver, Lab, Name, NetDraft, RawNetwork, Reporter, BRIDGE_MAX_PORTS};
use crate::trace::l2::{hop, Fail, Found, Walk, Want};
use crate::trace::{one_way, Disposition};

/// The first VNI given to an overlay without `vni`, as libnetwork's VXLAN id allocator starts.
pub(crate) const FIRST_VNI: u32 = 256;
const MAX_VNI: i64 = (1 << 24) - 1;

pub(crate) struct Overlay;

impl NetworkDriver for Overlay {
    fn name(&self) -> &'static str {
        "overlay"
    }
    fn keys(&self) -> &'static [&'static str] {
        &["vni"]
    }
    /// `vni`: 0 in the settings until [`Overlay::allocate`] gives one.
    fn options(&self, r: &mut Reporter, _name: &Name, raw: &RawNetwork) -> Options {
        let mut vni = 0;
        let mut ok = true;
        if let Some(v) = &raw.vni {
            if !(1..=MAX_VNI).contains(v.get_ref()) {
                r.error(
                    span(v),
                    format!(
                        "vni {} is out of range: VXLAN ids are 1 to {MAX_VNI}",
                        v.get_ref()
                    ),
                );
                ok = false;
            } else {
                vni = *v.get_ref() as u32;
            }
        }
        Options {
            settings: Driver::Overlay { vni },
            spans: raw.vni.iter().map(|v| ("vni", span(v))).collect(),
            ok,
        }
    }
    /// VNIs written are unique; the others get the lowest free ones from 256 up, in file order.
    fn allocate(&self, r: &mut Reporter, drafts: &mut [NetDraft]) {
        let vni_of = |d: &NetDraft| match d.options.settings {
            Driver::Overlay { vni } if vni != 0 => Some(vni),
            _ => None,
        };
        let mut used: HashMap<u32, String> = HashMap::new();
        for d in drafts.iter() {
            let Some(v) = vni_of(d) else { continue };
            if let Some(other) = used.get(&v) {
                r.error_help(
                    d.options.span("vni").cloned().unwrap_or(d.span.clone()),
                    format!(
                        "network {} uses vni {v}, already used by network {other}",
                        d.name
                    ),
                    "give each overlay network its own vni, or leave vni out to get a free one",
                );
            }
            used.insert(v, d.name.clone());
        }
        let mut next = FIRST_VNI;
        for d in drafts.iter_mut() {
            let Driver::Overlay { vni } = &mut d.options.settings else {
                continue;
            };
            if *vni != 0 {
                continue;
            }
            while used.contains_key(&next) {
                next += 1;
            }
            used.insert(next, d.name.clone());
            *vni = next;
        }
    }
    fn pool(&self) -> AddressPool {
        AddressPool::Global
    }
    fn spans_hosts(&self) -> bool {
        true
    }
    fn gives_default_route(&self) -> bool {
        false
    }
    /// br0 holds vxlan0 besides the containers' veths.
    fn container_limit(&self) -> Option<usize> {
        Some(BRIDGE_MAX_PORTS - 1)
    }
    fn sandbox_per_host(&self) -> bool {
        true
    }
    fn plan(&self, lab: &Lab, ni: usize, p: &mut Plan) {
        plan(lab, ni, p)
    }
    fn docker_scope(&self) -> &'static str {
        "global"
    }
    fn link_kinds(&self) -> &'static [&'static str] {
        &["vxlan"]
    }
    fn transmit(
        &self,
        w: &mut Walk<'_>,
        ns: &str,
        l: &Link,
        want: &Want,
        _vlan: Option<u16>,
    ) -> Result<Found, Fail> {
        vxlan_tx(w, ns, l, want)
    }
    fn docker_options(
        &self,
        snap: &Snapshot,
        lab: &Lab,
        ni: usize,
        hosts: &[usize],
    ) -> (Map<String, Value>, Option<Vec<Value>>) {
        let Driver::Overlay { vni } = lab.networks[ni].driver else {
            return Default::default();
        };
        // The VNI as the kernel has it, on the first host where the network exists.
        let live_vni = hosts
            .iter()
            .filter_map(|h| snap.namespace(&lab.overlay_ns(*h, ni)))
            .find_map(|n| {
                n.link("vxlan0")
                    .and_then(|l| l.vxlan.as_ref())
                    .and_then(|v| v.id)
            })
            .unwrap_or(vni);
        let mut options = Map::new();
        options.insert(
            "com.docker.network.driver.overlay.vxlanid_list".into(),
            json!(live_vni.to_string()),
        );
        let peers = hosts
            .iter()
            .map(|h| json!({ "Name": lab.hosts[*h].name, "IP": lab.hosts[*h].address.ip().to_string() }))
            .collect();
        (options, Some(peers))
    }
}

/// A frame sent out of a VXLAN device: FDB -> VTEP, underlay, decapsulation.
fn vxlan_tx(w: &mut Walk<'_>, ns: &str, l: &Link, want: &Want) -> Result<Found, Fail> {
    let n = w.ns(ns)?;
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
                        w.ttl,
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
        w.ttl,
        "l2",
    ));
    // The outer packet crosses the underlay like any packet from the socket's namespace.
    let under = one_way(w.snap, w.routes, &sock_ns, vtep);
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
    for rn in &w.snap.namespaces {
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
                    w.ttl,
                    "l2",
                ));
                let (rname, lname) = (rn.name.clone(), rl.name.clone());
                let mut r = w.receive(&rname, &lname, &Want::Mac(mac.clone()), None)?;
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

pub const VXLAN_PORT: u16 = 4789;
/// VXLAN over IPv4 adds 50 bytes (outer Ethernet 14 + IP 20 + UDP 8 + VXLAN 8).
pub const VXLAN_OVERHEAD: u32 = 50;

fn plan(lab: &Lab, ni: usize, p: &mut Plan) {
    let net = &lab.networks[ni];
    let Driver::Overlay { vni } = net.driver else {
        return;
    };
    let mtu = lab.underlay.mtu - VXLAN_OVERHEAD;
    let endpoints = lab.endpoints_on(ni);
    for hi in hosts_on(lab, ni) {
        let ons = lab.overlay_ns(hi, ni);
        p.ns(ons.clone(), Role::OverlayNetwork);
        p.add(Object::Bridge {
            ns: ons.clone(),
            name: "br0".into(),
        });
        p.add(Object::Vxlan {
            ns: lab.host_ns(hi),
            target_ns: ons.clone(),
            name: "vxlan0".into(),
            vni,
            local: lab.hosts[hi].address.ip(),
            port: VXLAN_PORT,
            mtu,
        });
        let local = lab.endpoints_on_host(ni, hi);
        let veth = |k: usize, e: &crate::spec::Endpoint| {
            format!("veth{}", e.sandbox_if.map_or(k as u64, u64::from))
        };
        for (k, (ci, ei)) in local.iter().enumerate() {
            let e = &lab.containers[*ci].endpoints[*ei];
            p.add(Object::Veth {
                ns: ons.clone(),
                name: veth(k, e),
                master: Some("br0".into()),
                mtu,
                peer_ns: lab.container_ns(*ci),
                peer: e.ifname.clone(),
                peer_mac: Some(e.mac),
            });
        }
        p.add(Object::Master {
            ns: ons.clone(),
            dev: "vxlan0".into(),
            master: "br0".into(),
        });
        p.add(Object::Up {
            ns: ons.clone(),
            dev: "lo".into(),
        });
        p.add(Object::Up {
            ns: ons.clone(),
            dev: "br0".into(),
        });
        p.add(Object::Up {
            ns: ons.clone(),
            dev: "vxlan0".into(),
        });
        let gw = Ipv4Network::new(net.gateway, net.subnet.prefix()).unwrap();
        p.add(Object::Address {
            ns: ons.clone(),
            dev: "br0".into(),
            address: gw,
        });
        for (k, (ci, ei)) in local.iter().enumerate() {
            let e = &lab.containers[*ci].endpoints[*ei];
            p.add(Object::Up {
                ns: ons.clone(),
                dev: veth(k, e),
            });
            endpoint_in_container(lab, *ci, e, p);
        }
        for (ci, ei) in endpoints
            .iter()
            .filter(|(ci, _)| lab.containers[*ci].host != hi)
        {
            let c = &lab.containers[*ci];
            let e = &c.endpoints[*ei];
            let vtep = lab.hosts[c.host].address.ip();
            p.add(Object::Fdb {
                ns: ons.clone(),
                dev: "vxlan0".into(),
                mac: e.mac,
                dst: vtep,
            });
            p.add(Object::Neigh {
                ns: ons.clone(),
                dev: "vxlan0".into(),
                ip: e.address.ip(),
                mac: e.mac,
            });
        }
    }
}
