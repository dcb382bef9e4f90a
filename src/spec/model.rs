//! The checked lab: every name resolved to an index, every address allocated. This is what
//! `plan` consumes and what `up` records in `/run/netlab/<lab>/lab.json`, so `check` and `down`
//! never need the lab file again.

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;
use serde::{Deserialize, Serialize};

/// Maximum length of a Linux interface name (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Lab {
    pub name: String,
    pub description: Option<String>,
    /// Absolute path of the lab file this was built from (informational only).
    pub source: String,
    pub underlay: Underlay,
    pub hosts: Vec<Host>,
    pub networks: Vec<Network>,
    pub containers: Vec<Container>,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Underlay {
    pub subnet: Ipv4Network,
    pub mtu: u32,
}

/// A simulated machine: its own namespace with one NIC on the lab's underlay switch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Host {
    pub name: String,
    pub nic: String,
    pub address: Ipv4Network,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "driver", rename_all = "lowercase")]
pub enum Driver {
    /// Multi-host VXLAN network, Docker's `overlay` driver with a k-v store.
    Overlay { vni: u32 },
    /// Host-local Linux bridge, Docker's user-defined `bridge` (and `docker_gwbridge`).
    Bridge { bridge: String, icc: bool },
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
}

impl Network {
    pub fn is_overlay(&self) -> bool {
        matches!(self.driver, Driver::Overlay { .. })
    }
    pub fn driver_name(&self) -> &'static str {
        match self.driver {
            Driver::Overlay { .. } => "overlay",
            Driver::Bridge { .. } => "bridge",
        }
    }
    /// Docker's namespace name for an overlay network's sandbox on a host.
    pub fn overlay_sandbox(&self) -> String {
        format!("1-{}", &self.id[..10])
    }
}

/// A container's attachment to one network (Docker's endpoint).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Endpoint {
    pub network: usize,
    /// Interface name inside the container: eth0, eth1, ... in attachment order.
    pub ifname: String,
    pub address: Ipv4Network,
    pub mac: [u8; 6],
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Container {
    pub name: String,
    pub host: usize,
    pub endpoints: Vec<Endpoint>,
    pub default_gateway: Option<Ipv4Addr>,
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
    pub address: Ipv4Addr,
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
    pub fn host_ns(&self, host: usize) -> String {
        ns_name::node(&self.name, &self.hosts[host].name)
    }
    pub fn container_ns(&self, c: usize) -> String {
        ns_name::node(&self.name, &self.containers[c].name)
    }
    pub fn underlay_ns(&self) -> String {
        ns_name::underlay(&self.name)
    }
    pub fn overlay_ns(&self, host: usize, net: usize) -> String {
        ns_name::overlay(
            &self.name,
            &self.hosts[host].name,
            &self.networks[net].overlay_sandbox(),
        )
    }
    /// Namespace of a node (container or host) by name.
    pub fn node_ns(&self, name: &str) -> Option<String> {
        let known = self.containers.iter().any(|c| c.name == name)
            || self.hosts.iter().any(|h| h.name == name);
        known.then(|| ns_name::node(&self.name, name))
    }
}
