//! The checked lab: every name resolved to an index, every address allocated. This is what
//! `plan` consumes and what `up` records in `/run/netlab/<lab>/lab.json`, so `check` and `down`
//! never need the lab file again.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnetwork::{Ipv4Network, Ipv6Network};
use serde::{Deserialize, Serialize};

fn yes() -> bool {
    true
}

fn is_yes(b: &bool) -> bool {
    *b
}

/// Maximum length of a Linux interface name (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Lab {
    pub name: String,
    pub description: Option<String>,
    /// Absolute path of the lab file this was built from (informational only).
    pub source: String,
    pub underlay: Underlay,
    /// `[outside]`: the lab's stand-in for the internet, when the file has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outside: Option<Outside>,
    pub hosts: Vec<Host>,
    pub networks: Vec<Network>,
    pub containers: Vec<Container>,
    pub checks: Vec<Check>,
    /// The lab's scenarios, in file order.
    #[serde(default)]
    pub scenarios: Vec<super::scenario::Scenario>,
    /// Per overlay sandbox (its namespace's name), the N its next `vethN` gets: libnetwork's
    /// per-sandbox counter, kept once run-time changes have touched that sandbox.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub sandbox_next: std::collections::BTreeMap<String, u32>,
    /// The lab's IPsec secret (hex, 32 random bytes) when it has an encrypted overlay: every
    /// ESP key and SPI of the lab is derived from it (`driver::overlay`). Drawn when the lab
    /// file is checked and kept in the lab's state, so both ends of an SA, and every later
    /// change, derive the same keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipsec_secret: Option<String>,
    /// Swarm services (`[services.NAME]`), in file order; their tasks are containers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Service>,
}

/// A swarm service: its virtual IPs and published ports. Its tasks are the containers whose
/// `task` names it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Service {
    pub name: String,
    /// Per network its tasks are on (ingress first when it publishes ports), the service's
    /// virtual IP there: swarm allocates it before any task (seed 004: 10.255.0.4 on
    /// ingress, after the nodes' ingress_sbox; 10.0.0.2 on uber-svc).
    pub vips: Vec<(usize, Ipv4Addr)>,
    /// Ports published on every host through the routing mesh.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePort>,
}

/// `-p PUBLISHED:TARGET[/PROTO]` of `docker service create`: every host's `published` goes to
/// some task's `target`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ServicePort {
    pub published: u16,
    pub target: u16,
    pub proto: crate::kernel::nft::L4Proto,
}

/// A container that is a service's task: service index and slot (1, 2, ...).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Task {
    pub service: usize,
    pub slot: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Underlay {
    pub subnet: Ipv4Network,
    pub mtu: u32,
}

/// "The internet" of seed 000's `ping www.baidu.com`, inside the lab: a namespace with one NIC
/// on the underlay switch holding `gateway`, every host's default route, and `address` on its
/// loopback, where a subnet is local as a whole, so every address of it answers. It has no
/// route into the lab: it sees what leaves a host masqueraded (docker_gwbridge, a bridge's
/// masquerade) as that host's underlay address, and reaches published ports there.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Outside {
    pub name: String,
    /// Its address on the underlay (the underlay's prefix length).
    pub gateway: Ipv4Network,
    /// The subnet it stands for, and its own first address there.
    pub address: Ipv4Network,
}

impl Outside {
    /// Its NIC, the far end of its switch port.
    pub const NIC: &'static str = "eth0";
}

/// A simulated machine: its own namespace with its NICs on the lab's underlay switch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Host {
    pub name: String,
    /// The NIC holding `address` (the first of `nics`).
    pub nic: String,
    pub address: Ipv4Network,
    /// Every NIC, `nic` first. Each is a port of the underlay switch, which forwards 802.1Q
    /// tagged frames untouched, like the articles' trunk port.
    #[serde(default)]
    pub nics: Vec<String>,
    /// 802.1Q sub-interfaces netlab creates on this host (macvlan parents, router addresses).
    #[serde(default)]
    pub vlans: Vec<Vlan>,
    /// Addresses besides `address`, e.g. a router's gateways on its sub-interfaces.
    #[serde(default)]
    pub addresses: Vec<HostAddress>,
    /// IPv4 forwarding on in this host's namespace (and nowhere else).
    #[serde(default)]
    pub forwarding: bool,
    /// Firewall rules of this host's namespace, in file order (nftables table `netlab`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub firewall: Vec<FirewallRule>,
}

