//! The lab file exactly as written: serde types that mirror the TOML, with spans kept so that
//! validation can point at `file:line:col`. Nothing here interprets values.
//!
//! The file is read entry by entry ([`RawLab::read`]), not in one serde pass: serde stops at
//! the first entry of the wrong shape, which would hide every other problem in the file until
//! that one is fixed.

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, Range};

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema};
use serde::de::{value::MapAccessDeserializer, DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_spanned::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

pub type Name = Spanned<String>;

/// A TOML table read as `T`. serde's derived structs also accept an array, filling fields by
/// position, so `h1 = ["eth7", "10.1.1.5"]` would pass for a host: this accepts tables only.
#[derive(Debug)]
pub struct Table<T>(pub T);

impl<T> Deref for Table<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Table<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TableVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for TableVisitor<T> {
            type Value = Table<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Table<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Table)
            }
        }
        d.deserialize_map(TableVisitor(PhantomData))
    }
}

/// The top-level tables of a lab file.
pub(crate) const SECTIONS: &[&str] = &[
    "lab",
    "underlay",
    "outside",
    "hosts",
    "networks",
    "containers",
    "services",
    "checks",
    "scenarios",
];

/// The lab file, section by section. An entry of the wrong shape (a missing or unknown key, a
/// wrong type) is left out and its problem returned by [`RawLab::read`]; its name is kept in
/// `unread_*` so that references to it are not reported again as undefined.
#[derive(Debug, Default)]
pub struct RawLab {
    /// `None`: `[lab]` is missing or unreadable (reported).
    pub lab: Option<Spanned<Table<RawLabMeta>>>,
    pub underlay: Option<Spanned<Table<RawUnderlay>>>,
    /// `[underlay]` is there but unreadable: its subnet is unknown.
    pub underlay_unread: bool,
    pub outside: Option<Spanned<Table<RawOutside>>>,
    /// `[outside]` is there but unreadable: the lab has one, its settings unknown.
    pub outside_unread: bool,
    pub hosts: IndexMap<Name, Spanned<Table<RawHost>>>,
    pub networks: IndexMap<Name, Spanned<Table<RawNetwork>>>,
    pub containers: IndexMap<Name, Spanned<Table<RawContainer>>>,
    pub services: IndexMap<Name, Spanned<Table<RawService>>>,
    pub checks: Vec<Spanned<Table<RawCheck>>>,
    pub scenarios: IndexMap<Name, Spanned<Table<super::scenario::RawScenario>>>,
    pub unread_scenarios: Unread,
    pub unread_hosts: Unread,
    pub unread_networks: Unread,
    pub unread_containers: Unread,
    pub unread_services: Unread,
}

/// Names of a section's entries that exist but could not be read; `all` when the section
/// itself could not be read (then any name may exist).
#[derive(Debug, Default)]
pub struct Unread {
    names: HashSet<String>,
    all: bool,
}

impl Unread {
    pub fn contains(&self, name: &str) -> bool {
        self.all || self.names.contains(name)
    }
    pub fn is_empty(&self) -> bool {
        !self.all && self.names.is_empty()
    }
}

/// A problem with the shape of the file, where TOML or serde saw it.
#[derive(Debug)]
pub struct ShapeError {
    pub span: Option<Range<usize>>,
    pub message: String,
}

impl From<toml::de::Error> for ShapeError {
    fn from(e: toml::de::Error) -> ShapeError {
        ShapeError {
            span: e.span(),
            message: e.message().to_string(),
        }
    }
}

