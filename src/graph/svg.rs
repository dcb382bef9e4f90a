//! A [`Graph`] as a standalone SVG, laid out here rather than by Graphviz, so `netlab graph
//! --format svg` needs nothing installed. The layout is layered and fixed by the model: hosts
//! side by side, each a box of rows from top to bottom (containers; bridges; VXLAN devices and
//! VLAN sub-interfaces; NICs), an overlay's sandbox a box around its br0 and the vxlan0 under
//! it, the underlay's switch below every host. Each row's nodes sit in equal slots (as wide as
//! the widest label in a monospace font), so boxes never overlap and the same lab gives the same
//! picture byte for byte. Containers are ordered by where their links go (the barycentre
//! heuristic), tunnels between hosts run in lanes of their own under the VXLAN devices.

use std::fmt::Write;

use super::{ClusterKind, EdgeKind, Graph, NodeKind};

const FONT: f64 = 12.0;
/// A monospace glyph is 0.6 em wide.
const CHAR_W: f64 = FONT * 0.6;
const SMALL: f64 = 10.0;
const TITLE: f64 = 14.0;
const SMALL_W: f64 = SMALL * 0.6;
const LINE_H: f64 = 15.0;
/// Inside a node, around its text.
const PAD: f64 = 7.0;
/// Inside a host's or the underlay's box, around what it holds.
const BOX_PAD: f64 = 16.0;
/// Around a sandbox's nodes (less than half of SLOT_GAP, so neighbouring sandboxes keep apart).
const SANDBOX_PAD: f64 = 9.0;
const SLOT_GAP: f64 = 30.0;
const ROW_GAP: f64 = 58.0;
const HOST_GAP: f64 = 40.0;
const MARGIN: f64 = 16.0;
const LANE: f64 = 12.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    fn cx(&self) -> f64 {
        self.x + self.w / 2.0
    }
    fn cy(&self) -> f64 {
        self.y + self.h / 2.0
    }
    fn bottom(&self) -> f64 {
        self.y + self.h
    }
    /// Where the segment from the centre towards `(px, py)` leaves the rectangle.
    fn border_towards(&self, px: f64, py: f64) -> (f64, f64) {
        let (dx, dy) = (px - self.cx(), py - self.cy());
        if dx == 0.0 && dy == 0.0 {
            return (self.cx(), self.cy());
        }
        let tx = if dx == 0.0 {
            f64::INFINITY
        } else {
            self.w / 2.0 / dx.abs()
        };
        let ty = if dy == 0.0 {
            f64::INFINITY
        } else {
            self.h / 2.0 / dy.abs()
        };
        let t = tx.min(ty);
        (self.cx() + dx * t, self.cy() + dy * t)
    }
}

/// Where everything goes, by index into the graph's `nodes` and `clusters`.
#[derive(Debug, Clone)]
pub struct Layout {
    pub nodes: Vec<Rect>,
    pub clusters: Vec<Option<Rect>>,
    pub width: f64,
    pub height: f64,
    /// The top left corner of each cluster's title.
    pub titles: Vec<(f64, f64)>,
    /// The y of the horizontal run of each VXLAN tunnel, by edge index.
    lanes: Vec<Option<f64>>,
}

fn rank(k: NodeKind) -> usize {
    match k {
        NodeKind::Container => 0,
        NodeKind::Bridge => 1,
        NodeKind::Vxlan | NodeKind::Vlan | NodeKind::Dummy => 2,
        NodeKind::Nic => 3,
        NodeKind::Switch => 4,
    }
}

fn text_w(lines: &[String], char_w: f64) -> f64 {
    lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f64 * char_w
}

fn node_h(lines: usize) -> f64 {
    lines as f64 * LINE_H + 2.0 * PAD
}