/// One rule of a host's firewall: the hook's chain it is in, and the rule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FirewallRule {
    pub chain: crate::kernel::nft::Hook,
    pub rule: crate::kernel::nft::Rule,
}

impl Host {
    /// Every NIC, `nic` first (a record written before hosts had several NICs has only `nic`).
    pub fn all_nics(&self) -> Vec<String> {
        if self.nics.is_empty() {
            vec![self.nic.clone()]
        } else {
            self.nics.clone()
        }
    }
}

/// An 802.1Q sub-interface `name` (like `ens38.10`) of the NIC `nic`, VLAN `id`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Vlan {
    pub name: String,
    pub nic: String,
    pub id: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostAddress {
    pub dev: String,
    pub address: Ipv4Network,
}

/// `NIC.VLAN` (`ens38.10`) split into the NIC and the VLAN id, when the suffix is a number.
/// The id is not range-checked here.
pub fn split_vlan(name: &str) -> Option<(&str, u32)> {
    let (nic, id) = name.rsplit_once('.')?;
    if nic.is_empty() || id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) || id.len() > 9 {
        return None;
    }
    Some((nic, id.parse().ok()?))
}

/// The macvlan modes of `ip link add ... type macvlan mode MODE`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanMode {
    /// Children on one parent reach each other directly (Docker's default).
    Bridge,
    /// Everything goes out to the switch, even between children of one parent.
    Vepa,
    /// Children of one parent never reach each other.
    Private,
    /// One child takes over the parent.
    Passthru,
}

impl MacvlanMode {
    pub const ALL: [MacvlanMode; 4] = [
        MacvlanMode::Bridge,
        MacvlanMode::Vepa,
        MacvlanMode::Private,
        MacvlanMode::Passthru,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            MacvlanMode::Bridge => "bridge",
            MacvlanMode::Vepa => "vepa",
            MacvlanMode::Private => "private",
            MacvlanMode::Passthru => "passthru",
        }
    }
    pub fn parse(s: &str) -> Option<MacvlanMode> {
        MacvlanMode::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// The ipvlan modes of `ip link add ... type ipvlan mode MODE` that Docker takes
/// (`-o ipvlan_mode=`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum IpvlanMode {
    /// Children share the parent's MAC and one broadcast domain; ARP works; Docker's default.
    L2,
    /// The parent routes between its children by IP: no broadcast, no ARP, the default route
    /// is the device itself.
    L3,
}

impl IpvlanMode {
    pub const ALL: [IpvlanMode; 2] = [IpvlanMode::L2, IpvlanMode::L3];
    pub fn as_str(self) -> &'static str {
        match self {
            IpvlanMode::L2 => "l2",
            IpvlanMode::L3 => "l3",
        }
    }
    pub fn parse(s: &str) -> Option<IpvlanMode> {
        IpvlanMode::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "driver", rename_all = "lowercase")]
