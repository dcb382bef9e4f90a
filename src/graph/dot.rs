//! A [`Graph`] as Graphviz DOT: every box a `cluster_` subgraph (a sandbox nested in its host),
//! every node and edge with its label; `dot -Tsvg` or `dot -Tpng` lays it out.

use std::fmt::Write;

use super::{quote, ClusterKind, EdgeKind, Graph, NodeKind};

pub fn render(g: &Graph) -> String {
    let mut s = String::new();
    writeln!(s, "digraph {} {{", quote(&g.lab)).unwrap();
    writeln!(
        s,
        "  graph [label={}, labelloc=t, fontname=\"monospace\", fontsize=12, rankdir=TB, nodesep=0.3, ranksep=0.6];",
        quote(&g.title())
    )
    .unwrap();
    s.push_str("  node [fontname=\"monospace\", fontsize=10, shape=box, style=filled];\n");
    s.push_str("  edge [fontname=\"monospace\", fontsize=9, dir=none];\n");
    for c in g.clusters_in(None) {
        cluster(g, c, 1, &mut s);
    }
    for e in &g.edges {
        let style = match e.kind {
            EdgeKind::Veth => "color=\"black\"",
            EdgeKind::Port => "color=\"gray40\"",
            EdgeKind::Vtep => "color=\"steelblue\", style=dotted",
            EdgeKind::Vxlan => "color=\"blue\", style=dashed, penwidth=2, constraint=false",
            EdgeKind::Vlan => "color=\"darkorange\"",
            EdgeKind::Macvlan => "color=\"darkgreen\"",
            EdgeKind::Ipvlan => "color=\"darkcyan\"",
            EdgeKind::Route => "color=\"red\", style=dotted, constraint=false",
        };
        writeln!(
            s,
            "  {} -> {} [label={}, {style}];",
            quote(&e.from),
            quote(&e.to),
            quote(&e.label)
        )
        .unwrap();
    }
    s.push_str("}\n");
    s
}

fn cluster(g: &Graph, c: &super::Cluster, depth: usize, s: &mut String) {
    let pad = "  ".repeat(depth);
    let (style, color) = match c.kind {
        ClusterKind::Underlay => ("rounded,filled", "gray95"),
        ClusterKind::Host => ("rounded", "white"),
        ClusterKind::Router => ("rounded,bold", "white"),
        ClusterKind::Sandbox => ("dashed,filled", "aliceblue"),
        ClusterKind::Outside => ("dotted,filled", "honeydew"),
    };
    writeln!(
        s,
        "{pad}subgraph {} {{",
        quote(&format!("cluster_{}", c.id))
    )
    .unwrap();
    writeln!(
        s,
        "{pad}  label={}; style=\"{style}\"; fillcolor=\"{color}\";",
        quote(&c.lines().join("\n"))
    )
    .unwrap();
    for n in g.nodes_in(&c.id) {
        let (shape, fill) = match n.kind {
            NodeKind::Switch => ("box", "gray80"),
            NodeKind::Nic => ("box", "palegreen"),
            NodeKind::Vlan => ("box", "khaki"),
            NodeKind::Bridge => ("box", "lightblue"),
            NodeKind::Vxlan => ("hexagon", "plum"),
            NodeKind::Dummy => ("box", "gray95"),
            NodeKind::Container => ("box", "lightyellow"),
        };
        let style = if n.kind == NodeKind::Container {
            ", style=\"rounded,filled\""
        } else {
            ""
        };
        writeln!(
            s,
            "{pad}  {} [label={}, shape={shape}, fillcolor=\"{fill}\"{style}];",
            quote(&n.id),
            quote(&n.lines().join("\n"))
        )
        .unwrap();
    }
    for sub in g.clusters_in(Some(&c.id)) {
        cluster(g, sub, depth + 1, s);
    }
    writeln!(s, "{pad}}}").unwrap();
}