/// Lay the graph out (a pure function of it).
pub fn layout(g: &Graph) -> Layout {
    let ni = |id: &str| g.nodes.iter().position(|n| n.id == id);
    let sandboxes: Vec<usize> = (0..g.clusters.len())
        .filter(|&i| g.clusters[i].kind == ClusterKind::Sandbox)
        .collect();
    let slot_w = g
        .nodes
        .iter()
        .map(|n| text_w(&n.lines(), CHAR_W) + 2.0 * PAD)
        .chain(
            sandboxes
                .iter()
                .map(|&i| text_w(&g.clusters[i].lines(), SMALL_W) + 2.0 * PAD),
        )
        .fold(100.0_f64, f64::max)
        .ceil();
    let mut row_h = [0.0_f64; 5];
    for n in &g.nodes {
        let r = rank(n.kind);
        row_h[r] = row_h[r].max(node_h(n.lines().len()));
    }
    let sandbox_title = sandboxes
        .iter()
        .map(|&i| g.clusters[i].lines().len() as f64 * LINE_H)
        .fold(0.0_f64, f64::max);
    let tunnels = g.edges.iter().filter(|e| e.kind == EdgeKind::Vxlan).count();
    let hosts: Vec<usize> = (0..g.clusters.len())
        .filter(|&i| {
            matches!(
                g.clusters[i].kind,
                ClusterKind::Host | ClusterKind::Router | ClusterKind::Outside
            )
        })
        .collect();
    let host_title = hosts
        .iter()
        .map(|&i| g.clusters[i].lines().len() as f64 * LINE_H)
        .fold(0.0_f64, f64::max);

    // Rows, top to bottom: the gap above each row is where edge labels and sandbox titles go.
    let top = MARGIN + LINE_H * 1.5;
    let mut row_y = [0.0_f64; 5];
    let mut y = top + BOX_PAD + host_title;
    let mut last: Option<usize> = None;
    for r in 0..4 {
        if row_h[r] == 0.0 {
            continue;
        }
        if let Some(p) = last {
            y += ROW_GAP;
            if r == 1 && !sandboxes.is_empty() {
                y += sandbox_title + SANDBOX_PAD;
            }
            if p == 2 {
                y += SANDBOX_PAD + tunnels as f64 * LANE;
            }
        }
        row_y[r] = y;
        y += row_h[r];
        last = Some(r);
    }
    let hosts_bottom = y + BOX_PAD;

    let mut nodes = vec![
        Rect {
            x: 0.0,
            y: 0.0,
            w: 0.0,
            h: 0.0
        };
        g.nodes.len()
    ];
    let mut clusters: Vec<Option<Rect>> = vec![None; g.clusters.len()];
    let mut titles: Vec<(f64, f64)> = vec![(0.0, 0.0); g.clusters.len()];
    let slot = |k: usize, left: f64| left + k as f64 * (slot_w + SLOT_GAP);
    let row_w = |n: usize| {
        if n == 0 {
            0.0
        } else {
            n as f64 * (slot_w + SLOT_GAP) - SLOT_GAP
        }
    };
    let mut x = MARGIN;
    for &hi in &hosts {
        let host = &g.clusters[hi];
        let own = |kind: NodeKind| -> Vec<usize> {
            (0..g.nodes.len())
                .filter(|&i| g.nodes[i].cluster == host.id && g.nodes[i].kind == kind)
                .collect()
        };
        let boxes: Vec<usize> = sandboxes
            .iter()
            .copied()
            .filter(|&s| g.clusters[s].parent.as_deref() == Some(host.id.as_str()))
            .collect();
        let in_box = |s: usize, kind: NodeKind| {
            (0..g.nodes.len())
                .find(|&i| g.nodes[i].cluster == g.clusters[s].id && g.nodes[i].kind == kind)
        };
        // Ranks 1 and 2 share columns: a sandbox's br0 above its vxlan0.
        let mut r1: Vec<Option<usize>> =
            boxes.iter().map(|&s| in_box(s, NodeKind::Bridge)).collect();
        let mut r2: Vec<Option<usize>> =
            boxes.iter().map(|&s| in_box(s, NodeKind::Vxlan)).collect();
        r1.extend(own(NodeKind::Bridge).into_iter().map(Some));
        r2.extend(own(NodeKind::Vlan).into_iter().map(Some));
        r2.extend(own(NodeKind::Dummy).into_iter().map(Some));
        let mut containers = own(NodeKind::Container);
        let nics = own(NodeKind::Nic);
        let block = r1.len().max(r2.len());
        let title_w = text_w(&host.lines(), CHAR_W);
        let inner = row_w(containers.len())
            .max(row_w(block))
            .max(row_w(nics.len()))
            .max(title_w);
        let left = x + BOX_PAD;
        let centred = |n: usize| left + (inner - row_w(n)) / 2.0;
        let place = |i: usize, k: usize, row_left: f64, nodes: &mut Vec<Rect>| {
            let r = rank(g.nodes[i].kind);
            nodes[i] = Rect {
                x: slot(k, row_left),
                y: row_y[r],
                w: slot_w,
                h: node_h(g.nodes[i].lines().len()),
            };
        };
        let block_left = centred(block);
        for (k, i) in r1.iter().enumerate() {
            if let Some(i) = *i {
                place(i, k, block_left, &mut nodes);
            }
        }
        for (k, i) in r2.iter().enumerate() {
            if let Some(i) = *i {
                place(i, k, block_left, &mut nodes);
            }
        }
        for (k, &i) in nics.iter().enumerate() {
            place(i, k, centred(nics.len()), &mut nodes);
        }
        // Containers above what they plug into, in file order where that ties.
        let placed: Vec<usize> = r1
            .iter()
            .chain(r2.iter())
            .flatten()
            .copied()
            .chain(nics.iter().copied())
            .collect();
        let bary = |c: usize| -> f64 {
            let xs: Vec<f64> = g
                .edges
                .iter()
                .filter(|e| e.from == g.nodes[c].id)
                .filter_map(|e| ni(&e.to))
                .filter(|t| placed.contains(t))
                .map(|t| nodes[t].cx())
                .collect();
            if xs.is_empty() {
                f64::INFINITY
            } else {
                xs.iter().sum::<f64>() / xs.len() as f64
            }
        };
        let keys: Vec<(f64, usize)> = containers.iter().map(|&c| (bary(c), c)).collect();
        containers.sort_by(|a, b| {
            let ka = keys.iter().find(|k| k.1 == *a).unwrap();
            let kb = keys.iter().find(|k| k.1 == *b).unwrap();
            ka.0.total_cmp(&kb.0).then(a.cmp(b))
        });
        for (k, &i) in containers.iter().enumerate() {
            place(i, k, centred(containers.len()), &mut nodes);
        }
        for &s in &boxes {
            let members: Vec<Rect> = (0..g.nodes.len())
                .filter(|&i| g.nodes[i].cluster == g.clusters[s].id)
                .map(|i| nodes[i])
                .collect();
            if members.is_empty() {
                continue;
            }
            let x0 = members.iter().map(|r| r.x).fold(f64::INFINITY, f64::min);
            let x1 = members.iter().map(|r| r.x + r.w).fold(0.0, f64::max);
            let y0 = members.iter().map(|r| r.y).fold(f64::INFINITY, f64::min);
            let y1 = members.iter().map(|r| r.bottom()).fold(0.0, f64::max);
            clusters[s] = Some(Rect {
                x: x0 - SANDBOX_PAD,
                y: y0 - SANDBOX_PAD - sandbox_title,
                w: x1 - x0 + 2.0 * SANDBOX_PAD,
                h: y1 - y0 + 2.0 * SANDBOX_PAD + sandbox_title,
            });
        }
        let w = inner + 2.0 * BOX_PAD;
        clusters[hi] = Some(Rect {
            x,
            y: top,
            w,
            h: hosts_bottom - top,
        });
        x += w + HOST_GAP;
    }
    let hosts_w = (x - HOST_GAP - MARGIN).max(0.0);

    // The underlay below, its switch in the middle.
    // The lab's title (14px, bold) is as wide as it is.
    let mut width = hosts_w.max(text_w(&[g.title()], TITLE * 0.6));
    let mut height = hosts_bottom;
    if let Some(ui) = g
        .clusters
        .iter()
        .position(|c| c.kind == ClusterKind::Underlay)
    {
        let u = &g.clusters[ui];
        let title = u.lines().len() as f64 * LINE_H;
        let sw: Vec<usize> = (0..g.nodes.len())
            .filter(|&i| g.nodes[i].cluster == u.id)
            .collect();
        let inner = row_w(sw.len()).max(text_w(&u.lines(), CHAR_W));
        let w = inner + 2.0 * BOX_PAD;
        width = width.max(w);
        let uy = hosts_bottom + ROW_GAP;
        let ux = MARGIN + (width - w) / 2.0;
        let sh = row_h[4].max(node_h(1));
        // The switch on top, where the hosts' NICs come in; the title under it.
        for (k, &i) in sw.iter().enumerate() {
            nodes[i] = Rect {
                x: slot(k, ux + BOX_PAD + (inner - row_w(sw.len())) / 2.0),
                y: uy + BOX_PAD,
                w: slot_w,
                h: sh,
            };
        }
        clusters[ui] = Some(Rect {
            x: ux,
            y: uy,
            w,
            h: 2.0 * BOX_PAD + title + sh,
        });
        titles[ui] = (ux + PAD, uy + BOX_PAD + sh + PAD / 2.0);
        height = uy + 2.0 * BOX_PAD + title + sh;
    }
    // Hosts narrower than the underlay or the title: centre them.
    if hosts_w < width {
        let shift = (width - hosts_w) / 2.0;
        for &hi in &hosts {
            if let Some(r) = clusters[hi].as_mut() {
                r.x += shift;
            }
        }
        for (i, n) in g.nodes.iter().enumerate() {
            if n.kind != NodeKind::Switch {
                nodes[i].x += shift;
            }
        }
        for &s in &sandboxes {
            if let Some(r) = clusters[s].as_mut() {
                r.x += shift;
            }
        }
    }
    let lane0 = row_y[2] + row_h[2] + SANDBOX_PAD + LANE;
    let mut lane = 0;
    let lanes = g
        .edges
        .iter()
        .map(|e| {
            (e.kind == EdgeKind::Vxlan).then(|| {
                lane += 1;
                lane0 + (lane - 1) as f64 * LANE
            })
        })
        .collect();
    for (i, c) in clusters.iter().enumerate() {
        if let (Some(r), true) = (c, g.clusters[i].kind != ClusterKind::Underlay) {
            titles[i] = (r.x + PAD, r.y + PAD / 2.0);
        }
    }
    Layout {
        nodes,
        clusters,
        titles,
        width: width + 2.0 * MARGIN,
        height: height + MARGIN,
        lanes,
    }
}