pub enum Driver {
    /// Multi-host VXLAN network, Docker's `overlay` driver with a k-v store.
    Overlay {
        vni: u32,
        /// Docker's `--opt encrypted`: VXLAN between the hosts inside IPsec ESP.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        encrypted: bool,
    },
    /// Host-local Linux bridge, Docker's user-defined `bridge` (and `docker_gwbridge`).
    Bridge {
        bridge: String,
        icc: bool,
        /// Docker's `enable_ip_masquerade` (on unless the lab file turns it off): what leaves
        /// the subnet for elsewhere leaves as the host.
        #[serde(default = "yes", skip_serializing_if = "is_yes")]
        masquerade: bool,
    },
    /// Host-local macvlan on a host interface (`ens33`, or a sub-interface like `ens38.10`).
    /// No bridge and no gateway address: the gateway lives elsewhere (a router host) or nowhere.
    /// Without a parent (and always when internal), its parent is a dummy device the host plan
    /// creates (`dummy_parent`), named as Docker names it (`dm-` and the id's first 12 digits).
    Macvlan {
        parent: Parent,
        mode: MacvlanMode,
        /// No parent was given: a dummy device is the parent on each host.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        dummy_parent: bool,
    },
    /// Host-local ipvlan on a host interface, like macvlan but the children share the
    /// parent's MAC. Without a parent, its parent is a dummy device the host plan creates
    /// (`dummy_parent`), named as Docker names it (`di-` and the id's first 12 digits), so its
    /// containers on one host reach only each other.
    Ipvlan {
        parent: Parent,
        mode: IpvlanMode,
        /// No parent was given: a dummy device is the parent on each host. That is not
        /// internal by itself (`Network::internal` is `internal = true`'s).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        dummy_parent: bool,
    },
}

/// The parent device of a macvlan or ipvlan network: one name on every host (`parent =
/// "ens33"`), or one per host (`parent = { node-1 = "ens33.10", node-2 = "ens32.10" }`: seed
/// 003's two nodes name their NICs ens33 and ens32). Recorded as written: a string or a table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Parent {
    All(String),
    PerHost(indexmap::IndexMap<String, String>),
}

impl From<&str> for Parent {
    fn from(p: &str) -> Parent {
        Parent::All(p.to_string())
    }
}

impl Default for Parent {
    fn default() -> Parent {
        Parent::All(String::new())
    }
}

impl Parent {
    /// The device on host `host`, if the network has one there.
    pub fn on(&self, host: &str) -> Option<&str> {
        match self {
            Parent::All(p) => Some(p),
            Parent::PerHost(m) => m.get(host).map(String::as_str),
        }
    }
    /// Every device named, once each, in the order written.
    pub fn devices(&self) -> Vec<&str> {
        match self {
            Parent::All(p) => vec![p.as_str()],
            Parent::PerHost(m) => {
                let mut out: Vec<&str> = Vec::new();
                for d in m.values() {
                    if !out.contains(&d.as_str()) {
                        out.push(d);
                    }
                }
                out
            }
        }
    }
}

impl std::fmt::Display for Parent {
    /// `ens33`, or `node-1: ens33.10, node-2: ens32.10`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Parent::All(p) => f.write_str(p),
            Parent::PerHost(m) => {
                let all: Vec<String> = m.iter().map(|(h, d)| format!("{h}: {d}")).collect();
                f.write_str(&all.join(", "))
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Network {
    pub name: String,
    /// 64 hex digits, derived from the lab and network names (stable across runs).
    pub id: String,
    #[serde(flatten)]
    pub driver: Driver,
    pub subnet: Ipv4Network,
    pub gateway: Ipv4Addr,
    /// Created by netlab rather than declared (docker_gwbridge).
    pub implicit: bool,
    /// Docker's `--internal`: no way out. Its endpoints give no default route, and a container
    /// on it (and on no other network) gets no docker_gwbridge leg.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    /// The lab file gave a subnet and no gateway: `docker network inspect` then shows only
    /// the subnet in IPAM.Config (`docker network create --subnet`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub subnet_only: bool,
    /// Docker's `com.docker.network.driver.mtu` (bridge and overlay drivers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Docker's `--ipv6`: the network's IPv6 subnet and gateway, beside its IPv4 ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Subnet6>,
    /// The IPv4 subnets after the first (`subnet` and `gateway` above), as Docker's repeated
    /// `--subnet` (macvlan and ipvlan networks): addresses come from the first with one free.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<Pool>,
    /// The hosts the lab file creates this host-local network on (`hosts = [...]`), with or
    /// without containers there; empty: the hosts its containers are on ([`Lab::hosts_of`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<usize>,
    /// Swarm's ingress network (`ingress = true`): on every host, each with an `ingress_sbox`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ingress: bool,
}

/// One more IPv4 subnet of a network, and its gateway.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pool {
    pub subnet: Ipv4Network,
    pub gateway: Ipv4Addr,
    /// No gateway was written for it: inspect shows only the subnet.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub subnet_only: bool,
}

/// An IPv6 network's subnet and gateway (`--ipv6 --subnet 2001:db8::/64 --gateway ...`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Subnet6 {
    pub subnet: Ipv6Network,
    pub gateway: Ipv6Addr,
    /// The lab file gave the subnet and no gateway: inspect shows only the subnet.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub subnet_only: bool,
}

