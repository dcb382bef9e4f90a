//! The outside (`[outside]`): a namespace standing for the internet, its NIC a port of the
//! underlay switch holding the hosts' default gateway, and the subnet it stands for on its
//! loopback, where the kernel makes a whole prefix local: it answers every address of it.
//! Every host's default route goes through it. It gets no route into the lab, so it only
//! ever answers what a host masqueraded (or what comes from the segment itself).

use super::{underlay, Object, Plan, Role};
use crate::spec::{Lab, Outside, IFNAME_MAX};

/// The outside's switch port: its name where that fits and no host's port has it.
fn port_name(lab: &Lab) -> Option<String> {
    let o = lab.outside.as_ref()?;
    let taken: Vec<String> = underlay::port_names(lab).into_iter().flatten().collect();
    let free = |n: &String| {
        n.len() <= IFNAME_MAX && n != underlay::SWITCH && n != "lo" && !taken.contains(n)
    };
    std::iter::once(o.name.clone())
        .chain((0..).map(|k| format!("outside{k}")))
        .find(free)
}

pub fn plan(lab: &Lab, p: &mut Plan) {
    let (Some(o), Some(ons), Some(port)) = (&lab.outside, lab.outside_ns(), port_name(lab)) else {
        return;
    };
    let sw = lab.underlay_ns();
    p.ns(ons.clone(), Role::Outside);
    p.add(Object::Veth {
        ns: sw.clone(),
        name: port.clone(),
        master: Some(underlay::SWITCH.into()),
        mtu: lab.underlay.mtu,
        peer_ns: ons.clone(),
        peer: Outside::NIC.into(),
        peer_mac: None,
    });
    p.add(Object::Up { ns: sw, dev: port });
    for dev in ["lo", Outside::NIC] {
        p.add(Object::Up {
            ns: ons.clone(),
            dev: dev.into(),
        });
    }
    p.add(Object::Address {
        ns: ons.clone(),
        dev: Outside::NIC.into(),
        address: o.gateway,
    });
    p.add(Object::Address {
        ns: ons,
        dev: "lo".into(),
        address: o.address,
    });
    for (hi, host) in lab.hosts.iter().enumerate() {
        p.add(Object::Route {
            ns: lab.host_ns(hi),
            dst: None,
            via: Some(o.gateway.ip()),
            dev: host.nic.clone(),
        });
    }
}
