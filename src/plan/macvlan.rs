//! Docker's macvlan driver: per host with a container on the network, the parent (a NIC, or an
//! 802.1Q sub-interface the host plan creates) goes promiscuous, as the articles set it, and
//! each local container's interface is a macvlan of it. No bridge, no gateway address: the
//! gateway is a router host of the lab, or nothing.
//!
//! The macvlan is created by the host namespace's netlink socket straight into the container's
//! namespace (IFLA_NET_NS_FD), so its lower device stays the host's parent and `ip link` in the
//! container shows `eth0@ifN` with N the parent's ifindex on the host, as in the articles.

use super::{endpoint_in_container, hosts_on, Object, Plan};
use crate::spec::{split_vlan, Driver, Lab};

pub fn plan(lab: &Lab, ni: usize, p: &mut Plan) {
    let net = &lab.networks[ni];
    let Driver::Macvlan { parent, mode } = &net.driver else {
        return;
    };
    // Promiscuous mode goes on the NIC; a VLAN sub-interface passes its frames through it.
    let nic = split_vlan(parent).map_or(parent.as_str(), |(nic, _)| nic);
    for hi in hosts_on(lab, ni) {
        let hns = lab.host_ns(hi);
        let local = lab.endpoints_on_host(ni, hi);
        for (ci, ei) in &local {
            let e = &lab.containers[*ci].endpoints[*ei];
            p.add(Object::Macvlan {
                ns: hns.clone(),
                parent: parent.clone(),
                mode: *mode,
                target_ns: lab.container_ns(*ci),
                name: e.ifname.clone(),
                mac: e.mac,
            });
        }
        let promisc = Object::Promisc {
            ns: hns.clone(),
            dev: nic.to_string(),
        };
        // Two VLANs of one NIC are two networks on one NIC: set it once.
        if !p.objects.contains(&promisc) {
            p.add(promisc);
        }
        for (ci, ei) in &local {
            endpoint_in_container(lab, *ci, &lab.containers[*ci].endpoints[*ei], p);
        }
    }
}
