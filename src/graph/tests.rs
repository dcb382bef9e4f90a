//! The graph of every sample lab, against counts derived here from the lab file's own TOML
//! (not from the spec layer), and each renderer's output read back by an independent parser:
//! DOT by graphviz-rust's, SVG by roxmltree, Mermaid by a structural reading of its lines.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use toml::Value;

use super::*;

const LABS: [&str; 7] = [
    "bridge",
    "macvlan",
    "macvlan-vlan",
    "macvlan-nodes",
    "macvlan-trunk",
    "overlay",
    "routed-gateway",
];

fn lab_path(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("labs/{name}.toml"))
}

fn load(name: &str) -> Lab {
    crate::spec::load(&lab_path(name), None).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn count(g: &Graph, kind: EdgeKind) -> usize {
    g.edges.iter().filter(|e| e.kind == kind).count()
}

fn nodes(g: &Graph, kind: NodeKind) -> usize {
    g.nodes.iter().filter(|n| n.kind == kind).count()
}

fn clusters(g: &Graph, kinds: &[ClusterKind]) -> usize {
    g.clusters
        .iter()
        .filter(|c| kinds.contains(&c.kind))
        .count()
}

/// What the lab file says, read straight from its TOML: the figures a drawing must show.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    hosts: usize,
    routers: usize,
    /// 1 with an `[outside]`: its box, and its NIC on the switch.
    outside: usize,
    nics: usize,
    containers: usize,
    sandboxes: usize,
    tunnels: usize,
    /// (VNI, number of tunnels) per overlay.
    vnis: BTreeMap<u32, usize>,
    host_bridges: usize,
    veths: usize,
    macvlans: usize,
    vlans: BTreeSet<(String, String)>,
    routes: usize,
}

