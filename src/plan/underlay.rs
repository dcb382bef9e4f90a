//! The underlay: one namespace per host, each NIC of it plugged into a lab-owned switch (a
//! bridge in the lab's underlay namespace), like the articles' hosts on one L2 segment. The
//! switch has no VLAN filtering, so it forwards 802.1Q tagged frames untouched between ports:
//! every port is a trunk, as the articles' ens38 is.

use std::collections::HashSet;

use super::{Object, Plan, Role};
use crate::spec::{Lab, IFNAME_MAX};

pub const SWITCH: &str = "switch0";

/// Switch port names, per host, one per NIC (`nics` order). Ports are named after their host
/// (`nas4`, and `nas4-ens38` for a second NIC) when every such name fits in an interface name
/// and no two collide; otherwise `port1`, `port1n1`, ... .
pub fn port_names(lab: &Lab) -> Vec<Vec<String>> {
    let named: Vec<Vec<String>> = lab
        .hosts
        .iter()
        .map(|h| {
            h.all_nics()
                .iter()
                .enumerate()
                .map(|(k, nic)| {
                    if k == 0 {
                        h.name.clone()
                    } else {
                        format!("{}-{nic}", h.name)
                    }
                })
                .collect()
        })
        .collect();
    let mut seen = HashSet::new();
    let fits = named
        .iter()
        .flatten()
        .all(|n| n.len() <= IFNAME_MAX && n != SWITCH && n != "lo" && seen.insert(n.as_str()));
    if fits {
        return named;
    }
    named
        .iter()
        .enumerate()
        .map(|(i, ports)| {
            (0..ports.len())
                .map(|k| {
                    if k == 0 {
                        format!("port{}", i + 1)
                    } else {
                        format!("port{}n{k}", i + 1)
                    }
                })
                .collect()
        })
        .collect()
}

pub fn plan(lab: &Lab, p: &mut Plan) {
    let sw = lab.underlay_ns();
    p.ns(sw.clone(), Role::Underlay);
    for hi in 0..lab.hosts.len() {
        p.ns(lab.host_ns(hi), Role::Host);
    }
    p.add(Object::Bridge {
        ns: sw.clone(),
        name: SWITCH.into(),
        mac: None,
    });
    let ports = port_names(lab);
    for (hi, host) in lab.hosts.iter().enumerate() {
        for (port, nic) in ports[hi].iter().zip(host.all_nics()) {
            p.add(Object::Veth {
                ns: sw.clone(),
                name: port.clone(),
                master: Some(SWITCH.into()),
                mtu: lab.underlay.mtu,
                peer_ns: lab.host_ns(hi),
                peer: nic,
                peer_mac: None,
            });
        }
    }
    p.add(Object::Up {
        ns: sw.clone(),
        dev: SWITCH.into(),
    });
    for (hi, host) in lab.hosts.iter().enumerate() {
        let hns = lab.host_ns(hi);
        for port in &ports[hi] {
            p.add(Object::Up {
                ns: sw.clone(),
                dev: port.clone(),
            });
        }
        p.add(Object::Up {
            ns: hns.clone(),
            dev: "lo".into(),
        });
        for nic in host.all_nics() {
            p.add(Object::Up {
                ns: hns.clone(),
                dev: nic,
            });
        }
        p.add(Object::Address {
            ns: hns,
            dev: host.nic.clone(),
            address: host.address,
        });
    }
}
