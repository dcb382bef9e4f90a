//! `netlab graph`: a lab's topology as a picture. [`build`] turns a checked [`Lab`] (from a lab
//! file, or the record of a lab that is up, which follows `connect` and `disconnect`) into a
//! [`Graph`]: the namespaces as boxes (hosts, the underlay, overlay sandboxes), the devices that
//! join things (switch, NICs, VLAN sub-interfaces, bridges, VXLAN devices) and containers as
//! nodes, the links between them as edges. It is built from the same plan `up` applies, so it
//! shows what netlab builds, device names included. [`dot`], [`mermaid`] and [`svg`] render it.
//!
//! Pure: it never reads the kernel (the read side's `inspect`, `vxlan` and `trace` do that).

pub mod dot;
pub mod mermaid;
pub mod svg;

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;
use serde::Serialize;

use crate::plan::{self, Object};
use crate::spec::{Driver, Lab, NetworkMode};

/// A box: a namespace that holds nodes (a host, the underlay, an overlay network's sandbox).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cluster {
    /// The namespace's name, unique in the lab.
    pub id: String,
    pub kind: ClusterKind,
    /// The host's name, `underlay`, or the sandbox's Docker name (`1-c2ad163525`).
    pub name: String,
    /// Lines shown under the name.
    pub details: Vec<String>,
    /// The box this one is drawn in (a sandbox's host).
    pub parent: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterKind {
    /// The lab's switch: every host NIC is a port of it.
    Underlay,
    Host,
    /// A host that forwards IPv4 (a routed gateway, the articles' vm-vpn).
    Router,
    /// An overlay network's namespace on one host (Docker's `1-<netid>`).
    Sandbox,
    /// The lab's stand-in for the internet (`[outside]`), on the switch.
    Outside,
}

impl ClusterKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterKind::Underlay => "underlay",
            ClusterKind::Host => "host",
            ClusterKind::Router => "router",
            ClusterKind::Sandbox => "sandbox",
            ClusterKind::Outside => "outside",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// `NAMESPACE:DEVICE` for a device, the namespace's name for a container.
    pub id: String,
    pub kind: NodeKind,
    /// The device's or container's name.
    pub name: String,
    /// Lines shown under the name: addresses, VNI, VLAN id, default route.
    pub details: Vec<String>,
    /// The namespace it lives in.
    pub namespace: String,
    /// The box it is drawn in.
    pub cluster: String,
    /// The lab network it belongs to (bridges and VXLAN devices).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    /// The underlay's switch.
    Switch,
    /// A host NIC (a port of the underlay switch).
    Nic,
    /// An 802.1Q sub-interface of a NIC.
    Vlan,
    /// A Linux bridge: a bridge network's, docker_gwbridge, an overlay sandbox's br0.
    Bridge,
    /// An overlay's VXLAN device (vxlan0 in a sandbox).
    Vxlan,
    /// A dummy device: the parent of a macvlan or ipvlan network without one (no wire).
    Dummy,
    /// A container's namespace, with its interfaces.
    Container,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Switch => "switch",
            NodeKind::Nic => "nic",
            NodeKind::Vlan => "vlan",
            NodeKind::Bridge => "bridge",
            NodeKind::Vxlan => "vxlan",
            NodeKind::Dummy => "dummy",
            NodeKind::Container => "container",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    pub kind: EdgeKind,
    /// The node drawn above (a container, a bridge, a sub-interface).
    pub from: String,
    /// The node drawn below (a bridge, a NIC, the switch).
    pub to: String,
    /// The interface at `from`'s end, when it is not `from` itself (`eth0` of a container).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_if: Option<String>,
    /// The interface at `to`'s end, when it is not `to` itself (the veth port of a bridge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_if: Option<String>,
    /// What the renderers write on the edge.
    pub label: String,
    /// The lab network the link belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vni: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeKind {
    /// A veth pair (container to bridge, host NIC to switch port).
    Veth,
    /// A device enslaved to a bridge that is not a veth (vxlan0 in br0).
    Port,
    /// A VXLAN device to the NIC holding its local address: its UDP socket's way out.
    Vtep,
    /// A VXLAN tunnel between two hosts' VXLAN devices of one overlay.
    Vxlan,
    /// An 802.1Q sub-interface to its NIC.
    Vlan,
    /// A container's macvlan to its parent.
    Macvlan,
    /// A container's ipvlan to its parent.
    Ipvlan,
    /// A container's default route to the router interface holding its gateway.
    Route,
}

