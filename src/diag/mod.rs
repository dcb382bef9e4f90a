//! Diagnostics: `netns`, `find-link`, `inspect`, `vxlan`, `bridge`, as pure functions of an
//! observed [`Snapshot`] (and netlab's lab records, for names and Docker-style metadata). They
//! never read the kernel themselves, so they run on recorded snapshots in unit tests.

pub mod firewall;
pub mod inspect;
pub mod links;

use serde::Serialize;

use crate::observe::{Namespace, Snapshot};
use crate::state::Record;

/// A user's name for a namespace could not be resolved.
#[derive(Debug)]
pub struct Unknown(pub String);

impl std::fmt::Display for Unknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unknown {}

/// Resolve a namespace, container or host name to the namespace it names. Container and host
/// names are looked up in every lab that is up; `lab.node` (the namespace name) is always exact.
pub fn resolve<'s>(
    snap: &'s Snapshot,
    records: &[Record],
    name: &str,
) -> Result<&'s Namespace, Unknown> {
    if let Some(ns) = snap.namespace(name) {
        return Ok(ns);
    }
    if let Some(n) = qualified_node_ns(records, name).and_then(|ns| snap.namespace(&ns)) {
        return Ok(n);
    }
    let hits: Vec<String> = records.iter().filter_map(|r| r.lab.node_ns(name)).collect();
    match hits.as_slice() {
        [one] => snap.namespace(one).ok_or_else(|| {
            Unknown(format!(
                "{name} is in lab records but namespace {one} is gone"
            ))
        }),
        [] => {
            let mut known: Vec<&str> = snap.namespaces.iter().map(|n| n.name.as_str()).collect();
            for r in records {
                known.extend(r.lab.containers.iter().map(|c| c.name.as_str()));
                known.extend(r.lab.hosts.iter().map(|h| h.name.as_str()));
            }
            let hint = node_spelling(records, name)
                .or_else(|| crate::spec::close_match(name, known.into_iter()))
                .map(|h| format!("; {h}"))
                .unwrap_or_else(|| "; `netlab netns` lists namespaces".into());
            Err(Unknown(format!(
                "no namespace, container or host named {name:?}{hint}"
            )))
        }
        many => Err(Unknown(format!(
            "{name} exists in several labs; name one of: {}",
            many.join(", ")
        ))),
    }
}

/// The namespace of `lab.node` when that node has none of its own (a host-mode container
/// lives in its host's), so that the qualified name works for every node.
pub fn qualified_node_ns(records: &[Record], name: &str) -> Option<String> {
    let (lab, node) = name.split_once('.')?;
    let r = records.iter().find(|r| r.lab.name == lab)?;
    r.lab.node_ns(node)
}

/// A node written the way networks are (`lab/node`) when `lab.node` names one: the hint.
pub fn node_spelling(records: &[Record], name: &str) -> Option<String> {
    let (lab, node) = name.split_once('/')?;
    let r = records.iter().find(|r| r.lab.name == lab)?;
    r.lab.node_ns(node)?;
    Some(format!(
        "containers and hosts are named LAB.NODE (networks LAB/NETWORK): did you mean \"{lab}.{node}\"?"
    ))
}

/// A network written the way nodes are (`lab.network`) when `lab/network` names one: the hint.
pub fn network_spelling(records: &[Record], name: &str) -> Option<String> {
    let (lab, net) = name.split_once('.')?;
    let r = records.iter().find(|r| r.lab.name == lab)?;
    r.lab.networks.iter().find(|n| n.name == net)?;
    Some(format!(
        "networks are named LAB/NETWORK (containers and hosts LAB.NODE): did you mean \"{lab}/{net}\"?"
    ))
}

#[derive(Debug, Serialize)]
pub struct NetnsRow<'a> {
    pub name: &'a str,
    pub id: Option<i32>,
    pub source: crate::observe::Source,
    pub role: Option<&'a str>,
    pub lab: Option<&'a str>,
    pub pid: Option<u32>,
    pub command: Option<&'a str>,
    pub links: usize,
    pub addresses: Vec<&'a str>,
    pub error: Option<&'a str>,
}

/// Rows of `netlab netns`: one per namespace. Loopback and IPv6 link-local addresses are left out.
pub fn netns_rows(snap: &Snapshot) -> Vec<NetnsRow<'_>> {
    snap.namespaces
        .iter()
        .map(|n| NetnsRow {
            name: &n.name,
            id: n.id,
            source: n.source,
            role: n.role.as_deref(),
            lab: n.lab.as_deref(),
            pid: n.pid,
            command: n.command.as_deref(),
            links: n.links.len(),
            addresses: n
                .addresses
                .iter()
                .filter(|a| a.dev != "lo" && !a.address.starts_with("fe80:"))
                .map(|a| a.address.as_str())
                .collect(),
            error: n.error.as_deref(),
        })
        .collect()
}

pub fn netns_table(snap: &Snapshot) -> String {
    let mut t = table(&["name", "id", "role", "lab", "links", "addresses"]);
    for r in netns_rows(snap) {
        let role = match (r.role, r.source, r.pid) {
            (Some(role), _, _) => role.to_string(),
            (None, crate::observe::Source::Docker, _) => "docker".into(),
            (None, crate::observe::Source::Process, Some(pid)) => {
                format!("pid {pid} ({})", r.command.unwrap_or("?"))
            }
            _ => "-".into(),
        };
        t.add_row(vec![
            r.name.to_string(),
            r.id.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
            role,
            r.lab.unwrap_or("-").to_string(),
            r.links.to_string(),
            if let Some(e) = r.error {
                format!("unreadable: {e}")
            } else {
                r.addresses.join(" ")
            },
        ]);
    }
    t.to_string()
}

/// A diagnostic table: netlab's preset, fitted to the terminal, styled iff colour is on.
pub(crate) fn table(header: &[&str]) -> comfy_table::Table {
    crate::table::new(header)
}

#[cfg(test)]
mod tests;
