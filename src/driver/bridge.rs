//! Docker's bridge driver (user-defined bridges and docker_gwbridge): per host, a Linux bridge
//! in the host namespace holding the gateway address, and a veth per local container. With
//! icc off, container ports are isolated from each other (bridge port isolation), so they
//! reach the gateway but not each other, without any firewall rule.

use serde_json::{json, Map, Value};

use super::{NetworkDriver, Options};
use crate::observe::{Link, Snapshot};
use crate::plan::{endpoint_in_container, gateway_on, host_veth_name, Object, Plan};
use crate::spec::{span, Driver, Lab, Name, RawNetwork, Reporter, BRIDGE_MAX_PORTS};
use crate::trace::l2::{hop, Fail, Found, Walk, Want};
use crate::trace::Disposition;

pub(crate) struct Bridge;

impl NetworkDriver for Bridge {
    fn name(&self) -> &'static str {
        "bridge"
    }
    fn keys(&self) -> &'static [&'static str] {
        &["icc", "masquerade", "mtu", "hosts"]
    }
    /// The bridge's name is Docker's `br-<id>`, given by [`Bridge::finish`].
    fn options(&self, _r: &mut Reporter, _name: &Name, raw: &RawNetwork) -> Options {
        Options {
            settings: Driver::Bridge {
                bridge: String::new(),
                icc: raw.icc.as_ref().is_none_or(|b| *b.get_ref()),
                masquerade: raw.masquerade.as_ref().is_none_or(|b| *b.get_ref()),
            },
            spans: raw
                .icc
                .iter()
                .map(|v| ("icc", span(v)))
                .chain(raw.masquerade.iter().map(|v| ("masquerade", span(v))))
                .collect(),
            host_spans: Vec::new(),
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
    fn link_kinds(&self) -> &'static [&'static str] {
        &["bridge"]
    }
    /// Sent by the host's stack on the bridge device.
    fn transmit(
        &self,
        w: &mut Walk<'_>,
        ns: &str,
        l: &Link,
        want: &Want,
        vlan: Option<u16>,
    ) -> Result<Found, Fail> {
        switch_frame(w, ns, &l.name, None, want, vlan)
    }
    fn switch(
        &self,
        w: &mut Walk<'_>,
        ns: &str,
        master: &Link,
        port: &str,
        want: &Want,
        vlan: Option<u16>,
    ) -> Result<Found, Fail> {
        switch_frame(w, ns, &master.name, Some(port), want, vlan)
    }
    fn docker_options(
        &self,
        _snap: &Snapshot,
        lab: &Lab,
        ni: usize,
        _hosts: &[usize],
    ) -> (Map<String, Value>, Map<String, Value>) {
        let net = &lab.networks[ni];
        let mut options = Map::new();
        let mut own = Map::new();
        if let Driver::Bridge {
            bridge,
            icc,
            masquerade,
        } = &net.driver
        {
            // docker_gwbridge: the three options libnetwork's createGWNetwork sets (seed 000;
            // the masquerade is the host's docker-postrouting rule). A user network: the options the
            // lab file's settings stand for (`docker network create -o ...`), none by default.
            if net.implicit {
                options.insert("com.docker.network.bridge.name".into(), json!(bridge));
            }
            if net.implicit || !icc {
                options.insert(
                    "com.docker.network.bridge.enable_icc".into(),
                    json!(icc.to_string()),
                );
            }
            if net.implicit || !masquerade {
                options.insert(
                    "com.docker.network.bridge.enable_ip_masquerade".into(),
                    json!(masquerade.to_string()),
                );
            }
            if let Some(m) = net.mtu {
                options.insert("com.docker.network.driver.mtu".into(), json!(m.to_string()));
            }
            own.insert("Bridge".into(), json!(bridge));
        }
        (options, own)
    }
}