impl EdgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Veth => "veth",
            EdgeKind::Port => "port",
            EdgeKind::Vtep => "vtep",
            EdgeKind::Vxlan => "vxlan",
            EdgeKind::Vlan => "vlan",
            EdgeKind::Macvlan => "macvlan",
            EdgeKind::Ipvlan => "ipvlan",
            EdgeKind::Route => "route",
        }
    }
}

/// The topology of one lab: what `netlab graph --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Graph {
    pub lab: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub clusters: Vec<Cluster>,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Graph {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }
    pub fn cluster(&self, id: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.id == id)
    }
    /// The clusters drawn directly in `parent` (`None`: at the top), in order.
    pub fn clusters_in<'a>(&'a self, parent: Option<&'a str>) -> impl Iterator<Item = &'a Cluster> {
        self.clusters
            .iter()
            .filter(move |c| c.parent.as_deref() == parent)
    }
    /// The nodes drawn directly in cluster `id`, in order.
    pub fn nodes_in<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Node> {
        self.nodes.iter().filter(move |n| n.cluster == id)
    }
    /// The lab's title line.
    pub fn title(&self) -> String {
        match &self.description {
            Some(d) => format!("lab {}: {d}", self.lab),
            None => format!("lab {}", self.lab),
        }
    }
}

impl Node {
    /// Name and details, one per line.
    pub fn lines(&self) -> Vec<String> {
        std::iter::once(self.name.clone())
            .chain(self.details.iter().cloned())
            .collect()
    }
}

impl Cluster {
    pub fn lines(&self) -> Vec<String> {
        std::iter::once(match self.kind {
            ClusterKind::Underlay => "underlay".to_string(),
            ClusterKind::Sandbox => format!("sandbox {}", self.name),
            k => format!("{} {}", k.as_str(), self.name),
        })
        .chain(self.details.iter().cloned())
        .collect()
    }
}

/// What a namespace of the plan is in the lab.
#[derive(Debug, Clone, Copy)]
enum Space {
    Underlay,
    Host,
    Container,
    Sandbox { host: usize, net: usize },
    Outside,
}

struct Builder<'l> {
    lab: &'l Lab,
    spaces: HashMap<String, Space>,
    /// Addresses the plan puts on each `(namespace, device)`, in plan order.
    addresses: HashMap<(String, String), Vec<Ipv4Network>>,
    /// `(namespace, device)` -> node id, for devices drawn as nodes.
    devices: HashMap<(String, String), String>,
    g: Graph,
}

/// The graph of a lab, from the plan `up` applies to it.
pub fn build(lab: &Lab) -> Graph {
    let plan = plan::plan(lab);
    let mut spaces = HashMap::new();
    spaces.insert(lab.underlay_ns(), Space::Underlay);
    if let Some(ons) = lab.outside_ns() {
        spaces.insert(ons, Space::Outside);
    }
    for hi in 0..lab.hosts.len() {
        spaces.insert(lab.host_ns(hi), Space::Host);
        for (ni, n) in lab.networks.iter().enumerate() {
            if n.is_overlay() {
                spaces.insert(lab.overlay_ns(hi, ni), Space::Sandbox { host: hi, net: ni });
            }
        }
    }
    // A host-mode container has no namespace of its own (its host's is the host's space).
    for (ci, c) in lab.containers.iter().enumerate() {
        if c.mode != NetworkMode::Host {
            spaces.insert(lab.container_ns(ci), Space::Container);
        }
    }
    let mut addresses: HashMap<(String, String), Vec<Ipv4Network>> = HashMap::new();
    for o in &plan.objects {
        if let Object::Address { ns, dev, address } = o {
            addresses
                .entry((ns.clone(), dev.clone()))
                .or_default()
                .push(*address);
        }
    }
    let mut b = Builder {
        lab,
        spaces,
        addresses,
        devices: HashMap::new(),
        g: Graph {
            lab: lab.name.clone(),
            description: lab.description.clone(),
            clusters: Vec::new(),
            nodes: Vec::new(),
            edges: Vec::new(),
        },
    };
    b.boxes(&plan);
    b.devices(&plan);
    b.containers();
    b.links(&plan);
    b.tunnels(&plan);
    b.routes();
    b.g
}

