//! `inspect` (a network as `docker network inspect` shows it; a container or host as its
//! interfaces, addresses, routes and peers) and `vxlan` (every VXLAN attribute, FDB and
//! neighbour entry, on every host where a network exists). Live values (MACs, addresses, VNI)
//! come from the snapshot; names, ids and subnets from the lab record.

use comfy_table::{Cell, Color};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::{table, Unknown};
use crate::observe::{Fdb, Link, Namespace, Neighbour, Route, Snapshot};
use crate::spec::{network_id, Lab};
use crate::state::Record;

/// Find a network by name in the labs that are up (`lab/network` when it is in several).
pub fn find_network<'r>(
    records: &'r [Record],
    name: &str,
) -> Result<Option<(&'r Record, usize)>, Unknown> {
    let (lab_filter, net) = match name.split_once('/') {
        Some((l, n)) => (Some(l), n),
        None => (None, name),
    };
    let hits: Vec<(&Record, usize)> = records
        .iter()
        .filter(|r| lab_filter.is_none_or(|l| l == r.lab.name))
        .filter_map(|r| {
            r.lab
                .networks
                .iter()
                .position(|n| n.name == net)
                .map(|i| (r, i))
        })
        .collect();
    match hits.len() {
        0 => Ok(None),
        1 => Ok(Some(hits[0])),
        _ => Err(Unknown(format!(
            "network {net} exists in several labs; name one of: {}",
            hits.iter()
                .map(|(r, _)| format!("{}/{net}", r.lab.name))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// RFC 3339 (UTC, whole seconds) for a Unix time, as Docker prints "Created".
pub fn rfc3339(secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `docker network inspect NAME`, from the record joined with live kernel state, as the
/// daemon of each host shows it: a local-scope network (bridge, macvlan, ipvlan,
/// docker_gwbridge) is each host's own, so it is one object per host where it exists, with
/// that host's containers; a global one (overlay) is one object. `host`: only that host's view
/// (an empty array where the network is not there). `netlab`: add netlab's own facts (lab,
/// host, VNI, peers) under a separate "Netlab" key; Docker's fields hold only what Docker
/// shows.
pub fn network(
    snap: &Snapshot,
    record: &Record,
    ni: usize,
    host: Option<usize>,
    netlab: bool,
) -> Value {
    Value::Array(
        network_views(snap, record, ni, host, netlab)
            .into_iter()
            .map(|(_, v)| v)
            .collect(),
    )
}

/// [`network`]'s objects, each with the host whose view it is (None: a global network's).
pub fn network_views(
    snap: &Snapshot,
    record: &Record,
    ni: usize,
    host: Option<usize>,
    netlab: bool,
) -> Vec<(Option<usize>, Value)> {
    let lab: &Lab = &record.lab;
    let net = &lab.networks[ni];
    let hosts = lab.hosts_of(ni);
    let on = |hi: usize| hosts.contains(&hi);
    let global = net.driver().docker_scope() == "global";
    let views: Vec<Option<usize>> = match host {
        // A global network is every host's (seed 003: node-3 sees ov_net1 from the k-v
        // store), with that host's containers.
        Some(h) if on(h) || global => vec![Some(h)],
        Some(_) => vec![],
        None if global || hosts.is_empty() => vec![None],
        None => hosts.iter().map(|h| Some(*h)).collect(),
    };
    views
        .into_iter()
        .map(|view| {
            let local = view.filter(|_| !global);
            (local, network_view(snap, record, ni, view, &hosts, netlab))
        })
        .collect()
}

/// One daemon's `docker network inspect` object: `view` the host (None: every host's
/// containers, for a global network seen as one).
fn network_view(
    snap: &Snapshot,
    record: &Record,
    ni: usize,
    view: Option<usize>,
    hosts: &[usize],
    netlab: bool,
) -> Value {
    let lab: &Lab = &record.lab;
    let net = &lab.networks[ni];
    let mut containers = Map::new();
    for (ci, c) in lab.containers.iter().enumerate() {
        if view.is_some_and(|h| h != c.host) {
            continue;
        }
        let Some(e) = c.endpoints.iter().find(|e| e.network == ni) else {
            continue;
        };
        let live = snap.namespace(&lab.container_ns(ci));
        let mac = live
            .and_then(|n| n.link(&e.ifname))
            .and_then(|l| l.mac.clone())
            .unwrap_or_default();
        let ipv4 = live
            .and_then(|n| {
                n.addresses
                    .iter()
                    .find(|a| a.dev == e.ifname && !a.address.contains(':'))
            })
            .map(|a| a.address.clone())
            .unwrap_or_default();
        // The planned IPv6 address, where the kernel has it (not the link-local one).
        let ipv6 = e
            .address6
            .map(|want| want.to_string())
            .filter(|want| {
                live.is_some_and(|n| {
                    n.addresses
                        .iter()
                        .any(|a| a.dev == e.ifname && a.address == *want)
                })
            })
            .unwrap_or_default();
        let mut id = network_id(&lab.name, &format!("container/{}", c.name));
        // libnetwork names a container's docker_gwbridge endpoint, which it makes itself,
        // "gateway_" and the container id's first 12 digits (default_gateway.go); swarm's
        // ingress sandbox is "ingress-sbox", its endpoint on ingress "ingress-endpoint".
        let name = match (c.ingress_sbox, net.implicit) {
            (true, implicit) => {
                // A node shows its own; a view of every node's names each.
                id = match view {
                    Some(_) => "ingress-sbox".into(),
                    None => format!("ingress-sbox on {}", lab.hosts[c.host].name),
                };
                if implicit {
                    "gateway_ingress-sbox".to_string()
                } else {
                    "ingress-endpoint".to_string()
                }
            }
            // A load balancer's sandbox is "lb-<network>", its endpoint "<network>-endpoint"
            // (libnetwork's service_linux.go).
            (false, _) if c.lb.is_some() => {
                id = match view {
                    Some(_) => format!("lb-{}", net.name),
                    None => format!("lb-{} on {}", net.name, lab.hosts[c.host].name),
                };
                format!("{}-endpoint", net.name)
            }
            (false, true) => format!("gateway_{}", &id[..12]),
            (false, false) => c.name.clone(),
        };
        containers.insert(
            id,
            json!({
                "Name": name,
                "EndpointID": network_id(&lab.name, &format!("endpoint/{}/{}", c.name, net.name)),
                "MacAddress": mac,
                "IPv4Address": ipv4,
                "IPv6Address": ipv6,
            }),
        );
    }
    let present: Vec<usize> = match view {
        Some(h) => vec![h],
        None => hosts.to_vec(),
    };
    let (options, own) = net.driver().docker_options(snap, lab, ni, &present);
    // Go's encoding/json writes a map's keys sorted.
    let mut sorted: Vec<(String, Value)> = options.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let options: Map<String, Value> = sorted.into_iter().collect();
    // A subnet given without a gateway shows only the subnet; one IPAM chose, or a gateway
    // given, shows both.
    let mut config = Map::new();
    config.insert("Subnet".into(), json!(net.subnet.to_string()));
    if !net.subnet_only {
        config.insert("Gateway".into(), json!(net.gateway.to_string()));
    }
    let mut configs = vec![Value::Object(config)];
    for p in &net.pools {
        let mut c = Map::new();
        c.insert("Subnet".into(), json!(p.subnet.to_string()));
        if !p.subnet_only {
            c.insert("Gateway".into(), json!(p.gateway.to_string()));
        }
        configs.push(Value::Object(c));
    }
    if let Some(v6) = &net.ipv6 {
        let mut c = Map::new();
        c.insert("Subnet".into(), json!(v6.subnet.to_string()));
        if !v6.subnet_only {
            c.insert("Gateway".into(), json!(v6.gateway.to_string()));
        }
        configs.push(Value::Object(c));
    }
    // The daemon's own docker_gwbridge has no IPAM options at all (null); a network made by
    // `docker network create` has an empty map.
    // A swarm's overlays show null too (seed 004's ingress and uber-svc).
    let swarm = net.is_overlay() && lab.networks.iter().any(|n| n.ingress);
    let ipam_options = if net.implicit || swarm {
        Value::Null
    } else {
        json!({})
    };
    let scope = if swarm {
        "swarm"
    } else {
        net.driver().docker_scope()
    };
    let mut v = json!({
        "Name": net.name,
        "Id": net.id,
        "Created": rfc3339(record.created),
        "Scope": scope,
        "Driver": net.driver_name(),
        "EnableIPv6": net.ipv6.is_some(),
        "IPAM": { "Driver": "default", "Options": ipam_options, "Config": configs },
        "Internal": net.internal || net.driver().internal(&net.driver),
        "Attachable": false,
        "Ingress": net.ingress,
        "ConfigFrom": { "Network": "" },
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options,
        "Labels": {},
    });
    if netlab {
        let mut mine = Map::new();
        mine.insert("Lab".into(), json!(lab.name));
        if let Some(h) = view {
            mine.insert("Host".into(), json!(lab.hosts[h].name));
        }
        mine.extend(own);
        v["Netlab"] = Value::Object(mine);
    }
    v
}

#[derive(Debug, Serialize)]
pub struct NodeView<'a> {
    pub namespace: &'a str,
    pub lab: Option<&'a str>,
    pub role: Option<&'a str>,
    pub interfaces: Vec<InterfaceView<'a>>,
    pub routes: &'a [Route],
    pub neighbours: &'a [Neighbour],
    /// The nftables rules netlab wrote here, as `TABLE CHAIN: RULE` (its lab's plan;
    /// `netlab firewall` adds the counters).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub firewall: Vec<String>,
}

/// A node's rules as [`NodeView::firewall`] lists them: `inet netlab docker-postrouting (nat
/// postrouting): ip saddr 172.18.0.0/16 oifname != "docker_gwbridge" masquerade`.
pub fn firewall_lines(tables: &[crate::kernel::nft::Table]) -> Vec<String> {
    let mut out = Vec::new();
    for t in tables {
        for c in &t.chains {
            for r in &c.rules {
                out.push(format!(
                    "inet {} {} ({} {}): {r}",
                    t.name,
                    c.name,
                    c.kind.as_str(),
                    c.hook.as_str()
                ));
            }
        }
    }
    out
}

#[derive(Debug, Serialize)]
pub struct InterfaceView<'a> {
    pub name: &'a str,
    pub index: u32,
    pub kind: Option<&'a str>,
    pub mac: Option<&'a str>,
    pub mtu: Option<u32>,
    pub state: &'a str,
    pub master: Option<&'a str>,
    pub addresses: Vec<&'a str>,
    /// `namespace:interface` on the other side (veth peer, lower device), or `namespace` (a
    /// VXLAN's socket namespace, when the VXLAN is bound to no device).
    pub peer: Option<String>,
}

pub fn node(ns: &Namespace) -> NodeView<'_> {
    NodeView {
        namespace: &ns.name,
        lab: ns.lab.as_deref(),
        role: ns.role.as_deref(),
        interfaces: ns
            .links
            .iter()
            .map(|l| InterfaceView {
                name: &l.name,
                index: l.index,
                kind: l.kind.as_deref(),
                mac: l.mac.as_deref(),
                mtu: l.mtu,
                state: &l.operstate,
                master: l.master.as_deref(),
                addresses: ns
                    .addresses
                    .iter()
                    .filter(|a| a.index == l.index)
                    .map(|a| a.address.as_str())
                    .collect(),
                // A VXLAN bound to no device leads to its socket's namespace only.
                peer: l.peer.as_ref().map(|p| match &p.name {
                    Some(n) => format!("{}:{n}", p.namespace),
                    None => p.namespace.clone(),
                }),
            })
            .collect(),
        routes: &ns.routes,
        neighbours: &ns.neighbours,
        firewall: Vec::new(),
    }
}

pub fn render_node(v: &NodeView) -> String {
    let mut t = table(&[
        "interface",
        "kind",
        "state",
        "mac",
        "mtu",
        "addresses",
        "master",
        "peer",
    ]);
    for i in &v.interfaces {
        // Styled by comfy-table (never escapes in the text): on only when colour is.
        let state = match i.state {
            "UP" => Cell::new(i.state).fg(Color::Green),
            "DOWN" | "LOWERLAYERDOWN" => Cell::new(i.state).fg(Color::Red),
            other => Cell::new(other),
        };
        t.add_row(vec![
            Cell::new(format!("{} ({})", i.name, i.index)),
            Cell::new(i.kind.unwrap_or("-")),
            state,
            Cell::new(i.mac.unwrap_or("-")),
            Cell::new(i.mtu.map(|m| m.to_string()).unwrap_or_default()),
            Cell::new(i.addresses.join("\n")),
            Cell::new(i.master.unwrap_or("-")),
            Cell::new(i.peer.clone().unwrap_or_else(|| "-".into())),
        ]);
    }
    let mut out = format!(
        "{}{}\n{t}\n",
        v.namespace,
        match (v.lab, v.role) {
            (Some(l), Some(r)) => format!(" ({r} in lab {l})"),
            _ => String::new(),
        }
    );
    let main: Vec<&Route> = v.routes.iter().filter(|r| r.table == 254).collect();
    if !main.is_empty() {
        out.push_str("routes:\n");
        for r in main {
            let mut line = format!("  {}", r.dst);
            if let Some(g) = &r.gateway {
                line.push_str(&format!(" via {g}"));
            }
            if let Some(d) = &r.dev {
                line.push_str(&format!(" dev {d}"));
            }
            if r.scope != "universe" {
                line.push_str(&format!(" scope {}", r.scope));
            }
            if let Some(s) = &r.prefsrc {
                line.push_str(&format!(" src {s}"));
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    if !v.firewall.is_empty() {
        out.push_str(&format!(
            "firewall (`netlab firewall {}` for the counters):\n",
            v.namespace
        ));
        for line in &v.firewall {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out.trim_end().to_string()
}

#[derive(Debug, Serialize)]
pub struct VxlanView<'a> {
    /// Host the device belongs to, when it is part of a lab.
    pub host: Option<String>,
    pub namespace: &'a str,
    pub device: &'a str,
    pub mtu: Option<u32>,
    pub master: Option<&'a str>,
    pub vxlan: &'a crate::observe::Vxlan,
    /// Namespace of the VXLAN's UDP socket (where the underlay is).
    pub socket_namespace: Option<&'a str>,
    pub fdb: Vec<&'a Fdb>,
    pub neighbours: Vec<&'a Neighbour>,
    /// The IPsec SAs its VXLAN goes through (an encrypted overlay), out then in, as the
    /// kernel of the socket's namespace has them (never their keys).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ipsec: Vec<IpsecView<'a>>,
}

#[derive(Debug, Serialize)]
pub struct IpsecView<'a> {
    /// out: this VTEP's datagrams to a peer; in: a peer's to this VTEP.
    pub direction: &'static str,
    #[serde(flatten)]
    pub sa: &'a crate::kernel::xfrm::ObservedSa,
}

/// The SAs of the VXLAN device `x` in the socket's namespace `sock`: out, those the policies
/// send its datagrams (from its one source port, to an FDB VTEP) through; in, those from the
/// same VTEPs to it. Only a device with a single source port (an encrypted overlay's) has any.
/// The local end is the device's `local`, or (Docker sets none) the source routing picks in
/// the socket's namespace for each peer.
fn ipsec_of<'a>(
    snap: &Snapshot,
    sock: &'a Namespace,
    x: &crate::observe::Vxlan,
    peers: &[&str],
) -> Vec<IpsecView<'a>> {
    let Some((sport, hi)) = x.port_range else {
        return vec![];
    };
    let fixed: Option<std::net::Ipv4Addr> = x.local.as_deref().and_then(|l| l.parse().ok());
    let local_for = |dst: std::net::Ipv4Addr| {
        fixed.or_else(|| {
            crate::trace::v4(crate::trace::source_address(
                snap,
                &crate::trace::SnapshotRoutes,
                &sock.name,
                dst.into(),
            ))
        })
    };
    // One port: the kernel's range is [low, high).
    if hi != sport.wrapping_add(1) {
        return vec![];
    }
    let dport = x.port.unwrap_or(4789);
    let mut out = Vec::new();
    let mut remotes = Vec::new();
    let mut locals: Vec<String> = Vec::new();
    for peer in peers {
        let Ok(dst) = peer.parse() else { continue };
        let Some(local) = local_for(dst) else {
            continue;
        };
        if !locals.contains(&local.to_string()) {
            locals.push(local.to_string());
        }
        for p in sock
            .xfrm
            .policies
            .iter()
            .filter(|p| p.matches_udp(local, sport, dst, dport))
        {
            for (proto, spi, tdst) in &p.tmpl {
                if let Some(sa) = sock
                    .xfrm
                    .states
                    .iter()
                    .find(|s| s.proto == *proto && s.spi == *spi && s.dst == *tdst)
                {
                    if !out.iter().any(|v: &IpsecView| std::ptr::eq(v.sa, sa)) {
                        out.push(IpsecView {
                            direction: "out",
                            sa,
                        });
                        remotes.push(*peer);
                    }
                }
            }
        }
    }
    for sa in &sock.xfrm.states {
        if locals.contains(&sa.dst) && remotes.contains(&sa.src.as_str()) {
            out.push(IpsecView {
                direction: "in",
                sa,
            });
        }
    }
    out
}

fn vxlan_view<'a>(
    snap: &'a Snapshot,
    ns: &'a Namespace,
    l: &'a Link,
    host: Option<String>,
) -> Option<VxlanView<'a>> {
    let mut v = vxlan_view_here(ns, l, host)?;
    if let Some(sock) = v.socket_namespace.and_then(|s| snap.namespace(s)) {
        let mut peers: Vec<&str> = v.fdb.iter().filter_map(|f| f.dst.as_deref()).collect();
        peers.sort();
        peers.dedup();
        v.ipsec = ipsec_of(snap, sock, v.vxlan, &peers);
    }
    Some(v)
}

fn vxlan_view_here<'a>(
    ns: &'a Namespace,
    l: &'a Link,
    host: Option<String>,
) -> Option<VxlanView<'a>> {
    Some(VxlanView {
        host,
        namespace: &ns.name,
        device: &l.name,
        mtu: l.mtu,
        master: l.master.as_deref(),
        vxlan: l.vxlan.as_ref()?,
        socket_namespace: l.peer.as_ref().map(|p| p.namespace.as_str()).or(
            if l.link_netnsid.is_none() {
                Some(&ns.name)
            } else {
                None
            },
        ),
        fdb: ns
            .fdb
            .iter()
            .filter(|f| f.dev == l.name && f.is_self)
            .collect(),
        neighbours: ns.neighbours.iter().filter(|n| n.dev == l.name).collect(),
        ipsec: Vec::new(),
    })
}