impl RawLab {
    /// Reads every section and every entry on its own, so that one entry of the wrong shape
    /// hides nothing else: returns the entries that could be read and the problems of those
    /// that could not. Only a TOML syntax error (the file is not TOML) stops it.
    pub fn read(text: &str) -> Result<(RawLab, Vec<ShapeError>), ShapeError> {
        let root = DeTable::parse(text)?;
        let root_span = root.span();
        let mut errors = Vec::new();
        let mut raw = RawLab::default();
        let mut lab_seen = false;
        for (key, value) in root.into_inner() {
            let key_span = key.span();
            match key.get_ref().as_ref() {
                "lab" => {
                    lab_seen = true;
                    raw.lab = read_one(value, &mut errors);
                }
                "underlay" => {
                    raw.underlay = read_one(value, &mut errors);
                    raw.underlay_unread = raw.underlay.is_none();
                }
                "outside" => {
                    raw.outside = read_one(value, &mut errors);
                    raw.outside_unread = raw.outside.is_none();
                }
                "hosts" => raw.hosts = read_named(value, &mut raw.unread_hosts, &mut errors),
                "networks" => {
                    raw.networks = read_named(value, &mut raw.unread_networks, &mut errors)
                }
                "containers" => {
                    raw.containers = read_named(value, &mut raw.unread_containers, &mut errors)
                }
                "services" => {
                    raw.services = read_named(value, &mut raw.unread_services, &mut errors)
                }
                "checks" => raw.checks = read_list(value, &mut errors),
                "scenarios" => {
                    raw.scenarios = read_named(value, &mut raw.unread_scenarios, &mut errors)
                }
                other => errors.push(ShapeError {
                    span: Some(key_span),
                    message: <toml::de::Error as serde::de::Error>::unknown_field(other, SECTIONS)
                        .message()
                        .to_string(),
                }),
            }
        }
        if !lab_seen {
            errors.push(ShapeError {
                span: Some(root_span.start..root_span.start),
                message: <toml::de::Error as serde::de::Error>::missing_field("lab")
                    .message()
                    .to_string(),
            });
        }
        Ok((raw, errors))
    }
}

/// One value as `T`; its problem goes to `errors`.
fn read_one<T: DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
    errors: &mut Vec<ShapeError>,
) -> Option<T> {
    T::deserialize(ValueDeserializer::from(value))
        .map_err(|e| errors.push(e.into()))
        .ok()
}

/// A table of named entries (`[hosts.NAME]`), each read on its own.
fn read_named<T: DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
    unread: &mut Unread,
    errors: &mut Vec<ShapeError>,
) -> IndexMap<Name, T> {
    let span = value.span();
    match value.into_inner() {
        DeValue::Table(table) => {
            let mut out = IndexMap::new();
            for (key, value) in table {
                let name = Spanned::new(key.span(), key.into_inner().into_owned());
                match read_one(value, errors) {
                    Some(entry) => {
                        out.insert(name, entry);
                    }
                    None => {
                        unread.names.insert(name.into_inner());
                    }
                }
            }
            out
        }
        other => {
            // Not a table: let serde say so, in its words.
            unread.all = true;
            read_one::<IndexMap<Name, T>>(Spanned::new(span, other), errors).unwrap_or_default()
        }
    }
}

/// An array of entries (`[[checks]]`), each read on its own.
fn read_list<T: DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
    errors: &mut Vec<ShapeError>,
) -> Vec<T> {
    let span = value.span();
    match value.into_inner() {
        DeValue::Array(items) => items
            .into_iter()
            .filter_map(|v| read_one(v, errors))
            .collect(),
        other => read_one::<Vec<T>>(Spanned::new(span, other), errors).unwrap_or_default(),
    }
}

// The JSON Schema of the lab file (`netlab schema`) is derived from these types: each field
// says which plain type it is read as (`Spanned` is only where it was written) and the ranges
// and values validation accepts, and its doc comment is its description. Validation (mod.rs)
// stays the authority; the schema only describes it, for editors and CI.

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLabMeta {
    /// The lab's name: the prefix of its namespaces and its /run/netlab directory.
    #[schemars(with = "String", length(max = 32), regex(pattern = NAME_PATTERN))]
    pub name: Name,
    #[serde(default)]
    #[schemars(with = "String")]
    pub description: Option<String>,
}

