//! Docker's overlay driver: per host, a namespace `1-<netid>` holding `br0` (the gateway),
//! `vxlan0` (created from the host namespace so its UDP socket stays there) and one veth per
//! local container. Remote endpoints are programmed statically, as libnetwork does from its
//! k-v store: an FDB entry (MAC -> remote VTEP) and a permanent neighbour entry each.

use ipnetwork::Ipv4Network;

use super::{endpoint_in_container, hosts_on, Object, Plan, Role};
use crate::spec::{Driver, Lab};

pub const VXLAN_PORT: u16 = 4789;
/// VXLAN over IPv4 adds 50 bytes (outer Ethernet 14 + IP 20 + UDP 8 + VXLAN 8).
pub const VXLAN_OVERHEAD: u32 = 50;

pub fn plan(lab: &Lab, ni: usize, p: &mut Plan) {
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