/// Text for XML: `&`, `<`, `>` and `"` as entities.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn n(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

type Point = (f64, f64);

/// One end of an edge on a side of a node: the x of the edge's other end, the edge, which end.
type End = (f64, usize, usize);

/// How an edge is drawn: a polyline, and the centre of its label.
struct Route {
    points: Vec<Point>,
    label: Point,
}

/// The label's box, centred at `(x, y)`.
fn label_box(text: &str, x: f64, y: f64) -> Rect {
    let w = text.chars().count() as f64 * SMALL_W + 4.0;
    let h = SMALL + 2.0;
    Rect {
        x: x - w / 2.0,
        y: y - h / 2.0,
        w,
        h,
    }
}

fn overlap(a: &Rect, b: &Rect) -> f64 {
    let w = (a.x + a.w).min(b.x + b.w) - a.x.max(b.x);
    let h = (a.bottom()).min(b.bottom()) - a.y.max(b.y);
    if w > 0.0 && h > 0.0 {
        w * h
    } else {
        0.0
    }
}

/// Every edge's polyline and label. Edges leave a node's bottom and enter the top of the node
/// below, their ends spread along the side in the order of where they go (so two edges of one
/// container never start at one point); a VXLAN tunnel goes down from both devices and across
/// in its own lane. Each label goes at the first place along its edge that covers no node and
/// no label placed before it (or the least covered one).
fn routes(g: &Graph, l: &Layout) -> Vec<Option<Route>> {
    let index = |id: &str| g.nodes.iter().position(|x| x.id == id);
    let ends: Vec<Option<(usize, usize)>> = g
        .edges
        .iter()
        .map(|e| Some((index(&e.from)?, index(&e.to)?)))
        .collect();
    // (node, on its bottom side?) -> the edge ends there
    let mut sides: std::collections::BTreeMap<(usize, bool), Vec<End>> = Default::default();
    for (i, end) in ends.iter().enumerate() {
        let Some((a, b)) = *end else { continue };
        let (ra, rb) = (l.nodes[a], l.nodes[b]);
        let (a_bottom, b_bottom) = if l.lanes[i].is_some() {
            (true, true)
        } else if rb.y >= ra.bottom() {
            (true, false)
        } else if ra.y >= rb.bottom() {
            (false, true)
        } else {
            continue;
        };
        sides
            .entry((a, a_bottom))
            .or_default()
            .push((rb.cx(), i, 0));
        sides
            .entry((b, b_bottom))
            .or_default()
            .push((ra.cx(), i, 1));
    }
    let mut at: std::collections::HashMap<(usize, usize), (f64, f64)> = Default::default();
    for ((node, bottom), mut list) in sides {
        list.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
        let r = l.nodes[node];
        let m = list.len() as f64;
        for (k, (_, edge, end)) in list.into_iter().enumerate() {
            let x = r.x + r.w * (k as f64 + 1.0) / (m + 1.0);
            let y = if bottom { r.bottom() } else { r.y };
            at.insert((edge, end), (x, y));
        }
    }
    let mut taken: Vec<Rect> = l.nodes.clone();
    for (i, c) in g.clusters.iter().enumerate() {
        if l.clusters[i].is_some() {
            let lines = c.lines();
            let char_w = if c.kind == ClusterKind::Sandbox {
                SMALL_W
            } else {
                CHAR_W
            };
            taken.push(Rect {
                x: l.titles[i].0,
                y: l.titles[i].1,
                w: text_w(&lines, char_w),
                h: lines.len() as f64 * LINE_H,
            });
        }
    }
    let mut out = Vec::new();
    for (i, end) in ends.iter().enumerate() {
        let Some((a, b)) = *end else {
            out.push(None);
            continue;
        };
        let (ra, rb) = (l.nodes[a], l.nodes[b]);
        let p = at
            .get(&(i, 0))
            .copied()
            .unwrap_or_else(|| ra.border_towards(rb.cx(), rb.cy()));
        let q = at
            .get(&(i, 1))
            .copied()
            .unwrap_or_else(|| rb.border_towards(ra.cx(), ra.cy()));
        let (points, candidates): (Vec<Point>, Vec<Point>) = match l.lanes[i] {
            Some(y) => (
                vec![p, (p.0, y), (q.0, y), q],
                [0.5, 0.3, 0.7, 0.15, 0.85]
                    .iter()
                    .map(|t| (p.0 + (q.0 - p.0) * t, y - SMALL * 0.7))
                    .collect(),
            ),
            None => (
                vec![p, q],
                [0.5, 0.35, 0.65, 0.2, 0.8]
                    .iter()
                    .map(|t| (p.0 + (q.0 - p.0) * t, p.1 + (q.1 - p.1) * t))
                    .collect(),
            ),
        };
        let text = &g.edges[i].label;
        let cost = |c: &(f64, f64)| -> f64 {
            let b = label_box(text, c.0, c.1);
            taken.iter().map(|t| overlap(&b, t)).sum()
        };
        let best = candidates
            .iter()
            .copied()
            .find(|c| cost(c) == 0.0)
            .unwrap_or_else(|| {
                candidates
                    .iter()
                    .copied()
                    .min_by(|x, y| cost(x).total_cmp(&cost(y)))
                    .unwrap()
            });
        taken.push(label_box(text, best.0, best.1));
        out.push(Some(Route {
            points,
            label: best,
        }));
    }
    out
}