/// The hosts' shared layer-2 segment, a switch in the lab's own namespace.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawUnderlay {
    /// IPv4 subnet of the hosts' addresses, /8 to /30 (default 10.1.1.0/24).
    #[serde(default)]
    #[schemars(with = "String", extend("default" = "10.1.1.0/24"))]
    pub subnet: Option<Spanned<String>>,
    /// MTU of the underlay; overlay devices get mtu - 50 (default 1500).
    #[serde(default)]
    #[schemars(with = "i64", range(min = 1280, max = 9000), extend("default" = 1500))]
    pub mtu: Option<Spanned<i64>>,
    /// NIC name inside every host that names none (default "ens33").
    #[serde(default)]
    #[schemars(with = "String", extend("default" = "ens33"))]
    pub nic: Option<Name>,
}

/// The lab's stand-in for the internet: a namespace on the underlay switch, every host's
/// default route; containers reach it masqueraded through docker_gwbridge (or their bridge).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOutside {
    /// The name checks, steps, ping, trace and exec call it by (default "outside").
    #[serde(default)]
    #[schemars(with = "String", length(max = 48), regex(pattern = NAME_PATTERN), extend("default" = "outside"))]
    pub name: Option<Name>,
    /// The internet it stands for, as its own address and prefix: every address of the
    /// subnet answers. A documentation, private or shared range, never a public one
    /// (default 203.0.113.1/24, TEST-NET-3).
    #[serde(default)]
    #[schemars(with = "String", extend("default" = "203.0.113.1/24"))]
    pub address: Option<Spanned<String>>,
    /// Its address on the underlay, every host's default gateway (default: the underlay
    /// subnet's last usable address).
    #[serde(default)]
    #[schemars(with = "String")]
    pub gateway: Option<Spanned<String>>,
}

/// A simulated machine: its own namespace, its NICs on the underlay switch.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("not" = { "required": ["nic", "nics"] }))]
pub struct RawHost {
    /// The host's only NIC (default: [underlay] nic).
    #[serde(default)]
    #[schemars(with = "String")]
    pub nic: Option<Name>,
    /// Every NIC of the host, each plugged into the underlay switch; the first holds `address`.
    #[serde(default)]
    #[schemars(with = "Vec<String>", length(min = 1), extend("uniqueItems" = true))]
    pub nics: Option<Spanned<Vec<Name>>>,
    /// Underlay address (default: the next free one of the underlay subnet).
    #[serde(default)]
    #[schemars(with = "String")]
    pub address: Option<Spanned<String>>,
    /// More addresses, by device: `addresses = { "ens38.10" = "172.16.10.254/24" }`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    pub addresses: IndexMap<Name, Spanned<String>>,
    /// IPv4 forwarding in this host's namespace (a router); default false.
    #[serde(default)]
    #[schemars(with = "bool", extend("default" = false))]
    pub forwarding: Option<Spanned<bool>>,
    /// Firewall rules in this host's namespace (nftables, built in-process), in order:
    /// `[[hosts.vm-vpn.firewall]] chain = "postrouting", oif = "ens38.10", action = "masquerade"`.
    #[serde(default)]
    #[schemars(with = "Vec<RawRule>")]
    pub firewall: Vec<Spanned<Table<RawRule>>>,
}

