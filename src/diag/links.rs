//! `find-link` (seed 004's find_links.sh, plus exact peer resolution) and `bridge` (brctl show).

use serde::Serialize;

use super::{table, Unknown};
use crate::observe::{Link, Namespace, Peer, Snapshot};

/// A link as `ip -o link` prints it (one line).
pub fn ip_o_line(ns: &Namespace, l: &Link) -> String {
    let at = match (l.link, l.link_netnsid) {
        (Some(i), Some(_)) if i != 0 => format!("@if{i}"),
        (Some(i), None) if i != 0 && i != l.index => ns
            .links
            .iter()
            .find(|x| x.index == i)
            .map(|x| format!("@{}", x.name))
            .unwrap_or_else(|| format!("@if{i}")),
        (None, Some(_)) | (Some(0), Some(_)) => "@NONE".into(),
        _ => String::new(),
    };
    let mut s = format!("{}: {}{}: <{}>", l.index, l.name, at, l.flags.join(","));
    if let Some(m) = l.mtu {
        s.push_str(&format!(" mtu {m}"));
    }
    if let Some(q) = &l.qdisc {
        s.push_str(&format!(" qdisc {q}"));
    }
    if let Some(m) = &l.master {
        s.push_str(&format!(" master {m}"));
    }
    s.push_str(&format!(
        " state {}",
        if l.operstate.is_empty() {
            "UNKNOWN"
        } else {
            &l.operstate
        }
    ));
    let ltype = if l.flags.iter().any(|f| f == "LOOPBACK") {
        "loopback"
    } else {
        "ether"
    };
    if let Some(mac) = &l.mac {
        let brd = if ltype == "loopback" {
            "00:00:00:00:00:00"
        } else {
            "ff:ff:ff:ff:ff:ff"
        };
        s.push_str(&format!("\\    link/{ltype} {mac} brd {brd}"));
    }
    if let Some(id) = l.link_netnsid {
        s.push_str(&format!(" link-netnsid {id}"));
    }
    s
}

#[derive(Debug, Serialize)]
pub struct FoundLink<'a> {
    pub namespace: &'a str,
    pub link: &'a Link,
    pub line: String,
}

/// Every link with index `ifindex` (all links with `None`), in every namespace of the snapshot.
pub fn find(snap: &Snapshot, ifindex: Option<u32>) -> Vec<FoundLink<'_>> {
    let mut out = Vec::new();
    for ns in &snap.namespaces {
        for l in &ns.links {
            if ifindex.is_none_or(|i| i == l.index) {
                out.push(FoundLink {
                    namespace: &ns.name,
                    link: l,
                    line: ip_o_line(ns, l),
                });
            }
        }
    }
    out
}

#[derive(Debug, Serialize)]
pub struct PeerReport<'a> {
    pub namespace: &'a str,
    pub link: &'a Link,
    /// What the other side is to this link: "veth peer", "lower device", "underlay (UDP socket)".
    pub relation: &'static str,
    pub peer: Option<&'a Peer>,
    pub peer_link: Option<&'a Link>,
}

/// The one namespace and link on the other side of `dev` in `ns`, following IFLA_LINK and
/// IFLA_LINK_NETNSID (resolved by the observer).
pub fn peer_of<'a>(
    snap: &'a Snapshot,
    ns: &'a Namespace,
    dev: &str,
) -> Result<PeerReport<'a>, Unknown> {
    let link = ns.link(dev).ok_or_else(|| {
        let names: Vec<&str> = ns.links.iter().map(|l| l.name.as_str()).collect();
        let hint = crate::spec::close_match(dev, names.iter().copied())
            .map(|h| format!("; {h}"))
            .unwrap_or_default();
        Unknown(format!(
            "no interface {dev} in {} (it has {}){hint}",
            ns.name,
            names.join(", ")
        ))
    })?;
    let relation = match link.kind.as_deref() {
        Some("veth") => "veth peer",
        Some("macvlan") | Some("macvtap") | Some("vlan") | Some("ipvlan") => "lower device",
        Some("vxlan") => "underlay (UDP socket namespace)",
        _ => "link",
    };
    let peer = link.peer.as_ref();
    let peer_link = peer.and_then(|p| {
        snap.namespace(&p.namespace)
            .and_then(|n| p.index.and_then(|i| n.links.iter().find(|l| l.index == i)))
    });
    Ok(PeerReport {
        namespace: &ns.name,
        link,
        relation,
        peer,
        peer_link,
    })
}

