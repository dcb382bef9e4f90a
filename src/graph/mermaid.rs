//! A [`Graph`] as a Mermaid flowchart: every box a `subgraph` (a sandbox nested in its host),
//! nodes `n0`, `n1`, ... and boxes `c0`, `c1`, ... in model order (Mermaid ids cannot hold the
//! `.` and `:` of namespace names), labels quoted.

use std::collections::HashMap;
use std::fmt::Write;

use super::{Cluster, EdgeKind, Graph, NodeKind};

/// A label as Mermaid reads it: in double quotes, lines joined by `<br/>`, and the characters
/// that would end or confuse it as entity codes.
fn label(lines: &[String]) -> String {
    let text: Vec<String> = lines
        .iter()
        .map(|l| {
            l.replace('&', "#amp;")
                .replace('"', "#quot;")
                .replace('<', "#lt;")
                .replace('>', "#gt;")
        })
        .collect();
    format!("\"{}\"", text.join("<br/>"))
}

pub fn render(g: &Graph) -> String {
    let nodes: HashMap<&str, String> = g
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), format!("n{i}")))
        .collect();
    let boxes: HashMap<&str, String> = g
        .clusters
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), format!("c{i}")))
        .collect();
    let mut s = String::new();
    // YAML front matter; a double-quoted YAML string escapes as a JSON one does.
    writeln!(s, "---\ntitle: {}\n---", super::quote(&g.title())).unwrap();
    s.push_str("flowchart TB\n");
    for c in g.clusters_in(None) {
        cluster(g, c, &nodes, &boxes, 1, &mut s);
    }
    for e in &g.edges {
        let link = match e.kind {
            EdgeKind::Vxlan => "===",
            EdgeKind::Vtep | EdgeKind::Route => "-.-",
            _ => "---",
        };
        writeln!(
            s,
            "  {} {link}|{}| {}",
            nodes[e.from.as_str()],
            label(std::slice::from_ref(&e.label)),
            nodes[e.to.as_str()]
        )
        .unwrap();
    }
    let mut kinds: Vec<(NodeKind, Vec<&str>)> = Vec::new();
    for n in &g.nodes {
        match kinds.iter_mut().find(|(k, _)| *k == n.kind) {
            Some((_, v)) => v.push(&nodes[n.id.as_str()]),
            None => kinds.push((n.kind, vec![&nodes[n.id.as_str()]])),
        }
    }
    for (k, ids) in &kinds {
        let style = match k {
            NodeKind::Switch => "fill:#ccc,stroke:#555",
            NodeKind::Nic => "fill:#cfc,stroke:#393",
            NodeKind::Vlan => "fill:#ffc,stroke:#c90",
            NodeKind::Bridge => "fill:#cef,stroke:#369",
            NodeKind::Vxlan => "fill:#ecf,stroke:#939",
            NodeKind::Dummy => "fill:#eee,stroke:#999,stroke-dasharray:3",
            NodeKind::Container => "fill:#ffe,stroke:#996",
        };
        writeln!(s, "  classDef {} {style}", k.as_str()).unwrap();
        writeln!(s, "  class {} {}", ids.join(","), k.as_str()).unwrap();
    }
    let vxlans: Vec<String> = g
        .edges
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind == EdgeKind::Vxlan)
        .map(|(i, _)| i.to_string())
        .collect();
    if !vxlans.is_empty() {
        writeln!(
            s,
            "  linkStyle {} stroke:#00f,stroke-width:2px",
            vxlans.join(",")
        )
        .unwrap();
    }
    s
}

fn cluster(
    g: &Graph,
    c: &Cluster,
    nodes: &HashMap<&str, String>,
    boxes: &HashMap<&str, String>,
    depth: usize,
    s: &mut String,
) {
    let pad = "  ".repeat(depth);
    writeln!(
        s,
        "{pad}subgraph {}[{}]",
        boxes[c.id.as_str()],
        label(&c.lines())
    )
    .unwrap();
    writeln!(s, "{pad}  direction TB").unwrap();
    for n in g.nodes_in(&c.id) {
        let (open, close) = match n.kind {
            NodeKind::Container => ("(", ")"),
            NodeKind::Vxlan => ("{{", "}}"),
            NodeKind::Switch => ("[[", "]]"),
            _ => ("[", "]"),
        };
        writeln!(
            s,
            "{pad}  {}{open}{}{close}",
            nodes[n.id.as_str()],
            label(&n.lines())
        )
        .unwrap();
    }
    for sub in g.clusters_in(Some(&c.id)) {
        cluster(g, sub, nodes, boxes, depth + 1, s);
    }
    writeln!(s, "{pad}end").unwrap();
}