/// One firewall rule: a chain, what it matches (all of it), and what it does.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// prerouting (dnat), input, forward, output (filter) or postrouting (masquerade, snat).
    #[schemars(with = "String", transform = chain_values)]
    pub chain: Spanned<String>,
    /// Input interface name.
    #[serde(default)]
    #[schemars(with = "String")]
    pub iif: Option<Name>,
    /// Output interface name.
    #[serde(default)]
    #[schemars(with = "String")]
    pub oif: Option<Name>,
    /// Source address or subnet.
    #[serde(default)]
    #[schemars(with = "String")]
    pub saddr: Option<Spanned<String>>,
    /// Destination address or subnet.
    #[serde(default)]
    #[schemars(with = "String")]
    pub daddr: Option<Spanned<String>>,
    /// tcp, udp or icmp.
    #[serde(default)]
    #[schemars(with = "String", transform = proto_values)]
    pub proto: Option<Spanned<String>>,
    /// TCP or UDP destination port (needs proto tcp or udp).
    #[serde(default)]
    #[schemars(with = "i64", range(min = 1, max = 65535))]
    pub dport: Option<Spanned<i64>>,
    /// Connection tracking states, any of: new, established, related, invalid.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub ct: Option<Spanned<Vec<Spanned<String>>>>,
    /// accept, drop, masquerade, dnat or snat.
    #[schemars(with = "String", transform = action_values)]
    pub action: Spanned<String>,
    /// dnat / snat: the new address, `ADDR` or (dnat) `ADDR:PORT`.
    #[serde(default)]
    #[schemars(with = "String")]
    pub to: Option<Spanned<String>>,
}

/// A Docker network.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    extend("dependentRequired" = { "gateway": ["subnet"], "gateway6": ["subnet6"], "subnet6": ["ipv6"] }),
    transform = keys_by_driver
)]
pub struct RawNetwork {
    /// overlay (multi-host, VXLAN), bridge, macvlan or ipvlan (host-local).
    #[schemars(with = "String", transform = driver_values)]
    pub driver: Spanned<String>,
    /// The network's id, as an article prints it: 64 hex digits (a daemon's) or swarm's 25
    /// lowercase letters and digits (default: derived from the lab and network names). Names
    /// what is named after it: the overlay sandbox `1-<first 10>`, `br-<first 12>`.
    #[serde(default)]
    #[schemars(with = "String", regex(pattern = r"^([0-9a-f]{64}|[0-9a-z]{25})$"))]
    pub id: Option<Spanned<String>>,
    /// IPv4 subnet, /8 to /30 (default: Docker's pools); macvlan and ipvlan networks take a
    /// list, as Docker's repeated --subnet: addresses come from the first with a free one.
    #[serde(default)]
    #[schemars(with = "ListSchema")]
    pub subnet: Option<Spanned<RawList>>,
    /// Gateway address; needs subnet (default: the subnet's first address). With several
    /// subnets, a list: each gateway in its own subnet (the others get their first address).
    #[serde(default)]
    #[schemars(with = "ListSchema")]
    pub gateway: Option<Spanned<RawList>>,
    /// Docker's `--ipv6`: the network is dual stack, IPv6 beside IPv4 (default false).
    #[serde(default)]
    #[schemars(with = "bool")]
    pub ipv6: Option<Spanned<bool>>,
    /// IPv6 subnet, /16 to /120; needs ipv6 = true (default: a /64 of a unique local prefix
    /// derived from the network's id).
    #[serde(default)]
    #[schemars(with = "String")]
    pub subnet6: Option<Spanned<String>>,
    /// IPv6 gateway address; needs subnet6 (default: the subnet's first address).
    #[serde(default)]
    #[schemars(with = "String")]
    pub gateway6: Option<Spanned<String>>,
    /// Overlay only: the VXLAN id (default 256, 257, ...).
    #[serde(default)]
    #[schemars(with = "i64", range(min = 1, max = 16777215))]
    pub vni: Option<Spanned<i64>>,
    /// Overlay only: Docker's `--opt encrypted`, the VXLAN traffic between hosts in IPsec ESP
    /// (transport mode, AES-GCM), with keys drawn per lab.
    #[serde(default)]
    #[schemars(with = "bool", extend("default" = false))]
    pub encrypted: Option<Spanned<bool>>,
    /// Bridge driver: Docker's `com.docker.network.bridge.enable_icc` (default true).
    #[serde(default)]
    #[schemars(with = "bool", extend("default" = true))]
    pub icc: Option<Spanned<bool>>,
    /// Bridge driver: Docker's `com.docker.network.bridge.enable_ip_masquerade` (default
    /// true): what leaves the subnet for elsewhere leaves with the host's address.
    #[serde(default)]
    #[schemars(with = "bool", extend("default" = true))]
    pub masquerade: Option<Spanned<bool>>,
    /// Macvlan and ipvlan drivers: the host interface (`ens33`, or `ens38.10` for VLAN 10 on
    /// ens38), or one per host when their NICs are named differently (`parent = { node-1 =
    /// "ens33.10", node-2 = "ens32.10" }`); an ipvlan network without one is internal (its
    /// parent is a dummy device).
    #[serde(default)]
    #[schemars(with = "ParentSchema")]
    pub parent: Option<Spanned<RawParent>>,
    /// Macvlan driver: bridge (default), vepa, private or passthru; ipvlan driver: l2 (default)
    /// or l3.
    #[serde(default)]
    #[schemars(with = "String", transform = modes)]
    pub mode: Option<Spanned<String>>,
    /// Docker's `--internal`: no way out (no default route, no docker_gwbridge leg).
    #[serde(default)]
    #[schemars(with = "bool", extend("default" = false))]
    pub internal: Option<Spanned<bool>>,
    /// Bridge and overlay drivers: Docker's `com.docker.network.driver.mtu`. A bridge
    /// network's veths get it; an overlay's VXLAN, bridge and containers get it less 50
    /// (default: the underlay's MTU).
    #[serde(default)]
    #[schemars(with = "i64", range(min = 1280, max = 9000))]
    pub mtu: Option<Spanned<i64>>,
    /// Bridge, macvlan and ipvlan drivers (host-local networks): the hosts the network is
    /// created on, as `docker network create` is run on each of those hosts' daemons, whether
    /// or not a container of the lab joins it there (default: the hosts its containers are
    /// on). A container on the network must be on one of them.
    #[serde(default)]
    #[schemars(with = "Vec<String>", length(min = 1), extend("uniqueItems" = true))]
    pub hosts: Option<Spanned<Vec<Name>>>,
    /// Overlay only: swarm's routing-mesh network (`docker network create --ingress`, the
    /// `ingress` that `docker swarm init` makes): VNI 4096 (the lab's other overlays then count
    /// from 4097), subnet 10.255.0.0/16 by default, on every host, each with its
    /// `ingress_sbox` (eth0 on it, eth1 on docker_gwbridge). One per lab.
    #[serde(default)]
    #[schemars(with = "bool", extend("default" = false))]
    pub ingress: Option<Spanned<bool>>,
}

