//! What a host holds besides its NICs: 802.1Q sub-interfaces (`ens38.10`), extra addresses (a
//! router's gateways on its sub-interfaces) and IPv4 forwarding, the seed articles' vm-vpn.
//! Everything is inside the host's own namespace: forwarding is that namespace's sysctl.

use super::{Object, Plan};
use crate::spec::Lab;

pub const IP_FORWARD: &str = "net.ipv4.ip_forward";

pub fn plan(lab: &Lab, p: &mut Plan) {
    for (hi, host) in lab.hosts.iter().enumerate() {
        let hns = lab.host_ns(hi);
        for v in &host.vlans {
            p.add(Object::Vlan {
                ns: hns.clone(),
                name: v.name.clone(),
                link: v.nic.clone(),
                id: v.id,
            });
        }
        for v in &host.vlans {
            p.add(Object::Up {
                ns: hns.clone(),
                dev: v.name.clone(),
            });
        }
        for a in &host.addresses {
            p.add(Object::Address {
                ns: hns.clone(),
                dev: a.dev.clone(),
                address: a.address,
            });
        }
        if host.forwarding {
            p.add(Object::Sysctl {
                ns: hns.clone(),
                key: IP_FORWARD.into(),
                value: "1".into(),
            });
        }
    }
}
