//! Docker's macvlan driver: per host with a container on the network, the parent (a NIC, or an
//! 802.1Q sub-interface the host plan creates) goes promiscuous, as the articles set it, and
//! each local container's interface is a macvlan of it. No bridge, no gateway address: the
//! gateway is a router host of the lab, or nothing.
//!
//! The macvlan is created by the host namespace's netlink socket straight into the container's
//! namespace (IFLA_NET_NS_FD), so its lower device stays the host's parent and `ip link` in the
//! container shows `eth0@ifN` with N the parent's ifindex on the host, as in the articles.
//!
//! A parent serves one macvlan network per host, as Docker enforces; the rule is checked at
//! `up` ([`Macvlan::place`]) and at run time ([`Macvlan::connect`]).

use serde_json::{json, Map, Value};

use super::{parent, NetworkDriver, Options};
use crate::observe::{Link, Snapshot};
use crate::plan::{endpoint_in_container, Object, Plan};
use crate::spec::change::Refused;
use crate::spec::{
    split_vlan, Container, Driver, Host, Lab, MacvlanMode, Name, NetDraft, RawNetwork, Reporter,
    Validator,
};
use crate::trace::l2::{hop, via, Fail, Found, Walk, Want};
use crate::trace::{ips, is_up, Disposition};

pub(crate) struct Macvlan;

impl NetworkDriver for Macvlan {
    fn name(&self) -> &'static str {
        "macvlan"
    }
    fn keys(&self) -> &'static [&'static str] {
        &["parent", "mode", "hosts"]
    }
    fn mode_values(&self) -> Vec<&'static str> {
        MacvlanMode::ALL.iter().map(|m| m.as_str()).collect()
    }
    /// A macvlan network's `parent` (optional: without one its parent is a dummy) and `mode`.
    /// The parent is checked for its form here, and against each host's NICs once containers
    /// are placed ([`Macvlan::place`]).
    fn options(&self, r: &mut Reporter, _name: &Name, n: &RawNetwork) -> Options {
        let mode = parent::read_mode(
            r,
            "macvlan",
            n.mode.as_ref(),
            MacvlanMode::Bridge,
            MacvlanMode::parse,
            "use \"bridge\" (the default), \"vepa\", \"private\" or \"passthru\"",
        );
        parent::options(
            r,
            n.parent.as_ref(),
            mode.is_some(),
            |parent, dummy_parent| Driver::Macvlan {
                parent,
                mode: mode.unwrap_or(MacvlanMode::Bridge),
                dummy_parent,
            },
        )
    }
    fn finish(&self, settings: &mut Driver, id: &str) {
        parent::name_dummy(settings, id);
    }

    /// Per host, the macvlan networks that exist there (those with a container on that host):
    /// the parent rules shared with ipvlan ([`parent::place`]), and passthru gives the parent
    /// to one container.
    fn place(
        &self,
        v: &mut Validator<'_, '_>,
        drafts: &[NetDraft],
        hosts: &mut [Host],
        containers: &[Container],
    ) {
        for (hi, ni, count) in parent::place(self, v, drafts, hosts, containers) {
            let d = &drafts[ni];
            let passthru = matches!(
                d.options.settings,
                Driver::Macvlan {
                    mode: MacvlanMode::Passthru,
                    ..
                }
            );
            if passthru && count > 1 {
                v.r.error_help(
                    d.options.span("parent").cloned().unwrap_or(d.span.clone()),
                    format!(
                        "network {} is in passthru mode, which gives the parent to one container, but host {} has {count} containers on it",
                        d.name, hosts[hi].name
                    ),
                    "use mode = \"bridge\", or one container per host",
                );
            }
        }
    }

    /// A macvlan network's parent on the container's host, checked as `up` checks it
    /// ([`parent::connect`]), and passthru gives the parent to one container.
    fn connect(&self, lab: &mut Lab, ni: usize, ci: usize) -> Result<(), Refused> {
        let Driver::Macvlan { mode, .. } = lab.networks[ni].driver else {
            return Ok(());
        };
        let hi = lab.containers[ci].host;
        if mode == MacvlanMode::Passthru && parent::containers_on(lab, ni, hi) > 0 {
            return Err(Refused(format!(
                "network {} is in passthru mode, which gives the parent to one container, and host {} already has one on it",
                lab.networks[ni].name, lab.hosts[hi].name
            )));
        }
        parent::connect(lab, ni, ci)
    }
    /// A plain NIC's segment is the underlay's: the network may share its subnet. A refused
    /// parent may have been a plain NIC: it gets the benefit of the doubt.
    fn may_share_underlay(&self, d: &NetDraft) -> bool {
        parent::on_plain_nic(d)
    }
    fn spans_hosts(&self) -> bool {
        true
    }
    fn on_hosts_segment(&self) -> bool {
        true
    }
    fn container_limit(&self) -> Option<usize> {
        None
    }
    fn plan(&self, lab: &Lab, ni: usize, p: &mut Plan) {
        plan(lab, ni, p)
    }
    fn link_kinds(&self) -> &'static [&'static str] {
        &["macvlan", "macvtap"]
    }
    fn transmit(
        &self,
        w: &mut Walk<'_>,
        ns: &str,
        l: &Link,
        want: &Want,
        vlan: Option<u16>,
    ) -> Result<Found, Fail> {
        let dev = l.name.as_str();
        let p = l.peer.clone().ok_or((
            Disposition::NeighborUnreachable,
            format!("{ns}: {dev} has no lower device"),
        ))?;
        let lower = p.name.clone().unwrap_or_default();
        let mode = l.macvlan_mode.clone().unwrap_or_else(|| "bridge".into());
        // Bridge mode switches between macvlans of the same lower device locally.
        if mode == "bridge" {
            if let Ok(r) = siblings_take(w, &p.namespace, &lower, Some((ns, dev)), want) {
                return Ok(r);
            }
        }
        let h = hop(
            ns,
            None,
            Some(dev),
            format!(
                "macvlan ({mode}) {dev} sends through its lower device {}:{lower}",
                p.namespace
            ),
            w.ttl,
            "l2",
        );
        via(h, w.transmit(&p.namespace, &lower, want, vlan))
    }
    fn uppers_take(
        &self,
        w: &mut Walk<'_>,
        ns: &str,
        lower: &str,
        except: Option<(&str, &str)>,
        want: &Want,
    ) -> Result<Found, Fail> {
        siblings_take(w, ns, lower, except, want)
    }
    /// `docker network inspect` of a macvlan network: the -o options it was created with.
    fn docker_options(
        &self,
        _snap: &Snapshot,
        lab: &Lab,
        ni: usize,
        hosts: &[usize],
    ) -> (Map<String, Value>, Map<String, Value>) {
        let mut options = Map::new();
        if let Driver::Macvlan { mode, .. } = &lab.networks[ni].driver {
            parent::docker_option(lab, ni, hosts, &mut options);
            // `-o macvlan_mode` only when the lab file sets another than Docker's default.
            if *mode != MacvlanMode::Bridge {
                options.insert("macvlan_mode".into(), json!(mode.as_str()));
            }
        }
        (options, Map::new())
    }
}