impl Network {
    /// Its IPv4 subnets and their gateways, the first first.
    pub fn pools4(&self) -> impl Iterator<Item = (Ipv4Network, Ipv4Addr)> + '_ {
        std::iter::once((self.subnet, self.gateway))
            .chain(self.pools.iter().map(|p| (p.subnet, p.gateway)))
    }

    /// The subnet `ip` is in, and its gateway (the first subnet's when none has it).
    pub fn pool_of(&self, ip: Ipv4Addr) -> (Ipv4Network, Ipv4Addr) {
        self.pools4()
            .find(|(s, _)| s.contains(ip))
            .unwrap_or((self.subnet, self.gateway))
    }

    /// Whether `ip` is the gateway of one of its subnets.
    pub fn is_gateway(&self, ip: Ipv4Addr) -> bool {
        self.pools4().any(|(_, g)| g == ip)
    }

    /// "10.0.0.0/24", or "10.0.0.0/24, 10.0.1.0/24" for several subnets.
    pub fn subnets_text(&self) -> String {
        self.pools4()
            .map(|(s, _)| s.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// What its driver does (`driver::overlay`, ...).
    pub(crate) fn driver(&self) -> &'static dyn crate::driver::NetworkDriver {
        crate::driver::of(&self.driver)
    }
    pub fn is_overlay(&self) -> bool {
        matches!(self.driver, Driver::Overlay { .. })
    }
    pub fn is_macvlan(&self) -> bool {
        matches!(self.driver, Driver::Macvlan { .. })
    }
    /// How many containers of one host this network takes: a Linux bridge has at most
    /// [`super::BRIDGE_MAX_PORTS`] ports (BR_MAX_PORTS - 1; the kernel refuses the next with
    /// EXFULL), and an overlay's br0 also holds vxlan0. macvlan has no bridge.
    pub fn container_limit(&self) -> Option<usize> {
        self.driver().container_limit()
    }
    /// Containers on different hosts reach each other on this network: overlays over VXLAN,
    /// macvlan over the hosts' shared segment.
    pub fn spans_hosts(&self) -> bool {
        self.driver().spans_hosts()
    }
    pub fn driver_name(&self) -> &'static str {
        self.driver().name()
    }
    /// An endpoint here can carry its container's default route (Docker: the network gives
    /// external connectivity): not an overlay (whose way out is docker_gwbridge), not internal.
    pub fn gives_default_route(&self) -> bool {
        !self.internal && self.driver().gives_default_route()
    }
    /// Docker's namespace name for an overlay network's sandbox on a host.
    pub fn overlay_sandbox(&self) -> String {
        format!("1-{}", &self.id[..10])
    }
    /// Docker's namespace name for this overlay's load balancer sandbox on a host (libnetwork's
    /// `lb_` and the first 9 characters of the id: seed 004's lb_kzxwwwtun).
    pub fn lb_sandbox(&self) -> String {
        format!("lb_{}", &self.id[..9])
    }
}