/// Every VXLAN device of an overlay network (one per host), or one device `ns:dev`.
pub fn vxlans<'a>(
    snap: &'a Snapshot,
    records: &'a [Record],
    target: &str,
) -> Result<Vec<VxlanView<'a>>, Unknown> {
    if let Some((nsname, dev)) = target.split_once(':') {
        let ns = super::resolve(snap, records, nsname)?;
        let l = ns
            .link(dev)
            .ok_or_else(|| Unknown(format!("no interface {dev} in {}", ns.name)))?;
        return vxlan_view(snap, ns, l, None)
            .map(|v| vec![v])
            .ok_or_else(|| Unknown(format!("{}:{dev} is not a vxlan device", ns.name)));
    }
    let Some((record, ni)) = find_network(records, target)? else {
        let nets: Vec<&str> = records
            .iter()
            .flat_map(|r| r.lab.networks.iter().map(|n| n.name.as_str()))
            .collect();
        let hint = super::network_spelling(records, target)
            .or_else(|| crate::spec::close_match(target, nets.iter().copied()))
            .map(|h| format!("; {h}"))
            .unwrap_or_default();
        return Err(Unknown(format!("no overlay network named {target:?} in the labs that are up (or give NAMESPACE:DEVICE){hint}")));
    };
    let lab = &record.lab;
    if !lab.networks[ni].is_overlay() {
        return Err(Unknown(format!(
            "network {target} is a {} network: it has no VXLAN",
            lab.networks[ni].driver_name()
        )));
    }
    let mut out = Vec::new();
    for (hi, h) in lab.hosts.iter().enumerate() {
        if let Some(ns) = snap.namespace(&lab.overlay_ns(hi, ni)) {
            if let Some(v) = ns
                .link("vxlan0")
                .and_then(|l| vxlan_view(snap, ns, l, Some(h.name.clone())))
            {
                out.push(v);
            }
        }
    }
    Ok(out)
}

