//! Docker's bridge driver (user-defined bridges and docker_gwbridge): per host, a Linux bridge
//! in the host namespace holding the gateway address, and a veth per local container. With
//! icc off, container ports are isolated from each other (bridge port isolation), so they
//! reach the gateway but not each other, without any firewall rule.

use ipnetwork::Ipv4Network;
use serde_json::{json, Map, Value};

use super::{NetworkDriver, Options};
use crate::observe::Snapshot;
use crate::plan::{endpoint_in_container, host_veth_name, hosts_on, Object, Plan};
use crate::spec::{span, Driver, Lab, Name, RawNetwork, Reporter, BRIDGE_MAX_PORTS};

pub(crate) struct Bridge;

impl NetworkDriver for Bridge {
    fn name(&self) -> &'static str {
        "bridge"
    }
    fn keys(&self) -> &'static [&'static str] {
        &["icc"]
    }
    /// The bridge's name is Docker's `br-<id>`, given by [`Bridge::finish`].
    fn options(&self, _r: &mut Reporter, _name: &Name, raw: &RawNetwork) -> Options {
        Options {
            settings: Driver::Bridge {
                bridge: String::new(),
                icc: raw.icc.as_ref().is_none_or(|b| *b.get_ref()),
            },
            spans: raw.icc.iter().map(|v| ("icc", span(v))).collect(),
            ok: true,
        }
    }
    fn finish(&self, settings: &mut Driver, id: &str) {
        if let Driver::Bridge { bridge, .. } = settings {
            if bridge.is_empty() {
                *bridge = format!("br-{}", &id[..12]);
            }
        }
    }
    fn spans_hosts(&self) -> bool {
        false
    }
    fn container_limit(&self) -> Option<usize> {
        Some(BRIDGE_MAX_PORTS)
    }
    fn plan(&self, lab: &Lab, ni: usize, p: &mut Plan) {
        plan(lab, ni, p)
    }
    fn docker_options(
        &self,
        _snap: &Snapshot,
        lab: &Lab,
        ni: usize,
        _hosts: &[usize],
    ) -> (Map<String, Value>, Option<Vec<Value>>) {
        let mut options = Map::new();
        if let Driver::Bridge { bridge, icc } = &lab.networks[ni].driver {
            options.insert("com.docker.network.bridge.name".into(), json!(bridge));
            options.insert(
                "com.docker.network.bridge.enable_icc".into(),
                json!(icc.to_string()),
            );
            options.insert(
                "com.docker.network.bridge.enable_ip_masquerade".into(),
                json!("false"),
            );
        }
        (options, None)
    }
}

fn plan(lab: &Lab, ni: usize, p: &mut Plan) {
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