pub fn render_peer(r: &PeerReport) -> String {
    match (r.peer, r.peer_link) {
        (Some(p), Some(l)) => format!("{}:{} -> {}:{} ({}, ifindex {})", r.namespace, r.link.name, p.namespace, l.name, r.relation, l.index),
        (Some(p), None) => format!("{}:{} -> namespace {} ({})", r.namespace, r.link.name, p.namespace, r.relation),
        (None, _) if r.link.link_netnsid.is_some() => format!(
            "{}:{} -> a namespace with no name netlab can see (link-netnsid {}); try `netlab find-link --all`",
            r.namespace,
            r.link.name,
            r.link.link_netnsid.unwrap()
        ),
        (None, _) => format!("{}:{} has no peer ({} device)", r.namespace, r.link.name, r.link.kind.as_deref().unwrap_or("plain")),
    }
}

#[derive(Debug, Serialize)]
pub struct BridgeReport<'a> {
    pub namespace: &'a str,
    pub bridges: Vec<BridgeView<'a>>,
}

#[derive(Debug, Serialize)]
pub struct BridgeView<'a> {
    pub name: &'a str,
    pub mac: Option<&'a str>,
    pub ports: Vec<PortView<'a>>,
    pub fdb: Vec<&'a crate::observe::Fdb>,
}

#[derive(Debug, Serialize)]
pub struct PortView<'a> {
    pub name: &'a str,
    pub kind: Option<&'a str>,
    pub state: Option<&'a str>,
    pub isolated: Option<bool>,
    pub peer: Option<&'a Peer>,
}

pub fn bridges(ns: &Namespace) -> BridgeReport<'_> {
    let bridges = ns
        .links
        .iter()
        .filter(|l| l.kind.as_deref() == Some("bridge"))
        .map(|b| BridgeView {
            name: &b.name,
            mac: b.mac.as_deref(),
            ports: ns
                .links
                .iter()
                .filter(|p| p.master.as_deref() == Some(b.name.as_str()))
                .map(|p| PortView {
                    name: &p.name,
                    kind: p.kind.as_deref(),
                    state: p.bridge_port.as_ref().and_then(|bp| bp.state.as_deref()),
                    isolated: p.bridge_port.as_ref().and_then(|bp| bp.isolated),
                    peer: p.peer.as_ref(),
                })
                .collect(),
            fdb: ns
                .fdb
                .iter()
                .filter(|f| f.master.as_deref() == Some(b.name.as_str()) || f.dev == b.name)
                .collect(),
        })
        .collect();
    BridgeReport {
        namespace: &ns.name,
        bridges,
    }
}

/// `brctl show`, plus each port's state, isolation and peer.
pub fn render_bridges(r: &BridgeReport) -> String {
    if r.bridges.is_empty() {
        return format!("no bridge in {}", r.namespace);
    }
    let mut t = table(&["bridge", "mac", "port", "kind", "state", "isolated", "peer"]);
    for b in &r.bridges {
        if b.ports.is_empty() {
            t.add_row(vec![b.name, b.mac.unwrap_or("-"), "-", "", "", "", ""]);
        }
        for (i, p) in b.ports.iter().enumerate() {
            let peer = p
                .peer
                .map(|x| format!("{}:{}", x.namespace, x.name.as_deref().unwrap_or("?")))
                .unwrap_or_else(|| "-".into());
            t.add_row(vec![
                if i == 0 {
                    b.name.to_string()
                } else {
                    String::new()
                },
                if i == 0 {
                    b.mac.unwrap_or("-").to_string()
                } else {
                    String::new()
                },
                p.name.to_string(),
                p.kind.unwrap_or("-").to_string(),
                p.state.unwrap_or("-").to_string(),
                p.isolated
                    .map(|v| if v { "on" } else { "off" })
                    .unwrap_or("-")
                    .to_string(),
                peer,
            ]);
        }
    }
    let mut out = format!("{}\n", t);
    for b in &r.bridges {
        let learned: Vec<String> = b
            .fdb
            .iter()
            .filter(|f| !f.is_self)
            .map(|f| format!("  {} dev {} {}", f.mac, f.dev, f.state))
            .collect();
        if !learned.is_empty() {
            out.push_str(&format!("fdb of {}:\n{}\n", b.name, learned.join("\n")));
        }
    }
    out.trim_end().to_string()
}