/// A container's attachment to one network (Docker's endpoint).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Endpoint {
    pub network: usize,
    /// Interface name inside the container: eth0, eth1, ... in attachment order.
    pub ifname: String,
    pub address: Ipv4Network,
    /// Its IPv6 address, on a network with IPv6 (added with nodad, as Docker does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address6: Option<Ipv6Network>,
    pub mac: [u8; 6],
    /// On an overlay: the N of `vethN`, this endpoint's interface in the host's overlay sandbox.
    /// Unset at `up`, where a sandbox's veths are numbered in order; set by run-time changes,
    /// which number as libnetwork does (a sandbox's counter only goes up, so an endpoint keeps
    /// its name while others come and go).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_if: Option<u32>,
    /// Other names the container answers to on this network (Docker's network aliases).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Addresses besides `address`, each a /32: the virtual IPs a swarm load balancer holds
    /// (ingress_sbox's 10.255.0.4/32 in seed 004, a service's VIP in its lb_ sandbox).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secondary: Vec<Ipv4Network>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Container {
    pub name: String,
    pub host: usize,
    pub endpoints: Vec<Endpoint>,
    pub default_gateway: Option<Ipv4Addr>,
    /// Docker's `--network none` or `--network host` (no endpoints then).
    #[serde(default, skip_serializing_if = "NetworkMode::is_default")]
    pub mode: NetworkMode,
    /// Published ports (`docker run -p`): DNAT on its host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PublishedPort>,
    /// Not a container but its host's `ingress_sbox`, the sandbox swarm gives each node on
    /// the ingress network (eth0 there, eth1 on docker_gwbridge), named `HOST.ingress_sbox`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ingress_sbox: bool,
    /// Not a container but swarm's load balancer sandbox of this overlay network on its host
    /// (`lb_<first 9 of the network id>`, seed 004's lb_kzxwwwtun), named `HOST.lb_<id>`:
    /// eth0 on the network, with the virtual IPs of the network's services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lb: Option<usize>,
    /// The service this container is a task of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<Task>,
}

impl Container {
    /// A sandbox swarm makes (ingress_sbox, a load balancer's lb_), not a container: no
    /// names, not counted, not connectable.
    pub fn is_sandbox(&self) -> bool {
        self.ingress_sbox || self.lb.is_some()
    }
}

/// `-p [IP:]HOST_PORT:CONTAINER_PORT[/PROTO]`: connections to the host's `host_port` (on
/// `host_ip`, or any of the host's addresses) go to the container's `container_port`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PublishedPort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: crate::kernel::nft::L4Proto,
}

impl std::fmt::Display for PublishedPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(ip) = self.host_ip {
            write!(f, "{ip}:")?;
        }
        write!(
            f,
            "{}:{}/{}",
            self.host_port,
            self.container_port,
            self.proto.as_str()
        )
    }
}

/// How a container's network stack is made (Docker's `--network` of `docker run`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// A namespace of its own (a sandbox) with an endpoint per network.
    #[default]
    Sandbox,
    /// A namespace of its own with only `lo`.
    None,
    /// No namespace of its own: the host's.
    Host,
}

