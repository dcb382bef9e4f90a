//! A host interface as the parent of a network's devices (macvlan and ipvlan): a NIC of the
//! host, or an 802.1Q sub-interface `NIC.VLAN` of one that the host plan creates, as Docker's
//! drivers create it. The rules are the drivers' common ones, checked in one place for both:
//! the form of `parent`, the NIC existing on every host the network is on (with a container,
//! or named in its `hosts`), and one network per parent per host, whatever its driver (Docker refuses a second macvlan or
//! ipvlan network on a parent; the kernel refuses a macvlan and an ipvlan on one device).
//!
//! `parent` names one device for every host, or one per host (`parent = { node-1 = "ens33.10",
//! node-2 = "ens32.10" }`), as each Docker daemon is given its own `-o parent=` (seed 003's
//! nodes call their NICs ens33 and ens32). A per-host network exists only on the hosts it names.
//!
//! It must not plan anything: the drivers plan their own children of the parent.

use std::collections::HashMap;
use std::ops::Range;

use serde_spanned::Spanned;

use serde_json::{json, Map, Value};

use super::{HostSpan, NetworkDriver, Options};
use crate::plan::{Object, Plan};
use crate::spec::change::Refused;
use crate::spec::{
    add_vlan, close_match, ifname_problem, span, split_vlan, Container, Driver, Host, Lab, Name,
    NetDraft, Parent, RawParent, Reporter, Validator, Vlan, VlanSpelling, MAX_VLAN,
};

/// The parent of a checked network, if its driver has one: a macvlan's, an ipvlan's (not a
/// dummy parent: a device of its own that nobody else uses).
pub(crate) fn device(d: &Driver) -> Option<&Parent> {
    match d {
        Driver::Macvlan {
            parent,
            dummy_parent,
            ..
        }
        | Driver::Ipvlan {
            parent,
            dummy_parent,
            ..
        } if !dummy_parent => Some(parent),
        _ => None,
    }
}

/// A macvlan's or ipvlan's options: `parent` as written ([`read`]), or none, and then the
/// parent is a dummy device ([`name_dummy`] names it once the network has its id). `make`
/// builds the driver's settings from the parent and whether it is a dummy; `mode_ok`: the
/// driver's `mode` was acceptable.
pub(crate) fn options(
    r: &mut Reporter,
    raw: Option<&Spanned<RawParent>>,
    mode_ok: bool,
    make: impl FnOnce(Parent, bool) -> Driver,
) -> Options {
    let (parent, host_spans, parent_ok) = match raw {
        Some(raw) => read(r, raw),
        None => (Parent::default(), Vec::new(), true),
    };
    Options {
        settings: make(parent, raw.is_none()),
        spans: raw.map(|p| ("parent", p.span())).into_iter().collect(),
        host_spans,
        ok: mode_ok && parent_ok,
    }
}

/// A dummy parent's name on every host, as libnetwork names it: `dm-` (macvlan) or `di-`
/// (ipvlan) and the network id's first 12 hex digits.
pub(crate) fn name_dummy(settings: &mut Driver, id: &str) {
    let (parent, prefix) = match settings {
        Driver::Macvlan {
            parent,
            dummy_parent: true,
            ..
        } => (parent, "dm"),
        Driver::Ipvlan {
            parent,
            dummy_parent: true,
            ..
        } => (parent, "di"),
        _ => return,
    };
    *parent = Parent::All(format!("{prefix}-{}", &id[..12]));
}

/// A dummy parent `name` in host namespace `hns`, up.
pub(crate) fn plan_dummy(p: &mut Plan, hns: &str, name: &str) {
    p.add(Object::Dummy {
        ns: hns.to_string(),
        name: name.to_string(),
    });
    p.add(Object::Up {
        ns: hns.to_string(),
        dev: name.to_string(),
    });
}

/// `docker network inspect`'s `-o parent=` of network `ni`, as the daemon of the first of
/// `hosts` was given it; none for a dummy parent, which Docker was not given.
pub(crate) fn docker_option(
    lab: &Lab,
    ni: usize,
    hosts: &[usize],
    options: &mut Map<String, Value>,
) {
    if let Some(parent) = device(&lab.networks[ni].driver) {
        let on = hosts.first().and_then(|&hi| parent.on(&lab.hosts[hi].name));
        options.insert("parent".into(), json!(on.unwrap_or_default()));
    }
}

