//! Name resolution, as Docker's embedded DNS answers it, written as files.
//!
//! Docker resolves a container's name (and its network aliases) for the containers that share a
//! user-defined network with it, to its address on that network. Which containers a daemon
//! knows is the network's scope: a global-scope overlay's endpoints are shared by every host,
//! a local-scope network's (bridge, macvlan, ipvlan) stay on their host's daemon. That is
//! seed 000's result: bbox2 pings `bbox1` across hosts on ov_net1, while on the macvlan network
//! bbox21 (nas5) gets `ping: bad address 'bbox11'` (nas4). docker_gwbridge endpoints register no
//! name (libnetwork joins it with resolution disabled).
//!
//! netlab writes what the resolver would answer as a hosts file per container, by iproute2's
//! convention (`/etc/netns/<ns>/hosts`, which `ip netns exec` and `netlab exec` bind over
//! /etc/hosts), instead of running a DNS server: a lab is files and kernel state, with no
//! process that must stay alive for it to work, and `getent hosts`, `ping NAME` and every
//! program that reads /etc/hosts see the names. Programs that speak DNS themselves (`nslookup`,
//! `dig`) find no server. The resolv.conf beside it names none, so a name the lab does not know
//! fails at once inside the namespace instead of being asked of the machine's resolver.
//!
//! Everything here is pure: the engine writes the files (see `engine::names`).

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::net::Ipv4Addr;

use crate::spec::{Lab, NetworkMode};

/// The files of one container namespace, as `/etc/netns/<ns>/` holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameFiles {
    pub ns: String,
    pub hosts: String,
    pub resolv: String,
}

/// The file names under `/etc/netns/<ns>/`, in the order they are written.
pub const FILES: [&str; 2] = ["hosts", "resolv.conf"];

impl NameFiles {
    /// The content of file `name` (one of [`FILES`]).
    pub fn content(&self, name: &str) -> &str {
        match name {
            "hosts" => &self.hosts,
            _ => &self.resolv,
        }
    }
}

impl NameFiles {
    /// The shell commands that write these files by iproute2's convention (what `up --dry-run`
    /// prints): `mkdir -p /etc/netns/NS`, then one `printf` per file.
    pub fn script(&self) -> Vec<String> {
        let dir = format!("{}/{}", crate::kernel::netns::ETC_NETNS, self.ns);
        let mut out = vec![format!("mkdir -p {dir}")];
        for f in FILES {
            let lines: Vec<String> = self
                .content(f)
                .lines()
                .map(|l| format!("'{}'", l.replace('\'', "'\\''")))
                .collect();
            out.push(format!("printf '%s\\n' {} > {dir}/{f}", lines.join(" ")));
        }
        out
    }
}

/// What Docker writes first in every container's /etc/hosts.
const LOCALHOST: &str = "127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
";

/// Every container with a namespace of its own, with its files. Host-mode containers share
/// their host's namespace and its /etc, as in Docker; hosts stand for machines, whose /etc is
/// the machine's.
pub fn files(lab: &Lab) -> Vec<NameFiles> {
    let rosters = Rosters::of(lab);
    named_containers(lab)
        .map(|ci| file_of(lab, &rosters, ci))
        .collect()
}

/// The files of the containers whose names changed from `old` to `new` (both models of one
/// lab): those that are new or whose own endpoints, aliases or host changed, and those on a
/// network whose roster (as they see it) changed. A connect in a lab of a thousand containers
/// rewrites the few files it changes, not a thousand.
pub fn changed_files(old: &Lab, new: &Lab) -> Vec<NameFiles> {
    let (ro, rn) = (Rosters::of(old), Rosters::of(new));
    let changed_rosters: HashSet<&RosterKey> =
        rn.0.iter()
            .filter(|(k, v)| ro.0.get(*k) != Some(*v))
            .map(|(k, _)| k)
            .chain(ro.0.keys().filter(|k| !rn.0.contains_key(*k)))
            .collect();
    named_containers(new)
        .filter(|&ci| {
            let c = &new.containers[ci];
            let before = old.containers.iter().position(|o| o.name == c.name);
            let own_changed = before.is_none_or(|oi| own(old, oi) != own(new, ci));
            own_changed
                || c.endpoints
                    .iter()
                    .any(|e| changed_rosters.contains(&roster_key(new, c, e.network)))
        })
        .map(|ci| file_of(new, &rn, ci))
        .collect()
}

