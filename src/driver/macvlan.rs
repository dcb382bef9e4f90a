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

use std::collections::HashMap;
use std::ops::Range;

use serde_json::{json, Map, Value};

use super::{NetworkDriver, Options};
use crate::observe::{Link, Snapshot};
use crate::plan::{endpoint_in_container, hosts_on, Object, Plan};
use crate::spec::change::Refused;
use crate::spec::{
    add_vlan, ifname_problem, span, split_vlan, Container, Driver, Host, Lab, MacvlanMode, Name,
    NetDraft, RawNetwork, Reporter, Validator, Vlan, VlanSpelling, MAX_VLAN,
};
use crate::trace::l2::{hop, Fail, Found, Walk, Want};
use crate::trace::{ips, is_up, Disposition};

pub(crate) struct Macvlan;

/// A macvlan network's accepted parent while validating (one whose parent or mode was refused
/// is not looked at by the placement rules: it was reported).
struct Parent<'d> {
    parent: &'d str,
    span: Range<usize>,
    mode: MacvlanMode,
}

impl<'d> Parent<'d> {
    fn of(d: &'d NetDraft) -> Option<Parent<'d>> {
        match &d.options.settings {
            Driver::Macvlan { parent, mode } if d.options.ok => Some(Parent {
                parent,
                span: d.options.span("parent").cloned().unwrap_or(d.span.clone()),
                mode: *mode,
            }),
            _ => None,
        }
    }
    /// The NIC under the parent (`ens38` for `ens38.10`) and the VLAN id, if any.
    fn nic(&self) -> (&'d str, Option<u16>) {
        match split_vlan(self.parent) {
            Some((nic, id)) => (nic, Some(id as u16)),
            None => (self.parent, None),
        }
    }
}

impl NetworkDriver for Macvlan {
    fn name(&self) -> &'static str {
        "macvlan"
    }
    fn keys(&self) -> &'static [&'static str] {
        &["parent", "mode"]
    }
    fn required_keys(&self) -> &'static [&'static str] {
        &["parent"]
    }
    /// A macvlan network's `parent` and `mode`. The parent is checked for its form here, and
    /// against each host's NICs once containers are placed ([`Macvlan::place`]).
    fn options(&self, r: &mut Reporter, name: &Name, n: &RawNetwork) -> Options {
        let mode = match &n.mode {
            None => Some(MacvlanMode::Bridge),
            Some(m) => {
                let mode = MacvlanMode::parse(m.get_ref());
                if mode.is_none() {
                    r.error_help(
                        span(m),
                        format!("unknown macvlan mode {:?}", m.get_ref()),
                        "use \"bridge\" (the default), \"vepa\", \"private\" or \"passthru\"",
                    );
                }
                mode
            }
        };
        let refused = |parent: Option<&Name>| Options {
            settings: Driver::Macvlan {
                parent: parent.map(|p| p.get_ref().clone()).unwrap_or_default(),
                mode: mode.unwrap_or(MacvlanMode::Bridge),
            },
            spans: vec![("parent", parent.map(span).unwrap_or_else(|| span(name)))],
            ok: false,
        };
        let Some(parent) = &n.parent else {
            r.error_help(
                span(name),
                format!("macvlan network {} needs a parent interface", name.get_ref()),
                "add parent = \"ens33\" (a NIC of the hosts), or parent = \"ens38.10\" for VLAN 10 on ens38",
            );
            return refused(None);
        };
        let p = parent.get_ref();
        if let Some(problem) = ifname_problem(p) {
            r.error(span(parent), format!("parent: {problem}"));
            return refused(Some(parent));
        }
        if let Some((nic, id)) = split_vlan(p) {
            if !(1..=MAX_VLAN).contains(&id) {
                r.error_help(
                    span(parent),
                    format!("VLAN id {id} in parent {p:?} is out of range: 802.1Q VLAN ids are 1 to {MAX_VLAN}"),
                    format!("write the parent as NIC.VLAN with a VLAN id from 1 to {MAX_VLAN}, like \"{nic}.10\""),
                );
                return refused(Some(parent));
            }
        } else if p.contains('.') {
            r.error_help(
                span(parent),
                format!("parent {p:?} is neither a NIC name nor NIC.VLAN"),
                "write a NIC name like \"ens33\", or NIC.VLAN like \"ens38.10\"",
            );
            return refused(Some(parent));
        }
        Options {
            ok: mode.is_some(),
            ..refused(Some(parent))
        }
    }

    /// Per host, the macvlan networks that exist there (those with a container on that host):
    /// each parent must be one of the host's NICs or a VLAN of one, and one parent serves one
    /// macvlan network, as Docker enforces. VLAN parents become the host's sub-interfaces.
    fn place(
        &self,
        v: &mut Validator<'_, '_>,
        drafts: &[NetDraft],
        hosts: &mut [Host],
        containers: &[Container],
    ) {
        for (hi, host) in hosts.iter_mut().enumerate() {
            let mut on_host: Vec<usize> = Vec::new();
            let mut per_net: HashMap<usize, usize> = HashMap::new();
            for c in containers.iter().filter(|c| c.host == hi) {
                for e in &c.endpoints {
                    // A refused parent or mode was reported; its network is not looked at here.
                    if Parent::of(&drafts[e.network]).is_some() {
                        *per_net.entry(e.network).or_default() += 1;
                        if !on_host.contains(&e.network) {
                            on_host.push(e.network);
                        }
                    }
                }
            }
            on_host.sort();
            let mut users: HashMap<(&str, Option<u16>), usize> = HashMap::new();
            for ni in on_host {
                let d = &drafts[ni];
                let m = Parent::of(d).unwrap();
                let (nic, vlan) = m.nic();
                if !host.all_nics().iter().any(|n| n == nic) {
                    let nics = host.all_nics().join(", ");
                    let mut with = host.all_nics();
                    with.push(nic.to_string());
                    v.r.error_help(
                        m.span.clone(),
                        format!(
                            "parent interface {} of network {} does not exist on host {} (its NICs: {nics})",
                            m.parent, d.name, host.name
                        ),
                        format!(
                            "add the NIC to the host: [hosts.{}] nics = {:?}",
                            host.name, with
                        ),
                    );
                    continue;
                }
                // Keyed by NIC and VLAN id, not by name: "ens38.010" is "ens38.10".
                if let Some(&other) = users.get(&(nic, vlan)) {
                    let o = Parent::of(&drafts[other]).unwrap();
                    let (message, spelling) = if o.parent == m.parent {
                        (
                            format!(
                                "network {} is already using parent interface {} on host {}, so network {} cannot",
                                drafts[other].name, m.parent, host.name, d.name
                            ),
                            String::new(),
                        )
                    } else {
                        let (l, c) = v.r.line_col(o.span.start);
                        (
                            format!(
                                "parent \"{}\" of network {} is VLAN {} on {nic}, which network {} already uses on host {} as \"{}\" (line {l}, column {c})",
                                m.parent, d.name, vlan.unwrap_or(0), drafts[other].name, host.name, o.parent
                            ),
                            format!("\"{}\" and \"{}\" are one sub-interface, and ", m.parent, o.parent),
                        )
                    };
                    v.r.error_help(
                        m.span.clone(),
                        message,
                        format!(
                            "{spelling}a parent serves one macvlan network per host (as in Docker): give {} another NIC, or a VLAN sub-interface like \"{nic}.20\"",
                            d.name
                        ),
                    );
                    continue;
                }
                users.insert((nic, vlan), ni);
                if m.mode == MacvlanMode::Passthru && per_net.get(&ni).copied().unwrap_or(0) > 1 {
                    v.r.error_help(
                        m.span.clone(),
                        format!(
                            "network {} is in passthru mode, which gives the parent to one container, but host {} has {} containers on it",
                            d.name, host.name, per_net[&ni]
                        ),
                        "use mode = \"bridge\", or one container per host",
                    );
                }
                if let Some(id) = vlan {
                    let spelt = VlanSpelling {
                        name: m.parent.to_string(),
                        at: m.span.clone(),
                        role: format!("parent of network {}", d.name),
                    };
                    if v.vlan_spelling(hi, &host.name, nic, id, spelt) {
                        add_vlan(host, m.parent, nic, id);
                    }
                }
            }
        }
    }

    /// A macvlan network's parent on the container's host, checked as `up` checks it: the NIC
    /// exists, no other macvlan network in use on that host has the same NIC and VLAN, passthru
    /// gives the parent to one container. A VLAN sub-interface the host lacks is added to it
    /// (Docker's macvlan driver creates it; it stays while the network does).
    fn connect(&self, lab: &mut Lab, ni: usize, ci: usize) -> Result<(), Refused> {
        let Driver::Macvlan { parent, mode } = lab.networks[ni].driver.clone() else {
            return Ok(());
        };
        let (parent, mode) = (parent.as_str(), mode);
        let hi = lab.containers[ci].host;
        let host = &lab.hosts[hi];
        let net = &lab.networks[ni];
        let (nic, vlan) = match split_vlan(parent) {
            Some((nic, id)) => (nic, Some(id)),
            None => (parent, None),
        };
        if !host.all_nics().iter().any(|n| n == nic) {
            return Err(Refused(format!(
                "parent interface {parent} of network {} does not exist on host {} (its NICs: {})",
                net.name,
                host.name,
                host.all_nics().join(", ")
            )));
        }
        let on_host = |n: usize| {
            lab.containers
                .iter()
                .filter(|o| o.host == hi)
                .flat_map(|o| o.endpoints.iter())
                .filter(|e| e.network == n)
                .count()
        };
        for (oi, other) in lab.networks.iter().enumerate() {
            let Driver::Macvlan { parent: p, .. } = &other.driver else {
                continue;
            };
            let same = match split_vlan(p) {
                Some((n, id)) => n == nic && Some(id) == vlan,
                None => p == nic && vlan.is_none(),
            };
            if oi != ni && same && on_host(oi) > 0 {
                return Err(Refused(format!(
                    "network {} is already using parent interface {p} on host {}, so network {} cannot",
                    other.name, host.name, net.name
                )));
            }
        }
        if mode == MacvlanMode::Passthru && on_host(ni) > 0 {
            return Err(Refused(format!(
                "network {} is in passthru mode, which gives the parent to one container, and host {} already has one on it",
                net.name, host.name
            )));
        }
        if let Some(id) = vlan {
            let id =
                u16::try_from(id).map_err(|_| Refused(format!("VLAN {id} is out of range")))?;
            let h = &mut lab.hosts[hi];
            if !h.vlans.iter().any(|v| v.nic == nic && v.id == id) {
                h.vlans.push(Vlan {
                    name: parent.to_string(),
                    nic: nic.to_string(),
                    id,
                });
            }
        }
        Ok(())
    }
    /// A plain NIC's segment is the underlay's: the network may share its subnet. A refused
    /// parent may have been a plain NIC: it gets the benefit of the doubt.
    fn may_share_underlay(&self, d: &NetDraft) -> bool {
        match &d.options.settings {
            Driver::Macvlan { parent, .. } => !d.options.ok || split_vlan(parent).is_none(),
            _ => false,
        }
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
        let mut r = w.transmit(&p.namespace, &lower, want, vlan)?;
        r.2.insert(
            0,
            hop(
                ns,
                None,
                Some(dev),
                format!(
                    "macvlan ({mode}) {dev} sends through its lower device {}:{lower}",
                    p.namespace
                ),
                w.ttl,
                "l2",
            ),
        );
        Ok(r)
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
        _hosts: &[usize],
    ) -> (Map<String, Value>, Option<Vec<Value>>) {
        let mut options = Map::new();
        if let Driver::Macvlan { parent, mode } = &lab.networks[ni].driver {
            options.insert("parent".into(), json!(parent));
            options.insert("macvlan_mode".into(), json!(mode.as_str()));
        }
        (options, None)
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
        return Err((Disposition::NeighborUnreachable, String::new()));
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
    Err((
        Disposition::NeighborUnreachable,
        format!("no macvlan on {ns}:{lower} takes the frame"),
    ))
}

fn plan(lab: &Lab, ni: usize, p: &mut Plan) {
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
