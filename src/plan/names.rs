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
    (0..lab.containers.len())
        .filter(|&ci| lab.containers[ci].mode != NetworkMode::Host)
        .map(|ci| NameFiles {
            ns: lab.container_ns(ci),
            hosts: hosts(lab, ci),
            resolv: format!(
                "# netlab lab {}: names come from /etc/hosts (what the embedded DNS of Docker\n# would answer); there is no DNS server in a lab, so other names fail at once.\noptions ndots:0 attempts:1 timeout:1\n",
                lab.name
            ),
        })
        .collect()
}

/// The names container `ci` resolves, each with the address it resolves to, in the order a
/// resolver tries them: its own first (Docker's hosts line: its name on its first address),
/// then, network by network in the order it joined them, every name its peers there answer to.
/// A name already answered by an earlier network keeps that answer.
pub fn resolvable(lab: &Lab, ci: usize) -> Vec<(Ipv4Addr, Vec<String>)> {
    let me = &lab.containers[ci];
    let mut out: Vec<(Ipv4Addr, Vec<String>)> = Vec::new();
    let mut known: Vec<String> = Vec::new();
    let mut add = |out: &mut Vec<(Ipv4Addr, Vec<String>)>, ip: Ipv4Addr, names: Vec<&String>| {
        let fresh: Vec<String> = names
            .into_iter()
            .filter(|n| !known.iter().any(|k| k.eq_ignore_ascii_case(n)))
            .cloned()
            .collect();
        if fresh.is_empty() {
            return;
        }
        known.extend(fresh.iter().cloned());
        match out.iter_mut().find(|(a, _)| *a == ip) {
            Some((_, names)) => names.extend(fresh),
            None => out.push((ip, fresh)),
        }
    };
    let named: Vec<_> = me
        .endpoints
        .iter()
        .filter(|e| !lab.networks[e.network].implicit)
        .collect();
    if let Some(first) = named.first() {
        add(&mut out, first.address.ip(), vec![&me.name]);
    }
    for e in &named {
        let net = &lab.networks[e.network];
        let global = net.driver().docker_scope() == "global";
        add(&mut out, e.address.ip(), e.aliases.iter().collect());
        for (pi, peer) in lab.containers.iter().enumerate() {
            if pi == ci || !(global || peer.host == me.host) {
                continue;
            }
            for pe in peer.endpoints.iter().filter(|pe| pe.network == e.network) {
                let names = std::iter::once(&peer.name).chain(&pe.aliases).collect();
                add(&mut out, pe.address.ip(), names);
            }
        }
    }
    out
}

/// Container `ci`'s /etc/hosts.
pub fn hosts(lab: &Lab, ci: usize) -> String {
    let mut s = String::from(LOCALHOST);
    let _ = writeln!(
        s,
        "# netlab lab {}: the names {} resolves on its networks (the embedded DNS of Docker)",
        lab.name, lab.containers[ci].name
    );
    for (ip, names) in resolvable(lab, ci) {
        let _ = writeln!(s, "{ip}\t{}", names.join(" "));
    }
    s
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