/// A value written once or as a list (`subnet = "10.0.0.0/24"`, `subnet = ["a", "b"]`).
#[derive(Debug)]
pub enum RawList {
    One(String),
    Many(Vec<Spanned<String>>),
}

impl RawList {
    /// Each value, where it is written (a single value where the key's value is).
    pub fn items(written: &Spanned<RawList>) -> Vec<Spanned<String>> {
        match written.get_ref() {
            RawList::One(s) => vec![Spanned::new(written.span(), s.clone())],
            RawList::Many(v) => v.clone(),
        }
    }
}

/// The schema of a [`RawList`]: a string, or a non-empty list of strings.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ListSchema {
    One(String),
    Many(#[schemars(length(min = 1))] Vec<String>),
}

impl<'de> Deserialize<'de> for RawList {
    // By hand, as RawParent: an untagged enum would lose the items' spans.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = RawList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, or a list of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawList, E> {
                Ok(RawList::One(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawList, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<Spanned<String>>()? {
                    out.push(s);
                }
                if out.is_empty() {
                    return Err(serde::de::Error::custom(
                        "an empty list: give at least one value, or leave the key out",
                    ));
                }
                Ok(RawList::Many(out))
            }
        }
        d.deserialize_any(ListVisitor)
    }
}

/// `parent` as written: one interface name for every host, or a table of one per host.
#[derive(Debug)]
pub enum RawParent {
    One(String),
    PerHost(IndexMap<Name, Name>),
}

