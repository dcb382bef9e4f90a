//! Docker's bridge driver (user-defined bridges and docker_gwbridge): per host, a Linux bridge
//! in the host namespace holding the gateway address, and a veth per local container. With
//! icc off, container ports are isolated from each other (bridge port isolation), so they
//! reach the gateway but not each other, without any firewall rule.

use ipnetwork::Ipv4Network;

use super::{endpoint_in_container, host_veth_name, hosts_on, Object, Plan};
use crate::spec::{Driver, Lab};

pub fn plan(lab: &Lab, ni: usize, p: &mut Plan) {
    let net = &lab.networks[ni];
    let Driver::Bridge { bridge, icc } = &net.driver else {
        return;
    };
    for hi in hosts_on(lab, ni) {
        let hns = lab.host_ns(hi);
        p.add(Object::Bridge {
            ns: hns.clone(),
            name: bridge.clone(),
        });
        let local = lab.endpoints_on_host(ni, hi);
        for (ci, ei) in &local {
            let c = &lab.containers[*ci];
            let e = &c.endpoints[*ei];
            p.add(Object::Veth {
                ns: hns.clone(),
                name: host_veth_name(&lab.name, &c.name, &e.ifname),
                master: Some(bridge.clone()),
                mtu: lab.underlay.mtu,
                peer_ns: lab.container_ns(*ci),
                peer: e.ifname.clone(),
                peer_mac: Some(e.mac),
            });
        }
        p.add(Object::Up {
            ns: hns.clone(),
            dev: bridge.clone(),
        });
        let gw = Ipv4Network::new(net.gateway, net.subnet.prefix()).unwrap();
        p.add(Object::Address {
            ns: hns.clone(),
            dev: bridge.clone(),
            address: gw,
        });
        for (ci, ei) in &local {
            let c = &lab.containers[*ci];
            let e = &c.endpoints[*ei];
            let veth = host_veth_name(&lab.name, &c.name, &e.ifname);
            if !icc {
                p.add(Object::Isolated {
                    ns: hns.clone(),
                    dev: veth.clone(),
                });
            }
            p.add(Object::Up {
                ns: hns.clone(),
                dev: veth,
            });
            endpoint_in_container(lab, *ci, e, p);
        }
    }
}