/// Frames for a macvlan of lower device `ns:lower` (other than `except`).
fn siblings_take(
    w: &mut Walk<'_>,
    ns: &str,
    lower: &str,
    except: Option<(&str, &str)>,
    want: &Want,
) -> Result<Found, Fail> {
    let Some(lower_link) = w.ns(ns)?.link(lower) else {
        return Err(Fail::from((
            Disposition::NeighborUnreachable,
            String::new(),
        )));
    };
    let lower_index = lower_link.index;
    for n in &w.snap.namespaces {
        for c in &n.links {
            let is_child = matches!(c.kind.as_deref(), Some("macvlan") | Some("macvtap"))
                && c.peer
                    .as_ref()
                    .is_some_and(|p| p.namespace == ns && p.index == Some(lower_index));
            if !is_child || except == Some((n.name.as_str(), c.name.as_str())) || !is_up(c) {
                continue;
            }
            let takes = match want {
                Want::Mac(m) => c.mac.as_deref() == Some(m.as_str()),
                Want::Ip(ip) => ips(n).any(|x| x == *ip),
            };
            if takes {
                let h = hop(
                    &n.name,
                    Some(&c.name),
                    None,
                    format!("macvlan {} on {ns}:{lower} takes the frame", c.name),
                    w.ttl,
                    "l2",
                );
                return Ok((n.name.clone(), c.name.clone(), vec![h]));
            }
        }
    }
    Err(Fail::from((
        Disposition::NeighborUnreachable,
        format!("no macvlan on {ns}:{lower} takes the frame"),
    )))
}

fn plan(lab: &Lab, ni: usize, p: &mut Plan) {
    let net = &lab.networks[ni];
    let Driver::Macvlan {
        parent,
        mode,
        dummy_parent,
    } = &net.driver
    else {
        return;
    };
    for hi in lab.hosts_of(ni) {
        // Validation gave the network a parent on every host it is on.
        let Some(parent) = parent.on(&lab.hosts[hi].name) else {
            continue;
        };
        // Promiscuous mode goes on the NIC; a VLAN sub-interface passes its frames through it.
        let nic = split_vlan(parent).map_or(parent, |(nic, _)| nic);
        let hns = lab.host_ns(hi);
        if *dummy_parent {
            parent::plan_dummy(p, &hns, parent);
        }
        let local = lab.endpoints_on_host(ni, hi);
        for (ci, ei) in &local {
            let e = &lab.containers[*ci].endpoints[*ei];
            p.add(Object::Macvlan {
                ns: hns.clone(),
                parent: parent.to_string(),
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
        // Two VLANs of one NIC are two networks on one NIC: set it once. A dummy parent is
        // nobody's wire: Docker leaves it as it is.
        if !dummy_parent && !p.objects.contains(&promisc) {
            p.add(promisc);
        }
        for (ci, ei) in &local {
            endpoint_in_container(lab, *ci, &lab.containers[*ci].endpoints[*ei], p);
        }
    }
}
