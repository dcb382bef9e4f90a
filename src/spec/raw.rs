//! The lab file exactly as written: serde types that mirror the TOML, with spans kept so that
//! validation can point at `file:line:col`. Nothing here interprets values.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use indexmap::IndexMap;
use serde::de::{value::MapAccessDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_spanned::Spanned;

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLab {
    pub lab: Spanned<Table<RawLabMeta>>,
    #[serde(default)]
    pub underlay: Option<Spanned<Table<RawUnderlay>>>,
    #[serde(default)]
    pub hosts: IndexMap<Name, Spanned<Table<RawHost>>>,
    #[serde(default)]
    pub networks: IndexMap<Name, Spanned<Table<RawNetwork>>>,
    #[serde(default)]
    pub containers: IndexMap<Name, Spanned<Table<RawContainer>>>,
    #[serde(default)]
    pub checks: Vec<Spanned<Table<RawCheck>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLabMeta {
    pub name: Name,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUnderlay {
    #[serde(default)]
    pub subnet: Option<Spanned<String>>,
    #[serde(default)]
    pub mtu: Option<Spanned<i64>>,
    #[serde(default)]
    pub nic: Option<Name>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    #[serde(default)]
    pub nic: Option<Name>,
    /// Every NIC of the host, each plugged into the underlay switch; the first holds `address`.
    #[serde(default)]
    pub nics: Option<Spanned<Vec<Name>>>,
    #[serde(default)]
    pub address: Option<Spanned<String>>,
    /// More addresses, by device: `addresses = { "ens38.10" = "172.16.10.254/24" }`.
    #[serde(default)]
    pub addresses: IndexMap<Name, Spanned<String>>,
    /// IPv4 forwarding in this host's namespace (a router).
    #[serde(default)]
    pub forwarding: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    pub driver: Spanned<String>,
    #[serde(default)]
    pub subnet: Option<Spanned<String>>,
    #[serde(default)]
    pub gateway: Option<Spanned<String>>,
    #[serde(default)]
    pub vni: Option<Spanned<i64>>,
    /// Bridge driver: Docker's `com.docker.network.bridge.enable_icc`.
    #[serde(default)]
    pub icc: Option<Spanned<bool>>,
    /// Macvlan driver: the host interface (`ens33`, or `ens38.10` for VLAN 10 on ens38).
    #[serde(default)]
    pub parent: Option<Name>,
    /// Macvlan driver: bridge (default), vepa, private or passthru.
    #[serde(default)]
    pub mode: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawContainer {
    pub host: Name,
    pub networks: Spanned<Vec<Name>>,
    /// Static addresses: `ip = { ov_net1 = "10.0.0.10" }`.
    #[serde(default)]
    pub ip: IndexMap<Name, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub from: Name,
    pub to: Name,
    #[serde(default)]
    pub expect: Option<Spanned<String>>,
    #[serde(default)]
    pub count: Option<Spanned<i64>>,
    #[serde(default)]
    pub ttl: Option<Spanned<i64>>,
}