/// The NIC under a parent (`ens38` for `ens38.10`) and the VLAN id, if any.
pub(crate) fn nic_of(parent: &str) -> (&str, Option<u16>) {
    match split_vlan(parent) {
        Some((nic, id)) => (nic, u16::try_from(id).ok()),
        None => (parent, None),
    }
}

/// `parent` as written, checked for its form ([`check_form`] of each name; a per-host table
/// names at least one host, which [`place`] checks against the lab's hosts): the parent, where
/// each host's device is written, and whether it is acceptable.
pub(crate) fn read(r: &mut Reporter, raw: &Spanned<RawParent>) -> (Parent, Vec<HostSpan>, bool) {
    match raw.get_ref() {
        RawParent::One(p) => {
            let name = Spanned::new(raw.span(), p.clone());
            let ok = check_form(r, &name);
            (Parent::All(p.clone()), Vec::new(), ok)
        }
        RawParent::PerHost(m) => {
            let mut ok = !m.is_empty();
            if m.is_empty() {
                r.error_help(
                    raw.span(),
                    "parent names no host",
                    "name the parent once for every host, parent = \"ens33\", or per host: parent = { node-1 = \"ens33\", node-2 = \"ens32\" }",
                );
            }
            let mut per_host = indexmap::IndexMap::new();
            let mut spans = Vec::new();
            for (host, dev) in m {
                ok &= check_form(r, dev);
                per_host.insert(host.get_ref().clone(), dev.get_ref().clone());
                spans.push((host.get_ref().clone(), span(host), span(dev)));
            }
            (Parent::PerHost(per_host), spans, ok)
        }
    }
}

/// A macvlan's or ipvlan's `mode`, as written: `default` when absent, else what `parse` makes
/// of it, or None after reporting it with the modes `help` names.
pub(crate) fn read_mode<M>(
    r: &mut Reporter,
    driver: &str,
    mode: Option<&Name>,
    default: M,
    parse: fn(&str) -> Option<M>,
    help: &str,
) -> Option<M> {
    let Some(m) = mode else {
        return Some(default);
    };
    let parsed = parse(m.get_ref());
    if parsed.is_none() {
        r.error_help(
            span(m),
            format!("unknown {driver} mode {:?}", m.get_ref()),
            help,
        );
    }
    parsed
}

/// Checks the form of `parent`: an interface name, either a NIC's or `NIC.VLAN` with a VLAN
/// id from 1 to 4094. Reports what is wrong; true if it is acceptable.
pub(crate) fn check_form(r: &mut Reporter, parent: &Name) -> bool {
    let p = parent.get_ref();
    if let Some(problem) = ifname_problem(p) {
        r.error(span(parent), format!("parent: {problem}"));
        return false;
    }
    if let Some((nic, id)) = split_vlan(p) {
        if !(1..=MAX_VLAN).contains(&id) {
            r.error_help(
                span(parent),
                format!("VLAN id {id} in parent {p:?} is out of range: 802.1Q VLAN ids are 1 to {MAX_VLAN}"),
                format!("write the parent as NIC.VLAN with a VLAN id from 1 to {MAX_VLAN}, like \"{nic}.10\""),
            );
            return false;
        }
    } else if p.contains('.') {
        r.error_help(
            span(parent),
            format!("parent {p:?} is neither a NIC name nor NIC.VLAN"),
            "write a NIC name like \"ens33\", or NIC.VLAN like \"ens38.10\"",
        );
        return false;
    }
    true
}

/// A network's accepted parent while validating (one whose options were refused is not looked
/// at by the placement rules: it was reported).
struct Accepted<'d> {
    parent: &'d Parent,
    span: Range<usize>,
    host_spans: &'d [HostSpan],
}

impl<'d> Accepted<'d> {
    fn of(d: &'d NetDraft) -> Option<Accepted<'d>> {
        if !d.options.ok {
            return None;
        }
        device(&d.options.settings).map(|parent| Accepted {
            parent,
            span: d.options.span("parent").cloned().unwrap_or(d.span.clone()),
            host_spans: &d.options.host_spans,
        })
    }

    /// The device on host `host` and where it is written.
    fn on(&self, host: &str) -> Option<Placed<'d>> {
        let parent = self.parent.on(host)?;
        let span = self
            .host_spans
            .iter()
            .find(|(h, _, _)| h == host)
            .map_or(self.span.clone(), |(_, _, s)| s.clone());
        Some(Placed { parent, span })
    }
}