/// The namespaces of the containers that have name files.
pub fn namespaces(lab: &Lab) -> Vec<String> {
    named_containers(lab)
        .map(|ci| lab.container_ns(ci))
        .collect()
}

fn named_containers(lab: &Lab) -> impl Iterator<Item = usize> + '_ {
    // Swarm's sandboxes (ingress_sbox, lb_) are no containers: no name, no files.
    (0..lab.containers.len()).filter(|&ci| {
        lab.containers[ci].mode != NetworkMode::Host && !lab.containers[ci].is_sandbox()
    })
}

fn file_of(lab: &Lab, rosters: &Rosters, ci: usize) -> NameFiles {
    NameFiles {
        ns: lab.container_ns(ci),
        hosts: hosts_with(lab, rosters, ci),
        resolv: format!(
            "# netlab lab {}: names come from /etc/hosts (what the embedded DNS of Docker\n# would answer); there is no DNS server in a lab, so other names fail at once.\noptions ndots:0 attempts:1 timeout:1\n",
            lab.name
        ),
    }
}

/// What of container `ci` its own file shows: its host, and per named network its address and
/// aliases there.
fn own(lab: &Lab, ci: usize) -> (String, Vec<(String, Ipv4Addr, Vec<String>)>) {
    let c = &lab.containers[ci];
    let eps = named_endpoints(lab, c)
        .map(|e| {
            (
                lab.networks[e.network].name.clone(),
                e.address.ip(),
                e.aliases.clone(),
            )
        })
        .collect();
    (lab.hosts[c.host].name.clone(), eps)
}

/// Container `c`'s endpoints on networks that give names: all but docker_gwbridge's, which
/// Docker registers none on (CreateOptionDisableResolution), and swarm's ingress, which has
/// no service discovery (libnetwork's ingress sandbox resolves nothing).
fn named_endpoints<'a>(
    lab: &'a Lab,
    c: &'a crate::spec::Container,
) -> impl Iterator<Item = &'a crate::spec::Endpoint> {
    c.endpoints.iter().filter(|e| {
        let n = &lab.networks[e.network];
        !n.implicit && !n.ingress
    })
}

/// A network's names as one daemon knows them: the network, and the host for a local-scope
/// network (its names stay with that host's daemon).
type RosterKey = (String, Option<String>);

/// Per network (and host, for local scope): who answers to which names at which address, in
/// the lab's container order.
struct Rosters(HashMap<RosterKey, Vec<(String, Ipv4Addr, Vec<String>)>>);

fn roster_key(lab: &Lab, c: &crate::spec::Container, ni: usize) -> RosterKey {
    let net = &lab.networks[ni];
    let global = net.driver().docker_scope() == "global";
    (
        net.name.clone(),
        (!global).then(|| lab.hosts[c.host].name.clone()),
    )
}

impl Rosters {
    fn of(lab: &Lab) -> Rosters {
        let mut m: HashMap<RosterKey, Vec<(String, Ipv4Addr, Vec<String>)>> = HashMap::new();
        for c in lab.containers.iter().filter(|c| !c.is_sandbox()) {
            for e in named_endpoints(lab, c) {
                m.entry(roster_key(lab, c, e.network)).or_default().push((
                    c.name.clone(),
                    e.address.ip(),
                    e.aliases.clone(),
                ));
            }
        }
        // A service's name answers with its virtual IP on each of its networks (swarm's
        // embedded DNS), after the containers' names.
        for s in &lab.services {
            for &(ni, vip) in s.vips.iter().filter(|(ni, _)| !lab.networks[*ni].ingress) {
                m.entry((lab.networks[ni].name.clone(), None))
                    .or_default()
                    .push((s.name.clone(), vip, Vec::new()));
            }
        }
        Rosters(m)
    }
}

/// The names container `ci` resolves, each with the address it resolves to, in the order a
/// resolver tries them: its own first (Docker's hosts line: its name on its first address),
/// then, network by network in the order it joined them, every name its peers there answer to.
/// A name already answered by an earlier network keeps that answer.
pub fn resolvable(lab: &Lab, ci: usize) -> Vec<(Ipv4Addr, Vec<String>)> {
    resolvable_with(lab, &Rosters::of(lab), ci)
        .into_iter()
        .map(|(ip, names)| (ip, names.into_iter().map(str::to_string).collect()))
        .collect()
}

/// A name compared as resolvers do, ignoring ASCII case (without a lowercased copy).
#[derive(Clone, Copy)]
struct Caseless<'a>(&'a str);