fn onoff(b: Option<bool>, on: &str, off: &str) -> String {
    match b {
        Some(true) => on.into(),
        Some(false) => off.into(),
        None => String::new(),
    }
}

pub fn render_vxlans(views: &[VxlanView]) -> String {
    let mut out = String::new();
    for v in views {
        let x = v.vxlan;
        out.push_str(&format!(
            "{}{}:{}  mtu {}{}\n",
            v.host
                .as_ref()
                .map(|h| format!("[{h}] "))
                .unwrap_or_default(),
            v.namespace,
            v.device,
            v.mtu.map(|m| m.to_string()).unwrap_or_else(|| "-".into()),
            v.master.map(|m| format!(" master {m}")).unwrap_or_default()
        ));
        let mut attrs = vec![format!(
            "vxlan id {}",
            x.id.map(|i| i.to_string()).unwrap_or_else(|| "-".into())
        )];
        if let Some(r) = &x.remote {
            attrs.push(format!("remote {r}"));
        }
        if let Some(g) = &x.group {
            attrs.push(format!("group {g}"));
        }
        if let Some(l) = &x.local {
            attrs.push(format!("local {l}"));
        }
        if let Some((a, b)) = x.port_range {
            attrs.push(format!("srcport {a} {b}"));
        }
        if let Some(p) = x.port {
            attrs.push(format!("dstport {p}"));
        }
        // In iproute2's words and order, as the seed's `ip -d link show vxlan0` prints them:
        // learning, ttl and tos only when not the default.
        let flags = |attrs: &mut Vec<String>, words: &[(Option<bool>, &str, &str)]| {
            for (flag, on, off) in words {
                let s = onoff(*flag, on, off);
                if !s.is_empty() {
                    attrs.push(s);
                }
            }
        };
        flags(
            &mut attrs,
            &[
                (x.learning, "", "nolearning"),
                (x.proxy, "proxy", ""),
                (x.rsc, "rsc", ""),
                (x.l2miss, "l2miss", ""),
                (x.l3miss, "l3miss", ""),
            ],
        );
        match x.ttl {
            Some(0) | None => {}
            Some(t) => attrs.push(format!("ttl {t}")),
        }
        match x.tos {
            Some(0) | None => {}
            Some(1) => attrs.push("tos inherit".into()),
            Some(t) => attrs.push(format!("tos {t:#x}")),
        }
        if let Some(a) = x.ageing {
            attrs.push(format!("ageing {a}"));
        }
        flags(
            &mut attrs,
            &[
                (x.udp_csum, "udpcsum", "noudpcsum"),
                (x.udp6_zero_csum_tx, "udp6zerocsumtx", "noudp6zerocsumtx"),
                (x.udp6_zero_csum_rx, "udp6zerocsumrx", "noudp6zerocsumrx"),
            ],
        );
        out.push_str(&format!("  {}\n", attrs.join(" ")));
        out.push_str(&format!(
            "  underlay: {}{}\n",
            v.socket_namespace
                .map(|s| format!("UDP socket in {s}"))
                .unwrap_or_else(|| "UDP socket namespace unknown".into()),
            x.underlay
                .map(|i| format!(", bound to ifindex {i}"))
                .unwrap_or_default()
        ));
        if v.fdb.is_empty() {
            out.push_str("  fdb: none\n");
        }
        for f in &v.fdb {
            out.push_str(&format!(
                "  fdb {} dst {} {}\n",
                f.mac,
                f.dst.as_deref().unwrap_or("-"),
                f.state
            ));
        }
        for n in &v.neighbours {
            out.push_str(&format!(
                "  neigh {} lladdr {} {}\n",
                n.ip,
                n.mac.as_deref().unwrap_or("-"),
                n.state
            ));
        }
        for i in &v.ipsec {
            let s = i.sa;
            out.push_str(&format!(
                "  ipsec {} src {} dst {} proto {} spi {:#010x} reqid {} mode {} aead {}{}\n",
                i.direction,
                s.src,
                s.dst,
                s.proto,
                s.spi,
                s.reqid,
                s.mode,
                s.algorithm.as_deref().unwrap_or("-"),
                s.icv_bits.map(|b| format!(" icv {b}")).unwrap_or_default()
            ));
        }
        out.push('\n');
    }
    out.trim_end().to_string()
}