impl Builder<'_> {
    fn addrs(&self, ns: &str, dev: &str) -> Vec<String> {
        self.addresses
            .get(&(ns.to_string(), dev.to_string()))
            .map(|v| v.iter().map(|a| a.to_string()).collect())
            .unwrap_or_default()
    }

    fn add_node(&mut self, node: Node, dev: Option<&str>) {
        if let Some(dev) = dev {
            self.devices
                .insert((node.namespace.clone(), dev.to_string()), node.id.clone());
        }
        self.g.nodes.push(node);
    }

    /// The node a device of namespace `ns` is drawn as: a container's whole namespace, a
    /// device node, or, for a bridge's port, the bridge.
    fn node_of(&self, ns: &str, dev: &str, master: Option<&str>) -> Option<String> {
        if let Some(Space::Container) = self.spaces.get(ns) {
            return Some(ns.to_string());
        }
        let key = |d: &str| (ns.to_string(), d.to_string());
        self.devices
            .get(&key(dev))
            .or_else(|| master.and_then(|m| self.devices.get(&key(m))))
            .cloned()
    }

    /// The underlay, every host, and the sandboxes the plan makes, each in its host.
    fn boxes(&mut self, plan: &plan::Plan) {
        let lab = self.lab;
        self.g.clusters.push(Cluster {
            id: lab.underlay_ns(),
            kind: ClusterKind::Underlay,
            name: "underlay".into(),
            details: vec![
                format!("{} mtu {}", lab.underlay.subnet, lab.underlay.mtu),
                format!("ns {}", lab.underlay_ns()),
            ],
            parent: None,
        });
        for (hi, h) in lab.hosts.iter().enumerate() {
            let ns = lab.host_ns(hi);
            let mut details = vec![format!("ns {ns}")];
            details.extend(plan.objects.iter().filter_map(|o| match o {
                Object::Sysctl { ns: n, key, value } if *n == ns => Some(format!("{key}={value}")),
                _ => None,
            }));
            self.g.clusters.push(Cluster {
                id: ns,
                kind: if h.forwarding {
                    ClusterKind::Router
                } else {
                    ClusterKind::Host
                },
                name: h.name.clone(),
                details,
                parent: None,
            });
        }
        if let (Some(o), Some(ns)) = (&lab.outside, lab.outside_ns()) {
            self.g.clusters.push(Cluster {
                id: ns.clone(),
                kind: ClusterKind::Outside,
                name: o.name.clone(),
                details: vec![
                    format!("the internet: {} (on lo)", o.address),
                    format!("ns {ns}"),
                ],
                parent: None,
            });
        }
        for ns in &plan.namespaces {
            if let Some(&Space::Sandbox { host, net }) = self.spaces.get(&ns.name) {
                let n = &lab.networks[net];
                self.g.clusters.push(Cluster {
                    id: ns.name.clone(),
                    kind: ClusterKind::Sandbox,
                    name: n.overlay_sandbox(),
                    details: vec![format!("overlay {}", n.name)],
                    parent: Some(lab.host_ns(host)),
                });
            }
        }
    }

    /// NICs, sub-interfaces, bridges and VXLAN devices, each in its namespace's box.
    fn devices(&mut self, plan: &plan::Plan) {
        let lab = self.lab;
        if let Some(ns) = lab.outside_ns() {
            let nic = crate::spec::Outside::NIC;
            self.add_node(
                Node {
                    id: format!("{ns}:{nic}"),
                    kind: NodeKind::Nic,
                    name: nic.into(),
                    details: self.addrs(&ns, nic),
                    namespace: ns.clone(),
                    cluster: ns.clone(),
                    network: None,
                },
                Some(nic),
            );
        }
        for (hi, h) in lab.hosts.iter().enumerate() {
            let ns = lab.host_ns(hi);
            for nic in h.all_nics() {
                self.add_node(
                    Node {
                        id: format!("{ns}:{nic}"),
                        kind: NodeKind::Nic,
                        name: nic.clone(),
                        details: self.addrs(&ns, &nic),
                        namespace: ns.clone(),
                        cluster: ns.clone(),
                        network: None,
                    },
                    Some(&nic),
                );
            }
        }
        for o in &plan.objects {
            match o {
                Object::Bridge { ns, name, .. } => {
                    let Some(&space) = self.spaces.get(ns) else {
                        continue;
                    };
                    let (kind, network, mut details) = match space {
                        Space::Underlay => (NodeKind::Switch, None, Vec::new()),
                        Space::Sandbox { net, .. } => (
                            NodeKind::Bridge,
                            Some(lab.networks[net].name.clone()),
                            vec![],
                        ),
                        _ => {
                            let net = lab.networks.iter().find(|n| {
                                matches!(&n.driver, Driver::Bridge { bridge, .. } if bridge == name)
                            });
                            let mut d = Vec::new();
                            if let Some(n) = net {
                                if n.name != *name {
                                    d.push(format!("network {}", n.name));
                                }
                                if let Driver::Bridge { icc: false, .. } = n.driver {
                                    d.push("icc off".into());
                                }
                            }
                            (NodeKind::Bridge, net.map(|n| n.name.clone()), d)
                        }
                    };
                    let mut lines = self.addrs(ns, name);
                    lines.append(&mut details);
                    self.add_node(
                        Node {
                            id: format!("{ns}:{name}"),
                            kind,
                            name: name.clone(),
                            details: lines,
                            namespace: ns.clone(),
                            cluster: ns.clone(),
                            network,
                        },
                        Some(name),
                    );
                }
                Object::Vxlan {
                    target_ns,
                    name,
                    vni,
                    mtu,
                    ..
                } => {
                    let network = match self.spaces.get(target_ns) {
                        Some(&Space::Sandbox { net, .. }) => Some(lab.networks[net].name.clone()),
                        _ => None,
                    };
                    self.add_node(
                        Node {
                            id: format!("{target_ns}:{name}"),
                            kind: NodeKind::Vxlan,
                            name: name.clone(),
                            details: vec![format!("VNI {vni}"), format!("mtu {mtu}")],
                            namespace: target_ns.clone(),
                            cluster: target_ns.clone(),
                            network,
                        },
                        Some(name),
                    );
                }
                Object::Dummy { ns, name } => {
                    // The network it is the parent of (a dummy serves one).
                    let network = lab
                        .networks
                        .iter()
                        .find(|n| {
                            matches!(&n.driver,
                                Driver::Macvlan { parent, dummy_parent: true, .. }
                                | Driver::Ipvlan { parent, dummy_parent: true, .. }
                                if parent.devices().iter().any(|p| p == name))
                        })
                        .map(|n| n.name.clone());
                    self.add_node(
                        Node {
                            id: format!("{ns}:{name}"),
                            kind: NodeKind::Dummy,
                            name: name.clone(),
                            details: vec!["dummy (no wire)".into()],
                            namespace: ns.clone(),
                            cluster: ns.clone(),
                            network,
                        },
                        Some(name),
                    );
                }
                Object::Vlan { ns, name, id, .. } => {
                    let mut details = vec![format!("VLAN {id}")];
                    details.extend(self.addrs(ns, name));
                    self.add_node(
                        Node {
                            id: format!("{ns}:{name}"),
                            kind: NodeKind::Vlan,
                            name: name.clone(),
                            details,
                            namespace: ns.clone(),
                            cluster: ns.clone(),
                            network: None,
                        },
                        Some(name),
                    );
                }
                _ => {}
            }
        }
    }

    /// Every container, in its host's box, with its interfaces' addresses.
    fn containers(&mut self) {
        let lab = self.lab;
        for (ci, c) in lab.containers.iter().enumerate() {
            // A host-mode container shares its host's namespace, not the host's node.
            let ns = crate::spec::ns_name::node(&lab.name, &c.name);
            let mut details: Vec<String> = c
                .endpoints
                .iter()
                .map(|e| format!("{} {}", e.ifname, e.address))
                .collect();
            match c.mode {
                NetworkMode::None => details.push("network none: lo only".into()),
                NetworkMode::Host => details.push(format!(
                    "network host: {}'s namespace",
                    lab.hosts[c.host].name
                )),
                NetworkMode::Sandbox => {}
            }
            match lab.default_route(ci) {
                Some((Some(gw), _)) => details.push(format!("default via {gw}")),
                Some((None, dev)) => details.push(format!("default dev {dev}")),
                None => {}
            }
            self.add_node(
                Node {
                    id: ns.clone(),
                    kind: NodeKind::Container,
                    name: c.name.clone(),
                    details,
                    namespace: ns,
                    cluster: lab.host_ns(c.host),
                    network: None,
                },
                None,
            );
        }
    }

    /// The network a link of namespace `ns` (or of bridge `master` there) belongs to.
    fn network_of(&self, ns: &str, master: Option<&str>) -> Option<String> {
        match self.spaces.get(ns)? {
            Space::Sandbox { net, .. } => Some(self.lab.networks[*net].name.clone()),
            Space::Host => {
                let m = master?;
                self.lab
                    .networks
                    .iter()
                    .find(|n| matches!(&n.driver, Driver::Bridge { bridge, .. } if bridge == m))
                    .map(|n| n.name.clone())
            }
            _ => None,
        }
    }

    /// A macvlan's or ipvlan's edge: from the child `name` in `target_ns` to its parent
    /// device in `ns`, on the child's network (when both are drawn).
    fn child_edge(
        &mut self,
        kind: EdgeKind,
        (ns, parent): (&str, &str),
        (target_ns, name): (&str, &str),
        label: &str,
    ) {
        let (Some(inner), Some(outer)) = (
            self.node_of(target_ns, name, None),
            self.node_of(ns, parent, None),
        ) else {
            return;
        };
        let network = self.endpoint_network(target_ns, name);
        let e = self.edge(kind, inner, outer, label.to_string());
        e.from_if = Some(name.to_string());
        e.network = network;
    }

    /// The network of the container endpoint `ifname` in namespace `ns`.
    fn endpoint_network(&self, ns: &str, ifname: &str) -> Option<String> {
        let lab = self.lab;
        let ci = (0..lab.containers.len()).find(|&ci| lab.container_ns(ci) == ns)?;
        let e = lab.containers[ci]
            .endpoints
            .iter()
            .find(|e| e.ifname == ifname)?;
        Some(lab.networks[e.network].name.clone())
    }

    fn edge(&mut self, kind: EdgeKind, from: String, to: String, label: String) -> &mut Edge {
        self.g.edges.push(Edge {
            kind,
            from,
            to,
            from_if: None,
            to_if: None,
            label,
            network: None,
            vni: None,
            vlan: None,
        });
        self.g.edges.last_mut().unwrap()
    }

    /// Veth pairs, macvlans, ipvlans, sub-interfaces and bridge ports, in plan order.
    fn links(&mut self, plan: &plan::Plan) {
        for o in &plan.objects {
            match o {
                Object::Veth {
                    ns,
                    name,
                    master,
                    peer_ns,
                    peer,
                    ..
                } => {
                    let (Some(inner), Some(outer)) = (
                        self.node_of(peer_ns, peer, None),
                        self.node_of(ns, name, master.as_deref()),
                    ) else {
                        continue;
                    };
                    let network = self.network_of(ns, master.as_deref());
                    let e = self.edge(EdgeKind::Veth, inner, outer, format!("{peer} — {name}"));
                    e.from_if = Some(peer.clone());
                    e.to_if = Some(name.clone());
                    e.network = network;
                }
                Object::Macvlan {
                    ns,
                    parent,
                    mode,
                    target_ns,
                    name,
                    ..
                } => self.child_edge(
                    EdgeKind::Macvlan,
                    (ns, parent),
                    (target_ns, name),
                    &format!("{name} macvlan {}", mode.as_str()),
                ),
                Object::Ipvlan {
                    ns,
                    parent,
                    mode,
                    target_ns,
                    name,
                } => self.child_edge(
                    EdgeKind::Ipvlan,
                    (ns, parent),
                    (target_ns, name),
                    &format!("{name} ipvlan {}", mode.as_str()),
                ),
                Object::Vlan { ns, name, link, id } => {
                    let (Some(sub), Some(nic)) =
                        (self.node_of(ns, name, None), self.node_of(ns, link, None))
                    else {
                        continue;
                    };
                    self.edge(EdgeKind::Vlan, sub, nic, format!("VLAN {id}"))
                        .vlan = Some(*id);
                }
                Object::Master { ns, dev, master } => {
                    let (Some(bridge), Some(port)) =
                        (self.node_of(ns, master, None), self.node_of(ns, dev, None))
                    else {
                        continue;
                    };
                    let network = self.network_of(ns, Some(master));
                    let e = self.edge(EdgeKind::Port, bridge, port, format!("port of {master}"));
                    e.network = network;
                }
                _ => {}
            }
        }
    }

    /// Each VXLAN device to its host's NIC (the address its packets leave from), and one tunnel
    /// per pair of hosts of an overlay.
    fn tunnels(&mut self, plan: &plan::Plan) {
        struct Vtep {
            node: String,
            dev: String,
            vni: u32,
            local: Ipv4Addr,
            network: String,
        }
        let mut vteps: Vec<Vtep> = Vec::new();
        for o in &plan.objects {
            let Object::Vxlan {
                ns,
                target_ns,
                name,
                vni,
                vtep: local,
                port,
                ..
            } = o
            else {
                continue;
            };
            let Some(dev) = self.node_of(target_ns, name, None) else {
                continue;
            };
            let nic = self
                .addresses
                .iter()
                .filter(|((n, _), a)| n == ns && a.iter().any(|a| a.ip() == *local))
                .map(|((_, d), _)| d.clone())
                .min();
            let network = self.network_of(target_ns, None);
            if let Some(nic_node) = nic.as_deref().and_then(|d| self.node_of(ns, d, None)) {
                let e = self.edge(
                    EdgeKind::Vtep,
                    dev.clone(),
                    nic_node,
                    format!("VTEP {local}, dstport {port}"),
                );
                e.to_if = nic;
                e.network = network.clone();
            }
            vteps.push(Vtep {
                node: dev,
                dev: name.clone(),
                vni: *vni,
                local: *local,
                network: network.unwrap_or_default(),
            });
        }
        for (i, a) in vteps.iter().enumerate() {
            for b in vteps
                .iter()
                .skip(i + 1)
                .filter(|b| b.vni == a.vni && b.network == a.network)
            {
                let e = self.edge(
                    EdgeKind::Vxlan,
                    a.node.clone(),
                    b.node.clone(),
                    format!("VNI {} {} ↔ {}", a.vni, a.local, b.local),
                );
                e.vni = Some(a.vni);
                e.network = Some(a.network.clone());
                e.from_if = Some(a.dev.clone());
                e.to_if = Some(b.dev.clone());
            }
        }
    }

    /// A container's default route, when its gateway is a host's address (a routed gateway)
    /// rather than a bridge the container is plugged into.
    fn routes(&mut self) {
        let lab = self.lab;
        for (ci, c) in lab.containers.iter().enumerate() {
            let Some((Some(gw), _)) = lab.default_route(ci) else {
                continue;
            };
            let cid = crate::spec::ns_name::node(&lab.name, &c.name);
            let linked: Vec<String> = self
                .g
                .edges
                .iter()
                .filter(|e| e.from == cid)
                .map(|e| e.to.clone())
                .collect();
            let mut holders: Vec<(String, String)> = self
                .addresses
                .iter()
                .filter(|(_, a)| a.iter().any(|a| a.ip() == gw))
                .map(|(k, _)| k.clone())
                .collect();
            holders.sort();
            let held = holders
                .iter()
                .filter_map(|(ns, dev)| self.node_of(ns, dev, None))
                .collect::<Vec<_>>();
            if held.iter().any(|h| linked.contains(h)) {
                continue;
            }
            let router = holders
                .iter()
                .find_map(|(ns, dev)| match self.spaces.get(ns) {
                    Some(Space::Host) => self.node_of(ns, dev, None),
                    _ => None,
                });
            if let Some(to) = router {
                let network = c
                    .endpoints
                    .iter()
                    .map(|e| &lab.networks[e.network])
                    .find(|n| n.is_gateway(gw))
                    .map(|n| n.name.clone());
                self.edge(EdgeKind::Route, cid, to, format!("default via {gw}"))
                    .network = network;
            }
        }
    }
}

/// Text for a renderer: `"` and `\` escaped as DOT and JSON strings need them.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests;