fn expected(name: &str) -> Expected {
    let text = std::fs::read_to_string(lab_path(name)).unwrap();
    let v = Value::Table(toml::from_str::<toml::Table>(&text).unwrap());
    let empty = toml::map::Map::new();
    let table = |k: &str| v.get(k).and_then(|t| t.as_table()).unwrap_or(&empty);
    let hosts = table("hosts");
    let nets = table("networks");
    let containers = table("containers");
    let driver = |n: &str| nets[n]["driver"].as_str().unwrap().to_string();
    let on = |c: &Value| -> Vec<String> {
        c["networks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    };
    let mut e = Expected {
        hosts: hosts.len(),
        routers: hosts
            .values()
            .filter(|h| h.get("forwarding").and_then(|f| f.as_bool()) == Some(true))
            .count(),
        nics: hosts
            .values()
            .map(|h| {
                h.get("nics")
                    .and_then(|n| n.as_array())
                    .map_or(1, |a| a.len())
            })
            .sum::<usize>()
            + v.get("outside").is_some() as usize,
        outside: v.get("outside").is_some() as usize,
        containers: containers.len(),
        ..Default::default()
    };
    // Overlays: VNIs from 256 in file order; a sandbox per host with a container on it.
    let mut vni = 256;
    for (n, spec) in nets {
        if spec["driver"].as_str() != Some("overlay") {
            continue;
        }
        let hosts_on: BTreeSet<&str> = containers
            .values()
            .filter(|c| on(c).contains(n))
            .map(|c| c["host"].as_str().unwrap())
            .collect();
        let k = hosts_on.len();
        e.sandboxes += k;
        e.tunnels += k * (k - 1) / 2;
        e.vnis.insert(vni, k * (k - 1) / 2);
        vni += 1;
    }
    // Bridges: one per host with a container on a bridge network, and docker_gwbridge on each
    // host with a container on an overlay and on no bridge network.
    let mut bridge_hosts: BTreeSet<(String, String)> = BTreeSet::new();
    for c in containers.values() {
        let host = c["host"].as_str().unwrap().to_string();
        let ds: Vec<String> = on(c).iter().map(|n| driver(n)).collect();
        for (n, d) in on(c).iter().zip(&ds) {
            match d.as_str() {
                "bridge" => {
                    bridge_hosts.insert((host.clone(), n.clone()));
                    e.veths += 1;
                }
                "overlay" => e.veths += 1,
                "macvlan" => {
                    e.macvlans += 1;
                    // One name for every host, or a table of one per host.
                    let parent = match &nets[n]["parent"] {
                        Value::Table(per_host) => per_host[&host].as_str().unwrap(),
                        one => one.as_str().unwrap(),
                    };
                    if parent.contains('.') {
                        e.vlans.insert((host.clone(), parent.to_string()));
                    }
                    // The container's gateway held by a router's address: a route edge.
                    if let Some(gw) = nets[n].get("gateway").and_then(|g| g.as_str()) {
                        let held = hosts.values().any(|h| {
                            h.get("addresses")
                                .and_then(|a| a.as_table())
                                .is_some_and(|a| {
                                    a.values()
                                        .any(|x| x.as_str().unwrap().split('/').next() == Some(gw))
                                })
                        });
                        if held {
                            e.routes += 1;
                        }
                    }
                }
                other => panic!("driver {other}"),
            }
        }
        if ds.iter().any(|d| d == "overlay") && !ds.iter().any(|d| d == "bridge") {
            bridge_hosts.insert((host, "docker_gwbridge".into()));
            e.veths += 1;
        }
    }
    e.host_bridges = bridge_hosts.len();
    for (h, spec) in hosts {
        if let Some(a) = spec.get("addresses").and_then(|a| a.as_table()) {
            for dev in a.keys().filter(|d| d.contains('.')) {
                e.vlans.insert((h.clone(), dev.clone()));
            }
        }
    }
    // Every NIC is a veth to the underlay switch.
    e.veths += e.nics;
    e
}

/// Node ids unique, every edge between nodes, every node in a box, every box's parent a box.
fn assert_consistent(g: &Graph) {
    let ids: BTreeSet<&str> = g.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids.len(), g.nodes.len(), "duplicate node ids");
    let boxes: BTreeSet<&str> = g.clusters.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(boxes.len(), g.clusters.len(), "duplicate cluster ids");
    for e in &g.edges {
        assert!(ids.contains(e.from.as_str()), "edge from {}", e.from);
        assert!(ids.contains(e.to.as_str()), "edge to {}", e.to);
        assert_ne!(e.from, e.to);
    }
    for n in &g.nodes {
        assert!(
            boxes.contains(n.cluster.as_str()),
            "{} in {}",
            n.id,
            n.cluster
        );
    }
    for c in &g.clusters {
        if let Some(p) = &c.parent {
            assert!(boxes.contains(p.as_str()));
        }
    }
}

#[test]
fn every_sample_lab_is_drawn_with_what_its_file_declares() {
    for name in LABS {
        let lab = load(name);
        let g = build(&lab);
        let x = expected(name);
        assert_consistent(&g);
        let what = |s: &str| format!("{name}: {s}\n{g:#?}");
        assert_eq!(
            clusters(&g, &[ClusterKind::Host, ClusterKind::Router]),
            x.hosts,
            "{}",
            what("host boxes")
        );
        assert_eq!(clusters(&g, &[ClusterKind::Router]), x.routers, "{name}");
        assert_eq!(clusters(&g, &[ClusterKind::Underlay]), 1, "{name}");
        assert_eq!(clusters(&g, &[ClusterKind::Outside]), x.outside, "{name}");
        assert_eq!(clusters(&g, &[ClusterKind::Sandbox]), x.sandboxes, "{name}");
        assert_eq!(nodes(&g, NodeKind::Switch), 1, "{name}");
        assert_eq!(nodes(&g, NodeKind::Nic), x.nics, "{name}");
        assert_eq!(nodes(&g, NodeKind::Container), x.containers, "{name}");
        assert_eq!(nodes(&g, NodeKind::Vxlan), x.sandboxes, "{name}");
        assert_eq!(
            nodes(&g, NodeKind::Bridge),
            x.sandboxes + x.host_bridges,
            "{}",
            what("bridges")
        );
        assert_eq!(nodes(&g, NodeKind::Vlan), x.vlans.len(), "{name}");
        assert_eq!(count(&g, EdgeKind::Veth), x.veths, "{}", what("veths"));
        assert_eq!(count(&g, EdgeKind::Vxlan), x.tunnels, "{name}");
        assert_eq!(count(&g, EdgeKind::Port), x.sandboxes, "{name}");
        assert_eq!(count(&g, EdgeKind::Vtep), x.sandboxes, "{name}");
        assert_eq!(count(&g, EdgeKind::Macvlan), x.macvlans, "{name}");
        assert_eq!(count(&g, EdgeKind::Vlan), x.vlans.len(), "{name}");
        assert_eq!(count(&g, EdgeKind::Route), x.routes, "{}", what("routes"));
        assert_eq!(
            g.nodes.len(),
            1 + x.nics + x.vlans.len() + 2 * x.sandboxes + x.host_bridges + x.containers,
            "{name}: nothing else is drawn"
        );
        assert_eq!(
            g.edges.len(),
            x.veths + x.tunnels + 2 * x.sandboxes + x.macvlans + x.vlans.len() + x.routes,
            "{name}: no other edge"
        );
        // Tunnels per VNI, each between two hosts' sandboxes, labelled with its VNI.
        for (vni, n) in &x.vnis {
            let t: Vec<&Edge> = g.edges.iter().filter(|e| e.vni == Some(*vni)).collect();
            assert_eq!(t.len(), *n, "{name}: tunnels of VNI {vni}");
            for e in t {
                let (a, b) = (g.node(&e.from).unwrap(), g.node(&e.to).unwrap());
                let host = |n: &Node| g.cluster(&n.cluster).unwrap().parent.clone().unwrap();
                assert_ne!(host(a), host(b), "{name}: a tunnel joins two hosts");
                assert!(e.label.contains(&format!("VNI {vni}")), "{}", e.label);
            }
        }
        // Every VLAN edge says its id, the number after the dot of the sub-interface.
        for e in g.edges.iter().filter(|e| e.kind == EdgeKind::Vlan) {
            let sub = g.node(&e.from).unwrap();
            let id: u16 = sub.name.rsplit_once('.').unwrap().1.parse().unwrap();
            assert_eq!(e.vlan, Some(id));
            assert_eq!(e.label, format!("VLAN {id}"));
            let host = g.cluster(&sub.cluster).unwrap();
            assert!(x.vlans.contains(&(host.name.clone(), sub.name.clone())));
        }
        // Containers carry their addresses; their edges their interface names.
        for c in &lab.containers {
            let node = g.nodes.iter().find(|n| n.name == c.name).unwrap();
            assert_eq!(
                g.cluster(&node.cluster).unwrap().name,
                lab.hosts[c.host].name,
                "{name}: {} is drawn in its host",
                c.name
            );
            for ep in &c.endpoints {
                let line = format!("{} {}", ep.ifname, ep.address);
                assert!(node.details.contains(&line), "{name}: {line} on {node:?}");
                let e = g
                    .edges
                    .iter()
                    .find(|e| e.from == node.id && e.from_if.as_deref() == Some(&ep.ifname))
                    .unwrap_or_else(|| panic!("{name}: no edge for {}:{}", c.name, ep.ifname));
                assert!(e.label.contains(&ep.ifname));
            }
        }
    }
}

#[test]
fn overlay_edges_name_both_ends_and_the_network() {
    let lab = load("overlay");
    let g = build(&lab);
    let bbox1 = lab.container_ns(0);
    let sandbox = lab.overlay_ns(0, 0);
    let e = g
        .edges
        .iter()
        .find(|e| e.from == bbox1 && e.to == format!("{sandbox}:br0"))
        .unwrap();
    assert_eq!(e.kind, EdgeKind::Veth);
    assert_eq!(e.label, "eth0 — veth0");
    assert_eq!(e.network.as_deref(), Some("ov_net1"));
    let br0 = g.node(&format!("{sandbox}:br0")).unwrap();
    assert_eq!(br0.details, vec!["10.0.0.1/24"]);
    let gw = g
        .node(&format!("{}:docker_gwbridge", lab.host_ns(0)))
        .unwrap();
    assert_eq!(gw.details, vec!["172.18.0.1/16", "icc off"]);
    let t = g.edges.iter().find(|e| e.kind == EdgeKind::Vxlan).unwrap();
    assert_eq!(t.label, "VNI 256 10.1.1.14 ↔ 10.1.1.15");
    let vtep = g
        .edges
        .iter()
        .find(|e| e.kind == EdgeKind::Vtep && e.from == format!("{sandbox}:vxlan0"))
        .unwrap();
    assert_eq!(vtep.to, format!("{}:ens33", lab.host_ns(0)));
}

#[test]
fn routed_gateway_routes_lead_to_the_routers_sub_interfaces() {
    let lab = load("routed-gateway");
    let g = build(&lab);
    let router = lab.hosts.iter().position(|h| h.forwarding).unwrap();
    let rns = lab.host_ns(router);
    assert_eq!(g.cluster(&rns).unwrap().kind, ClusterKind::Router);
    assert!(g
        .cluster(&rns)
        .unwrap()
        .details
        .contains(&"net.ipv4.ip_forward=1".to_string()));
    for (ci, c) in lab.containers.iter().enumerate() {
        let gw = c.default_gateway.unwrap();
        let e = g
            .edges
            .iter()
            .find(|e| e.kind == EdgeKind::Route && e.from == lab.container_ns(ci))
            .unwrap();
        let to = g.node(&e.to).unwrap();
        assert_eq!(to.namespace, rns);
        assert!(to.details.iter().any(|d| d.starts_with(&format!("{gw}/"))));
        assert_eq!(e.label, format!("default via {gw}"));
    }
}

/// The record follows connect and disconnect, and so does the drawing.
#[test]
fn connect_adds_an_edge_and_disconnect_takes_it_away() {
    let lab = load("bridge");
    let ni = lab
        .networks
        .iter()
        .position(|n| n.name == "my_net2")
        .unwrap();
    let ci = lab
        .containers
        .iter()
        .position(|c| c.name == "cache")
        .unwrap();
    let before = build(&lab);
    let joined = crate::spec::change::connect(&lab, ni, ci, None).unwrap();
    let after = build(&joined);
    assert_eq!(after.edges.len(), before.edges.len() + 1);
    let new: Vec<&Edge> = after
        .edges
        .iter()
        .filter(|e| !before.edges.contains(e))
        .collect();
    assert_eq!(new.len(), 1, "{new:?}");
    let e = new[0];
    assert_eq!(e.kind, EdgeKind::Veth);
    assert_eq!(e.from, lab.container_ns(ci));
    assert_eq!(e.from_if.as_deref(), Some("eth1"));
    assert_eq!(e.network.as_deref(), Some("my_net2"));
    let cache = after.node(&lab.container_ns(ci)).unwrap();
    assert!(cache.details.contains(&"eth1 172.18.0.3/16".to_string()));
    let left = crate::spec::change::disconnect(&joined, ni, ci).unwrap();
    assert_eq!(build(&left), before);
}

#[test]
fn the_graph_does_not_depend_on_where_the_file_is() {
    let lab = load("overlay");
    let mut moved = lab.clone();
    moved.source = "/elsewhere/overlay.toml".into();
    assert_eq!(build(&lab), build(&moved));
    assert_eq!(dot::render(&build(&lab)), dot::render(&build(&moved)));
}

// ---- DOT, read back by graphviz-rust's parser ----

mod dotp {
    pub use graphviz_rust::dot_structures::*;
}

fn unquote(id: &dotp::Id) -> String {
    match id {
        dotp::Id::Escaped(s) => {
            let inner = &s[1..s.len() - 1];
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some('n') => out.push('\n'),
                        Some(c) => out.push(c),
                        None => {}
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        dotp::Id::Plain(s) | dotp::Id::Html(s) | dotp::Id::Anonymous(s) => s.clone(),
    }
}

fn attr(attrs: &[dotp::Attribute], key: &str) -> Option<String> {
    attrs
        .iter()
        .find(|a| unquote(&a.0) == key)
        .map(|a| unquote(&a.1))
}

#[derive(Default)]
struct DotRead {
    /// node id -> (label, enclosing cluster subgraphs, innermost last)
    nodes: HashMap<String, (String, Vec<String>)>,
    /// (from, to, label)
    edges: Vec<(String, String, String)>,
    /// subgraph id -> (label, its parent subgraph)
    clusters: HashMap<String, (String, Option<String>)>,
}

fn walk(stmts: &[dotp::Stmt], path: &mut Vec<String>, out: &mut DotRead) {
    for s in stmts {
        match s {
            dotp::Stmt::Node(n) => {
                let id = unquote(&n.id.0);
                let label = attr(&n.attributes, "label").unwrap_or_default();
                assert!(
                    out.nodes
                        .insert(id.clone(), (label, path.clone()))
                        .is_none(),
                    "node {id} twice"
                );
            }
            dotp::Stmt::Edge(e) => {
                let dotp::EdgeTy::Pair(dotp::Vertex::N(a), dotp::Vertex::N(b)) = &e.ty else {
                    panic!("unexpected edge {e:?}");
                };
                out.edges.push((
                    unquote(&a.0),
                    unquote(&b.0),
                    attr(&e.attributes, "label").unwrap_or_default(),
                ));
            }
            dotp::Stmt::Subgraph(sg) => {
                let id = unquote(&sg.id);
                let label = sg
                    .stmts
                    .iter()
                    .find_map(|s| match s {
                        dotp::Stmt::Attribute(a) if unquote(&a.0) == "label" => Some(unquote(&a.1)),
                        _ => None,
                    })
                    .unwrap_or_default();
                out.clusters
                    .insert(id.clone(), (label, path.last().cloned()));
                path.push(id);
                walk(&sg.stmts, path, out);
                path.pop();
            }
            _ => {}
        }
    }
}

#[test]
fn dot_of_every_sample_lab_parses_back_to_the_graph() {
    for name in LABS {
        let g = build(&load(name));
        let text = dot::render(&g);
        let parsed = graphviz_rust::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
        let dotp::Graph::DiGraph { id, stmts, .. } = parsed else {
            panic!("{name}: not a digraph");
        };
        assert_eq!(unquote(&id), g.lab);
        let mut read = DotRead::default();
        walk(&stmts, &mut Vec::new(), &mut read);
        assert_eq!(read.nodes.len(), g.nodes.len(), "{name}");
        assert_eq!(read.clusters.len(), g.clusters.len(), "{name}");
        for c in &g.clusters {
            let (label, parent) = &read.clusters[&format!("cluster_{}", c.id)];
            assert_eq!(label, &c.lines().join("\n"));
            assert_eq!(parent, &c.parent.as_ref().map(|p| format!("cluster_{p}")));
        }
        for n in &g.nodes {
            let (label, path) = read
                .nodes
                .get(&n.id)
                .unwrap_or_else(|| panic!("{name}: node {} missing", n.id));
            assert_eq!(label, &n.lines().join("\n"), "{name}");
            assert_eq!(
                path.last(),
                Some(&format!("cluster_{}", n.cluster)),
                "{name}"
            );
        }
        let want: Vec<(String, String, String)> = g
            .edges
            .iter()
            .map(|e| (e.from.clone(), e.to.clone(), e.label.clone()))
            .collect();
        assert_eq!(read.edges, want, "{name}");
    }
}

// ---- SVG, read back as XML ----

struct SvgBox {
    title: String,
    rect: svg::Rect,
    texts: Vec<String>,
}

fn boxes(doc: &roxmltree::Document, class: &str) -> Vec<SvgBox> {
    let num = |n: roxmltree::Node, a: &str| -> f64 { n.attribute(a).unwrap().parse().unwrap() };
    doc.descendants()
        .filter(|n| {
            n.has_tag_name("g")
                && n.attribute("class")
                    .is_some_and(|c| c.split(' ').next() == Some(class))
        })
        .map(|g| {
            let r = g.children().find(|c| c.has_tag_name("rect")).unwrap();
            SvgBox {
                title: g
                    .children()
                    .find(|c| c.has_tag_name("title"))
                    .and_then(|t| t.text())
                    .unwrap_or_default()
                    .to_string(),
                rect: svg::Rect {
                    x: num(r, "x"),
                    y: num(r, "y"),
                    w: num(r, "width"),
                    h: num(r, "height"),
                },
                texts: g
                    .children()
                    .filter(|c| c.has_tag_name("text"))
                    .map(|t| t.text().unwrap_or_default().to_string())
                    .collect(),
            }
        })
        .collect()
}

fn overlaps(a: &svg::Rect, b: &svg::Rect) -> bool {
    a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h
}

fn inside(a: &svg::Rect, b: &svg::Rect) -> bool {
    a.x >= b.x && a.y >= b.y && a.x + a.w <= b.x + b.w && a.y + a.h <= b.y + b.h
}

#[test]
fn svg_of_every_sample_lab_shows_every_label_and_no_box_overlaps_another() {
    for name in LABS {
        let g = build(&load(name));
        let text = svg::render(&g);
        assert_eq!(text, svg::render(&g), "{name}: the same picture every time");
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let root = doc.root_element();
        assert!(root.has_tag_name(("http://www.w3.org/2000/svg", "svg")));
        let (w, h): (f64, f64) = (
            root.attribute("width").unwrap().parse().unwrap(),
            root.attribute("height").unwrap().parse().unwrap(),
        );
        let page = svg::Rect {
            x: 0.0,
            y: 0.0,
            w,
            h,
        };
        let drawn = boxes(&doc, "node");
        let frames = boxes(&doc, "cluster");
        assert_eq!(drawn.len(), g.nodes.len(), "{name}");
        assert_eq!(frames.len(), g.clusters.len(), "{name}");
        for n in &g.nodes {
            let d = drawn
                .iter()
                .find(|d| d.title == n.id)
                .unwrap_or_else(|| panic!("{name}: node {} not drawn", n.id));
            assert_eq!(d.texts, n.lines(), "{name}: the label of {}", n.id);
            assert!(inside(&d.rect, &page), "{name}: {} off the page", n.id);
            let frame = frames.iter().find(|f| f.title == n.cluster).unwrap();
            assert!(
                inside(&d.rect, &frame.rect),
                "{name}: {} outside its box {}",
                n.id,
                n.cluster
            );
            // The text fits: monospace glyphs are 0.6 em of the 12px font.
            let longest = n.lines().iter().map(|l| l.chars().count()).max().unwrap();
            assert!(
                longest as f64 * 7.2 <= d.rect.w,
                "{name}: {} too narrow",
                n.id
            );
        }
        for (i, a) in drawn.iter().enumerate() {
            for b in &drawn[i + 1..] {
                assert!(
                    !overlaps(&a.rect, &b.rect),
                    "{name}: {} and {} overlap: {:?} {:?}",
                    a.title,
                    b.title,
                    a.rect,
                    b.rect
                );
            }
        }
        // Boxes side by side never overlap; a sandbox is inside its host.
        for (i, a) in g.clusters.iter().enumerate() {
            let fa = frames.iter().find(|f| f.title == a.id).unwrap();
            assert!(inside(&fa.rect, &page), "{name}: {} off the page", a.id);
            if let Some(p) = &a.parent {
                let fp = frames.iter().find(|f| &f.title == p).unwrap();
                assert!(inside(&fa.rect, &fp.rect), "{name}: {} outside {p}", a.id);
            }
            for b in &g.clusters[i + 1..] {
                if a.parent == b.parent {
                    let fb = frames.iter().find(|f| f.title == b.id).unwrap();
                    assert!(
                        !overlaps(&fa.rect, &fb.rect),
                        "{name}: boxes {} and {} overlap",
                        a.id,
                        b.id
                    );
                }
            }
        }
        let labels: Vec<String> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("edge-label"))
            .map(|n| n.text().unwrap_or_default().to_string())
            .collect();
        let want: Vec<String> = g.edges.iter().map(|e| e.label.clone()).collect();
        assert_eq!(labels, want, "{name}: every edge labelled");
        let paths = boxes_of_edges(&doc);
        assert_eq!(paths, g.edges.len(), "{name}");
        for c in &g.clusters {
            let title: Vec<String> = doc
                .descendants()
                .filter(|n| n.attribute("data-cluster") == Some(c.id.as_str()))
                .flat_map(|n| n.children().filter(|t| t.has_tag_name("text")))
                .map(|t| t.text().unwrap_or_default().to_string())
                .collect();
            assert_eq!(title, c.lines(), "{name}: the title of {}", c.id);
        }
    }
}

fn boxes_of_edges(doc: &roxmltree::Document) -> usize {
    doc.descendants()
        .filter(|n| {
            n.has_tag_name("g")
                && n.attribute("class").is_some_and(|c| c.starts_with("edge "))
                && n.children().any(|p| p.has_tag_name("path"))
        })
        .count()
}

#[test]
fn svg_escapes_what_xml_reserves() {
    let mut lab = load("bridge");
    lab.description = Some("a <b> & \"c\"".into());
    let text = svg::render(&build(&lab));
    let doc = roxmltree::Document::parse(&text).unwrap();
    let title = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("title"))
        .unwrap();
    assert_eq!(title.text(), Some("lab bridge: a <b> & \"c\""));
}