/// The schema of `parent`: a string, or a table of strings by host.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ParentSchema {
    One(String),
    PerHost(IndexMap<String, String>),
}

impl<'de> Deserialize<'de> for RawParent {
    // By hand, not `#[serde(untagged)]`: an untagged enum buffers its input, and the buffer
    // loses the spans of the per-host names (serde_spanned needs toml's own deserializer).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ParentVisitor;
        impl<'de> Visitor<'de> for ParentVisitor {
            type Value = RawParent;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an interface name, or a table of one per host")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawParent, E> {
                Ok(RawParent::One(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawParent, A::Error> {
                let mut out = IndexMap::new();
                while let Some((host, dev)) = map.next_entry::<Name, Name>()? {
                    out.insert(host, dev);
                }
                Ok(RawParent::PerHost(out))
            }
        }
        d.deserialize_any(ParentVisitor)
    }
}

impl RawNetwork {
    /// Where option `key` is written, if it is: what a driver checks before reading a key.
    pub fn span_of(&self, key: &str) -> Option<std::ops::Range<usize>> {
        match key {
            "vni" => self.vni.as_ref().map(|v| v.span()),
            "encrypted" => self.encrypted.as_ref().map(|v| v.span()),
            "icc" => self.icc.as_ref().map(|v| v.span()),
            "masquerade" => self.masquerade.as_ref().map(|v| v.span()),
            "parent" => self.parent.as_ref().map(|v| v.span()),
            "mode" => self.mode.as_ref().map(|v| v.span()),
            "mtu" => self.mtu.as_ref().map(|v| v.span()),
            "hosts" => self.hosts.as_ref().map(|v| v.span()),
            "ingress" => self.ingress.as_ref().map(|v| v.span()),
            _ => None,
        }
    }
}

/// A container: its own namespace on one host.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawContainer {
    /// One of the hosts.
    #[schemars(with = "String")]
    pub host: Name,
    /// The networks it joins: eth0, eth1, ... in this order.
    #[schemars(with = "Vec<String>", length(min = 1), extend("uniqueItems" = true))]
    pub networks: Spanned<Vec<Name>>,
    /// Static addresses: `ip = { ov_net1 = "10.0.0.10" }`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    pub ip: IndexMap<Name, Spanned<String>>,
    /// Static IPv6 addresses on networks with ipv6 = true: `ip6 = { web = "2001:db8::10" }`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    pub ip6: IndexMap<Name, Spanned<String>>,
    /// Other names it answers to on a network, as `docker network connect --alias`:
    /// `aliases = { ov_net1 = ["db", "primary"] }`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, Vec<String>>")]
    pub aliases: IndexMap<Name, Spanned<Vec<Spanned<String>>>>,
    /// Published ports, as `docker run -p`: `"8080:80"`, `"5353:53/udp"`, `"10.1.1.21:8080:80"`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub ports: Vec<Spanned<String>>,
}

/// A swarm service (`docker service create`) of a lab with an ingress network: its tasks are
/// containers named as Docker names them (`SERVICE.SLOT.TASK_ID`), each with a virtual IP
/// per network that balances connections over them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    /// The overlay networks its tasks join (`--network`), in this order (after ingress when
    /// it publishes ports).
    #[serde(default)]
    #[schemars(with = "Vec<String>", extend("uniqueItems" = true))]
    pub networks: Option<Spanned<Vec<Name>>>,
    /// How many tasks (`--replicas`).
    #[serde(default)]
    #[schemars(with = "i64", range(min = 1, max = 1000), extend("default" = 1))]
    pub replicas: Option<Spanned<i64>>,
    /// The hosts its tasks run on, task after task in turn (default: every host, in file
    /// order, as swarm spreads tasks over its nodes).
    #[serde(default)]
    #[schemars(with = "Vec<String>", length(min = 1), extend("uniqueItems" = true))]
    pub hosts: Option<Spanned<Vec<Name>>>,
    /// Ports published on every host through swarm's routing mesh (`-p 80:80`):
    /// `"PUBLISHED:TARGET[/tcp|udp]"`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub publish: Vec<Spanned<String>>,
    /// The tasks' ids, slot by slot (swarm's 25 lowercase letters and digits); the tasks
    /// after the list get derived ones.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub tasks: Vec<Spanned<String>>,
}