/// Bridge `br` of `ns` switches a frame that came in on `from` (None: sent by the host).
fn switch_frame(
    w: &mut Walk<'_>,
    ns: &str,
    br: &str,
    from: Option<&str>,
    want: &Want,
    vlan: Option<u16>,
) -> Result<Found, Fail> {
    let n = w.ns(ns)?;
    let b = n.link(br).ok_or((
        Disposition::NeighborUnreachable,
        format!("{ns} has no bridge {br}"),
    ))?;
    let ttl = w.ttl;
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
        if let Ok((a, d, _)) = w.accept(ns, b, want) {
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
            .find(|f| f.mac == *m && f.master.as_deref() == Some(br) && !f.is_self && f.dev != br)
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
    // Forwarded between ports, untagged: br_netfilter's limit, when it is on.
    let netfilter =
        from.is_some() && vlan.is_none() && crate::trace::l2::bridged_ipv4_through_netfilter(n, br);
    let one_way = targets.iter().filter(|p| Some(p.as_str()) != from).count() == 1;
    for p in targets {
        if Some(p.as_str()) == from {
            continue;
        }
        if from_isolated && isolated(&p) {
            first_err.get_or_insert(Fail::from((
                Disposition::Isolated,
                format!("bridge {br} in {ns}: ports {} and {p} are both isolated (no traffic between them)", from.unwrap_or("")),
            )));
            continue;
        }
        let sent = w.through(
            ns,
            n.link(&p),
            &format!("as a port of {br}"),
            known.is_some(),
            netfilter,
            |w| w.transmit(ns, &p, want, vlan),
        );
        let step = hop(ns, from, Some(&p), format!("bridge {br}: {how}"), ttl, "l2");
        match sent {
            Ok(mut r) => {
                r.2.insert(0, step);
                return Ok(r);
            }
            Err(mut e) => {
                // One way out: the failure keeps it. A flood's copies go several ways, and
                // which of them was meant is a guess: the failure stops at the bridge.
                if !one_way {
                    e.2.clear();
                }
                e.2.insert(0, step);
                if first_err.as_ref().is_none_or(|f| {
                    f.0 == Disposition::NeighborUnreachable
                        && e.0 != Disposition::NeighborUnreachable
                }) {
                    first_err = Some(e);
                }
            }
        }
    }
    Err(first_err.unwrap_or_else(|| {
        Fail::from((
            Disposition::NeighborUnreachable,
            format!("bridge {br} in {ns}: no port leads to the destination"),
        ))
    }))
}

/// A host bridge's MAC, Docker-style (seed 000: docker_gwbridge is `02:42:46:34:22:3d`):
/// `02:42:` and four bytes Docker draws at random, here drawn from the network's id and the
/// host, so that a lab has the same MACs every time it is built.
pub(crate) fn bridge_mac(net_id: &str, host: &str) -> [u8; 6] {
    use sha2::{Digest, Sha256};
    let d = Sha256::new()
        .chain_update(b"netlab bridge mac\0")
        .chain_update(net_id.as_bytes())
        .chain_update(b"\0")
        .chain_update(host.as_bytes())
        .finalize();
    [0x02, 0x42, d[0], d[1], d[2], d[3]]
}

fn plan(lab: &Lab, ni: usize, p: &mut Plan) {
    let net = &lab.networks[ni];
    let Driver::Bridge { bridge, icc, .. } = &net.driver else {
        return;
    };
    for hi in lab.hosts_of(ni) {
        let hns = lab.host_ns(hi);
        p.add(Object::Bridge {
            ns: hns.clone(),
            name: bridge.clone(),
            mac: Some(bridge_mac(&net.id, &lab.hosts[hi].name)),
        });
        let local = lab.endpoints_on_host(ni, hi);
        for (ci, ei) in &local {
            let c = &lab.containers[*ci];
            let e = &c.endpoints[*ei];
            p.add(Object::Veth {
                ns: hns.clone(),
                name: host_veth_name(&lab.name, &c.name, &e.ifname),
                master: Some(bridge.clone()),
                mtu: net.mtu.unwrap_or(lab.underlay.mtu),
                peer_ns: lab.container_ns(*ci),
                peer: e.ifname.clone(),
                peer_mac: Some(e.mac),
            });
        }
        p.add(Object::Up {
            ns: hns.clone(),
            dev: bridge.clone(),
        });
        gateway_on(net, &hns, bridge, p);
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