impl PartialEq for Caseless<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(other.0)
    }
}
impl Eq for Caseless<'_> {}
impl std::hash::Hash for Caseless<'_> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        // In one write per 64 bytes: a hasher call per byte costs more than the rest of
        // writing a hosts file.
        let mut buf = [0u8; 64];
        for chunk in self.0.as_bytes().chunks(64) {
            for (d, b) in buf.iter_mut().zip(chunk) {
                *d = b.to_ascii_lowercase();
            }
            h.write(&buf[..chunk.len()]);
        }
        h.write_u8(0xff);
    }
}

fn resolvable_with<'a>(
    lab: &'a Lab,
    rosters: &'a Rosters,
    ci: usize,
) -> Vec<(Ipv4Addr, Vec<&'a str>)> {
    let me = &lab.containers[ci];
    let mut out: Vec<(Ipv4Addr, Vec<&'a str>)> = Vec::new();
    let size: usize = me
        .endpoints
        .iter()
        .filter_map(|e| rosters.0.get(&roster_key(lab, me, e.network)))
        .map(|r| r.len())
        .sum();
    let mut at: HashMap<Ipv4Addr, usize> = HashMap::with_capacity(size + 1);
    let mut known: HashSet<Caseless<'a>> = HashSet::with_capacity(size + 1);
    let mut add = |ip: Ipv4Addr, names: &mut dyn Iterator<Item = &'a String>| {
        for n in names {
            if !known.insert(Caseless(n)) {
                continue;
            }
            match at.get(&ip) {
                Some(&i) => out[i].1.push(n),
                None => {
                    at.insert(ip, out.len());
                    out.push((ip, vec![n]));
                }
            }
        }
    };
    let named: Vec<_> = named_endpoints(lab, me).collect();
    if let Some(first) = named.first() {
        add(first.address.ip(), &mut std::iter::once(&me.name));
    }
    for e in &named {
        add(e.address.ip(), &mut e.aliases.iter());
        let Some(roster) = rosters.0.get(&roster_key(lab, me, e.network)) else {
            continue;
        };
        for (name, ip, aliases) in roster {
            if *name != me.name {
                add(*ip, &mut std::iter::once(name).chain(aliases));
            }
        }
    }
    out
}

/// Container `ci`'s /etc/hosts.
pub fn hosts(lab: &Lab, ci: usize) -> String {
    hosts_with(lab, &Rosters::of(lab), ci)
}

fn hosts_with(lab: &Lab, rosters: &Rosters, ci: usize) -> String {
    let mut s = String::from(LOCALHOST);
    let _ = writeln!(
        s,
        "# netlab lab {}: the names {} resolves on its networks (the embedded DNS of Docker)",
        lab.name, lab.containers[ci].name
    );
    for (ip, names) in resolvable_with(lab, rosters, ci) {
        push_ip(&mut s, ip);
        s.push('\t');
        for (i, n) in names.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(n);
        }
        s.push('\n');
    }
    s
}

/// `ip` in dotted decimal (a thousand lines a file, a thousand files a lab: `Display` is
/// the larger part of writing them).
fn push_ip(s: &mut String, ip: Ipv4Addr) {
    for (i, o) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        if o >= 100 {
            s.push(char::from(b'0' + o / 100));
        }
        if o >= 10 {
            s.push(char::from(b'0' + o / 10 % 10));
        }
        s.push(char::from(b'0' + o % 10));
    }
}

/// What container `ci` resolves `name` to, if anything (as its hosts file answers).
pub fn resolve(lab: &Lab, ci: usize, name: &str) -> Option<Ipv4Addr> {
    resolvable(lab, ci)
        .into_iter()
        .find(|(_, names)| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
        .map(|(ip, _)| ip)
}

/// A host name as RFC 1123 has it: dot-separated labels of letters, digits and '-', none
/// empty, none starting or ending with '-', at most 63 characters each and 253 in all.
pub fn check_host_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name.len() > 253 {
        return Err("it is longer than 253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("it has an empty label");
        }
        if label.len() > 63 {
            return Err("a label is longer than 63 characters");
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err("it has a character other than a letter, a digit, '-' or '.'");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label starts or ends with '-'");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn push_ip_writes_what_display_writes() {
        for ip in [
            "0.0.0.0",
            "10.0.0.2",
            "172.16.100.255",
            "255.255.255.255",
            "1.20.100.9",
            "9.99.109.110",
        ] {
            let mut s = String::new();
            super::push_ip(&mut s, ip.parse().unwrap());
            assert_eq!(s, ip);
        }
    }
}