// ---- Mermaid, read structurally ----

#[test]
fn mermaid_of_every_sample_lab_is_well_formed() {
    let node_re =
        regex::Regex::new(r#"^(n\d+)(\(|\{\{|\[\[|\[)"([^"]*)"(\)|\}\}|\]\]|\])$"#).unwrap();
    let sub_re = regex::Regex::new(r#"^subgraph (c\d+)\["([^"]*)"\]$"#).unwrap();
    let edge_re = regex::Regex::new(r#"^(n\d+) (---|-\.-|===)\|"([^"]*)"\| (n\d+)$"#).unwrap();
    for name in LABS {
        let g = build(&load(name));
        let text = mermaid::render(&g);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("---"), "{name}");
        assert!(lines.next().unwrap().starts_with("title: \"lab "), "{name}");
        assert_eq!(lines.next(), Some("---"), "{name}");
        assert_eq!(lines.next(), Some("flowchart TB"), "{name}");
        let mut stack: Vec<String> = Vec::new();
        let mut defined: HashMap<String, (String, Option<String>)> = HashMap::new();
        let mut subgraphs: HashMap<String, (String, Option<String>)> = HashMap::new();
        let mut edges = Vec::new();
        for l in lines {
            let t = l.trim();
            if let Some(c) = sub_re.captures(t) {
                subgraphs.insert(c[1].to_string(), (c[2].to_string(), stack.last().cloned()));
                stack.push(c[1].to_string());
            } else if t == "end" {
                assert!(stack.pop().is_some(), "{name}: end without subgraph");
            } else if t == "direction TB" {
                assert!(!stack.is_empty(), "{name}");
            } else if let Some(c) = node_re.captures(t) {
                let shapes = [("(", ")"), ("{{", "}}"), ("[[", "]]"), ("[", "]")];
                assert!(shapes.contains(&(&c[2], &c[4])), "{name}: {t}");
                let dup =
                    defined.insert(c[1].to_string(), (c[3].to_string(), stack.last().cloned()));
                assert!(dup.is_none(), "{name}: {} defined twice", &c[1]);
            } else if let Some(c) = edge_re.captures(t) {
                assert!(stack.is_empty(), "{name}: edges after the boxes");
                edges.push((c[1].to_string(), c[3].to_string(), c[4].to_string()));
            } else if t.starts_with("classDef ") || t.starts_with("class ") {
                if let Some(ids) = t.strip_prefix("class ") {
                    for id in ids.split(' ').next().unwrap().split(',') {
                        assert!(defined.contains_key(id), "{name}: class for {id}");
                    }
                }
            } else if let Some(rest) = t.strip_prefix("linkStyle ") {
                for k in rest.split(' ').next().unwrap().split(',') {
                    assert!(k.parse::<usize>().unwrap() < edges.len(), "{name}: {t}");
                }
            } else {
                panic!("{name}: unexpected line {t:?}");
            }
        }
        assert!(stack.is_empty(), "{name}: unclosed subgraph");
        assert_eq!(defined.len(), g.nodes.len(), "{name}");
        assert_eq!(subgraphs.len(), g.clusters.len(), "{name}");
        assert_eq!(edges.len(), g.edges.len(), "{name}");
        let cid = |id: &str| format!("c{}", g.clusters.iter().position(|c| c.id == id).unwrap());
        for (i, n) in g.nodes.iter().enumerate() {
            let (label, parent) = &defined[&format!("n{i}")];
            assert_eq!(label, &n.lines().join("<br/>"), "{name}");
            assert_eq!(parent.as_deref(), Some(cid(&n.cluster).as_str()), "{name}");
        }
        for (i, c) in g.clusters.iter().enumerate() {
            let (label, parent) = &subgraphs[&format!("c{i}")];
            assert_eq!(label, &c.lines().join("<br/>"));
            assert_eq!(parent, &c.parent.as_deref().map(cid));
        }
        for ((from, label, to), e) in edges.iter().zip(&g.edges) {
            assert_eq!(
                from,
                &format!("n{}", g.nodes.iter().position(|n| n.id == e.from).unwrap())
            );
            assert_eq!(
                to,
                &format!("n{}", g.nodes.iter().position(|n| n.id == e.to).unwrap())
            );
            assert_eq!(label, &e.label);
        }
    }
}

#[test]
fn json_is_the_model() {
    let g = build(&load("overlay"));
    let v = serde_json::to_value(&g).unwrap();
    assert_eq!(v["lab"], "overlay");
    assert_eq!(v["nodes"].as_array().unwrap().len(), g.nodes.len());
    assert_eq!(v["edges"].as_array().unwrap().len(), g.edges.len());
    let t = v["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "vxlan")
        .unwrap();
    assert_eq!(t["vni"], 256);
    assert_eq!(t["network"], "ov_net1");
}

/// Four hosts, an overlay on all of them and one on two: a box per host, a tunnel per pair.
#[test]
fn four_hosts_make_four_boxes_and_a_tunnel_per_pair_of_hosts() {
    let mut text = String::from("[lab]\nname = \"four\"\n\n");
    for h in 1..=4 {
        text.push_str(&format!(
            "[hosts.h{h}]\naddress = \"10.1.1.{}\"\n\n",
            10 + h
        ));
    }
    text.push_str(
        "[networks.ov_a]\ndriver = \"overlay\"\n\n[networks.ov_b]\ndriver = \"overlay\"\n\n",
    );
    text.push_str("[networks.local]\ndriver = \"bridge\"\n\n");
    for h in 1..=4 {
        let nets = if h % 2 == 1 {
            "[\"ov_a\", \"ov_b\"]"
        } else {
            "[\"ov_a\"]"
        };
        text.push_str(&format!(
            "[containers.c{h}]\nhost = \"h{h}\"\nnetworks = {nets}\n\n"
        ));
    }
    text.push_str("[containers.l1]\nhost = \"h2\"\nnetworks = [\"local\"]\n");
    let lab = crate::spec::parse("four.toml", "/four.toml", &text, None).unwrap();
    let g = build(&lab);
    assert_consistent(&g);
    assert_eq!(clusters(&g, &[ClusterKind::Host]), 4);
    assert_eq!(clusters(&g, &[ClusterKind::Sandbox]), 4 + 2);
    assert_eq!(count(&g, EdgeKind::Vxlan), 6 + 1);
    let vnis: Vec<u32> = g.edges.iter().filter_map(|e| e.vni).collect();
    assert_eq!(vnis, vec![256, 256, 256, 256, 256, 256, 257]);
    // Every pair of hosts once per overlay.
    let mut pairs = BTreeSet::new();
    for e in g.edges.iter().filter(|e| e.kind == EdgeKind::Vxlan) {
        let host = |id: &str| {
            g.cluster(&g.node(id).unwrap().cluster)
                .unwrap()
                .parent
                .clone()
        };
        let (a, b) = (host(&e.from), host(&e.to));
        assert_ne!(a, b);
        assert!(pairs.insert((e.vni, a, b)));
    }
    // docker_gwbridge on every host (each has an overlay-only container), the bridge on h2.
    assert_eq!(nodes(&g, NodeKind::Bridge), 6 + 4 + 1);
    let doc_text = svg::render(&g);
    let doc = roxmltree::Document::parse(&doc_text).unwrap();
    let drawn = boxes(&doc, "node");
    assert_eq!(drawn.len(), g.nodes.len());
    for (i, a) in drawn.iter().enumerate() {
        for b in &drawn[i + 1..] {
            assert!(
                !overlaps(&a.rect, &b.rect),
                "{} and {} overlap",
                a.title,
                b.title
            );
        }
    }
    graphviz_rust::parse(&dot::render(&g)).unwrap();
}

/// labs/ipvlan.toml's isolated1 has no parent: its dummy on node2 (the only host with a
/// container on it) is drawn in node2's box, with both containers' ipvlans leading to it, and
/// the SVG shows it without overlapping another box.
#[test]
fn a_dummy_parent_is_drawn_in_its_host_with_its_children() {
    let lab = load("ipvlan");
    let iso = lab.networks.iter().find(|n| n.name == "isolated1").unwrap();
    let dummy = format!("di-{}", &iso.id[..12]);
    let g = build(&lab);
    let d: Vec<&Node> = g
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Dummy)
        .collect();
    assert_eq!(d.len(), 1, "{d:?}");
    let host = lab.host_ns(lab.hosts.iter().position(|h| h.name == "node2").unwrap());
    assert_eq!(d[0].id, format!("{host}:{dummy}"));
    assert_eq!(d[0].cluster, host);
    assert_eq!(d[0].network.as_deref(), Some("isolated1"));
    let mut children: Vec<&str> = g
        .edges
        .iter()
        .filter(|e| e.kind == EdgeKind::Ipvlan && e.to == d[0].id)
        .map(|e| e.from.as_str())
        .collect();
    children.sort();
    let ns = |c: &str| lab.container_ns(lab.containers.iter().position(|x| x.name == c).unwrap());
    assert_eq!(children, [ns("cid1"), ns("cid2")]);
    assert_consistent(&g);
    let text = svg::render(&g);
    let doc = roxmltree::Document::parse(&text).unwrap();
    let drawn = boxes(&doc, "node");
    let me = drawn
        .iter()
        .find(|b| b.title == d[0].id)
        .expect("the dummy is drawn");
    assert_eq!(me.texts, d[0].lines());
    for other in drawn.iter().filter(|b| b.title != me.title) {
        assert!(
            !overlaps(&me.rect, &other.rect),
            "{} overlaps {}",
            me.title,
            other.title
        );
    }
}