const HALO: &str = r#"stroke="white" stroke-width="3" paint-order="stroke""#;

pub fn render(g: &Graph) -> String {
    let l = layout(g);
    let mut s = String::new();
    writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="monospace" font-size="{FONT}">"#,
        w = n(l.width),
        h = n(l.height)
    )
    .unwrap();
    writeln!(s, "<title>{}</title>", esc(&g.title())).unwrap();
    writeln!(
        s,
        r#"<rect width="100%" height="100%" fill="white"/>
<text class="title" x="{}" y="{}" font-size="{TITLE}" font-weight="bold">{}</text>"#,
        n(MARGIN),
        n(MARGIN + 12.0),
        esc(&g.title())
    )
    .unwrap();
    // Boxes first (hosts and the underlay under their sandboxes), then edges, nodes, labels.
    let mut order: Vec<usize> = (0..g.clusters.len())
        .filter(|&i| g.clusters[i].kind != ClusterKind::Sandbox)
        .collect();
    order.extend((0..g.clusters.len()).filter(|&i| g.clusters[i].kind == ClusterKind::Sandbox));
    for &i in &order {
        let (c, Some(r)) = (&g.clusters[i], l.clusters[i]) else {
            continue;
        };
        let (fill, stroke, dash, width) = match c.kind {
            ClusterKind::Underlay => ("#f2f2f2", "#777", "", 1.0),
            ClusterKind::Host => ("#fcfcfc", "#555", "", 1.0),
            ClusterKind::Router => ("#fff6f6", "#a33", "", 2.0),
            ClusterKind::Outside => ("#f6fff6", "#393", r#" stroke-dasharray="2 2""#, 1.0),
            ClusterKind::Sandbox => ("#eef6ff", "#69c", r#" stroke-dasharray="5 3""#, 1.0),
        };
        writeln!(
            s,
            r#"<g class="cluster cluster-{}"><title>{}</title><rect x="{}" y="{}" width="{}" height="{}" rx="8" fill="{fill}" stroke="{stroke}" stroke-width="{width}"{dash}/></g>"#,
            c.kind.as_str(),
            esc(&c.id),
            n(r.x),
            n(r.y),
            n(r.w),
            n(r.h)
        )
        .unwrap();
    }
    let mut labels = String::new();
    for (e, route) in g.edges.iter().zip(routes(g, &l)) {
        let Some(route) = route else {
            continue;
        };
        let (stroke, extra) = match e.kind {
            EdgeKind::Veth => ("#333", ""),
            EdgeKind::Port => ("#888", ""),
            EdgeKind::Vtep => ("#4682b4", r#" stroke-dasharray="2 3""#),
            EdgeKind::Vxlan => ("#00c", r#" stroke-dasharray="7 4" stroke-width="2""#),
            EdgeKind::Vlan => ("#d80", ""),
            EdgeKind::Macvlan => ("#060", ""),
            EdgeKind::Ipvlan => ("#088", ""),
            EdgeKind::Route => ("#c00", r#" stroke-dasharray="2 3""#),
        };
        let d: Vec<String> = route
            .points
            .iter()
            .enumerate()
            .map(|(k, (x, y))| format!("{}{} {}", if k == 0 { 'M' } else { 'L' }, n(*x), n(*y)))
            .collect();
        writeln!(
            s,
            r#"<g class="edge edge-{}"><title>{} - {}</title><path d="{}" fill="none" stroke="{stroke}"{extra}/></g>"#,
            e.kind.as_str(),
            esc(&e.from),
            esc(&e.to),
            d.join(" ")
        )
        .unwrap();
        writeln!(
            labels,
            r#"<text class="edge-label" x="{}" y="{}" font-size="{SMALL}" text-anchor="middle" fill="{stroke}" {HALO}>{}</text>"#,
            n(route.label.0),
            n(route.label.1 + SMALL * 0.35),
            esc(&e.label)
        )
        .unwrap();
    }
    for (i, nd) in g.nodes.iter().enumerate() {
        let r = l.nodes[i];
        let (fill, stroke, rx) = match nd.kind {
            NodeKind::Switch => ("#ccc", "#555", 2),
            NodeKind::Nic => ("#cfc", "#393", 2),
            NodeKind::Vlan => ("#ffc", "#c90", 2),
            NodeKind::Bridge => ("#cef", "#369", 2),
            NodeKind::Vxlan => ("#ecf", "#939", 10),
            NodeKind::Dummy => ("#eee", "#999", 2),
            NodeKind::Container => ("#ffe", "#996", 8),
        };
        write!(
            s,
            r#"<g class="node node-{}" id="n{i}"><title>{}</title><rect x="{}" y="{}" width="{}" height="{}" rx="{rx}" fill="{fill}" stroke="{stroke}"/>"#,
            nd.kind.as_str(),
            esc(&nd.id),
            n(r.x),
            n(r.y),
            n(r.w),
            n(r.h)
        )
        .unwrap();
        for (k, line) in nd.lines().iter().enumerate() {
            let weight = if k == 0 { r#" font-weight="bold""# } else { "" };
            write!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle"{weight}>{}</text>"#,
                n(r.cx()),
                n(r.y + PAD + (k as f64 + 0.8) * LINE_H),
                esc(line)
            )
            .unwrap();
        }
        s.push_str("</g>\n");
    }
    s.push_str(&labels);
    for &i in &order {
        let (c, Some(_)) = (&g.clusters[i], l.clusters[i]) else {
            continue;
        };
        let size = if c.kind == ClusterKind::Sandbox {
            SMALL
        } else {
            FONT
        };
        write!(
            s,
            r#"<g class="cluster-label" data-cluster="{}">"#,
            esc(&c.id)
        )
        .unwrap();
        for (k, line) in c.lines().iter().enumerate() {
            let weight = if k == 0 { r#" font-weight="bold""# } else { "" };
            write!(
                s,
                r#"<text x="{}" y="{}" font-size="{size}"{weight} {HALO}>{}</text>"#,
                n(l.titles[i].0),
                n(l.titles[i].1 + (k as f64 + 0.9) * LINE_H),
                esc(line)
            )
            .unwrap();
        }
        s.push_str("</g>\n");
    }
    s.push_str("</svg>\n");
    s
}