/// A per-host parent names only hosts of the lab.
fn check_hosts(
    mine: &dyn NetworkDriver,
    v: &mut Validator<'_, '_>,
    drafts: &[NetDraft],
    hosts: &[Host],
) {
    for d in drafts.iter().filter(|d| d.driver.name() == mine.name()) {
        if Accepted::of(d).is_none() {
            continue;
        }
        for (host, at, _) in &d.options.host_spans {
            if hosts.iter().any(|h| &h.name == host) {
                continue;
            }
            // Suggest the hosts the table does not name yet: node-3 among node-1 (named) and
            // node-2 (not) was meant to be node-2.
            let named = |n: &str| d.options.host_spans.iter().any(|(h, _, _)| h == n);
            let names = hosts.iter().map(|h| h.name.as_str()).filter(|n| !named(n));
            let help = match close_match(host, names) {
                Some(near) => format!("{near} The lab's hosts: {}", host_list(hosts)),
                None => format!("the lab's hosts: {}", host_list(hosts)),
            };
            v.r.error_help(
                at.clone(),
                format!(
                    "parent of network {} names host {host}, which the lab does not have",
                    d.name
                ),
                help,
            );
        }
    }
}

fn host_list(hosts: &[Host]) -> String {
    hosts
        .iter()
        .map(|h| h.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What "one parent, one network" says of two networks' drivers: "macvlan" when both are.
fn kinds(a: &str, b: &str) -> String {
    if a == b {
        a.to_string()
    } else {
        "macvlan or ipvlan".to_string()
    }
}

/// A network's device on one host, and where it is written.
struct Placed<'d> {
    parent: &'d str,
    span: Range<usize>,
}

/// The parent rules at `up`, once containers are placed, for the networks of driver `mine`
/// (the others' are checked by their own driver, so each problem is reported once): per host,
/// over every network with a parent and a container there or the host in its `hosts`, the parent's NIC exists, no earlier
/// network (of any driver) has the same NIC and VLAN, and a VLAN parent becomes the host's
/// sub-interface. Gives, per host, the networks of `mine` accepted there with how many of the
/// host's containers are on each.
pub(crate) fn place(
    mine: &dyn NetworkDriver,
    v: &mut Validator<'_, '_>,
    drafts: &[NetDraft],
    hosts: &mut [Host],
    containers: &[Container],
) -> Vec<(usize, usize, usize)> {
    check_hosts(mine, v, drafts, hosts);
    let mut accepted = Vec::new();
    for (hi, host) in hosts.iter_mut().enumerate() {
        let mut on_host: Vec<usize> = Vec::new();
        let mut per_net: HashMap<usize, usize> = HashMap::new();
        for c in containers.iter().filter(|c| c.host == hi) {
            for e in &c.endpoints {
                if Accepted::of(&drafts[e.network]).is_some() {
                    *per_net.entry(e.network).or_default() += 1;
                    if !on_host.contains(&e.network) {
                        on_host.push(e.network);
                    }
                }
            }
        }
        // A network the lab file creates on this host is there without containers too, as
        // `docker network create` claims the parent on that host's daemon.
        for (ni, d) in drafts.iter().enumerate() {
            let named = d.hosts.iter().any(|h| *h.get_ref() == host.name);
            if named && Accepted::of(d).is_some() && !on_host.contains(&ni) {
                on_host.push(ni);
            }
        }
        on_host.sort();
        let mut users: HashMap<(&str, Option<u16>), usize> = HashMap::new();
        for ni in on_host {
            let d = &drafts[ni];
            let is_mine = d.driver.name() == mine.name();
            let accepted_parent = Accepted::of(d).unwrap();
            let Some(m) = accepted_parent.on(&host.name) else {
                if is_mine {
                    let count = per_net.get(&ni).copied().unwrap_or(0);
                    let why = if count == 0 {
                        "which its hosts list names".to_string()
                    } else {
                        format!(
                            "which has {} on it",
                            crate::table::count(count, "container", "containers")
                        )
                    };
                    v.r.error_help(
                        accepted_parent.span.clone(),
                        format!("network {} has no parent on host {}, {why}", d.name, host.name),
                        format!(
                            "add {} = \"NIC\" to the network's parent table, naming a NIC of {} ({})",
                            host.name,
                            host.name,
                            host.all_nics().join(", ")
                        ),
                    );
                }
                continue;
            };
            let (nic, vlan) = nic_of(m.parent);
            if !host.all_nics().iter().any(|n| n == nic) {
                if is_mine {
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
                }
                continue;
            }
            // Keyed by NIC and VLAN id, not by name: "ens38.010" is "ens38.10".
            if let Some(&other) = users.get(&(nic, vlan)) {
                if is_mine {
                    let o = Accepted::of(&drafts[other])
                        .and_then(|o| o.on(&host.name))
                        .unwrap();
                    let (message, spelling) = if o.parent == m.parent {
                        (
                            already_using(
                                d.driver.name(),
                                &drafts[other].name,
                                &drafts[other].settled_id,
                                m.parent,
                                &host.name,
                                &d.name,
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
                            "{spelling}a parent serves one {} network per host (as in Docker): give {} another NIC, or a VLAN sub-interface like \"{nic}.20\"",
                            kinds(d.driver.name(), drafts[other].driver.name()),
                            d.name
                        ),
                    );
                }
                continue;
            }
            users.insert((nic, vlan), ni);
            if !is_mine {
                continue;
            }
            accepted.push((hi, ni, per_net.get(&ni).copied().unwrap_or(0)));
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
    accepted
}

/// The same rules at run time, for container `ci` joining network `ni` (which has a parent):
/// the NIC exists on the container's host, no other network on that host (with a container, or
/// named in its `hosts`) has the same NIC and VLAN. A VLAN sub-interface the host lacks is
/// added to it (Docker's drivers create it; it stays while the network does).
pub(crate) fn connect(lab: &mut Lab, ni: usize, ci: usize) -> Result<(), Refused> {
    let Some(parents) = device(&lab.networks[ni].driver) else {
        return Ok(());
    };
    let hi = lab.containers[ci].host;
    let host = &lab.hosts[hi];
    let net = &lab.networks[ni];
    let Some(parent) = parents.on(&host.name).map(String::from) else {
        return Err(Refused(format!(
            "network {} has no parent on host {} (its parent: {parents}); add {} = \"NIC\" to its parent table in the lab file",
            net.name, host.name, host.name
        )));
    };
    let parent = parent.as_str();
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
    for (oi, other) in lab.networks.iter().enumerate() {
        let Some(p) = device(&other.driver).and_then(|p| p.on(&host.name)) else {
            continue;
        };
        let same = match split_vlan(p) {
            Some((n, id)) => n == nic && Some(id) == vlan,
            None => p == nic && vlan.is_none(),
        };
        if oi != ni && same && lab.is_on(oi, hi) {
            return Err(Refused(already_using(
                net.driver().name(),
                &other.name,
                &other.id,
                p,
                &host.name,
                &net.name,
            )));
        }
    }
    if let Some(id) = vlan {
        let id = u16::try_from(id).map_err(|_| Refused(format!("VLAN {id} is out of range")))?;
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

/// Network `other` (id `id`) has parent `parent` on host `host`, which network `mine` wants:
/// libnetwork's refusal, which names the other network `dm-` and its short id whatever its
/// parent (seed 003: `network dm-b34ee1020a96 is already using parent interface ens33`), and
/// which network that is.
/// The ipvlan driver says `di-`, as it names its dummies.
fn already_using(
    driver: &str,
    other: &str,
    id: &str,
    parent: &str,
    host: &str,
    mine: &str,
) -> String {
    let prefix = if driver == "ipvlan" { "di" } else { "dm" };
    format!(
        "network {prefix}-{} is already using parent interface {parent} (that is network {other}, on host {host}), so network {mine} cannot",
        &id[..id.len().min(12)]
    )
}

/// How many endpoints network `ni` has on host `hi`.
pub(crate) fn containers_on(lab: &Lab, ni: usize, hi: usize) -> usize {
    lab.containers
        .iter()
        .filter(|o| o.host == hi)
        .flat_map(|o| o.endpoints.iter())
        .filter(|e| e.network == ni)
        .count()
}

/// A plain NIC's segment is the underlay's: a network on it may share its subnet. A refused
/// parent may have been a plain NIC: it gets the benefit of the doubt.
pub(crate) fn on_plain_nic(d: &NetDraft) -> bool {
    !d.options.ok
        || device(&d.options.settings)
            .is_some_and(|p| p.devices().iter().all(|p| split_vlan(p).is_none()))
}
