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
    "hosts",
    "networks",
    "containers",
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
    pub hosts: IndexMap<Name, Spanned<Table<RawHost>>>,
    pub networks: IndexMap<Name, Spanned<Table<RawNetwork>>>,
    pub containers: IndexMap<Name, Spanned<Table<RawContainer>>>,
    pub checks: Vec<Spanned<Table<RawCheck>>>,
    pub scenarios: IndexMap<Name, Spanned<Table<super::scenario::RawScenario>>>,
    pub unread_scenarios: Unread,
    pub unread_hosts: Unread,
    pub unread_networks: Unread,
    pub unread_containers: Unread,
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
                "hosts" => raw.hosts = read_named(value, &mut raw.unread_hosts, &mut errors),
                "networks" => {
                    raw.networks = read_named(value, &mut raw.unread_networks, &mut errors)
                }
                "containers" => {
                    raw.containers = read_named(value, &mut raw.unread_containers, &mut errors)
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