impl NetworkMode {
    /// The predefined networks `networks = ["none"]` and `["host"]` select.
    pub const PREDEFINED: [(&'static str, NetworkMode); 2] =
        [("none", NetworkMode::None), ("host", NetworkMode::Host)];
    pub fn is_default(&self) -> bool {
        *self == NetworkMode::Sandbox
    }
    pub fn predefined(network: &str) -> Option<NetworkMode> {
        Self::PREDEFINED
            .iter()
            .find(|(n, _)| *n == network)
            .map(|(_, m)| *m)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Reachable,
    Unreachable,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Check {
    /// Name of the container or host the probe is sent from.
    pub from: String,
    /// As written in the lab file (a name or an address).
    pub to: String,
    pub address: IpAddr,
    pub expect: Expect,
    pub count: u32,
    pub ttl: Option<u8>,
}

/// Docker derives an endpoint's MAC from its IPv4 address: 02:42:a.b.c.d.
pub fn docker_mac(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn format_mac(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Names of the namespaces a lab owns. Lab and node names cannot contain '.', so the
/// `<lab>.` prefix keeps two labs apart and a node apart from the lab's own namespaces.
pub mod ns_name {
    pub fn node(lab: &str, node: &str) -> String {
        format!("{lab}.{node}")
    }
    pub fn underlay(lab: &str) -> String {
        format!("{lab}.underlay")
    }
    pub fn overlay(lab: &str, host: &str, sandbox: &str) -> String {
        format!("{lab}.{host}.{sandbox}")
    }
}

impl Lab {
    /// The endpoint of container `ci` that gives its default route (Docker's gateway endpoint).
    fn default_endpoint(&self, ci: usize) -> Option<&Endpoint> {
        let c = &self.containers[ci];
        let gw = c.default_gateway?;
        c.endpoints
            .iter()
            .find(|e| self.networks[e.network].is_gateway(gw))
    }
    /// Container `ci`'s default route as Docker sets it: the gateway (None for a network that
    /// routes out of the device itself, ipvlan L3) and the device.
    pub fn default_route(&self, ci: usize) -> Option<(Option<Ipv4Addr>, &str)> {
        use crate::driver::DefaultRoute;
        let gw = self.containers[ci].default_gateway?;
        let e = self.default_endpoint(ci)?;
        let net = &self.networks[e.network];
        match net.driver().default_route(&net.driver) {
            DefaultRoute::Gateway => Some((Some(gw), &e.ifname)),
            DefaultRoute::Device => Some((None, &e.ifname)),
            DefaultRoute::None => None,
        }
    }
    /// Container `ci`'s IPv6 default route: through the IPv6 gateway of the network that gives
    /// its IPv4 default route, when that network has IPv6 (libnetwork takes both from the
    /// one gateway endpoint); out of the device on ipvlan L3.
    pub fn default_route6(&self, ci: usize) -> Option<(Option<Ipv6Addr>, &str)> {
        let e = self.default_endpoint(ci)?;
        e.address6?;
        let v6 = self.networks[e.network].ipv6.as_ref()?;
        let (via, dev) = self.default_route(ci)?;
        Some((via.map(|_| v6.gateway), dev))
    }
    pub fn host_ns(&self, host: usize) -> String {
        ns_name::node(&self.name, &self.hosts[host].name)
    }
    /// The namespace container `c` lives in: its own, or its host's in host mode.
    pub fn container_ns(&self, c: usize) -> String {
        let c = &self.containers[c];
        match c.mode {
            NetworkMode::Host => self.host_ns(c.host),
            _ => ns_name::node(&self.name, &c.name),
        }
    }
    pub fn underlay_ns(&self) -> String {
        ns_name::underlay(&self.name)
    }
    /// The outside's namespace, when the lab has one.
    pub fn outside_ns(&self) -> Option<String> {
        self.outside
            .as_ref()
            .map(|o| ns_name::node(&self.name, &o.name))
    }
    /// `(container index, endpoint index)` of every endpoint on network `ni`, in file order
    /// (the order the plan numbers an overlay sandbox's veths in).
    pub fn endpoints_on(&self, ni: usize) -> Vec<(usize, usize)> {
        self.containers
            .iter()
            .enumerate()
            .flat_map(|(ci, c)| {
                c.endpoints
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.network == ni)
                    .map(move |(ei, _)| (ci, ei))
            })
            .collect()
    }

    /// The hosts network `ni` exists on, in host order: those the lab file creates it on
    /// (`hosts = [...]`) and those with a container on it (an overlay's sandbox, a bridge, a
    /// macvlan's parent are there).
    pub fn hosts_of(&self, ni: usize) -> Vec<usize> {
        let mut on = vec![false; self.hosts.len()];
        for &hi in &self.networks[ni].hosts {
            on[hi] = true;
        }
        for c in &self.containers {
            if c.endpoints.iter().any(|e| e.network == ni) {
                on[c.host] = true;
            }
        }
        (0..on.len()).filter(|&hi| on[hi]).collect()
    }

    /// How many containers the lab file has, tasks included (swarm's sandboxes are not
    /// containers).
    pub fn user_containers(&self) -> usize {
        self.containers.iter().filter(|c| !c.is_sandbox()).count()
    }

    /// Network `ni` exists on host `hi` ([`Lab::hosts_of`]).
    pub fn is_on(&self, ni: usize, hi: usize) -> bool {
        self.networks[ni].hosts.contains(&hi)
            || self
                .containers
                .iter()
                .any(|c| c.host == hi && c.endpoints.iter().any(|e| e.network == ni))
    }

    /// [`Lab::endpoints_on`] of containers on host `hi`.
    pub fn endpoints_on_host(&self, ni: usize, hi: usize) -> Vec<(usize, usize)> {
        let mut v = self.endpoints_on(ni);
        v.retain(|(ci, _)| self.containers[*ci].host == hi);
        v
    }

    pub fn overlay_ns(&self, host: usize, net: usize) -> String {
        ns_name::overlay(
            &self.name,
            &self.hosts[host].name,
            &self.networks[net].overlay_sandbox(),
        )
    }
    /// The address container `from` pings to reach container `to`, as a check resolves a
    /// container target: its address on the first network (in `to`'s order) both are on and
    /// that connects them (one spanning hosts, or a host-local one on the host both are on),
    /// else its first address.
    /// A container in host mode has its host's address.
    pub fn container_address(&self, from: usize, to: usize) -> Option<Ipv4Addr> {
        let (s, t) = (&self.containers[from], &self.containers[to]);
        if t.mode == NetworkMode::Host {
            return Some(self.hosts[t.host].address.ip());
        }
        let shared = t.endpoints.iter().find(|te| {
            s.endpoints.iter().any(|se| {
                se.network == te.network
                    && (self.networks[te.network].spans_hosts() || s.host == t.host)
            })
        });
        shared.or(t.endpoints.first()).map(|e| e.address.ip())
    }

    /// The containers that are tasks of service `si`, by slot.
    pub fn tasks_of(&self, si: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.containers.len())
            .filter(|&ci| self.containers[ci].task.is_some_and(|t| t.service == si))
            .collect();
        v.sort_by_key(|&ci| self.containers[ci].task.map(|t| t.slot));
        v
    }

    /// Host `hi`'s network namespaces as its Docker daemon names them under
    /// /var/run/docker/netns (seed 004's `ip netns` on a node, docker_netns.sh): each overlay
    /// sandbox `1-<network id>` where the host has a container on the overlay, and each local
    /// container's sandbox (the first 12 digits of its sandbox id). `(Docker's name, netlab's)`.
    pub fn host_view(&self, hi: usize) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (ni, net) in self.networks.iter().enumerate() {
            let here = self
                .containers
                .iter()
                .any(|c| c.host == hi && c.endpoints.iter().any(|e| e.network == ni));
            if net.is_overlay() && here {
                out.push((net.overlay_sandbox(), self.overlay_ns(hi, ni)));
            }
        }
        for (ci, c) in self.containers.iter().enumerate() {
            if c.host == hi && c.ingress_sbox {
                out.push(("ingress_sbox".to_string(), self.container_ns(ci)));
            } else if let Some(ni) = c.lb.filter(|_| c.host == hi) {
                out.push((self.networks[ni].lb_sandbox(), self.container_ns(ci)));
            } else if c.host == hi && c.mode != NetworkMode::Host {
                out.push((self.sandbox_id(ci)[..12].to_string(), self.container_ns(ci)));
            }
        }
        out
    }

    /// Container `ci`'s sandbox id (Docker's SandboxID: 64 hex digits, derived like the ids
    /// of networks), whose first 12 digits name its namespace file in /var/run/docker/netns.
    pub fn sandbox_id(&self, ci: usize) -> String {
        super::network_id(&self.name, &format!("sandbox/{}", self.containers[ci].name))
    }

    /// Namespace of a node (container or host) by name.
    pub fn node_ns(&self, name: &str) -> Option<String> {
        if let Some(ci) = self.containers.iter().position(|c| c.name == name) {
            return Some(self.container_ns(ci));
        }
        let known = self.hosts.iter().any(|h| h.name == name)
            || self.outside.as_ref().is_some_and(|o| o.name == name);
        known.then(|| ns_name::node(&self.name, name))
    }
}