/// A ping `up` and `check` send, and the result the lab expects.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend(
    // A TTL is only seen on replies.
    "if" = { "properties": { "expect": { "const": "unreachable" } }, "required": ["expect"] },
    "then" = { "not": { "required": ["ttl"] } }
))]
pub struct RawCheck {
    /// The container, host or outside the ping is sent from.
    #[schemars(with = "String")]
    pub from: Name,
    /// A container, a host, the outside or an IPv4 address.
    #[schemars(with = "String")]
    pub to: Name,
    /// reachable (default) or unreachable.
    #[serde(default)]
    #[schemars(with = "String", transform = expect_values, extend("default" = "reachable"))]
    pub expect: Option<Spanned<String>>,
    /// Echo requests (default 2).
    #[serde(default)]
    #[schemars(with = "i64", range(min = 1, max = 100), extend("default" = 2))]
    pub count: Option<Spanned<i64>>,
    /// The TTL the replies must arrive with (reachable only).
    #[serde(default)]
    #[schemars(with = "i64", range(min = 1, max = 255))]
    pub ttl: Option<Spanned<i64>>,
}

/// Lab, node, network and scenario names (at most 32 bytes for a lab, 48 for the others).
pub(crate) const NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_-]*$";

/// `"enum": values` on a string schema.
pub(crate) fn one_of(schema: &mut Schema, values: &[&str]) {
    schema.insert("enum".into(), values.into());
}

/// Per driver, `if` `driver` is it `then` no other driver's keys (as `Validator::networks`
/// checks them).
fn keys_by_driver(schema: &mut Schema) {
    use crate::driver::ALL;
    let rules: Vec<serde_json::Value> = ALL
        .iter()
        .map(|driver| {
            let mut others: Vec<&str> = ALL
                .iter()
                .filter(|d| d.name() != driver.name())
                .flat_map(|d| d.keys().iter().copied())
                .filter(|k| !driver.keys().contains(k))
                .collect();
            others.sort_unstable();
            others.dedup();
            let mut then = serde_json::json!({
                "not": { "anyOf": others.iter().map(|k| serde_json::json!({ "required": [k] })).collect::<Vec<_>>() },
            });
            // `mode` takes each driver's own values.
            let modes = driver.mode_values();
            if !modes.is_empty() {
                then["properties"] = serde_json::json!({ "mode": { "enum": modes, "default": modes[0] } });
            }
            serde_json::json!({
                "if": { "properties": { "driver": { "const": driver.name() } }, "required": ["driver"] },
                "then": then,
            })
        })
        .collect();
    schema.insert("allOf".into(), rules.into());
}

fn driver_values(schema: &mut Schema) {
    one_of(schema, &crate::driver::names());
}

fn chain_values(schema: &mut Schema) {
    one_of(
        schema,
        &["prerouting", "input", "forward", "output", "postrouting"],
    );
}

fn proto_values(schema: &mut Schema) {
    one_of(schema, &["tcp", "udp", "icmp"]);
}

fn action_values(schema: &mut Schema) {
    one_of(schema, &["accept", "drop", "masquerade", "dnat", "snat"]);
}

/// Every driver's modes (each driver's own are its `then` in [`keys_by_driver`]).
fn modes(schema: &mut Schema) {
    let mut all: Vec<&str> = Vec::new();
    for d in crate::driver::ALL {
        all.extend(d.mode_values());
    }
    one_of(schema, &all);
}

pub(crate) fn expect_values(schema: &mut Schema) {
    one_of(schema, &["reachable", "unreachable"]);
}
