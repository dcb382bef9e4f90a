//! The underlay: one namespace per host, each with its NIC plugged into a lab-owned switch (a
//! bridge in the lab's underlay namespace), like the articles' hosts on one L2 segment.

use super::{Object, Plan, Role};
use crate::spec::{Lab, IFNAME_MAX};

pub const SWITCH: &str = "switch0";

/// Switch ports are named after their host when every host name fits in an interface name.
pub fn port_names(lab: &Lab) -> Vec<String> {
    let fits = lab
        .hosts
        .iter()
        .all(|h| h.name.len() <= IFNAME_MAX && h.name != SWITCH && h.name != "lo");
    lab.hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if fits {
                h.name.clone()
            } else {
                format!("port{}", i + 1)
            }
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
    });
    let ports = port_names(lab);
    for (hi, host) in lab.hosts.iter().enumerate() {
        p.add(Object::Veth {
            ns: sw.clone(),
            name: ports[hi].clone(),
            master: Some(SWITCH.into()),
            mtu: lab.underlay.mtu,
            peer_ns: lab.host_ns(hi),
            peer: host.nic.clone(),
            peer_mac: None,
        });
    }
    p.add(Object::Up {
        ns: sw.clone(),
        dev: SWITCH.into(),
    });
    for (hi, host) in lab.hosts.iter().enumerate() {
        let hns = lab.host_ns(hi);
        p.add(Object::Up {
            ns: sw.clone(),
            dev: ports[hi].clone(),
        });
        p.add(Object::Up {
            ns: hns.clone(),
            dev: "lo".into(),
        });
        p.add(Object::Up {
            ns: hns.clone(),
            dev: host.nic.clone(),
        });
        p.add(Object::Address {
            ns: hns,
            dev: host.nic.clone(),
            address: host.address,
        });
    }
}
